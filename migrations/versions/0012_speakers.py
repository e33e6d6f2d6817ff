"""Speaker separation of mono calls, and the vocabulary a transcript was made with

- ``transcript.speaker_separation``: how the speakers of a mono call were told apart (``separated``, or why not:
  ``unavailable`` without the extra, ``off`` by setting, ``insufficient`` when the voices could not be split);
  null on stereo calls, whose channels say who speaks.
- ``transcript.speaker_confidence``: how clearly the two voices stood apart (0..1), on separated calls only.
- ``transcript.vocabulary_version``: the version of the organisation's business vocabulary given to the
  recogniser; null when it had none.

Plain ADD COLUMN on both databases; the downgrade drops them.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("transcript", sa.Column("speaker_separation", sa.String(), nullable=True))
    op.add_column("transcript", sa.Column("speaker_confidence", sa.Float(), nullable=True))
    op.add_column("transcript", sa.Column("vocabulary_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Not a batch operation: SQLite would rebuild the table and lose its full-text triggers (0002).
    op.drop_column("transcript", "vocabulary_version")
    op.drop_column("transcript", "speaker_confidence")
    op.drop_column("transcript", "speaker_separation")
