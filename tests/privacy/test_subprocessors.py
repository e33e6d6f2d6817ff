"""The sub-processor list follows the live settings: local by default, the API host when one is used."""

from __future__ import annotations

import pytest

from ccr.core.config import Settings
from ccr.privacy.subprocessors import LOCATION_LOCAL, LOCATION_UNKNOWN, LOCATION_US, classify_host, list_subprocessors


@pytest.mark.parametrize(("host", "expected"), [
    ("api.openai.com", LOCATION_US),
    ("127.0.0.1", LOCATION_LOCAL),
    ("localhost", LOCATION_LOCAL),
    ("10.1.2.3", LOCATION_LOCAL),
    ("192.168.0.10", LOCATION_LOCAL),
    ("vllm.internal", LOCATION_LOCAL),
    ("llm.example.eu", LOCATION_UNKNOWN),
])
def test_hosts_are_classified(host, expected):
    assert classify_host(host) == expected


def test_default_settings_send_nothing_outside(tmp_path):
    items = list_subprocessors(Settings(data_dir=tmp_path, _env_file=None))
    assert all(i["location"] == LOCATION_LOCAL for i in items)
    assert any("Transcription locale" in i["name"] for i in items)
    assert not any("Matomo" in i["name"] for i in items)


def test_openai_transcription_llm_and_matomo_are_listed_with_their_hosts(tmp_path):
    s = Settings(data_dir=tmp_path, _env_file=None, asr_engine="openai", scoring_engine="llm",
                 openai_api_key="sk-test", matomo_url="https://stats.example.fr/")
    items = {i["name"]: i for i in list_subprocessors(s)}
    asr = items["API de transcription (compatible OpenAI)"]
    assert asr["host"] == "api.openai.com" and asr["location"] == LOCATION_US and "audio" in asr["data"]
    assert items["Modèle de langage (évaluation IA)"]["enabled"]
    assert items["Mesure d'audience (Matomo)"]["host"] == "stats.example.fr"


def test_a_self_hosted_endpoint_stays_local(tmp_path):
    s = Settings(data_dir=tmp_path, _env_file=None, scoring_engine="llm", openai_base_url="http://127.0.0.1:8000/v1")
    llm = next(i for i in list_subprocessors(s) if i["name"].startswith("Modèle de langage"))
    assert llm["host"] == "127.0.0.1" and llm["location"] == LOCATION_LOCAL
