"""The AI Act deployer pack: documents generated from the live settings, measured accuracy, publication,
access and tenant isolation, and the audit-log check."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select

from ccr.core import audit
from ccr.core.access import ACTIONS
from ccr.core.db import session
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import AuditLog, NoticePublication, Organisation
from ccr.governance import deployer_pack as pack
from ccr.governance import stats
from ccr.governance.documents import fr_ratio, md_value
from ccr.privacy import retention
from ccr.quality import calibration, reviews, scope
from ccr.quality.policy import update_policy
from ccr.scoring.grid_store import active_grid
from tests.reviewdata import SEGMENTS, contract, make_call

REPO = Path(__file__).resolve().parents[2]
DOCS = ("worker_notice", "instructions", "cse_file")


def _build(tenant, kind, role="dpo"):
    with session() as s:
        return pack.build(session=s, actor=tenant.actor(role), kind=kind)


def _rules(tenant, **changes):
    base = {"sampling": "all", "quota": 8, "quota_period": "month", "store_excluded": False, "use_periods": False,
            "block_unvalidated_exports": False}
    with session() as s:
        scope.update_rules(session=s, actor=tenant.actor("admin"), **(base | changes))


def _validated_call(tenant, overrides=None):
    call_id = make_call(org_id=tenant.org_id, team_id=tenant.team_ids[0], agent_id=tenant.agent_ids[0],
                        result=contract())
    with session() as s:
        reviews.validate_review(session=s, actor=tenant.actor("supervisor"), call_id=call_id,
                                overrides=overrides or {}, comments={k: "vérifié à l'écoute" for k in overrides or {}})
    return call_id


# --- documents follow the settings --------------------------------------------------------------------------


def test_the_worker_notice_follows_the_scope_quota_and_periods(tenants):
    a, _ = tenants
    before = _build(a, "worker_notice")
    assert "Tous les appels importés sont analysés." in before.markdown
    _rules(a, sampling="quota", quota=5, quota_period="week")
    quota = _build(a, "worker_notice")
    assert quota.digest != before.digest
    assert "au plus **5** appels par agent et par semaine" in quota.markdown
    _rules(a, sampling="quota", quota=12, quota_period="week", use_periods=True)
    with session() as s:
        scope.add_period(session=s, actor=a.actor("admin"), starts_on=date(2026, 9, 1), ends_on=date(2026, 9, 30),
                         label="Campagne de rentrée")
    periods = _build(a, "worker_notice")
    assert "au plus **12** appels" in periods.markdown and "au plus **5**" not in periods.markdown
    assert "du 01/09/2026 au 30/09/2026 — Campagne de rentrée" in periods.markdown
    assert "seuls les appels de ces périodes sont analysés" in periods.markdown


def test_a_retention_change_and_the_dispute_rules_reach_the_notice_and_the_cse_file(tenants):
    a, _ = tenants
    assert "| Enregistrements audio | 183 jours |" in _build(a, "worker_notice").markdown
    with session() as s:
        retention.set_retention(session=s, actor=a.actor("dpo"), category="recordings", days=90)
        update_policy(session=s, actor=a.actor("admin"), dispute_days=21, answer_days=8, dispute_limit=0,
                      dispute_window_days=30, blind_review=False)
    for kind in ("worker_notice", "cse_file"):
        text = _build(a, kind).markdown
        assert "| Enregistrements audio | 90 jours |" in text, kind
        assert "dans les **21 jours** qui suivent sa publication" in text and "**8 jours**" in text, kind
        assert "au plus 0 contestations" not in text  # no limit set: none stated


def test_the_notice_names_the_controller_the_dpo_and_denies_emotion_inference(tenants, settings_env):
    a, _ = tenants
    text = _build(a, "worker_notice").markdown
    assert "Alpha Conseil" in text
    assert settings_env.dpo_contact in text  # an operator's setting, shown as written
    assert "Aucune reconnaissance des émotions" in text
    assert "L1222\\-4" not in text and "L1222-4" in text  # the template's own words are not escaped


def test_the_cse_file_lists_who_sees_what_from_the_role_matrix(tenants):
    a, _ = tenants
    text = _build(a, "cse_file").markdown
    assert "| Délégué à la protection des données | " in text
    assert "| Valider ou corriger une évaluation de l'IA | Administrateur, Superviseur |" in text
    assert "Conformité IA" in text  # the DPO's pages, read from ccr.core.access.PAGES
    assert "| Journal d'audit | qui a fait quoi et quand, sans le contenu des appels | Administrateur, " \
           "Délégué à la protection des données |" in text


def test_every_action_of_the_role_matrix_has_a_french_label():
    assert set(ACTIONS) <= set(pack.ACTION_LABELS)


def test_the_publishers_figures_are_the_readme_ones():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for _, figure, _ in pack.SHIPPED_EVALUATIONS:
        assert figure in readme, figure


# --- measured accuracy ---------------------------------------------------------------------------------------


def test_accuracy_per_criterion_comes_from_the_human_validated_calls(tenants):
    a, b = tenants
    assert "**Aucun appel validé par un humain**" in _build(a, "instructions").markdown
    # AI (reviewdata.BASE_VERDICTS): identification fail, conclusion fail; the humans disagree twice on
    # identification and once on solution.
    _validated_call(a, {"identification": "pass"})
    _validated_call(a, {"identification": "pass", "solution": "fail"})
    _validated_call(a)
    make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())  # not validated
    _validated_call(b, {"accueil": "fail"})  # another organisation's disagreement
    with session() as s:
        acc = pack.measured_accuracy(session=s, actor=a.actor("dpo"))
        reference = calibration.ai_agreement(session=s, actor=a.actor("supervisor"))
    by_id = {c.criterion_id: c for c in acc.criteria}
    assert acc.calls == 3 and not acc.enough
    assert (by_id["identification"].n, by_id["identification"].agree) == (3, 1)
    assert (by_id["solution"].n, by_id["solution"].agree) == (3, 2)
    assert (by_id["accueil"].n, by_id["accueil"].agree) == (3, 3)
    # The same comparison as the calibration page's, figure for figure.
    assert {c.criterion_id: (c.n, c.agree) for c in acc.criteria} == {
        c["criterion_id"]: (c["n"], c["agree"]) for c in reference["criteria"]}
    text = _build(a, "instructions").markdown
    lo, hi = stats.wilson_interval(1, 3)
    assert f"| Identification du client | 3 | 33,3\u00a0% | {fr_ratio(lo)} – {fr_ratio(hi)} |" in text
    assert "**Trop peu d'appels validés** (3, il en faut au moins 30)" in text


def test_enough_validated_calls_drop_the_warning(tenants, monkeypatch):
    a, _ = tenants
    monkeypatch.setattr(pack, "MIN_VALIDATED_CALLS", 2)
    _validated_call(a)
    _validated_call(a)
    text = _build(a, "instructions").markdown
    assert "Trop peu d'appels validés" not in text and "Appels validés mesurés : **2**" in text
    assert "| Accueil et présentation | 2 | 100,0\u00a0% |" in text


def test_the_instructions_state_the_active_grid_limits_and_oversight(tenants):
    a, _ = tenants
    text = _build(a, "instructions").markdown
    with session() as s:
        row, grid = active_grid(session=s, org_id=a.org_id)
    assert f"Grille active : **{md_value(row.name)}**, version {row.version}." in text
    assert all(md_value(c.label) in text for c in grid.criteria)
    assert "Enregistrements mono" in text and "chat" in text
    assert "Seuls les rôles Administrateur, Superviseur valident" in text
    assert "Durée de conservation du journal dans l'organisation : **365 jours**" in text


# --- publication ---------------------------------------------------------------------------------------------


def test_publication_stores_content_and_digest_and_is_audited_without_the_content(tenants):
    a, _ = tenants
    dpo = a.actor("dpo")
    with session() as s:
        assert pack.changed_since_publication(session=s, actor=dpo, kind="worker_notice")
        doc = pack.worker_notice(session=s, actor=dpo)
        published = pack.publish(session=s, actor=dpo, kind="worker_notice")
    with session() as s:
        row = s.exec(select(NoticePublication).where(NoticePublication.org_id == a.org_id)).one()
        entry = s.exec(select(AuditLog).where(AuditLog.action == "governance_document_published")).one()
        assert not pack.changed_since_publication(session=s, actor=dpo, kind="worker_notice")
        history = pack.publications(session=s, actor=dpo, kind="worker_notice")
    assert (row.kind, row.content, row.published_by) == ("worker_notice", doc.markdown, dpo.user_id)
    assert row.digest == hashlib.sha256(doc.markdown.encode("utf-8")).hexdigest() == published.digest
    detail = json.loads(entry.detail_json)
    assert detail["empreinte"] == row.digest and entry.target_id == str(row.id) and entry.org_id == a.org_id
    assert "Note d'information" not in entry.detail_json and "Alpha Conseil" not in entry.detail_json
    assert [(p.id, p.published_by, p.short_digest) for p in history] == [(row.id, "alpha dpo", row.digest[:12])]
    with session() as s, pytest.raises(InvalidInput, match="déjà publiée"):
        pack.publish(session=s, actor=dpo, kind="worker_notice")
    _rules(a, sampling="quota", quota=3)
    with session() as s:
        assert pack.changed_since_publication(session=s, actor=dpo, kind="worker_notice")
        pack.publish(session=s, actor=a.actor("admin"), kind="worker_notice")
        assert [p.published_by for p in pack.publications(session=s, actor=dpo)] == ["alpha admin", "alpha dpo"]


def test_an_unknown_document_is_refused(tenants):
    a, _ = tenants
    with session() as s, pytest.raises(InvalidInput):
        pack.publish(session=s, actor=a.actor("dpo"), kind="charte")


@pytest.mark.parametrize("role", ["supervisor", "team_lead", "agent"])
def test_other_roles_are_refused_on_the_server_side(tenants, role):
    a, _ = tenants
    actor = a.actor(role)
    calls = [lambda s: pack.build(session=s, actor=actor, kind="worker_notice"),
             lambda s: pack.instructions_for_use(session=s, actor=actor),
             lambda s: pack.worker_notice(session=s, actor=actor),
             lambda s: pack.cse_file(session=s, actor=actor),
             lambda s: pack.measured_accuracy(session=s, actor=actor),
             lambda s: pack.publish(session=s, actor=actor, kind="worker_notice"),
             lambda s: pack.publications(session=s, actor=actor),
             lambda s: pack.changed_since_publication(session=s, actor=actor, kind="cse_file"),
             lambda s: pack.audit_log_check(session=s, actor=actor),
             lambda s: pack.attention_points(session=s, actor=actor)]
    for call in calls:
        with session() as s, pytest.raises(AccessDenied, match="Accès refusé"):
            call(s)
    with session() as s:
        assert s.exec(select(NoticePublication)).all() == []


def test_another_organisations_data_never_appears(tenants):
    a, b = tenants
    with session() as s:
        scope.add_period(session=s, actor=b.actor("admin"), starts_on=date(2026, 1, 5), ends_on=date(2026, 1, 9),
                         label="PeriodeBetaMarqueur")
        retention.set_retention(session=s, actor=b.actor("dpo"), category="recordings", days=42)
        pack.publish(session=s, actor=b.actor("dpo"), kind="cse_file")
    beta_call = make_call(org_id=b.org_id, team_id=b.team_ids[0], agent_id=b.agent_ids[0], result=contract())
    _validated_call(b, {"accueil": "fail"})
    with session() as s:  # B's audit log quotes B's transcript: B's problem, never A's
        audit.log_event(session=s, who=b.actor("admin").who, action="note", target_type="call",
                        target_id=beta_call, detail={"texte": SEGMENTS[1]["text"]})
    for kind in DOCS:
        text = _build(a, kind).markdown
        assert "PeriodeBetaMarqueur" not in text and "Beta Services" not in text and "42 jours" not in text
        assert "Aucun appel validé" in text or kind == "worker_notice"
    with session() as s:
        assert pack.publications(session=s, actor=a.actor("dpo")) == []
        assert pack.audit_log_check(session=s, actor=a.actor("dpo")).text_ok
        assert not pack.audit_log_check(session=s, actor=b.actor("dpo")).text_ok


# --- the audit-log check -------------------------------------------------------------------------------------


def test_the_audit_check_finds_a_planted_transcript_excerpt(tenants):
    a, _ = tenants
    dpo = a.actor("dpo")
    call_id = make_call(org_id=a.org_id, team_id=a.team_ids[0], agent_id=a.agent_ids[0], result=contract())
    words = SEGMENTS[1]["text"].split()  # « C'est la troisième fois que j'appelle, ma carte [CARTE] est bloquée. »
    with session() as s:
        audit.log_event(session=s, who=dpo.who, action="note", detail={"extrait": " ".join(words[:6])})
        check = pack.audit_log_check(session=s, actor=dpo)
    assert check.passed and check.rows_scanned >= 1 and check.transcripts_scanned == 1
    assert "conforme" in check.lines()[1] and "NON CONFORME" not in " ".join(check.lines())
    with session() as s:  # eight words in a row, in another case and inside a nested value
        planted = audit.log_event(session=s, who=dpo.who, action="call_validated", target_type="call",
                                  target_id=call_id, detail={"commentaires": {"accueil": [
                                      "Le client dit : " + " ".join(words[1:9]).upper()]}})
        check = pack.audit_log_check(session=s, actor=dpo)
    assert not check.passed and check.retention_ok
    assert [(leak.audit_id, leak.action, leak.call_id) for leak in check.leaks] == [
        (planted.id, "call_validated", call_id)]
    assert "NON CONFORME — 1 entrée(s)" in check.lines()[1]
    assert "troisième" not in " ".join(check.lines())  # the report names entries, never quotes them


def test_the_audit_check_fails_when_the_log_is_kept_under_six_months(tenants):
    a, _ = tenants
    with session() as s:
        retention.set_retention(session=s, actor=a.actor("dpo"), category="audit_log", days=120)
        check = pack.audit_log_check(session=s, actor=a.actor("dpo"))
        points = pack.attention_points(session=s, actor=a.actor("dpo"))
    assert (check.retention_days, check.retention_ok, check.passed) == (120, False, False)
    assert check.lines()[0].startswith("Conservation du journal d'audit : 120 jours — NON CONFORME")
    assert any("journal d'audit n'est conservé que 120 jours" in p for p in points)


# --- safe rendering ------------------------------------------------------------------------------------------


def test_untrusted_values_are_escaped_in_markdown_and_html(tenants):
    a, _ = tenants
    hostile = "<script>alert(1)</script> **gras** [lien](http://exemple.test) $x$"
    with session() as s:
        s.get(Organisation, a.org_id).name = hostile
        scope.add_period(session=s, actor=a.actor("admin"), starts_on=date(2026, 3, 2), ends_on=date(2026, 3, 6),
                         label=hostile)
    for kind in DOCS:
        doc = _build(a, kind)
        assert "<script>" not in doc.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in doc.html
        assert "<strong>gras</strong>" not in doc.html and "<a " not in doc.html
        assert "<script>" not in doc.markdown and "[lien](" not in doc.markdown and "**gras**" not in doc.markdown
        assert "\\<script\\>" in doc.markdown and "\\$x\\$" in doc.markdown
        assert doc.html.startswith("<!DOCTYPE html>") and "<strong>" in doc.html  # the templates' own markup
