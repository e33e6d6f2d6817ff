"""The cookie banner of app.py, run by AppTest with a real cookie jar in place of the page-load cookies."""

from __future__ import annotations

import json
import types
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from ccr.core import config
from ccr.core.db import session, utcnow
from ccr.core.models import ConsentRecord
from ccr.privacy.consent import CONSENT_COOKIE, accept_all, make_consent, parse_consent_cookie, record_consent

APP = str(Path(__file__).resolve().parents[2] / "app.py")
BANNER_KEYS = ("ccr_consent_accept", "ccr_consent_refuse", "ccr_consent_customise")
MATOMO_URL = "http://127.0.0.1:9/stats/"


@pytest.fixture
def jar(monkeypatch):
    """The cookies of the page load: AppTest has no browser, so Streamlit's accessor reads this dict."""
    import streamlit.runtime.context as st_context

    cookies: dict[str, str] = {}
    monkeypatch.setattr(st_context, "_get_client_context",
                        lambda: types.SimpleNamespace(cookies=cookies, headers={}))
    return cookies


@pytest.fixture
def matomo(monkeypatch, migrated):
    """Settings with analytics configured (a Matomo URL and site id)."""
    monkeypatch.setenv("CCR_MATOMO_URL", MATOMO_URL)
    monkeypatch.setenv("CCR_MATOMO_SITE_ID", "7")
    config.get_settings.cache_clear()
    return config.get_settings()


def _run(session_state: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in (session_state or {}).items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def _banner_shown(at: AppTest) -> bool:
    keys = {b.key for b in at.button}
    return all(k in keys for k in BANNER_KEYS)


def _tags(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if "matomo.js" in h.proto.body]


def _browser_action(at: AppTest) -> dict | None:
    mounted = [e for e in at.get("bidi_component") if e.proto.component_name == "ccr_consent_cookie"]
    return json.loads(mounted[0].proto.json) if mounted else None


def _records() -> list[ConsentRecord]:
    with session() as s:
        return list(s.exec(select(ConsentRecord).order_by(ConsentRecord.id)).all())


def test_first_visit_shows_the_banner_with_three_equal_buttons(jar, matomo):
    at = _run()
    assert _banner_shown(at)
    buttons = {b.key: b for b in at.button if b.key in BANNER_KEYS}
    assert [buttons[k].label for k in BANNER_KEYS] == ["Tout accepter", "Tout refuser", "Personnaliser"]
    assert len({(b.proto.type, b.proto.disabled) for b in buttons.values()}) == 1  # same prominence
    assert any("(cookies)" in m.value and "Politique cookies" in m.value for m in at.markdown)
    assert _tags(at) == [] and _browser_action(at) is None
    assert _records() == []
    assert "🍪 Gérer mes cookies" in [b.label for b in at.sidebar.button]


def test_refuse_hides_the_banner_and_records_a_refusal(jar, matomo):
    at = _run()
    at.button(key="ccr_consent_refuse").click().run()
    assert not _banner_shown(at)
    assert _tags(at) == []
    [row] = _records()
    assert json.loads(row.choices_json) == {"audience": False, "functional": False}
    assert row.org_id is None and row.withdrawn_at is None
    action = _browser_action(at)
    assert action["op"] == "set" and action["name"] == CONSENT_COOKIE and action["clear_analytics"]
    cookie = parse_consent_cookie(action["value"], matomo)
    assert cookie.consent_id == row.consent_id and cookie.refused_all
    at.run()  # the choice holds for the rest of the session
    assert not _banner_shown(at) and _tags(at) == []


def test_accept_injects_the_analytics_tag(jar, matomo):
    at = _run()
    at.button(key="ccr_consent_accept").click().run()
    assert not _banner_shown(at)
    [tag] = _tags(at)
    assert MATOMO_URL in tag and "'setSiteId', \"7\"" in tag
    [row] = _records()
    assert json.loads(row.choices_json) == {"audience": True, "functional": True}


def test_accept_without_matomo_settings_injects_nothing(jar, migrated):
    at = _run()
    at.button(key="ccr_consent_accept").click().run()
    assert not _banner_shown(at) and _tags(at) == []


def test_customise_saves_the_toggled_choices(jar, matomo):
    at = _run()
    at.button(key="ccr_consent_customise").click().run()
    necessary = at.toggle(key="ccr_consent_t_necessary")
    assert necessary.value is True and necessary.proto.disabled
    assert at.toggle(key="ccr_consent_t_audience").value is False
    at.toggle(key="ccr_consent_t_audience").set_value(True).run()
    at.button(key="ccr_consent_save").click().run()
    assert not _banner_shown(at)
    [row] = _records()
    assert json.loads(row.choices_json) == {"audience": True, "functional": False}
    assert len(_tags(at)) == 1


def _cookie(settings, *, days_ago: int = 0, version: str | None = None) -> tuple[str, str]:
    made, value, _ = make_consent(accept_all(), settings, utcnow() - timedelta(days=days_ago))
    if version is not None:
        from dataclasses import replace

        from ccr.privacy.consent import encode_consent

        made = replace(made, policy_version=version)
        value = encode_consent(made, settings)
    with session() as s:
        record_consent(session=s, consent=made)
    return made.consent_id, value


def test_a_valid_cookie_from_the_page_load_is_honoured(jar, matomo):
    jar[CONSENT_COOKIE] = _cookie(matomo)[1]
    at = _run()
    assert not _banner_shown(at)
    assert len(_tags(at)) == 1


@pytest.mark.parametrize(
    "make_value",
    [
        pytest.param(lambda s: _cookie(s, days_ago=s.consent_max_days + 1)[1], id="expired"),
        pytest.param(lambda s: _cookie(s, version="2020-01-01")[1], id="old-policy-version"),
        pytest.param(lambda s: _cookie(s)[1][:-3] + "AAA", id="forged"),
    ],
)
def test_an_expired_old_or_forged_choice_asks_again(jar, matomo, make_value):
    jar[CONSENT_COOKIE] = make_value(matomo)
    at = _run()
    assert _banner_shown(at)
    assert _tags(at) == []


def test_withdraw_deletes_the_choice_and_brings_the_banner_back(jar, matomo):
    consent_id, jar[CONSENT_COOKIE] = _cookie(matomo)
    at = _run()
    assert not _banner_shown(at) and len(_tags(at)) == 1
    at.sidebar.button(key="ccr_cookie_manager").click().run()
    assert at.toggle(key="ccr_consent_t_audience").value is True  # the dialog shows the choice in force
    at.button(key="ccr_consent_withdraw").click().run()
    assert _banner_shown(at)
    assert _tags(at) == []
    action = _browser_action(at)
    assert action["op"] == "delete" and action["clear_analytics"] and action["reload"]
    [row] = _records()
    assert row.consent_id == consent_id and row.withdrawn_at is not None


def test_turning_audience_off_clears_matomo_and_reloads(jar, matomo):
    old_id, jar[CONSENT_COOKIE] = _cookie(matomo)
    at = _run()
    at.sidebar.button(key="ccr_cookie_manager").click().run()
    at.button(key="ccr_consent_d_refuse").click().run()
    assert not _banner_shown(at) and _tags(at) == []
    action = _browser_action(at)
    assert action["op"] == "set" and action["clear_analytics"] and action["reload"]
    old, new = _records()
    assert old.consent_id == old_id and old.withdrawn_at is not None
    assert new.consent_id != old_id and json.loads(new.choices_json) == {"audience": False, "functional": False}


def test_a_logged_in_choice_keeps_a_random_id_and_the_organisation(jar, tenants):
    tenant_a, _ = tenants
    user_id = tenant_a.users["supervisor"]
    at = _run({"ccr_user_id": user_id, "ccr_issued_at": utcnow()})
    at.button(key="ccr_consent_refuse").click().run()
    [row] = _records()
    assert row.org_id == tenant_a.org_id
    assert row.consent_id != str(user_id) and "alpha" not in row.consent_id
