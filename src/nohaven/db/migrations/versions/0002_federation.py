"""federation: installed network directories, seen transaction ids

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nohaven.db.base


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('federation_directories',
    sa.Column('serial', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('issued_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('authority_key_id', sa.String(length=16), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('installed_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('installed_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('serial', name=op.f('pk_federation_directories'))
    )
    op.create_table('federation_seen_transactions',
    sa.Column('transaction_id', sa.String(length=36), nullable=False),
    sa.Column('sender_country', sa.String(length=2), nullable=False),
    sa.Column('sender_id', sa.String(length=256), nullable=False),
    sa.Column('envelope_timestamp', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_federation_seen_transactions'))
    )
    with op.batch_alter_table('federation_seen_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_federation_seen_transactions_seen_at', ['seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('federation_seen_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_federation_seen_transactions_seen_at')
    op.drop_table('federation_seen_transactions')
    op.drop_table('federation_directories')
