"""Export rows and archive paths: every declared column filled, and no path built from a crafted key."""

from __future__ import annotations

import json

import pytest

from ccr.core.config import Settings
from ccr.core.db import utcnow
from ccr.core.errors import NotFound
from ccr.core.models import Call, Evaluation, Review, Transcript
from ccr.privacy import records


def test_a_call_row_has_exactly_the_declared_columns_and_names_instead_of_ids():
    call = Call(id=7, org_id=1, sha256="x", team_id=2, agent_id=3, started_at=utcnow(), source_name="appel.MP3",
                audio_key="k", direction="entrant")
    row = records.call_row(call, teams={2: "Équipe Nord"}, agents={3: "Léa Martin"})
    assert list(row) == records.CALL_FIELDS
    assert (row["team"], row["agent"], row["has_audio"]) == ("Équipe Nord", "Léa Martin", True)
    assert records.audio_extension(call) == "mp3"
    assert records.audio_extension(Call(org_id=1, sha256="y", source_name="script.sh")) == "bin"


def test_evaluation_and_review_rows_match_their_declared_columns():
    result = {"criteria": [{"id": "accueil", "verdict": "pass", "evidence": []}],
              "irritants": [{"label": "attente"}], "summary": "Appel correct."}
    ev = Evaluation(id=1, org_id=1, call_id=7, grid_slug="g", grid_version=1, engine="rules", ai_score=80.0,
                    ai_passed=True, final_score=80.0, final_passed=True, result_json=json.dumps(result))
    row = records.evaluation_row(ev)
    assert list(row) == records.EVALUATION_FIELDS
    assert json.loads(row["criteria"]) == [{"id": "accueil", "verdict": "pass"}]
    assert json.loads(row["irritants"]) == ["attente"]
    review = Review(id=2, org_id=1, call_id=7, evaluation_id=1, ai_score=80.0, final_score=85.0, final_passed=True)
    assert list(records.review_row(review)) == records.REVIEW_FIELDS


def test_a_transcript_row_keeps_its_segments_and_redaction_counts():
    t = Transcript(org_id=1, call_id=7, segments_json=json.dumps([{"speaker": "agent", "text": "Bonjour"}]),
                   text="Bonjour", redactions_json=json.dumps({"phone": 1}))
    row = records.transcript_row(t)
    assert row["segments"][0]["text"] == "Bonjour" and row["redactions"] == {"phone": 1}


@pytest.mark.parametrize("key", ["../../etc/passwd", "ABC", "", "0" * 31, "g" * 32])
def test_an_archive_path_is_only_built_from_a_random_hex_key(tmp_path, key):
    with pytest.raises(NotFound):
        records.export_path(Settings(data_dir=tmp_path), 1, key)


def test_an_archive_lives_under_its_organisation_with_the_sealed_suffix(tmp_path):
    path = records.export_path(Settings(data_dir=tmp_path), 4, "a" * 32)
    assert path.parent.name == "4" and path.name.endswith(records.EXPORT_SUFFIX)
