"""articles: a published article can be withdrawn (kept, marked, no longer answered) and restored

Revision ID: 0007_articles
Revises: 0006_access
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007_articles"
down_revision = "0006_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_articles") as table:
        table.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))
        table.add_column(sa.Column("withdrawn_reason", sa.String(300), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("kb_articles") as table:
        table.drop_column("withdrawn_reason")
        table.drop_column("withdrawn_at")
