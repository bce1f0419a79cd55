"""home pages: whose App Home was opened, and since when it shows something that changed

Revision ID: 0009_home_pages
Revises: 0007_articles
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0009_home_pages"
down_revision = "0007_articles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "home_pages",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("is_technician", sa.Boolean(), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("stale_since", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_home_pages_stale", "home_pages", ["stale_since"])


def downgrade() -> None:
    op.drop_index("ix_home_pages_stale", table_name="home_pages")
    op.drop_table("home_pages")
