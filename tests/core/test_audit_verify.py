"""`python -m ccr audit verify`: every chain intact exits 0; an edited entry is reported, exit 1."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from ccr.core.db import get_engine
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


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccr", "audit", *args], cwd=REPO, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)


def test_audit_checkpoint_then_verify_reports_the_newest_entries_deleted(tenants):
    a, b = tenants
    written = _run("checkpoint")
    assert written.returncode == 0, written.stderr
    assert "Point de contrôle écrit dans" in written.stdout
    ok = _run("verify")
    assert ok.returncode == 0 and f"organisation {a.org_id} : intègre" in ok.stdout
    assert "dernier point de contrôle le" in ok.stdout
    with get_engine().begin() as conn:
        head = conn.execute(sa.text("SELECT max(id) FROM auditlog WHERE org_id = :o"), {"o": a.org_id}).scalar()
        conn.execute(sa.text("DELETE FROM auditlog WHERE id = :i"), {"i": head})
    broken = _run("verify")
    assert broken.returncode == 1
    assert f"organisation {a.org_id} : ALTÉRÉ (" in broken.stdout
    assert f"entrées récentes supprimées : l'entrée {head}" in broken.stdout
    assert f"organisation {b.org_id} : intègre" in broken.stdout
