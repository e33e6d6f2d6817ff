"""Governance: the evaluation scope (sampling, announced periods, exclusions), audit groups, published notices

- ``call.line``, ``call.scope`` and ``call.scope_draw``: the agent's phone line, why a call is or is not
  analysed, and its fixed lottery number. Existing calls are "in" scope (server default).
- ``scopepolicy``, ``evaluationperiod``, ``scopeexclusion``: an organisation's sampling, periods and
  exclusions; ``agentgroup`` and ``agentgroupmember``: the groups of its fairness audit;
  ``noticepublication``: the governance documents as published, with their digest.

Plain ADD COLUMN and CREATE TABLE on both databases, and two indexes on ``call`` for the quota count and the
DPO's bilan (built once on a large table: plan a maintenance window); the downgrade drops them.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_DT = sqlmodel.sql.sqltypes.UTCDateTime


def _by() -> sa.Column:
    return sa.Column("created_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True)


def upgrade() -> None:
    op.add_column("call", sa.Column("line", sa.String(), nullable=True))
    op.add_column("call", sa.Column("scope", sa.String(), nullable=False, server_default="in"))
    op.add_column("call", sa.Column("scope_draw", sa.Float(), nullable=True))
    op.create_index("ix_call_agent_period", "call", ["org_id", "agent_id", "started_at", "scope"])
    op.create_index("ix_call_scope_month", "call", ["org_id", "started_at", "agent_id", "scope"])
    op.create_table(
        "scopepolicy",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), primary_key=True),
        sa.Column("sampling", sa.String(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("quota_period", sa.String(), nullable=False),
        sa.Column("seed", sa.String(), nullable=False),
        sa.Column("store_excluded", sa.Boolean(), nullable=False),
        sa.Column("use_periods", sa.Boolean(), nullable=False),
        sa.Column("block_unvalidated_exports", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("updated_at", _DT(), nullable=False),
    )
    op.create_table(
        "evaluationperiod",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        _by(),
        sa.Column("created_at", _DT(), nullable=False),
    )
    op.create_index("ix_evaluationperiod_org_id", "evaluationperiod", ["org_id"])
    op.create_table(
        "scopeexclusion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        _by(),
        sa.Column("created_at", _DT(), nullable=False),
        sa.UniqueConstraint("org_id", "kind", "value"),
    )
    op.create_index("ix_scopeexclusion_org_id", "scopeexclusion", ["org_id"])
    op.create_table(
        "agentgroup",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", _DT(), nullable=False),
        sa.UniqueConstraint("org_id", "name"),
    )
    op.create_index("ix_agentgroup_org_id", "agentgroup", ["org_id"])
    op.create_table(
        "agentgroupmember",
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("agentgroup.id"), primary_key=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agent.id"), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
    )
    op.create_index("ix_agentgroupmember_agent_id", "agentgroupmember", ["agent_id"])
    op.create_index("ix_agentgroupmember_org_id", "agentgroupmember", ["org_id"])
    op.create_table(
        "noticepublication",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("published_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("published_at", _DT(), nullable=False),
    )
    op.create_index("ix_noticepublication_org_id", "noticepublication", ["org_id"])


def downgrade() -> None:
    for table in ("noticepublication", "agentgroupmember", "agentgroup", "scopeexclusion", "evaluationperiod",
                  "scopepolicy"):
        op.drop_table(table)
    op.drop_index("ix_call_scope_month", table_name="call")
    op.drop_index("ix_call_agent_period", table_name="call")
    for column in ("scope_draw", "scope", "line"):
        op.drop_column("call", column)
