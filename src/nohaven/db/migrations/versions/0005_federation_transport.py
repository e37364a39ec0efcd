"""federation transport: outbox, inbox, attachments, exchanged requests

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nohaven.db.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('federation_seen_signatures',
    sa.Column('signature_sha256', sa.String(length=64), nullable=False),
    sa.Column('transaction_id', sa.String(length=36), nullable=False),
    sa.Column('envelope_timestamp', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('signature_sha256', name=op.f('pk_federation_seen_signatures'))
    )
    with op.batch_alter_table('federation_seen_signatures', schema=None) as batch_op:
        batch_op.create_index('ix_federation_seen_signatures_timestamp', ['envelope_timestamp'], unique=False)

    op.create_table('federation_inbox',
    sa.Column('transaction_id', sa.String(length=36), nullable=False),
    sa.Column('sender_country', sa.String(length=2), nullable=False),
    sa.Column('sender_id', sa.String(length=256), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.String(length=36), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('received_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('receipt', sa.JSON(), nullable=False),
    sa.Column('envelope', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_requests.id'], name=op.f('fk_federation_inbox_request_id_cooperation_requests'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_federation_inbox'))
    )
    op.create_table('peer_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('receiver_country', sa.String(length=2), nullable=False),
    sa.Column('receiver_node_id', sa.String(length=256), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.String(length=36), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('received_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('receipt', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_requests.id'], name=op.f('fk_peer_messages_request_id_cooperation_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_peer_messages')),
    sa.UniqueConstraint('transaction_id', name=op.f('uq_peer_messages_transaction_id'))
    )
    with op.batch_alter_table('peer_messages', schema=None) as batch_op:
        batch_op.create_index('ix_peer_messages_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_peer_messages_request', ['request_id'], unique=False)

    op.create_table('request_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('media_type', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('added_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('added_by', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_requests.id'], name=op.f('fk_request_attachments_request_id_cooperation_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_attachments'))
    )
    with op.batch_alter_table('request_attachments', schema=None) as batch_op:
        batch_op.create_index('ix_request_attachments_request', ['request_id'], unique=False)

    with op.batch_alter_table('cooperation_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exchange_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('peer_country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('peer_node_id', sa.String(length=256), nullable=True))
        batch_op.create_unique_constraint('uq_cooperation_requests_exchange', ['peer_country', 'exchange_id'])



def downgrade() -> None:
    with op.batch_alter_table('cooperation_requests', schema=None) as batch_op:
        batch_op.drop_constraint('uq_cooperation_requests_exchange', type_='unique')
        batch_op.drop_column('peer_node_id')
        batch_op.drop_column('peer_country')
        batch_op.drop_column('exchange_id')

    with op.batch_alter_table('request_attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_request_attachments_request')

    op.drop_table('request_attachments')
    with op.batch_alter_table('peer_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_peer_messages_request')
        batch_op.drop_index('ix_peer_messages_due')

    op.drop_table('peer_messages')
    op.drop_table('federation_inbox')
    with op.batch_alter_table('federation_seen_signatures', schema=None) as batch_op:
        batch_op.drop_index('ix_federation_seen_signatures_timestamp')

    op.drop_table('federation_seen_signatures')
