"""The consent cookie (signed, expiring, versioned), its proof in the database and the cookie inventory."""

from __future__ import annotations

import base64
import fnmatch
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from ccr.core import config
from ccr.core.db import session, utcnow
from ccr.core.errors import InvalidInput
from ccr.core.models import ConsentRecord
from ccr.privacy import consent
from ccr.privacy.consent import (
    CONSENT_COOKIE,
    accept_all,
    analytics_tag_html,
    cookie_inventory,
    make_consent,
    parse_consent_cookie,
    record_consent,
    refuse_all,
    withdraw,
)


def _settings(monkeypatch, **env):
    for key, value in env.items():
        monkeypatch.setenv(f"CCR_{key.upper()}", value)
    config.get_settings.cache_clear()
    return config.get_settings()


@pytest.mark.parametrize("choices", [accept_all(), refuse_all(), {"audience": True, "functional": False}])
def test_a_made_consent_reads_back_from_its_cookie(settings_env, choices):
    now = utcnow()
    made, value, _ = make_consent(choices, settings_env, now)
    parsed = parse_consent_cookie(value, settings_env, now + timedelta(days=1))
    assert parsed == made
    assert parsed.choices == choices
    assert parsed.policy_version == settings_env.consent_policy_version


def test_each_consent_gets_a_fresh_random_id(settings_env):
    ids = {make_consent(refuse_all(), settings_env)[0].consent_id for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) >= 20 for i in ids)


def test_cookie_value_only_uses_cookie_safe_characters(settings_env):
    _, value, _ = make_consent(accept_all(), settings_env)
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def _forge(value: str, **changes) -> str:
    payload_b64, sig = value.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    body.update(changes)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + sig


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: _forge(v, c={"audience": True, "functional": True}),  # choices changed, old signature
        lambda v: _forge(v, e=4_102_444_800),  # expiry pushed to 2100
        lambda v: v.split(".")[0] + ".AAAA",  # signature replaced
        lambda v: v.split(".")[0],  # signature removed
        lambda v: v + ".x",
        lambda v: "pas-un-cookie",
        lambda v: "",
        lambda v: "%%%.$$$",
        lambda v: "a" * 5000 + "." + "b",
    ],
)
def test_a_forged_or_malformed_cookie_is_no_consent(settings_env, tamper):
    _, value, _ = make_consent(refuse_all(), settings_env)
    assert parse_consent_cookie(tamper(value), settings_env) is None


def test_a_cookie_signed_with_another_secret_is_refused(settings_env, monkeypatch):
    _, value, _ = make_consent(accept_all(), settings_env)
    other = _settings(monkeypatch, secret_key="f" * 64)
    assert parse_consent_cookie(value, other) is None


def test_missing_cookie_is_no_consent(settings_env):
    assert parse_consent_cookie(None, settings_env) is None


@pytest.mark.parametrize("days_later, valid", [(0, True), (181, True), (182, False), (400, False)])
def test_consent_expires_after_its_lifetime(settings_env, days_later, valid):
    now = utcnow()
    _, value, max_age = make_consent(accept_all(), settings_env, now)
    assert max_age == settings_env.consent_max_days * 86_400
    parsed = parse_consent_cookie(value, settings_env, now + timedelta(days=days_later))
    assert (parsed is not None) is valid


def test_a_new_policy_version_asks_again(settings_env, monkeypatch):
    _, value, _ = make_consent(accept_all(), settings_env)
    assert parse_consent_cookie(value, settings_env) is not None
    newer = _settings(monkeypatch, consent_policy_version="2099-01-01")
    assert parse_consent_cookie(value, newer) is None


@pytest.mark.parametrize("days, accepted", [(1, True), (182, True), (183, True), (184, False), (365, False), (0, False)])
def test_consent_lifetime_setting_is_capped_at_six_months(settings_env, monkeypatch, days, accepted):
    monkeypatch.setenv("CCR_CONSENT_MAX_DAYS", str(days))
    config.get_settings.cache_clear()
    if not accepted:
        with pytest.raises(ValueError):
            config.get_settings()
        return
    _, _, max_age = make_consent(refuse_all(), config.get_settings())
    assert max_age == days * 86_400 <= 183 * 86_400


@pytest.mark.parametrize(
    "choices", [{"advertising": True}, {"necessary": False}, {"audience": True, "tracking": True}]
)
def test_unknown_or_impossible_choices_are_refused(settings_env, choices):
    with pytest.raises(InvalidInput):
        make_consent(choices, settings_env)


def test_naive_datetimes_are_refused(settings_env):
    with pytest.raises(InvalidInput):
        make_consent(refuse_all(), settings_env, utcnow().replace(tzinfo=None))


def test_record_stores_the_random_id_not_the_user(tenants):
    tenant_a, _ = tenants
    actor = tenant_a.actor("supervisor")
    made, _, _ = make_consent({"audience": False, "functional": True}, config.get_settings())
    with session() as s:
        record_consent(session=s, consent=made, org_id=actor.org_id)
    with session() as s:
        row = s.exec(select(ConsentRecord)).one()
    assert row.consent_id == made.consent_id
    assert row.consent_id not in {str(actor.user_id), actor.username}
    assert json.loads(row.choices_json) == {"audience": False, "functional": True}
    assert row.policy_version == config.get_settings().consent_policy_version
    assert row.org_id == actor.org_id
    assert row.expires_at - row.created_at == timedelta(days=config.get_settings().consent_max_days)
    assert row.created_at.tzinfo is not None and row.withdrawn_at is None


def test_anonymous_record_has_no_organisation(migrated):
    made, _, _ = make_consent(refuse_all(), migrated)
    with session() as s:
        row = record_consent(session=s, consent=made)
    assert row.org_id is None


def test_withdraw_marks_only_that_consent(migrated):
    first, _, _ = make_consent(accept_all(), migrated)
    other, _, _ = make_consent(accept_all(), migrated)
    with session() as s:
        record_consent(session=s, consent=first)
        record_consent(session=s, consent=other)
    with session() as s:
        assert withdraw(session=s, consent_id=first.consent_id) == 1
    with session() as s:
        assert withdraw(session=s, consent_id=first.consent_id) == 0  # already withdrawn
        rows = {r.consent_id: r for r in s.exec(select(ConsentRecord)).all()}
    assert rows[first.consent_id].withdrawn_at is not None
    assert rows[other.consent_id].withdrawn_at is None


def test_inventory_lists_the_necessary_cookies_with_live_lifetimes(settings_env, monkeypatch):
    settings = _settings(monkeypatch, cookie_expiry_hours="8")
    by_name = {c["name"]: c for c in cookie_inventory(settings)}
    assert {"_streamlit_xsrf", "ccr_auth", CONSENT_COOKIE} <= set(by_name)
    assert by_name["ccr_auth"]["lifetime"] == "8 heures"
    assert by_name[CONSENT_COOKIE]["lifetime"] == f"{settings.consent_max_days} jours"
    assert all(c["category"] == "necessary" for c in by_name.values())
    assert all(c["purpose"] and c["lifetime"] for c in by_name.values())


def test_inventory_uses_the_login_frame_cookie_name(settings_env):
    from ccr.ui.auth import COOKIE_NAME

    assert COOKIE_NAME in {c["name"] for c in cookie_inventory(settings_env)}


def test_inventory_lists_matomo_cookies_only_when_enabled(settings_env, monkeypatch):
    assert not [c for c in cookie_inventory(settings_env) if c["name"].startswith("_pk_")]
    settings = _settings(monkeypatch, matomo_url="https://stats.example.fr/", matomo_site_id="3")
    audience = [c for c in cookie_inventory(settings) if c["category"] == "audience"]
    names = [c["name"] for c in audience]
    for observed in ("_pk_id.3.1fff", "_pk_ses.3.1fff", "_pk_ref.3.1fff", "_pk_testcookie.3.1fff"):
        assert any(fnmatch.fnmatchcase(observed, pattern) for pattern in names), observed


@pytest.mark.parametrize(
    "url, site, expected",
    [
        (None, None, None),
        ("https://stats.example.fr", None, None),
        (None, "1", None),
        ("javascript:alert(1)", "1", None),
        ("https://stats.example.fr", "1; alert(1)", None),
        ("https://stats.example.fr", "1", "https://stats.example.fr/"),
        ("http://127.0.0.1:9999/m/", "12", "http://127.0.0.1:9999/m/"),
    ],
)
def test_analytics_tag_only_for_a_valid_configuration(settings_env, monkeypatch, url, site, expected):
    for var, value in (("CCR_MATOMO_URL", url), ("CCR_MATOMO_SITE_ID", site)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    config.get_settings.cache_clear()
    tag = analytics_tag_html(config.get_settings())
    if expected is None:
        assert tag is None
    else:
        assert f'var u = "{expected}";' in tag
        assert f"['setSiteId', \"{site}\"]" in tag
        assert "matomo.js" in tag


def test_analytics_tag_escapes_the_url(settings_env, monkeypatch):
    settings = _settings(monkeypatch, matomo_url='https://x.fr/</script><script>alert("x")</script>',
                         matomo_site_id="1")
    tag = analytics_tag_html(settings)
    assert tag.count("</script>") == 1 and "<script>alert" not in tag


def test_matomo_cookies_do_not_outlive_the_consent(settings_env, monkeypatch):
    settings = _settings(monkeypatch, matomo_url="https://stats.example.fr", matomo_site_id="1")
    assert f"['setVisitorCookieTimeout', {consent.consent_max_age(settings)}]" in analytics_tag_html(settings)
