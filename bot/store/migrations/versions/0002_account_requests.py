"""reset requests: the account's directory id; server_keys for generated secrets (code HMAC key)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reset_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_id", sa.String(length=500), server_default="", nullable=False))
    op.create_table(
        "server_keys",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("server_keys")
    with op.batch_alter_table("reset_requests", schema=None) as batch_op:
        batch_op.drop_column("account_id")
