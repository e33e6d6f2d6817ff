"""audit chains keyed with HMAC-SHA256

Every chain was hashed with plain SHA-256, which anyone able to write the database can recompute after
an edit. This revision verifies each chain as it is and re-hashes it under HMAC-SHA256 with the audit
key derived from the master secret (``ccr.core.audit.chain_key``), once, here, rather than keeping a per-row
algorithm: a row left on the old algorithm would be a row that can still be rewritten. An entry that did
not verify keeps its old hash, so it stays reported as altered. A chain already purged by the retention
job (its first entry follows a deleted one) gets a signed anchor in ``data/audit-checkpoints/``, and each
re-keyed chain records the operation in an ``audit_rekeyed`` entry.

The secret is the service's (``CCR_SECRET_KEY`` or ``data/secret.key``): a migration run without it
refuses rather than keying the log with a new, unrelated secret.

Revision ID: 0003
Revises: 0002
"""

import json
from collections.abc import Iterator
from types import SimpleNamespace

import sqlalchemy as sa
import sqlmodel
from alembic import op

from ccr.core import audit
from ccr.core.config import SECRET_KEY_FILE, get_settings
from ccr.core.db import utcnow
from ccr.core.errors import ConfigError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 5000  # rows read and updated at a time: bounded memory whatever the size of the log

# The table as this revision knows it (the models may grow columns later).
auditlog = sa.table(
    "auditlog",
    sa.column("id", sa.Integer()),
    sa.column("org_id", sa.Integer()),
    sa.column("user_id", sa.Integer()),
    sa.column("username", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target_type", sa.String()),
    sa.column("target_id", sa.String()),
    sa.column("outcome", sa.String()),
    sa.column("detail_json", sa.Text()),
    sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _chain(org_id):
    return auditlog.c.org_id.is_(None) if org_id is None else auditlog.c.org_id == org_id


def _rows(conn, org_id) -> Iterator:
    last = 0
    while True:
        batch = conn.execute(sa.select(auditlog).where(_chain(org_id), auditlog.c.id > last)
                             .order_by(auditlog.c.id).limit(BATCH)).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def _rehash(conn, org_id, accepts, digest) -> tuple[int, list[int], object, str]:
    """Re-hash one chain; returns (entries, altered ids, first row, new head hash)."""
    stmt = (sa.update(auditlog).where(auditlog.c.id == sa.bindparam("row_id"))
            .values(prev_hash=sa.bindparam("new_prev"), hash=sa.bindparam("new_hash")))
    pending, broken, first, head, count = [], [], None, "", 0
    for row, prev, new_hash, intact in audit.rekey_rows(_rows(conn, org_id), accepts=accepts, digest=digest):
        count += 1
        first = first or row
        head = new_hash
        if not intact:
            broken.append(row.id)
        elif (row.prev_hash, row.hash) != (prev, new_hash):
            pending.append({"row_id": row.id, "new_prev": prev, "new_hash": new_hash})
        if len(pending) >= BATCH:
            conn.execute(stmt, pending)
            pending = []
    if pending:
        conn.execute(stmt, pending)
    return count, broken, first, head


def _chains(conn) -> list:
    return [r[0] for r in conn.execute(sa.select(auditlog.c.org_id).distinct()).all()]


def _settings():
    settings = get_settings()
    if settings.secret_key is None and not (settings.data_dir / SECRET_KEY_FILE).exists():
        raise ConfigError("Le journal d'audit doit être re-haché avec la clé secrète du service, introuvable ici "
                          f"({settings.data_dir / SECRET_KEY_FILE}) : lancez la migration avec le même "
                          "CCR_DATA_DIR ou CCR_SECRET_KEY que le service.")
    return settings


def upgrade() -> None:
    conn = op.get_bind()
    chains = _chains(conn)
    if not chains:
        return
    settings = _settings()
    key = audit.chain_key(settings)
    accepts = (lambda r: r.hash == audit.legacy_digest(r), lambda r: r.hash == audit.entry_digest(r, key))
    for org_id in chains:
        count, broken, first, head = _rehash(conn, org_id, accepts, lambda r, prev: audit.entry_digest(r, key, prev))
        if first.prev_hash:  # purged before: the first remaining entry follows a deleted one
            audit.write_anchor(org_id=org_id, upto_id=first.id - 1, upto_hash=first.prev_hash, reason="migration",
                               settings=settings)
        entry = SimpleNamespace(
            org_id=org_id, user_id=None, username=audit.SYSTEM.username, action="audit_rekeyed",
            target_type="audit_log", target_id=None, outcome="error" if broken else "ok",
            detail_json=json.dumps(audit.rekey_detail("passage de SHA-256 à HMAC-SHA256", count, broken),
                                   ensure_ascii=False, sort_keys=True, default=str),
            created_at=utcnow(), prev_hash=head)
        entry.hash = audit.entry_digest(entry, key)
        conn.execute(sa.insert(auditlog).values(**vars(entry)))


def downgrade() -> None:
    conn = op.get_bind()
    chains = _chains(conn)
    if not chains:
        return
    key = audit.chain_key(_settings())
    accepts = (lambda r: r.hash == audit.entry_digest(r, key), lambda r: r.hash == audit.legacy_digest(r))
    for org_id in chains:
        _rehash(conn, org_id, accepts, lambda r, prev: audit.legacy_digest(r, prev))
