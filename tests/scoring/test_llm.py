"""The LLM scorer against a real local HTTP server speaking the OpenAI chat completions API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ccr.core.config import Settings
from ccr.scoring.grid import default_grid, default_taxonomy
from ccr.scoring.score import score_transcript
from tests.scoring.llmserver import FakeOpenAI

TRANSCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "eval" / "public" / "transcripts" / "a01-005.json"


@pytest.fixture
def server():
    fake = FakeOpenAI()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def settings_for(server: FakeOpenAI, timeout: float = 5.0, retries: int = 2) -> Settings:
    return Settings(openai_base_url=server.base_url, openai_api_key="cle-de-test", llm_model="test-model",
                    llm_timeout_s=timeout, llm_max_retries=retries)


def transcript() -> dict:
    return json.loads(TRANSCRIPT.read_text(encoding="utf-8"))


def good_answer(**overrides) -> dict:
    """A well-formed answer quoting a01-005 faithfully."""
    criteria = [
        {"id": "accueil", "verdict": "pass", "quotes": [{"text": "Bonsoir, Inès du service clients Domivia"}],
         "explanation": "Salutation et présentation."},
        {"id": "identification", "verdict": "pass",
         "quotes": [{"text": "Pouvez-vous me donner votre numéro client, s'il vous plaît ?"}], "explanation": "ok"},
        {"id": "decouverte", "verdict": "fail", "quotes": [], "explanation": "Aucune question ouverte."},
        {"id": "empathie", "verdict": "fail", "quotes": [{"text": "En plus j'ai été prélevé deux fois ce mois-ci."}],
         "explanation": "Irritant non reconnu."},
        {"id": "solution", "verdict": "fail",
         "quotes": [{"text": "Je ne peux rien faire de plus pour vous, il faudra rappeler un autre jour."}],
         "explanation": "Refus sans alternative."},
        {"id": "attente", "verdict": "fail", "quotes": [{"text": "je vous mets en attente quelques instants"}],
         "explanation": "Pas de remerciement."},
        {"id": "politesse", "verdict": "pass", "quotes": [], "explanation": "Courtois."},
        {"id": "conclusion", "verdict": "pass", "quotes": [{"text": "Avez-vous d'autres questions ?"},
                                                           {"text": "Merci de votre appel et excellente journée"}],
         "explanation": "Clôture complète."},
    ]
    answer = {"criteria": criteria, "category": "facturation",
              "irritants": [{"label": "erreur_facturation", "quote": "j'ai été prélevé deux fois ce mois-ci"}],
              "summary": "Le client conteste une facture ; l'agent ne propose rien."}
    answer.update(overrides)
    return answer


def test_well_formed_answer_gives_a_verified_llm_evaluation(server):
    server.completion(good_answer())
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server))
    assert ev["engine"] == "llm"
    verdicts = {c["id"]: c["verdict"] for c in ev["criteria"]}
    assert verdicts["solution"] == "fail" and verdicts["conclusion"] == "pass"
    assert ev["score"] == 45.0 and ev["passed"] is False  # 15 + 10 + 10 + 10 out of 100
    conclusion = next(c for c in ev["criteria"] if c["id"] == "conclusion")
    segs = transcript()["segments"]
    assert [e["text"] for e in conclusion["evidence"]] == [segs[11]["text"], segs[13]["text"]]
    assert [e["start"] for e in conclusion["evidence"]] == [round(segs[11]["start"], 2), round(segs[13]["start"], 2)]
    assert ev["irritants"] == [{"label": "erreur_facturation", "start": round(segs[2]["start"], 2),
                                "text": "En plus j'ai été prélevé deux fois ce mois-ci."}]
    assert ev["extra"]["usage"] == {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}
    assert ev["extra"]["unverified"] == []
    assert len(ev["recommendations"]) == 4
    # one request per call, with a JSON-schema structured output and the grid's criteria
    assert len(server.requests) == 1
    body = server.requests[0]["body"]
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert body["response_format"]["type"] == "json_schema"
    assert body["model"] == "test-model"
    assert "identification" in body["messages"][1]["content"]


def test_the_engines_disagreeing_on_the_category_send_it_to_a_human(server):
    rules = score_transcript(transcript())
    assert rules["category"] == "facturation" and not rules["category_needs_review"]
    server.completion(good_answer())  # the same category: the rules' confidence stands
    agreed = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server))
    assert agreed["category_confidence"] == rules["category_confidence"] and not agreed["category_needs_review"]
    server.completion(good_answer(category="resiliation"))
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server))
    assert (ev["category"], ev["category_confidence"], ev["category_needs_review"]) == ("resiliation", 0.5, True)
    assert ev["category_review_reason"] == "le modèle de langue dit « Résiliation », les règles « Facturation »"
    assert ev["needs_review"] and ev["review_reasons"][-1] == f"Catégorie : {ev['category_review_reason']}"


def test_invented_quotes_are_rejected_and_fall_back_to_rules(server):
    answer = good_answer()
    answer["criteria"][4] = {"id": "solution", "verdict": "pass",
                             "quotes": [{"text": "Je vous rembourse immédiatement la totalité."}],
                             "explanation": "Inventé."}
    answer["irritants"] = [{"label": "mecontentement", "quote": "Vous êtes des voleurs !"}]
    server.completion(answer)
    rules = score_transcript(transcript())
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server))
    assert ev["engine"] == "llm"
    assert "solution" in ev["extra"]["unverified"]
    solution = next(c for c in ev["criteria"] if c["id"] == "solution")
    assert solution == next(c for c in rules["criteria"] if c["id"] == "solution")
    assert ev["irritants"] == []


def test_quote_from_the_agent_cannot_be_a_customer_irritant(server):
    server.completion(good_answer(irritants=[{"label": "mecontentement",
                                              "quote": "Je ne peux rien faire de plus pour vous"}]))
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server))
    assert ev["irritants"] == []


def test_a_quote_across_the_pieces_of_a_sentence_cut_at_a_pause_is_verified_on_the_whole_sentence(server):
    tr = transcript()
    i, seg = next((i, s) for i, s in enumerate(tr["segments"]) if s["text"].startswith("Je ne peux rien faire"))
    head, tail = seg["text"].split(", ", 1)
    middle = (seg["start"] + seg["end"]) / 2
    tr["segments"][i:i + 1] = [dict(seg, end=middle - 0.4, text=head + ","), dict(seg, start=middle, text=tail)]
    server.completion(good_answer())
    ev = score_transcript(tr, engine="llm", llm_settings=settings_for(server))
    assert "solution" not in ev["extra"]["unverified"]
    assert "Je ne peux rien faire de plus pour vous, il faudra rappeler" in server.requests[0]["body"]["messages"][1]["content"]
    solution = next(c for c in ev["criteria"] if c["id"] == "solution")
    assert solution["evidence"] == [{"start": round(seg["start"], 2), "speaker": "agent", "text": seg["text"]}]


def test_the_model_sees_the_call_from_the_agent_s_answer_and_its_quotes_keep_the_recording_s_time(server):
    tr = transcript()
    message = [{"speaker": "agent", "start": 0.5, "end": 6.0, "text": "Bienvenue chez votre assureur. Les échanges "
                "peuvent être conservés afin de former nos équipes. Merci de rester en ligne, un chargé de "
                "clientèle va vous répondre."}]
    shift = 40.0
    tr["segments"] = message + [dict(s, start=s["start"] + shift, end=s["end"] + shift) for s in tr["segments"]]
    tr["duration_s"] += shift
    server.completion(good_answer())
    ev = score_transcript(tr, engine="llm", llm_settings=settings_for(server))
    shown = json.loads(server.requests[0]["body"]["messages"][1]["content"])["transcription"]
    assert "assureur" not in json.dumps(shown, ensure_ascii=False)
    first, second = transcript()["segments"][:2]
    assert [x["debut"] for x in shown[:2]] == [0.0, round(second["start"] - first["start"], 1)]  # from the answer
    accueil = next(c for c in ev["criteria"] if c["id"] == "accueil")
    assert accueil["verdict"] == "pass" and accueil["evidence"][0]["start"] == round(first["start"] + shift, 2)


def test_pass_without_any_quote_is_unverified(server):
    answer = good_answer()
    answer["criteria"][0]["quotes"] = []
    server.completion(answer)
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server))
    assert ev["extra"]["unverified"] == ["accueil"]


def test_forbidden_expression_fail_needs_its_quote(server):
    answer = good_answer()
    answer["criteria"][6] = {"id": "politesse", "verdict": "fail", "quotes": [], "explanation": "Impoli ?"}
    server.completion(answer)
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server))
    assert ev["extra"]["unverified"] == ["politesse"]
    assert ev["critical_failed"] is False


def _assert_fallback(ev: dict, rules: dict, words: str) -> None:
    assert ev["engine"] == "rules"
    assert ev["extra"]["retry"] is True
    assert words in ev["extra"]["llm_error"]
    assert {k: v for k, v in ev.items() if k != "extra"} == rules


def test_malformed_json_keeps_the_rules_evaluation(server):
    server.completion("{ceci n'est pas du JSON")
    rules = score_transcript(transcript())
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server))
    _assert_fallback(ev, rules, "JSON")


def test_timeout_keeps_the_rules_evaluation(server):
    # The answer comes 8 s late; the client gives up after 0.4 s. Finishing well before the answer proves
    # the timeout cut the wait, with room for a loaded machine (rules scoring, the first SDK import).
    server.completion(good_answer(), delay=8.0)
    rules = score_transcript(transcript())
    t0 = time.perf_counter()
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server, timeout=0.4, retries=0))
    assert time.perf_counter() - t0 < 6.0
    _assert_fallback(ev, rules, "à temps")


def test_429_then_success_is_retried(server):
    server.error(429)
    server.completion(good_answer())
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server, retries=2))
    assert ev["engine"] == "llm"
    assert len(server.requests) == 2


def test_persistent_5xx_falls_back_after_retries(server):
    for _ in range(3):
        server.error(503)
    rules = score_transcript(transcript())
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings_for(server, retries=2))
    _assert_fallback(ev, rules, "HTTP 503")
    assert len(server.requests) == 3


def test_unconfigured_llm_falls_back_without_network():
    settings = Settings(openai_base_url=None, openai_api_key=None)
    ev = score_transcript(transcript(), engine="llm", llm_settings=settings)
    assert ev["engine"] == "rules" and ev["extra"]["retry"] is True
    assert "configuré" in ev["extra"]["llm_error"]


def test_schema_lists_the_grid_criteria_and_taxonomy():
    from ccr.scoring.llm import response_schema

    schema = response_schema(default_grid(), default_taxonomy())
    item = schema["properties"]["criteria"]["items"]["properties"]
    assert item["id"]["enum"][0] == "accueil"
    assert "information" in schema["properties"]["category"]["enum"]
