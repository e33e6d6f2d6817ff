"""The three public information pages: open to anonymous visitors, stating the live settings."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ccr.core import config
from ccr.core.access import PAGE_BY_KEY, PUBLIC, pages_for
from ccr.core.db import session, utcnow
from tests.pages.helpers import walk_strings

ROOT = Path(__file__).resolve().parents[2]
DPO = "dpo-test@helios.example"
INFO_PAGES = ("privacy", "cookies", "agent_notice")


@pytest.fixture
def info_env(monkeypatch, migrated):
    """Settings with a DPO contact and analytics configured."""
    monkeypatch.setenv("CCR_DPO_CONTACT", DPO)
    monkeypatch.setenv("CCR_MATOMO_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("CCR_MATOMO_SITE_ID", "1")
    config.get_settings.cache_clear()
    return config.get_settings()


def _run(key: str, user_id: int | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE_BY_KEY[key].path), default_timeout=30)
    if user_id is not None:
        at.session_state["ccr_user_id"] = user_id
        at.session_state["ccr_issued_at"] = utcnow()
    at.run()
    assert not at.exception, at.exception
    return at


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [h.value for h in at.header] + [t.value for t in at.title]
    # md_escape's backslashes, and its word joiners that keep e-mail addresses from turning into links
    return "\n".join(parts).replace("\\", "").replace("\u2060", "")


def _table(at: AppTest, index: int = 0) -> list[dict]:
    return at.dataframe[index].value.to_dict("records")


@pytest.mark.parametrize("key", INFO_PAGES)
def test_information_pages_are_public(key):
    assert PAGE_BY_KEY[key].roles == frozenset({PUBLIC})
    assert PAGE_BY_KEY[key].section == "Informations"
    assert key in {p.key for p in pages_for(None)}
    assert not PAGE_BY_KEY[key].icon.startswith(":material")


@pytest.mark.parametrize("key", INFO_PAGES)
def test_information_pages_open_without_login(info_env, key):
    at = _run(key)
    assert not at.error
    assert at.title


def test_privacy_notice_shows_default_durations_and_dpo_to_visitors(info_env):
    at = _run("privacy")
    text = _text(at)
    assert DPO in text
    durations = {r["Données"]: r["Durée de conservation"] for r in _table(at)}
    assert durations["Enregistrements audio"] == "183 jours"
    assert durations["Évaluations et validations"] == "365 jours"
    assert durations["Exports"] == f"{info_env.export_keep_days} jours"
    assert f"{info_env.consent_max_days} jours au plus" in durations["Choix sur les cookies (dans votre navigateur)"]
    for right in ("accès", "rectification", "effacement", "limitation", "opposition", "CNIL"):
        assert right in text


def test_privacy_notice_shows_the_organisations_live_durations(info_env, tenants):
    from ccr.privacy.retention import set_retention

    tenant_a, tenant_b = tenants
    with session() as s:
        set_retention(session=s, actor=tenant_a.actor("dpo"), category="recordings", days=90)
    durations_a = {r["Données"]: r["Durée de conservation"] for r in _table(_run("privacy", tenant_a.users["team_lead"]))}
    durations_b = {r["Données"]: r["Durée de conservation"] for r in _table(_run("privacy", tenant_b.users["team_lead"]))}
    assert durations_a["Enregistrements audio"] == "90 jours"
    assert durations_b["Enregistrements audio"] == "183 jours"


def test_privacy_notice_lists_the_subprocessors_in_force(info_env, monkeypatch):
    monkeypatch.setenv("CCR_SCORING_ENGINE", "llm")
    monkeypatch.setenv("CCR_OPENAI_BASE_URL", "https://llm.interne.example/v1")
    config.get_settings.cache_clear()
    at = _run("privacy")
    rows = _table(at, 1)  # the second table, after the durations
    assert any("llm.interne.example" in " ".join(str(v) for v in row.values()) for row in rows)


def test_cookie_policy_lists_every_cookie_of_the_inventory(info_env):
    from ccr.privacy.consent import cookie_inventory

    at = _run("cookies")
    rows = _table(at)
    assert [r["Nom"] for r in rows] == [c["name"] for c in cookie_inventory(info_env)]
    by_name = {r["Nom"]: r for r in rows}
    assert by_name["ccr_auth"]["Durée"] == f"{info_env.cookie_expiry_hours:g} heures"
    assert by_name["ccr_consent"]["Durée"] == f"{info_env.consent_max_days} jours"
    assert any(fnmatch.fnmatchcase("_pk_id.1.ab12", r["Nom"]) for r in rows)
    assert all(r["Finalité"] and r["Durée"] for r in rows)
    assert "Vous n'avez pas encore fait de choix" in _text(at)


def test_agent_notice_states_human_validation_and_no_emotion_recognition(info_env):
    at = _run("agent_notice")
    text = _text(at)
    assert "Un humain valide" in text
    assert "Aucune reconnaissance d'émotions" in text and "art. 5, § 1, f" in text
    assert DPO in text
    durations = {r["Données"]: r["Durée de conservation"] for r in _table(at)}
    assert durations["Enregistrements audio"] == "183 jours"


def test_agent_notice_lists_the_organisations_announced_periods_to_a_logged_in_agent(info_env):
    from datetime import date

    from ccr.quality import scope
    from tests.conftest import make_tenant

    tenant = make_tenant("Alpha Conseil", "alpha")
    assert "Dans votre organisation" not in _text(_run("agent_notice"))  # a visitor has no organisation
    with session() as s:
        scope.update_rules(session=s, actor=tenant.actor("admin"), sampling="quota", quota=6, quota_period="month",
                           store_excluded=False, use_periods=True, block_unvalidated_exports=False)
        scope.add_period(session=s, actor=tenant.actor("admin"), starts_on=date(2026, 9, 1),
                         ends_on=date(2026, 9, 30), label="Campagne de rentrée")
    text = _text(_run("agent_notice", tenant.users["agent"]))
    assert "Au plus 6 appels par agent et par mois, tirés au sort, sont analysés pendant les périodes" in text
    assert "Du 01/09/2026 au 30/09/2026 : Campagne de rentrée" in text


def test_nothing_in_the_frame_asks_a_third_party_host():
    import tomllib

    config_toml = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    # Streamlit's usage statistics would send every page view to a third party.
    assert config_toml["browser"]["gatherUsageStats"] is False
    # A theme font or logo given by URL is fetched by every visitor's browser.
    theme_urls = [v for v in walk_strings(config_toml.get("theme", {})) if "://" in v or v.startswith("//")]
    assert theme_urls == []
    # Material icons are a web font the browser downloads: emoji only.
    sources = [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ccr" / "ui").glob("*.py")]
    assert [str(p.relative_to(ROOT)) for p in sources if ":material/" in p.read_text()] == []
    assert all(not spec.icon.startswith(":") for spec in PAGE_BY_KEY.values())
