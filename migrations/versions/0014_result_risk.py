"""The « À revoir » queue shows first the calls whose pass or fail is most likely wrong

- ``evaluation.result_risk``: the scorer's chance that its pass or fail is wrong
  (``ccr.scoring.evaluation.result_risk``); null on evaluations stored before this column, which the queue
  ranks with the calls at no risk, behind those at some risk of their reason, most recent first as before.

Plain ADD COLUMN on both databases; the downgrade drops it.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("evaluation", sa.Column("result_risk", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("evaluation", "result_risk")
