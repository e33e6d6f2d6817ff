"""PostgreSQL: the transcripts' search vector stored in a column, for fast searches of common words

Until now the GIN index was built on the expression ``to_tsvector('ccr_french', text)``. That index finds
the matches of a word, but a check of one transcript (walking the calls list in date order and testing
each call, the fast plan for a word found in many calls) had to parse and stem the whole text again.
A stored generated column keeps the vector next to the row: the check reads it, and the GIN index is
built on it. The column is computed by the database on every insert and update, so no code path can
forget it, and an erased transcript's vector goes with its row.

SQLite is unchanged (its FTS5 table already stores the index). On a large table the column's addition
rewrites the table once; upgrade during a maintenance window.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PG_UP = [
    "ALTER TABLE transcript ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('ccr_french', text)) STORED",
    "CREATE INDEX ix_transcript_tsv ON transcript USING gin (tsv)",
    "DROP INDEX IF EXISTS ix_transcript_fts",
]
PG_DOWN = [
    "CREATE INDEX IF NOT EXISTS ix_transcript_fts ON transcript USING gin (to_tsvector('ccr_french', text))",
    "DROP INDEX IF EXISTS ix_transcript_tsv",
    "ALTER TABLE transcript DROP COLUMN IF EXISTS tsv",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for stmt in PG_UP:
            op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for stmt in PG_DOWN:
            op.execute(stmt)
