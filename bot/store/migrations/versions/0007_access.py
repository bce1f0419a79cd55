"""access requests: the requests and the time-bound grants

Revision ID: 0006_access
Revises: 0006_digest
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006_access"
down_revision = "0006_digest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("person_email", sa.String(320), nullable=False),
        sa.Column("person_id", sa.String(500), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("group", sa.String(500), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("approvals", sa.JSON(), nullable=False),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("pre_existing", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("correlation_id"),
    )
    op.create_index("ix_access_requests_person_email", "access_requests", ["person_email"])
    op.create_index("ix_access_requests_status", "access_requests", ["status"])
    op.create_index("ix_access_requests_expires_at", "access_requests", ["expires_at"])
    op.create_table(
        "access_grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("person_email", sa.String(320), nullable=False),
        sa.Column("person_id", sa.String(500), nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("group", sa.String(500), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("pre_existing", sa.Boolean(), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("removal_attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("end_reason", sa.String(200), nullable=False),
    )
    op.create_index("ix_access_grants_person_email", "access_grants", ["person_email"])
    op.create_index("ix_access_grants_due", "access_grants", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_access_grants_due", table_name="access_grants")
    op.drop_index("ix_access_grants_person_email", table_name="access_grants")
    op.drop_table("access_grants")
    for name in ("expires_at", "status", "person_email"):
        op.drop_index(f"ix_access_requests_{name}", table_name="access_requests")
    op.drop_table("access_requests")
