"""criterionresult: an index on (org_id, started_at) for the rollups' refresh

Refreshing a day recomputes its week's criterion rows from the verdicts. Without an index on time alone,
PostgreSQL read the whole table for it: 6.5 s at ten million calls, after every scored call. The new index
starts with the organisation, so it replaces the single-column one on org_id.

On a large table the index build blocks writes to the verdicts for a while (about 30 s for 80 million
verdicts on 2 cores): upgrade during a maintenance window.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_crit_time", "criterionresult", ["org_id", "started_at"])
    op.drop_index("ix_criterionresult_org_id", table_name="criterionresult")


def downgrade() -> None:
    op.create_index("ix_criterionresult_org_id", "criterionresult", ["org_id"])
    op.drop_index("ix_crit_time", table_name="criterionresult")
