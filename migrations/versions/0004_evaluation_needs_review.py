"""evaluation.needs_review: an unsure verdict sends the call to « À revoir »

The scorer flags a result ``needs_review`` when a verdict rests on words speech recognition was unsure
of, or on a doubtful dialogue act; the flag is a column so the review queue and the calls list filter on
it in SQL, without reading each result. Evaluations stored before this revision were never flagged: the
server default gives them false, and keeps false for any row written by code that predates the column.

A plain ADD COLUMN on both databases (SQLite does not rebuild the table), and a plain DROP COLUMN back
(SQLite 3.35 or later).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("evaluation", sa.Column("needs_review", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("evaluation", "needs_review")
