"""incidents: problem reports with their terms and vectors, alerts about clusters of them, incidents, tickets' incident

Revision ID: 0010_incidents
Revises: 0009_home_pages
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_incidents"
down_revision = "0009_home_pages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "problem_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(320), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("declared_by", sa.String(320), nullable=False),
        sa.Column("declared_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_by", sa.String(320), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("article_id", sa.String(80), nullable=True),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_table(
        "problem_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_email", sa.String(320), nullable=False),
        sa.Column("source", sa.String(12), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("term_count", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("problem_alerts.id"), nullable=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_problem_reports_reported_at", "problem_reports", ["reported_at"])
    op.create_index("ix_problem_reports_question_id", "problem_reports", ["question_id"])
    op.create_index("ix_problem_reports_alert_id", "problem_reports", ["alert_id"])
    op.create_index("ix_problem_reports_incident_id", "problem_reports", ["incident_id"])
    op.create_table(
        "problem_report_terms",
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("problem_reports.id"), primary_key=True),
        sa.Column("term", sa.String(64), primary_key=True),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.Column("term_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_problem_report_terms_term_at", "problem_report_terms", ["term", "reported_at"])
    # A plain column (no constraint): SQLite adds it without rebuilding the tickets table.
    op.add_column("tickets", sa.Column("incident_id", sa.Integer(), nullable=True))
    op.create_index("ix_tickets_incident_id", "tickets", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_incident_id", table_name="tickets")
    with op.batch_alter_table("tickets") as table:
        table.drop_column("incident_id")
    op.drop_table("problem_report_terms")
    op.drop_table("problem_reports")
    op.drop_table("incidents")
    op.drop_table("problem_alerts")
