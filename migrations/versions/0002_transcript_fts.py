"""full-text search on transcripts

SQLite: an external-content FTS5 table kept in step by triggers, so an erased
transcript disappears from the index in the same transaction.
PostgreSQL: a GIN index on the French, accent-folded tsvector of the text (configuration ccr_french).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE transcript_fts USING fts5(
           text, content='transcript', content_rowid='id', tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER transcript_fts_ai AFTER INSERT ON transcript BEGIN
           INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END""",
    """CREATE TRIGGER transcript_fts_ad AFTER DELETE ON transcript BEGIN
           INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.id, old.text); END""",
    """CREATE TRIGGER transcript_fts_au AFTER UPDATE ON transcript BEGIN
           INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.id, old.text);
           INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END""",
    "INSERT INTO transcript_fts(transcript_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS transcript_fts_au",
    "DROP TRIGGER IF EXISTS transcript_fts_ad",
    "DROP TRIGGER IF EXISTS transcript_fts_ai",
    "DROP TABLE IF EXISTS transcript_fts",
]
# PostgreSQL: French stemming with accents folded (like SQLite's remove_diacritics), through the
# "unaccent" dictionary (a trusted extension: the database owner may create it, no superuser needed).
PG_UP = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION ccr_french (COPY = pg_catalog.french)",
    "ALTER TEXT SEARCH CONFIGURATION ccr_french ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem",
    "CREATE INDEX ix_transcript_fts ON transcript USING gin (to_tsvector('ccr_french', text))",
]
PG_DOWN = ["DROP INDEX IF EXISTS ix_transcript_fts", "DROP TEXT SEARCH CONFIGURATION IF EXISTS ccr_french"]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in SQLITE_UP if dialect == "sqlite" else PG_UP:
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in SQLITE_DOWN if dialect == "sqlite" else PG_DOWN:
        op.execute(stmt)
