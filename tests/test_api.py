"""The REST API for real: ``python -m ccr api`` on a free port, real HTTP (httpx), real recordings, the real
Whisper model and scorer behind it, and the database read back to check what was (not) stored."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from tests import apiserver
from tests.audiodata import cut_wav, offline_model_dir
from tests.test_cli import assert_contract

PROCESS_DEADLINE_S = 600  # transcription and scoring of a 15 s call on a loaded 2-core machine
RATE_PER_MIN = 60
MAX_UPLOAD_MB = 3


@dataclass
class World:
    """The server, its two organisations and the tokens of each test."""

    server: apiserver.ApiServer
    tenant_a: object
    tenant_b: object
    tokens: dict[str, str]

    def get(self, path: str, token: str | None = "full", headers: dict | None = None,  # noqa: S107 - a key
            **kw) -> httpx.Response:
        auth = {"Authorization": f"Bearer {self.tokens.get(token, token)}"} if token else {}
        return httpx.get(f"{self.server.url}{path}", headers=auth | (headers or {}), timeout=60, **kw)

    def post_call(self, audio: bytes, *, name: str = "appel.wav", metadata: dict | None = None,
                  token: str = "full", content_type: str = "audio/wav") -> httpx.Response:  # noqa: S107
        data = {"metadata": json.dumps(metadata)} if metadata is not None else {}
        return httpx.post(f"{self.server.url}/api/v1/calls",
                          headers={"Authorization": f"Bearer {self.tokens.get(token, token)}"},
                          files={"audio": (name, audio, content_type)}, data=data, timeout=120)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from ccr.core.api_tokens import issue_token
    from ccr.core.db import session
    from ccr.core.integration_models import ApiToken
    from tests.conftest import make_tenant

    server = apiserver.prepare(tmp_path_factory.mktemp("api"), {
        "CCR_ASR_MODEL": str(offline_model_dir(tmp_path_factory)), "CCR_API_RATE_PER_MIN": str(RATE_PER_MIN),
        "CCR_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB), "CCR_BCRYPT_ROUNDS": "4"})
    with apiserver.attached_to(server):
        a, b = make_tenant("Alpha Conseil", "alpha"), make_tenant("Beta Services", "beta")
        tokens = {}
        with session() as s:
            for key, org, scopes in (("full", a, "calls:write,calls:read,evaluations:read"),
                                     ("write_only", a, "calls:write"), ("read_only", a, "calls:read"),
                                     ("limited", a, "calls:read"), ("to_revoke", a, None), ("expired", a, None),
                                     ("full_b", b, "calls:write,calls:read,evaluations:read")):
                tokens[key] = issue_token(session=s, org_id=org.org_id, name=f"Client {key}", scopes=scopes,
                                          expires_days=1 if key == "expired" else None).token
        with session() as s:  # expired since yesterday
            row = s.exec(ApiToken.__table__.select().where(ApiToken.name == "Client expired")).first()
            s.get(ApiToken, row.id).expires_at = row.created_at - timedelta(days=1)
    apiserver.start(server)
    yield World(server, a, b, tokens)
    apiserver.stop(server)


def _wait_finished(world: World, call_id: int) -> dict:
    deadline = time.monotonic() + PROCESS_DEADLINE_S
    while time.monotonic() < deadline:
        body = world.get(f"/api/v1/calls/{call_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(1)
    raise AssertionError(f"appel {call_id} non traité en {PROCESS_DEADLINE_S} s : {world.server.logs()[-3000:]}")


def _calls_in_db(world: World) -> int:
    from sqlmodel import func, select

    from ccr.core.db import session
    from ccr.core.models import Call

    with apiserver.attached_to(world.server), session() as s:
        return s.exec(select(func.count()).select_from(Call)).one()


def test_a_recording_posted_with_a_token_is_transcribed_scored_and_read_back_with_its_evaluation(world):
    started = "2026-11-30T10:15:00+01:00"
    posted = world.post_call(cut_wav("a01-000.wav", 15), name="20261130-101500_appel.wav", metadata={
        "agent": "alpha agent 1", "external_id": "CRM-42", "started_at": started, "direction": "entrant",
        "campaign": "Fibre"})
    assert posted.status_code == 202, posted.text
    call_id = posted.json()["id"]
    assert posted.json()["status"] == "queued"

    body = _wait_finished(world, call_id)
    assert body["status"] == "done", body
    assert (body["external_id"], body["agent"], body["campaign"]) == ("CRM-42", "alpha agent 1", "Fibre")
    assert body["started_at"] == "2026-11-30T09:15:00+00:00"  # the offset was honoured, stored in UTC
    evaluation = body["evaluation"]
    assert_contract(evaluation, engine="rules", extra_allowed=True)  # the scoring contract, needs_review included
    assert body["review"] is None

    # Without evaluations:read, the same call shows its state, never its scores.
    limited = world.get(f"/api/v1/calls/{call_id}", token="read_only").json()
    assert limited["status"] == "done" and "evaluation" not in limited

    # A CRM that polls finds it in the list once the change settled, with its score.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = world.get("/api/v1/calls", params={"updated_since": "2020-01-01T00:00:00Z", "status": "done"}).json()
        if any(item["id"] == call_id for item in page["items"]):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"appel absent de la liste : {page}")
    item = next(i for i in page["items"] if i["id"] == call_id)
    assert item["score"] == evaluation["score"]
    after = world.get("/api/v1/calls", params={"cursor": page["next_cursor"]}).json()
    assert all(i["id"] != call_id for i in after["items"])  # the cursor moves past what was read

    # A supervisor's review: the final verdicts come back beside the AI's evaluation.
    from ccr.core.db import session
    from ccr.quality.reviews import validate_review

    first = evaluation["criteria"][0]
    flipped = "fail" if first["verdict"] != "fail" else "pass"
    with apiserver.attached_to(world.server), session() as s:
        validate_review(session=s, actor=world.tenant_a.actor("supervisor"), call_id=call_id,
                        overrides={first["id"]: flipped}, comments={first["id"]: "Réécouté : verdict corrigé."})
    review = world.get(f"/api/v1/calls/{call_id}").json()["review"]
    assert review["final_verdicts"][first["id"]] == flipped and review["changed_criteria"] == [first["id"]]
    assert review["final_score"] != evaluation["score"] or first["weight"] == 0


def test_the_same_recording_or_the_same_external_id_answers_409_with_the_existing_call(world):
    audio = cut_wav("a01-001.wav", 6)
    first = world.post_call(audio, metadata={"external_id": "DUP-1"})
    assert first.status_code == 202, first.text
    again = world.post_call(audio)
    assert again.status_code == 409 and again.json()["id"] == first.json()["id"]
    assert "Déjà importé" in again.json()["detail"]
    other_audio = world.post_call(cut_wav("a01-001.wav", 7), metadata={"external_id": "DUP-1"})
    assert other_audio.status_code == 409 and other_audio.json()["id"] == first.json()["id"]
    assert "DUP-1" in other_audio.json()["detail"]


def test_an_invalid_file_or_metadata_is_refused_with_its_reason_and_nothing_is_stored(world):
    before = _calls_in_db(world)
    not_audio = world.post_call(b"<html>" + b"x" * 4000, name="appel.wav")
    assert not_audio.status_code == 422 and "audio" in not_audio.json()["detail"]
    wrong_ext = world.post_call(cut_wav("a01-002.wav", 3), name="appel.exe")
    assert wrong_ext.status_code == 422 and "Format" in wrong_ext.json()["detail"]
    wrong_type = world.post_call(cut_wav("a01-002.wav", 3), content_type="text/html")
    assert wrong_type.status_code == 422 and "text/html" in wrong_type.json()["detail"]
    unknown_field = world.post_call(cut_wav("a01-002.wav", 3), metadata={"agnet": "alpha agent 1"})
    assert unknown_field.status_code == 422 and "agnet" in unknown_field.json()["detail"]
    unknown_agent = world.post_call(cut_wav("a01-002.wav", 3), metadata={"agent": "Personne Inconnue"})
    assert unknown_agent.status_code == 422 and "inconnu" in unknown_agent.json()["detail"]
    bad_date = world.post_call(cut_wav("a01-002.wav", 3), metadata={"started_at": "hier midi"})
    assert bad_date.status_code == 422 and "ISO 8601" in bad_date.json()["detail"]
    not_multipart = httpx.post(f"{world.server.url}/api/v1/calls", content=b"RIFF....",
                               headers={"Authorization": f"Bearer {world.tokens['full']}",
                                        "Content-Type": "audio/wav"}, timeout=60)
    assert not_multipart.status_code == 415 and "multipart" in not_multipart.json()["detail"]
    too_big = world.post_call(b"\0" * ((MAX_UPLOAD_MB + 1) * 1024 * 1024))
    assert too_big.status_code == 413 and f"{MAX_UPLOAD_MB} Mo" in too_big.json()["detail"]
    assert _calls_in_db(world) == before


def test_tokens_that_are_missing_wrong_revoked_or_expired_get_401(world):
    from sqlmodel import select

    from ccr.core.api_tokens import revoke_token
    from ccr.core.db import session
    from ccr.core.integration_models import ApiToken

    assert world.get("/api/v1/calls", token=None).status_code == 401
    wrong = world.get("/api/v1/calls", token="ccr_" + "x" * 43)
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert "inconnu" in wrong.json()["detail"]
    assert world.get("/api/v1/calls", token="to_revoke").status_code == 200
    with apiserver.attached_to(world.server), session() as s:
        token_id = s.exec(select(ApiToken.id).where(ApiToken.name == "Client to_revoke")).one()
        revoke_token(session=s, actor=world.tenant_a.actor("admin"), token_id=token_id)
    revoked = world.get("/api/v1/calls", token="to_revoke")
    assert revoked.status_code == 401 and "révoqué" in revoked.json()["detail"]
    expired = world.get("/api/v1/calls", token="expired")
    assert expired.status_code == 401 and "expiré" in expired.json()["detail"]


def test_another_organisations_call_is_not_found_and_a_missing_scope_is_forbidden(world):
    posted = world.post_call(cut_wav("a01-003.wav", 4), token="full_b")
    assert posted.status_code == 202, posted.text
    theirs = posted.json()["id"]
    hidden = world.get(f"/api/v1/calls/{theirs}")
    assert hidden.status_code == 404 and "introuvable" in hidden.json()["detail"]
    assert world.get(f"/api/v1/calls/{theirs}", token="full_b").status_code == 200
    assert all(i["id"] != theirs for i in world.get("/api/v1/calls", params={"updated_since": "2020-01-01"})
               .json()["items"])
    no_write = world.post_call(cut_wav("a01-003.wav", 5), token="read_only")
    assert no_write.status_code == 403 and "calls:write" in no_write.json()["detail"]
    no_read = world.get(f"/api/v1/calls/{theirs}", token="write_only")
    assert no_read.status_code == 403 and "calls:read" in no_read.json()["detail"]


def test_a_token_past_its_rate_gets_429_with_the_wait(world):
    codes = []
    for _ in range(RATE_PER_MIN + 10):
        response = world.get("/api/v1/calls", token="limited")
        codes.append(response.status_code)
        if response.status_code == 429:
            break
    assert codes[-1] == 429, codes
    assert int(response.headers["retry-after"]) >= 1 and "réessayez" in response.json()["detail"]
    assert world.get("/api/v1/calls", token="read_only").status_code == 200  # other tokens are not slowed


def test_health_docs_and_errors_are_french_and_leak_nothing(world):
    health = world.get("/api/v1/health", token=None)
    assert health.status_code in (200, 503) and health.json()["checks"]
    assert str(world.server.data_dir) not in health.text and "detail" not in health.json()["checks"][0]
    docs = world.get("/api/docs", token=None)
    assert docs.status_code == 200 and "/api/docs/static/swagger-ui-bundle.js" in docs.text
    assert "cdn." not in docs.text  # served from the wheel, never from a CDN
    assert world.get("/api/docs/static/swagger-ui-bundle.js", token=None).status_code == 200
    spec = world.get("/api/openapi.json", token=None).json()
    assert "Déposer un enregistrement" in json.dumps(spec, ensure_ascii=False)
    assert world.get("/api/v2/rien", token=None).json()["detail"] == "Ressource introuvable."
    assert "access-control-allow-origin" not in world.get(
        "/api/v1/calls", headers={"Origin": "https://ailleurs.example"}).headers


def test_every_request_is_audited_under_the_tokens_name_and_no_token_is_written_anywhere(world):
    from sqlmodel import select

    from ccr.core.db import session
    from ccr.core.models import AuditLog

    assert world.get("/api/v1/calls", token="read_only").status_code == 200
    with apiserver.attached_to(world.server), session() as s:
        rows = s.exec(select(AuditLog).where(AuditLog.action == "api_request")).all()
        everything = " ".join(f"{r.username} {r.detail_json}" for r in s.exec(select(AuditLog)).all())
    assert any(r.username == "api:Client read_only" for r in rows)
    texts = [everything, world.server.logs()]
    for token in world.tokens.values():
        assert all(token not in text and token[12:30] not in text for text in texts)
