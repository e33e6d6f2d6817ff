"""The counterfactual fairness test: its variants, the rules engine unmoved by them, and ``audit-fairness``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ccr import cli
from ccr.governance import counterfactual as cf
from ccr.governance import variants
from tests.conftest import FIXTURES
from tests.governance.transcripts import call
from tests.scoring.llmserver import FakeOpenAI

PUBLIC = FIXTURES / "eval" / "public" / "transcripts"
AUDITED_CALLS = 12  # a dozen real labelled calls keep the rules run under a minute on a loaded 2-core machine


# --- the rules engine on real labelled calls --------------------------------------------------------------


def _varied_calls(n: int) -> list[dict]:
    """The first ``n`` labelled public calls that give a gender and a name variant (the rest may give none)."""
    out = []
    for path in sorted(PUBLIC.glob("*.json")):
        tr = json.loads(path.read_text(encoding="utf-8"))
        kinds = {v.kind for v in variants.variants_of(tr) if variants.changed_lines(tr, v.transcript)}
        if {"genre", "noms"} <= kinds:
            out.append(tr)
        if len(out) == n:
            return out
    raise AssertionError(f"moins de {n} appels variables dans {PUBLIC}")


def test_the_rules_engine_moves_no_verdict_on_real_calls():
    report = cf.run_audit(_varied_calls(AUDITED_CALLS), engine="rules")
    assert report.calls == AUDITED_CALLS
    assert report.variants["genre"] >= AUDITED_CALLS and report.variants["noms"] >= AUDITED_CALLS
    assert report.variants["regional"] >= 1
    assert report.changes == [], "\n".join(report.lines())
    assert report.lines()[-1] == "Aucun verdict n'a changé."


# --- the command line ---------------------------------------------------------------------------------


def biased_reply(body: dict) -> dict:
    """Fail politeness whenever the agent says « désolée »; answer nothing else (the rules' verdicts stay)."""
    payload = json.loads(body["messages"][-1]["content"])
    feminine = [t["texte"] for t in payload["transcription"] if t["locuteur"] == "agent" and "désolée" in t["texte"]]
    criteria = [{"id": "politesse", "verdict": "fail", "quotes": [{"text": feminine[0]}],
                 "explanation": "Ton jugé sec."}] if feminine else []
    return {"criteria": criteria, "category": "", "irritants": [], "summary": ""}


@pytest.fixture
def biased_model():
    model = FakeOpenAI(responder=biased_reply)
    model.thread.start()
    yield model
    model.server.shutdown()
    model.server.server_close()


POLITE_CALL = call(
    ("agent", "Bonjour, service client Vitalis, je m'appelle Paul, que puis-je pour vous ?"),
    ("customer", "Bonjour, ma commande n'est toujours pas arrivée."),
    ("agent", "Je suis désolé pour ce retard, je regarde tout de suite votre commande."),
    ("agent", "Elle sera livrée demain matin, je vous envoie la confirmation."),
    ("customer", "Très bien, merci."),
    ("agent", "Je vous en prie, bonne journée, au revoir."),
    call_id="=1+1",  # a call id a spreadsheet would run as a formula
)


@pytest.fixture
def llm_env(settings_env, monkeypatch, tmp_path):
    """No stray .env and no LLM setting: each test sets what it needs."""
    monkeypatch.chdir(tmp_path)
    for var in ("CCR_OPENAI_BASE_URL", "CCR_OPENAI_API_KEY", "CCR_LLM_MODEL", "CCR_LLM_MAX_RETRIES"):
        monkeypatch.delenv(var, raising=False)
    yield monkeypatch
    from ccr.core.config import get_settings

    get_settings.cache_clear()


def test_a_biased_llm_makes_the_audit_exit_1_and_report_the_change(llm_env, tmp_path, biased_model, capsys):
    from ccr.core.config import get_settings

    for var, value in (("CCR_OPENAI_BASE_URL", biased_model.base_url), ("CCR_OPENAI_API_KEY", "cle-de-test"),
                       ("CCR_LLM_MODEL", "biaise"), ("CCR_LLM_MAX_RETRIES", "0")):
        llm_env.setenv(var, value)
    get_settings.cache_clear()
    source = tmp_path / "appel.json"
    source.write_text(json.dumps(POLITE_CALL, ensure_ascii=False), encoding="utf-8")
    csv_path, json_path = tmp_path / "changements.csv", tmp_path / "rapport.json"
    code = cli.main(["audit-fairness", "--input", str(source), "--engine", "llm", "--csv", str(csv_path),
                     "--json", str(json_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "Politesse et courtoisie : Conforme → Non conforme" in out
    assert "« Je suis désolé pour ce retard" in out and "→ « Je suis désolée pour ce retard" in out
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert [(c["type_variante"], c["critere"], c["apres"]) for c in report["changements"]] == \
        [(variants.KIND_LABELS["genre"], "politesse", "Non conforme")]
    assert report["instabilite"] == [] and report["echecs"] == []
    # The original twice (the model's own stability), then one request per variant that changed the text.
    assert len(biased_model.requests) == 2 + sum(report["variantes"].values())
    assert "'=1+1" in csv_path.read_bytes().decode("utf-8-sig")


def test_the_llm_engine_without_an_endpoint_exits_2_with_a_french_message(llm_env, tmp_path, capsys):
    source = tmp_path / "appel.json"
    source.write_text(json.dumps(POLITE_CALL), encoding="utf-8")
    assert cli.main(["audit-fairness", "--input", str(source), "--engine", "llm"]) == 2
    err = capsys.readouterr().err
    assert "Le moteur LLM n'est pas configuré" in err and "CCR_OPENAI_BASE_URL" in err


@pytest.mark.parametrize("args", [[], ["--org", "alpha", "--input", "x.json"]])
def test_one_source_exactly_or_exit_2(llm_env, capsys, args):
    assert cli.main(["audit-fairness", *args]) == 2
    assert "Précisez une et une seule source" in capsys.readouterr().err


def test_org_reads_only_that_organisations_analysed_unrestricted_calls(tenants, capsys):
    from sqlmodel import select

    from ccr.core.db import session, utcnow
    from ccr.core.models import AuditLog
    from tests.pipeline.calldata import transcribed_call

    a, b = tenants
    now = utcnow()
    older = transcribed_call(a.org_id, "a01-000.json", status="done", started_at=now - timedelta(days=2))
    newer = transcribed_call(a.org_id, "a01-001.json", status="done", scope="requested",
                             started_at=now - timedelta(days=1))
    transcribed_call(a.org_id, "a01-002.json", status="done", restricted=True, started_at=now)
    transcribed_call(a.org_id, "a01-003.json", status="done", scope="excluded", started_at=now)
    transcribed_call(a.org_id, "a01-004.json", status="done", scope="sampled_out", started_at=now)
    transcribed_call(b.org_id, "a01-005.json", status="done", started_at=now)
    with session() as s:
        assert [t["call_id"] for t in cf.load_org_transcripts(session=s, org_id=a.org_id)] == \
            [str(newer), str(older)]
        assert [t["call_id"] for t in cf.load_org_transcripts(session=s, org_id=a.org_id, limit=1)] == [str(newer)]

    code = cli.main(["audit-fairness", "--org", "Alpha Conseil", "--limit", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 appel(s)" in out and "Aucun verdict n'a changé." in out
    with session() as s:
        logged = s.exec(select(AuditLog).where(AuditLog.action == "fairness_audit")).all()
    assert [row.org_id for row in logged] == [a.org_id]
