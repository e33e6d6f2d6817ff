"""Transcription that serves scoring: the organisation's vocabulary, swapped stereo channels

- ``vocabulary``: versions of an organisation's business vocabulary (hot words for the recogniser).
- ``call.channels_swapped``: a supervisor said the agent is on the other channel (server default false);
  ``call.channel_check``: whether the scored stereo call looks recorded the right way round.

Plain ADD COLUMN and CREATE TABLE on both databases; the downgrade drops them.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_DT = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.add_column("call", sa.Column("channels_swapped", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("call", sa.Column("channel_check", sa.String(), nullable=True))
    op.create_table(
        "vocabulary",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("org_id", sa.Integer(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("terms_json", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("created_at", _DT(), nullable=False),
        sa.UniqueConstraint("org_id", "version"),
    )
    op.create_index("ix_vocabulary_org_id", "vocabulary", ["org_id"])


def downgrade() -> None:
    op.drop_table("vocabulary")
    op.drop_column("call", "channel_check")
    op.drop_column("call", "channels_swapped")
