"""The agents' own space: agent logins, publication of evaluations, disputes, blind and calibration scores

- ``user.agent_id`` links an "agent" login to the agent record whose evaluations it may read.
- ``evaluation.published_at/by``, ``published_ai_only`` and ``acknowledged_at``: an evaluation is shown to
  its agent only once a supervisor has published it. Existing evaluations stay unpublished (drafts).
- ``qualitypolicy``: an organisation's dispute deadlines and limits, and whether reviews are blind.
- ``dispute`` and ``disputeitem``: an agent's contest of criteria and the supervisor's decision on each.
- ``calibrationsession`` and ``blindscore``: verdicts given without seeing the AI's or the group's.

Plain ADD COLUMN and CREATE TABLE on both databases; the downgrade drops them.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _add_reference(table: str, column: str, target: str) -> None:
    """A nullable integer column referencing ``target``'s id: SQLite takes the reference inside ADD COLUMN
    (it cannot add a constraint afterwards), PostgreSQL as a named constraint."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f'ALTER TABLE "{table}" ADD COLUMN {column} INTEGER REFERENCES "{target}" (id)')
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(f"fk_{table}_{column}", table, target, [column], ["id"])


def upgrade() -> None:
    _add_reference("user", "agent_id", "agent")
    op.create_index("ix_user_agent_id", "user", ["agent_id"])
    op.add_column("evaluation", sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    _add_reference("evaluation", "published_by", "user")
    op.add_column("evaluation", sa.Column("published_ai_only", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    op.add_column("evaluation", sa.Column("acknowledged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table(
        "qualitypolicy",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), primary_key=True),
        sa.Column("dispute_days", sa.Integer(), nullable=False),
        sa.Column("answer_days", sa.Integer(), nullable=False),
        sa.Column("dispute_limit", sa.Integer(), nullable=False),
        sa.Column("dispute_window_days", sa.Integer(), nullable=False),
        sa.Column("blind_review", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_table(
        "dispute",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), sa.ForeignKey("evaluation.id"), nullable=False),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("call.id"), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("opened_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("answer_due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("resolved_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("resolved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.UniqueConstraint("evaluation_id"),
    )
    op.create_index("ix_dispute_queue", "dispute", ["org_id", "status", "answer_due_at"])
    op.create_index("ix_dispute_call_id", "dispute", ["call_id"])
    op.create_index("ix_dispute_agent_id", "dispute", ["agent_id"])
    op.create_table(
        "disputeitem",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("dispute_id", sa.Integer(), sa.ForeignKey("dispute.id"), nullable=False),
        sa.Column("criterion_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("requested", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    )
    op.create_index("ix_disputeitem_dispute_id", "disputeitem", ["dispute_id"])
    op.create_table(
        "calibrationsession",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), sa.ForeignKey("evaluation.id"), nullable=False),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("call.id"), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("agreed_json", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("closed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    )
    for column in ("org_id", "evaluation_id", "call_id"):
        op.create_index(f"ix_calibrationsession_{column}", "calibrationsession", [column])
    op.create_table(
        "blindscore",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), sa.ForeignKey("evaluation.id"), nullable=False),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("call.id"), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("calibration_id", sa.Integer(), sa.ForeignKey("calibrationsession.id"), nullable=True),
        sa.Column("verdicts_json", sa.Text(), nullable=False),
        sa.Column("comments_json", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    for column in ("evaluation_id", "call_id", "calibration_id"):
        op.create_index(f"ix_blindscore_{column}", "blindscore", [column])


def downgrade() -> None:
    for table in ("blindscore", "calibrationsession", "disputeitem", "dispute", "qualitypolicy"):
        op.drop_table(table)
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.drop_constraint("fk_evaluation_published_by", "evaluation", type_="foreignkey")
        op.drop_constraint("fk_user_agent_id", "user", type_="foreignkey")
    for column in ("acknowledged_at", "published_ai_only", "published_by", "published_at"):
        op.drop_column("evaluation", column)
    op.drop_index("ix_user_agent_id", table_name="user")
    op.drop_column("user", "agent_id")
