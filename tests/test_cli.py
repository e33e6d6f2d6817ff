"""``python -m ccr score`` in a subprocess: the JSON scoring contract, the LLM engine, --grid, and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ccr.scoring.evaluation import compute_score
from ccr.scoring.grid import default_grid, dump_grid_yaml, grid_to_dict, load_grid_yaml
from tests.conftest import FIXTURES, REPO
from tests.scoring.llmserver import FakeOpenAI
from tests.scoring.test_llm import good_answer

TRANSCRIPTS = FIXTURES / "eval" / "public" / "transcripts"
CONTRACT_KEYS = {"grid", "grid_version", "engine", "score", "passed", "critical_failed", "criteria", "category",
                 "irritants", "summary", "recommendations", "needs_review", "review_reasons", "category_evidence",
                 "category_confidence", "category_needs_review", "category_review_reason", "result_risk"}
CRITERION_KEYS = {"id", "verdict", "weight", "evidence", "explanation", "confidence", "needs_review", "review_reason", "review_at"}
EVIDENCE_KEYS = {"start", "speaker", "text"}
IRRITANT_KEYS = {"label", "start", "text"}
CATEGORIES = {"facturation", "livraison", "resiliation", "support_technique", "information"}
IRRITANT_LABELS = {"attente_delai", "relances", "erreur_facturation", "menace_depart", "mecontentement"}
SUBPROCESS_TIMEOUT_S = 120  # a cold interpreter on a busy 2-core machine


def ccr_env(tmp_path) -> dict[str, str]:
    """This process's environment without its CCR settings, pointed at a temporary data dir."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CCR_") and k not in ("DATABASE_URL",)}
    base.update(PYTHONPATH=str(REPO), CCR_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1")
    (tmp_path / "data").mkdir(exist_ok=True)
    return base


def run_ccr(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m ccr ARGS`` from an empty directory (no stray .env) with a temporary data dir."""
    return subprocess.run([sys.executable, "-m", "ccr", *args], cwd=tmp_path, env={**ccr_env(tmp_path), **(env or {})},
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False)


def assert_contract(ev: dict, *, engine: str, extra_allowed: bool = False) -> None:
    """The evaluation object has exactly the contract's keys, with the contract's types."""
    assert set(ev) - {"extra"} == CONTRACT_KEYS
    assert extra_allowed or "extra" not in ev
    assert isinstance(ev["grid"], str) and ev["grid"]
    assert type(ev["grid_version"]) is int and ev["grid_version"] >= 1
    assert ev["engine"] == engine
    assert type(ev["score"]) in (int, float) and 0 <= ev["score"] <= 100
    assert type(ev["passed"]) is bool and type(ev["critical_failed"]) is bool
    assert isinstance(ev["criteria"], list) and ev["criteria"]
    for c in ev["criteria"]:
        assert set(c) == CRITERION_KEYS
        assert isinstance(c["id"], str) and c["verdict"] in ("pass", "fail", "na")
        assert type(c["weight"]) is int and isinstance(c["explanation"], str)
        assert type(c["confidence"]) in (int, float) and 0 <= c["confidence"] <= 1
        assert type(c["needs_review"]) is bool and isinstance(c["review_reason"], str)
        assert c["review_at"] is None or type(c["review_at"]) in (int, float)
        for e in c["evidence"]:
            assert set(e) == EVIDENCE_KEYS
            assert type(e["start"]) in (int, float) and e["speaker"] in ("agent", "customer", "inconnu")
            assert isinstance(e["text"], str) and e["text"]
    assert isinstance(ev["review_reasons"], list) and all(isinstance(r, str) for r in ev["review_reasons"])
    # A call goes to review for each unsure verdict, and also when its result hangs on verdicts unsure together.
    assert type(ev["needs_review"]) is bool and ev["needs_review"] == bool(ev["review_reasons"])
    assert len(ev["review_reasons"]) >= sum(c["needs_review"] for c in ev["criteria"])
    assert ev["category"] in CATEGORIES
    assert ev["category_evidence"] is None or set(ev["category_evidence"]) == EVIDENCE_KEYS
    conf = ev["category_confidence"]
    assert conf is None or (type(conf) in (int, float) and 0 <= conf <= 1)
    assert type(ev["category_needs_review"]) is bool and isinstance(ev["category_review_reason"], str)
    assert ev["category_needs_review"] == bool(ev["category_review_reason"])
    assert not ev["category_needs_review"] or f"Catégorie : {ev['category_review_reason']}" in ev["review_reasons"]
    for irr in ev["irritants"]:
        assert set(irr) == IRRITANT_KEYS
        assert irr["label"] in IRRITANT_LABELS and type(irr["start"]) in (int, float) and isinstance(irr["text"], str)
    assert isinstance(ev["summary"], str)
    assert isinstance(ev["recommendations"], list) and all(isinstance(r, str) for r in ev["recommendations"])
    if "extra" in ev:
        assert isinstance(ev["extra"], dict)


def test_score_json_prints_exactly_the_contract(tmp_path):
    out = run_ccr(tmp_path, "score", str(TRANSCRIPTS / "a01-000.json"), "--json")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) == 1  # one JSON object, nothing else on stdout
    ev = json.loads(out.stdout)
    assert_contract(ev, engine="rules")
    assert (ev["grid"], ev["grid_version"]) == ("ccr-standard-fr", 2)
    assert [(c["id"], c["weight"]) for c in ev["criteria"]] == [(c.id, c.weight) for c in default_grid().criteria]
    verdicts = {c["id"]: c["verdict"] for c in ev["criteria"]}
    assert (ev["score"], ev["passed"], ev["critical_failed"]) == compute_score(verdicts, default_grid())


def test_score_with_the_llm_engine_uses_the_configured_endpoint(tmp_path):
    fake = FakeOpenAI()
    fake.thread.start()
    try:
        fake.completion(good_answer())
        out = run_ccr(tmp_path, "score", str(TRANSCRIPTS / "a01-005.json"), "--engine", "llm", "--json", env={
            "CCR_OPENAI_BASE_URL": fake.base_url, "CCR_OPENAI_API_KEY": "cle-de-test",
            "CCR_LLM_MODEL": "modele-auto-heberge", "CCR_LLM_MAX_RETRIES": "0", "CCR_LLM_TIMEOUT_S": "20"})
    finally:
        fake.server.shutdown()
        fake.server.server_close()
    assert out.returncode == 0, out.stderr
    ev = json.loads(out.stdout)
    assert_contract(ev, engine="llm", extra_allowed=True)
    assert len(fake.requests) == 1
    assert fake.requests[0]["path"] == "/v1/chat/completions"
    assert fake.requests[0]["body"]["model"] == "modele-auto-heberge"
    verdicts = {c["id"]: c["verdict"] for c in ev["criteria"]}
    assert verdicts == {c["id"]: c["verdict"] for c in good_answer()["criteria"]}
    assert ev["score"] == 45.0 and ev["extra"]["usage"]["total_tokens"] == 1500


def test_score_with_an_unreachable_llm_keeps_the_rules_evaluation(tmp_path):
    fake = FakeOpenAI()
    fake.thread.start()
    try:
        fake.error(503)
        out = run_ccr(tmp_path, "score", str(TRANSCRIPTS / "a01-005.json"), "--engine", "llm", "--json", env={
            "CCR_OPENAI_BASE_URL": fake.base_url, "CCR_OPENAI_API_KEY": "cle-de-test", "CCR_LLM_MAX_RETRIES": "0"})
    finally:
        fake.server.shutdown()
        fake.server.server_close()
    assert out.returncode == 0, out.stderr
    ev = json.loads(out.stdout)
    assert_contract(ev, engine="rules", extra_allowed=True)
    assert ev["extra"]["retry"] is True and "503" in ev["extra"]["llm_error"]
    rules = json.loads(run_ccr(tmp_path, "score", str(TRANSCRIPTS / "a01-005.json"), "--json").stdout)
    assert {k: v for k, v in ev.items() if k != "extra"} == rules


def test_score_with_an_edited_grid_file(tmp_path):
    data = grid_to_dict(default_grid())
    data.update(id="ma-grille", version=3, pass_threshold=90)
    crits = {c["id"]: c for s in data["sections"] for c in s["criteria"]}
    crits["accueil"]["weight"], crits["identification"]["weight"] = 5, 20
    grid_file = tmp_path / "ma-grille.yaml"
    edited = load_grid_yaml(json.dumps(data))
    grid_file.write_text(dump_grid_yaml(edited), encoding="utf-8")
    out = run_ccr(tmp_path, "score", str(TRANSCRIPTS / "a01-000.json"), "--grid", str(grid_file), "--json")
    assert out.returncode == 0, out.stderr
    ev = json.loads(out.stdout)
    assert_contract(ev, engine="rules")
    assert (ev["grid"], ev["grid_version"]) == ("ma-grille", 3)
    weights = {c["id"]: c["weight"] for c in ev["criteria"]}
    assert (weights["accueil"], weights["identification"]) == (5, 20)
    verdicts = {c["id"]: c["verdict"] for c in ev["criteria"]}
    assert (ev["score"], ev["passed"], ev["critical_failed"]) == compute_score(verdicts, edited)


@pytest.mark.parametrize(("content", "message"), [
    ('{"call_id": "x", "segments": [{"speaker": "robot", "start": 0, "end": 1, "text": "Bonjour"}]}',
     "Erreur : Segment n°1 : locuteur « robot » inconnu"),
    ('{"call_id": "x", "duration_s": 3}', "Erreur : La transcription doit contenir une liste « segments »."),
    ('{"segments": [{"speaker": "agent", "start": 5, "end": 1, "text": "Bonjour"}]}', "la fin (1 s) précède"),
    ("{pas du json", "Erreur : Transcription illisible"),
])
def test_an_invalid_transcript_exits_2_with_a_french_message(tmp_path, content, message):
    bad = tmp_path / "appel.json"
    bad.write_text(content, encoding="utf-8")
    out = run_ccr(tmp_path, "score", str(bad), "--json")
    assert out.returncode == 2
    assert message in out.stderr
    assert out.stdout == "" and "Traceback" not in out.stderr


def test_an_invalid_grid_file_exits_2_with_a_french_message(tmp_path):
    data = grid_to_dict(default_grid())
    data["sections"][0]["criteria"][0]["weight"] = 40
    grid_file = tmp_path / "grille.yaml"
    grid_file.write_text(json.dumps(data), encoding="utf-8")
    out = run_ccr(tmp_path, "score", str(TRANSCRIPTS / "a01-000.json"), "--grid", str(grid_file), "--json")
    assert out.returncode == 2
    assert "Erreur : La somme des poids vaut 125 au lieu de 100" in out.stderr and out.stdout == ""


def test_migrate_signs_an_audit_checkpoint_so_verify_holds_right_after_an_upgrade(tmp_path):
    import shutil

    assert run_ccr(tmp_path, "create-user", "--org", "Alpha", "--create-org", "--username", "alice", "--role",
                   "admin", "--password", "Motdepasse-Test-2026").returncode == 0  # audited: the log is not empty
    shutil.rmtree(tmp_path / "data" / "audit-checkpoints", ignore_errors=True)  # as before checkpoints existed
    result = run_ccr(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    points = list((tmp_path / "data" / "audit-checkpoints").glob("*.jsonl"))
    assert points and all(p.stat().st_mode & 0o077 == 0 for p in points)
    verified = run_ccr(tmp_path, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_create_user_links_an_agent_login_to_its_agent_record(tmp_path):
    password = ("--password", "Motdepasse-Test-2026")
    assert run_ccr(tmp_path, "create-user", "--org", "Alpha", "--create-org", "--username", "alice", "--role",
                   "admin", *password).returncode == 0
    missing = run_ccr(tmp_path, "create-user", "--org", "Alpha", "--username", "nadia", "--role", "agent",
                      "--agent", "Nadia Benali", *password)
    assert missing.returncode != 0 and "précisez --team" in missing.stdout + missing.stderr
    no_agent = run_ccr(tmp_path, "create-user", "--org", "Alpha", "--username", "nadia", "--role", "agent",
                       *password)
    assert no_agent.returncode != 0 and "--agent" in no_agent.stdout + no_agent.stderr
    code = ("from ccr.core.db import session\nfrom ccr.core.models import Team\n"
            "with session() as s:\n    s.add(Team(org_id=1, name='Lyon'))\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ccr_env(tmp_path), check=False,
                          timeout=SUBPROCESS_TIMEOUT_S).returncode == 0
    made = run_ccr(tmp_path, "create-user", "--org", "Alpha", "--username", "nadia", "--role", "agent",
                   "--agent", "Nadia Benali", "--team", "Lyon", *password)
    assert made.returncode == 0, made.stderr
    again = run_ccr(tmp_path, "create-user", "--org", "Alpha", "--username", "nadia2", "--role", "agent",
                    "--agent", "nadia benali", *password)
    assert again.returncode != 0 and "a déjà un compte actif" in again.stdout + again.stderr


def test_create_token_prints_the_token_once_alone_on_its_last_line_and_stores_only_its_hash(tmp_path):
    password = ("--password", "Motdepasse-Test-2026")
    assert run_ccr(tmp_path, "create-user", "--org", "Alpha", "--create-org", "--username", "alice", "--role",
                   "admin", *password).returncode == 0
    made = run_ccr(tmp_path, "create-token", "--org", "alpha", "--name", "Téléphonie", "--scopes",
                   "calls:write,evaluations:read", "--expires-days", "30")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("ccr_") and len(token) > 40 and " " not in token
    assert "evaluations:read" in made.stdout and "plus jamais affiché" in made.stdout
    code = ("import sys\nfrom sqlmodel import select\nfrom ccr.core.api_tokens import authenticate\n"
            "from ccr.core.db import session\nfrom ccr.core.integration_models import ApiToken\n"
            "with session() as s:\n"
            "    rows = s.exec(select(ApiToken)).all()\n"
            "    client = authenticate(session=s, token=sys.argv[1])\n"
            "    print(sorted(client.scopes), client.name, any(sys.argv[1] in str(r.model_dump()) for r in rows))\n")
    check = subprocess.run([sys.executable, "-c", code, token], cwd=tmp_path, env=ccr_env(tmp_path), check=False,
                           timeout=SUBPROCESS_TIMEOUT_S, capture_output=True, text=True)
    assert check.stdout.strip() == "['calls:write', 'evaluations:read'] Téléphonie False", check.stderr
    unknown = run_ccr(tmp_path, "create-token", "--org", "alpha", "--name", "Autre", "--scopes", "tout:faire")
    assert unknown.returncode == 2 and "Portée inconnue" in unknown.stderr
    twice = run_ccr(tmp_path, "create-token", "--org", "alpha", "--name", "Téléphonie")
    assert twice.returncode == 2 and "déjà" in twice.stderr

