"""digest: the day each digest was posted, and indexes for the digest's aggregates

Revision ID: 0006_digest
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006_digest"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_tickets_created_at", "tickets", ["created_at"]),
    ("ix_tickets_resolved_at", "tickets", ["resolved_at"]),
    ("ix_ticket_events_kind_at", "ticket_events", ["kind", "at"]),
    ("ix_kb_questions_created_at", "kb_questions", ["created_at"]),
    ("ix_reset_requests_status_updated", "reset_requests", ["status", "updated_at"]),
)


def upgrade() -> None:
    op.create_table(
        "digest_posts",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("holder", sa.String(120), nullable=False),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table("digest_posts")
