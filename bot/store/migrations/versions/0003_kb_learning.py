"""knowledge-base learning: a vote per (question, article), examples linked to their question

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.String(length=80), nullable=False),
        sa.Column("person_email", sa.String(length=320), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("question_id", "article_id", name="uq_kb_votes_question_article"),
    )
    with op.batch_alter_table("kb_votes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_votes_article_id"), ["article_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_kb_votes_question_id"), ["question_id"], unique=False)
    with op.batch_alter_table("kb_examples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("question_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_kb_examples_question_id"), ["question_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kb_examples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_examples_question_id"))
        batch_op.drop_column("question_id")
    with op.batch_alter_table("kb_votes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_votes_question_id"))
        batch_op.drop_index(batch_op.f("ix_kb_votes_article_id"))
    op.drop_table("kb_votes")
