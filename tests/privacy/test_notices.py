"""The privacy notices read the durations and sub-processors in force, never a restated copy."""

from __future__ import annotations

from ccr.core.config import Settings
from ccr.core.db import session
from ccr.privacy import retention
from ccr.privacy.notices import other_durations, retention_rows, subprocessor_rows
from ccr.privacy.subprocessors import LOCATION_US

JUSTIFICATION = "Contentieux client : conservation exigée jusqu'au jugement."


def test_a_visitor_sees_every_category_with_its_default(migrated):
    settings = migrated.model_copy(update={"export_keep_days": 3})
    with session() as s:
        rows = retention_rows(session=s, settings=settings)
    assert [r["category"] for r in rows] == list(retention.CATEGORIES)
    for row in rows:
        rule = retention.CATEGORIES[row["category"]]
        assert (row["label"], row["counted_from"], row["reference"]) == (rule.label, rule.counted_from,
                                                                        rule.reference)
        expected = 3 if row["category"] == "exports" else rule.default_days
        assert row["days"] == expected


def test_an_organisation_sees_its_own_durations_and_not_another_ones(tenants, migrated):
    a, b = tenants
    with session() as s:
        retention.set_retention(session=s, actor=a.actor("dpo"), category="recordings", days=30)
        retention.set_retention(session=s, actor=a.actor("dpo"), category="audit_log", days=2000,
                                justification=JUSTIFICATION)
    with session() as s:
        a_days = {r["category"]: r["days"] for r in retention_rows(session=s, settings=migrated, org_id=a.org_id)}
        b_days = {r["category"]: r["days"] for r in retention_rows(session=s, settings=migrated, org_id=b.org_id)}
    assert a_days["recordings"] == 30 and a_days["audit_log"] == 2000
    assert a_days["transcripts"] == retention.CATEGORIES["transcripts"].default_days
    assert b_days["recordings"] == retention.CATEGORIES["recordings"].default_days
    assert set(a_days) == set(retention.CATEGORIES)


def test_subprocessors_are_local_by_default(tmp_path):
    rows = subprocessor_rows(Settings(data_dir=tmp_path, _env_file=None))
    assert all(type(r) is dict for r in rows)
    assert any("Transcription locale (faster-whisper)" == r["name"] for r in rows)
    assert any("Évaluation par règles" in r["name"] for r in rows)


def test_subprocessors_follow_the_configured_engines(tmp_path):
    settings = Settings(data_dir=tmp_path, _env_file=None, asr_engine="openai", scoring_engine="llm",
                        matomo_url="https://stats.example.eu/")
    rows = {r["name"]: r for r in subprocessor_rows(settings)}
    asr = rows["API de transcription (compatible OpenAI)"]
    assert asr["host"] == "api.openai.com" and asr["location"] == LOCATION_US
    assert rows["Modèle de langage (évaluation IA)"]["enabled"] is True
    assert rows["Mesure d'audience (Matomo)"]["host"] == "stats.example.eu"
    assert not any("locale" in name for name in rows)


def test_other_durations_quote_the_settings(tmp_path):
    settings = Settings(data_dir=tmp_path, _env_file=None, termination_grace_days=45, backup_keep=9,
                        consent_max_days=180, cookie_expiry_hours=12)
    text = " | ".join(d["duration"] for d in other_durations(settings))
    assert "45 jours" in text and "les 9 plus récentes" in text
    assert "180 jours" in text and "12 heures" in text
