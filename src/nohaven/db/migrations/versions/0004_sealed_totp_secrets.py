"""TOTP secrets are stored sealed (AES-GCM), which needs a wider column

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("totp_secret", existing_type=sa.String(length=64), type_=sa.String(length=255),
                              existing_nullable=True)
    # Secrets stored in clear before this revision cannot be used any more: those users enrol again.
    op.execute("UPDATE users SET totp_secret = NULL, totp_enabled = false WHERE totp_secret NOT LIKE 'aesgcm1:%'")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("totp_secret", existing_type=sa.String(length=255), type_=sa.String(length=64),
                              existing_nullable=True)
