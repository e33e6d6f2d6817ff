"""Integrations: API tokens, the organisation's webhook, the webhook outbox and its delivery log

- ``call.updated_at``: when the call was imported, scored, failed or validated, for API clients that poll;
  existing calls take their processing time, else their import time.
- ``apitoken``, ``webhookendpoint``, ``webhookevent``, ``webhookattempt``: new tables.
- two indexes on ``call``: the API's de-duplication on ``external_id`` and its list of changed calls
  (built once on a large table: plan a maintenance window); the downgrade drops them.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_DT = sqlmodel.sql.sqltypes.UTCDateTime


def _org() -> sa.Column:
    return sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False)


def upgrade() -> None:
    op.add_column("call", sa.Column("updated_at", _DT(), nullable=True))
    op.execute("UPDATE call SET updated_at = COALESCE(processed_at, created_at)")
    op.create_index("ix_call_org_external", "call", ["org_id", "external_id"])
    op.create_index("ix_call_org_updated", "call", ["org_id", "updated_at", "id"])
    op.create_table(
        "apitoken",
        sa.Column("id", sa.Integer(), primary_key=True),
        _org(),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("scopes", sa.String(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("created_at", _DT(), nullable=False),
        sa.Column("expires_at", _DT(), nullable=True),
        sa.Column("revoked_at", _DT(), nullable=True),
        sa.Column("revoked_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("last_used_at", _DT(), nullable=True),
    )
    op.create_index("ix_apitoken_org_id", "apitoken", ["org_id"])
    op.create_index("ix_apitoken_prefix", "apitoken", ["prefix"])
    op.create_table(
        "webhookendpoint",
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), primary_key=True),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("secret_sealed", sa.String(), nullable=False),
        sa.Column("events", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("updated_at", _DT(), nullable=False),
    )
    op.create_table(
        "webhookevent",
        sa.Column("id", sa.Integer(), primary_key=True),
        _org(),
        sa.Column("event_uid", sa.String(), nullable=False, unique=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _DT(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("delivered_at", _DT(), nullable=True),
        sa.Column("created_at", _DT(), nullable=False),
    )
    op.create_index("ix_webhookevent_call_id", "webhookevent", ["call_id"])
    op.create_index("ix_webhookevent_due", "webhookevent", ["status", "next_attempt_at"])
    op.create_index("ix_webhookevent_org_time", "webhookevent", ["org_id", "created_at"])
    op.create_table(
        "webhookattempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        _org(),
        sa.Column("event_id", sa.Integer(), sa.ForeignKey("webhookevent.id"), nullable=False),
        sa.Column("attempted_at", _DT(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_webhookattempt_org_id", "webhookattempt", ["org_id"])
    op.create_index("ix_webhookattempt_event_id", "webhookattempt", ["event_id"])


def downgrade() -> None:
    for table in ("webhookattempt", "webhookevent", "webhookendpoint", "apitoken"):
        op.drop_table(table)
    op.drop_index("ix_call_org_updated", table_name="call")
    op.drop_index("ix_call_org_external", table_name="call")
    op.drop_column("call", "updated_at")
