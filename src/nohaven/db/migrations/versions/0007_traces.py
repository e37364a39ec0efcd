"""traces: hops, the requests drafted from them, their timeline

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import nohaven.db.base


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('traces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('offence', sa.String(length=500), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_traces_case_id_cases')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_traces_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_traces')),
    sa.UniqueConstraint('reference', name=op.f('uq_traces_reference'))
    )
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.create_index('ix_traces_case', ['case_id'], unique=False)

    op.create_table('trace_hops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trace_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('port', sa.Integer(), nullable=True),
    sa.Column('protocol', sa.String(length=16), nullable=True),
    sa.Column('time_text', sa.String(length=200), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=True),
    sa.Column('offset_text', sa.String(length=64), nullable=False),
    sa.Column('instant', nohaven.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('time_ambiguous', sa.Boolean(), nullable=False),
    sa.Column('time_notes', sa.JSON(), nullable=False),
    sa.Column('uncertainty', sa.String(length=32), nullable=False),
    sa.Column('window_start', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_where', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('source_request_id', sa.Integer(), nullable=True),
    sa.Column('source_attachment_id', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.JSON(), nullable=True),
    sa.Column('resolved_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('responsible_state', sa.String(length=2), nullable=True),
    sa.Column('domestic', sa.Boolean(), nullable=False),
    sa.Column('likely_deleted_after', nohaven.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subscriber', sa.JSON(), nullable=True),
    sa.Column('answer', sa.JSON(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=300), nullable=False),
    sa.Column('created_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['trace_hops.id'], name=op.f('fk_trace_hops_parent_id_trace_hops')),
    sa.ForeignKeyConstraint(['source_attachment_id'], ['request_attachments.id'], name=op.f('fk_trace_hops_source_attachment_id_request_attachments')),
    sa.ForeignKeyConstraint(['source_request_id'], ['cooperation_requests.id'], name=op.f('fk_trace_hops_source_request_id_cooperation_requests')),
    sa.ForeignKeyConstraint(['trace_id'], ['traces.id'], name=op.f('fk_trace_hops_trace_id_traces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_hops')),
    sa.UniqueConstraint('trace_id', 'label', name=op.f('uq_trace_hops_trace_id'))
    )
    with op.batch_alter_table('trace_hops', schema=None) as batch_op:
        batch_op.create_index('ix_trace_hops_parent', ['parent_id'], unique=False)

    op.create_table('trace_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trace_id', sa.Integer(), nullable=False),
    sa.Column('hop_id', sa.Integer(), nullable=True),
    sa.Column('at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['hop_id'], ['trace_hops.id'], name=op.f('fk_trace_events_hop_id_trace_hops'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['trace_id'], ['traces.id'], name=op.f('fk_trace_events_trace_id_traces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_events'))
    )
    with op.batch_alter_table('trace_events', schema=None) as batch_op:
        batch_op.create_index('ix_trace_events_trace', ['trace_id'], unique=False)

    op.create_table('trace_hop_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hop_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('created_at', nohaven.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hop_id'], ['trace_hops.id'], name=op.f('fk_trace_hop_requests_hop_id_trace_hops'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['cooperation_requests.id'], name=op.f('fk_trace_hop_requests_request_id_cooperation_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_hop_requests')),
    sa.UniqueConstraint('hop_id', 'request_id', name=op.f('uq_trace_hop_requests_hop_id'))
    )
    with op.batch_alter_table('trace_hop_requests', schema=None) as batch_op:
        batch_op.create_index('ix_trace_hop_requests_request', ['request_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('trace_hop_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_trace_hop_requests_request')

    op.drop_table('trace_hop_requests')
    with op.batch_alter_table('trace_events', schema=None) as batch_op:
        batch_op.drop_index('ix_trace_events_trace')

    op.drop_table('trace_events')
    with op.batch_alter_table('trace_hops', schema=None) as batch_op:
        batch_op.drop_index('ix_trace_hops_parent')

    op.drop_table('trace_hops')
    with op.batch_alter_table('traces', schema=None) as batch_op:
        batch_op.drop_index('ix_traces_case')

    op.drop_table('traces')
