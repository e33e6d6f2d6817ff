"""`python -m ccr audit verify`: every chain intact exits 0; an edited entry is reported, exit 1."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from ccr.db import get_engine
from tests.conftest import REPO


def _verify() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccr", "audit", "verify"], cwd=REPO, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)


def test_audit_verify_passes_then_detects_a_tampered_entry(tenants):
    a, _ = tenants
    ok = _verify()
    assert ok.returncode == 0, ok.stderr
    assert f"organisation {a.org_id} : intègre" in ok.stdout
    with get_engine().begin() as conn:
        target = conn.execute(sa.text("SELECT min(id) FROM auditlog WHERE org_id = :o"), {"o": a.org_id}).scalar()
        conn.execute(sa.text("UPDATE auditlog SET detail_json = '{\"role\": \"admin\"}' WHERE id = :i"),
                     {"i": target})
    broken = _verify()
    assert broken.returncode == 1
    assert f"organisation {a.org_id} : ALTÉRÉ aux entrées {target}" in broken.stdout
    assert "intègre" in broken.stdout  # the other organisation's chain is still fine
