"""The explanation an evaluated agent is owed (AI Act art. 86, GDPR art. 15 and 22): their published
evaluations, how each was reached, by whom, and how to contest.

Used by the agent's own download (« Mes évaluations », :func:`own_export`) and by the DPO's subject export of
an agent, so both say the same. It reads the stored rows only: a grid, its version and weights, what the
AI did, each verdict with its evidence and the reviewer's comment, who validated it and when, the dispute.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.config import Settings, get_settings
from ccr.core.csvsafe import rows_to_csv
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied, NotFound
from ccr.core.models import (
    Agent,
    CriterionResult,
    Dispute,
    DisputeItem,
    Evaluation,
    QualityPolicy,
    Review,
    User,
)
from ccr.core.models import Grid as GridRow
from ccr.core.users import Actor
from ccr.core.vocab import DISPUTE_STATUS_LABELS, SPEAKER_LABELS, VERDICT_LABELS
from ccr.privacy.records import iso
from ccr.scoring.grid import Grid, default_grid, load_grid_yaml

CHUNK = 500  # evaluations per query: well under SQLite's limit on bound parameters
MAX_EVALUATIONS = 5000  # years of published evaluations for one agent; the archive stays a few megabytes
CSV_FIELDS = ["evaluation_id", "call_id", "started_at", "grid", "grid_version", "published_at", "validated",
              "validated_by", "validated_at", "ai_score", "final_score", "criterion", "ai_verdict", "final_verdict",
              "evidence", "comment", "dispute"]


def _grid(session: Session, ev: Evaluation, cache: dict[int | None, Grid]) -> Grid:
    if ev.grid_id not in cache:
        row = session.get(GridRow, ev.grid_id) if ev.grid_id is not None else None
        cache[ev.grid_id] = load_grid_yaml(row.definition_json) if row and row.org_id == ev.org_id else default_grid()
    return cache[ev.grid_id]


def _mmss(seconds: Any) -> str:
    s = int(float(seconds or 0))
    return f"{s // 60:02d}:{s % 60:02d}"


def explanation_data(*, session: Session, org_id: int, agent_id: int,
                     include_restricted: bool = True) -> dict[str, Any]:
    """The agent's published evaluations with everything the explanation says, as JSON-ready data."""
    agent = session.get(Agent, agent_id)
    if agent is None or agent.org_id != org_id:
        raise NotFound("Agent introuvable.")
    policy = session.get(QualityPolicy, org_id) or QualityPolicy(org_id=org_id)
    stmt = select(Evaluation).where(Evaluation.org_id == org_id, Evaluation.agent_id == agent_id,
                                    col(Evaluation.published_at).is_not(None))
    if not include_restricted:
        stmt = stmt.where(Evaluation.restricted == False)  # noqa: E712
    evs = session.exec(stmt.order_by(col(Evaluation.started_at).desc()).limit(MAX_EVALUATIONS)).all()
    grids: dict[int | None, Grid] = {}
    users = dict(session.exec(select(User.id, User.display_name).where(User.org_id == org_id)).all())
    finals, reviews, disputes, items = _related(session, org_id, [ev.id for ev in evs])
    out = []
    for ev in evs:
        grid = _grid(session, ev, grids)
        result = json.loads(ev.result_json or "{}")
        review, dispute = reviews.get(ev.id), disputes.get(ev.id)
        comments = json.loads(review.comments_json) if review else {}
        labels = {c.id: (c.label, c.weight, c.critical) for c in grid.criteria}
        out.append({
            "evaluation_id": ev.id, "call_id": ev.call_id, "started_at": iso(ev.started_at),
            "grid": grid.name, "grid_version": ev.grid_version, "engine": ev.engine,
            "pass_threshold": grid.pass_threshold,
            "published_at": iso(ev.published_at), "published_ai_only": ev.published_ai_only,
            "validated": ev.validated, "validated_by": users.get(review.reviewer_id) if review else None,
            "validated_at": iso(review.created_at) if review else None,
            "ai_score": ev.ai_score, "final_score": ev.final_score, "passed": ev.final_passed,
            "critical_failed": ev.final_critical_failed, "acknowledged_at": iso(ev.acknowledged_at),
            "contest_until": iso(ev.published_at + timedelta(days=policy.dispute_days)),
            "criteria": [{
                "id": c["id"], "label": labels.get(c["id"], (c["id"], None, False))[0],
                "weight": labels.get(c["id"], (None, c.get("weight"), False))[1],
                "critical": labels.get(c["id"], (None, None, False))[2],
                "ai_verdict": c.get("verdict"), "final_verdict": finals.get((ev.id, c["id"]), c.get("verdict")),
                "explanation": c.get("explanation") or "",
                "evidence": [{"speaker": e.get("speaker"), "start": e.get("start"), "text": e.get("text")}
                             for e in c.get("evidence") or []],
                "comment": comments.get(c["id"], ""),
            } for c in result.get("criteria") or []],
            "coaching_note": review.coaching_note if review else None,
            "dispute": None if dispute is None else {
                "id": dispute.id, "opened_at": iso(dispute.opened_at), "status": dispute.status,
                "comment": dispute.comment, "answer_due_at": iso(dispute.answer_due_at),
                "resolved_at": iso(dispute.resolved_at), "resolution": dispute.resolution,
                "resolved_by": users.get(dispute.resolved_by),
                "items": [{"criterion_id": i.criterion_id, "verdict": i.verdict, "requested": i.requested,
                           "decision": i.decision} for i in items.get(dispute.id, [])]},
        })
    return {"agent": agent.name, "generated_at": iso(utcnow()),
            "rules": {"dispute_days": policy.dispute_days, "answer_days": policy.answer_days,
                      "dispute_limit": policy.dispute_limit, "dispute_window_days": policy.dispute_window_days},
            "evaluations": out}


def _related(session: Session, org_id: int, ev_ids: list[int]) -> tuple[dict, dict, dict, dict]:
    """For the given evaluations, read in chunks: final verdicts by (evaluation, criterion), the latest review
    and the dispute by evaluation, and each dispute's items by dispute."""
    finals: dict[tuple[int, str], str] = {}
    reviews: dict[int, Review] = {}
    disputes: dict[int, Dispute] = {}
    items: dict[int, list[DisputeItem]] = {}
    for i in range(0, len(ev_ids), CHUNK):
        chunk = ev_ids[i:i + CHUNK]
        for ev_id, cid, verdict in session.exec(
                select(CriterionResult.evaluation_id, CriterionResult.criterion_id, CriterionResult.final_verdict)
                .where(col(CriterionResult.evaluation_id).in_(chunk), CriterionResult.org_id == org_id)).all():
            finals[(ev_id, cid)] = verdict
        for r in session.exec(select(Review).where(col(Review.evaluation_id).in_(chunk), Review.org_id == org_id)
                              .order_by(Review.id)).all():
            reviews[r.evaluation_id] = r  # in id order: the last one stays
        found = session.exec(select(Dispute).where(col(Dispute.evaluation_id).in_(chunk),
                                                   Dispute.org_id == org_id)).all()
        disputes.update((d.evaluation_id, d) for d in found)
        for item in session.exec(select(DisputeItem).where(col(DisputeItem.dispute_id).in_([d.id for d in found]),
                                                           DisputeItem.org_id == org_id)
                                 .order_by(DisputeItem.id)).all():
            items.setdefault(item.dispute_id, []).append(item)
    return finals, reviews, disputes, items


def explanation_text(data: dict[str, Any], *, settings: Settings | None = None) -> str:
    """The French, readable explanation of an agent's published evaluations (explication.txt)."""
    settings = settings or get_settings()
    tz = ZoneInfo(settings.timezone)

    def when(value: str | None) -> str:
        return datetime.fromisoformat(value).astimezone(tz).strftime("%d/%m/%Y à %H:%M") if value else "—"

    rules = data["rules"]
    limit = (f"au plus {rules['dispute_limit']} contestations sur {rules['dispute_window_days']} jours"
             if rules["dispute_limit"] else "sans plafond")
    lines = [
        f"Vos évaluations de qualité : explication — {data['agent']}",
        f"Document généré le {when(data['generated_at'])}.",
        "",
        "Comment un appel est évalué",
        "- L'enregistrement est transcrit sur nos serveurs (aucun envoi à un service extérieur) ; les données",
        "  personnelles (cartes, IBAN, numéros) sont masquées avant tout stockage.",
        "- Un programme repère ce que fait chaque phrase, pour la personne qui la dit (salutation, reformulation,",
        "  solution, prise de congé...) et applique les règles de la grille, critère par critère. Chaque verdict",
        "  cite le passage qui le fonde, avec son horodatage. Un verdict incertain est signalé pour une vérification",
        "  humaine. Aucune émotion n'est déduite de votre voix ou de vos propos.",
        "- Un superviseur peut valider ou corriger chaque verdict ; le score initial du programme reste visible.",
        "  Une évaluation publiée sans revue humaine est présentée comme « évaluation automatique ».",
        "",
        "Comment contester",
        f"- Depuis « Mes évaluations », dans les {rules['dispute_days']} jours suivant la publication, choisissez",
        "  le ou les critères contestés et expliquez pourquoi (commentaire obligatoire).",
        f"- Un superviseur répond dans les {rules['answer_days']} jours ; un refus est toujours motivé ; {limit}.",
        "- Vous pouvez aussi écrire au délégué à la protection des données : "
        f"{settings.dpo_contact}, ou saisir la CNIL (www.cnil.fr).",
        "",
        f"Évaluations publiées : {len(data['evaluations'])}",
        "",
    ]
    for ev in data["evaluations"]:
        lines.append(f"Appel n° {ev['call_id']} du {when(ev['started_at'])} — grille « {ev['grid']} » "
                     f"version {ev['grid_version']} (seuil de réussite {ev['pass_threshold']:g})")
        origin = (f"validée par {ev['validated_by'] or 'un superviseur'} le {when(ev['validated_at'])}"
                  if ev["validated"] else "évaluation automatique, non revue par un humain")
        lines.append(f"  Score retenu : {ev['final_score']:g} / 100 (score initial du programme : "
                     f"{ev['ai_score']:g}) — {origin} ; publiée le {when(ev['published_at'])} ; contestable "
                     f"jusqu'au {when(ev['contest_until'])}.")
        for c in ev["criteria"]:
            flag = ", éliminatoire" if c["critical"] else ""
            verdict = VERDICT_LABELS.get(c["final_verdict"], c["final_verdict"])
            ai = VERDICT_LABELS.get(c["ai_verdict"], c["ai_verdict"])
            changed = "" if c["final_verdict"] == c["ai_verdict"] else f" (programme : {ai}, corrigé)"
            lines.append(f"  - {c['label']} (poids {c['weight']}{flag}) : {verdict}{changed}")
            if c["explanation"]:
                lines.append(f"      Pourquoi : {c['explanation']}")
            for e in c["evidence"]:
                who = SPEAKER_LABELS.get(e.get("speaker"), "Inconnu")
                lines.append(f"      Passage à {_mmss(e.get('start'))} ({who}) : « {e.get('text') or ''} »")
            if c["comment"]:
                lines.append(f"      Commentaire du superviseur : {c['comment']}")
        if ev["coaching_note"]:
            lines.append(f"  Note de coaching : {ev['coaching_note']}")
        if ev["dispute"]:
            d = ev["dispute"]
            lines.append(f"  Contestation du {when(d['opened_at'])} : {DISPUTE_STATUS_LABELS.get(d['status'], '')}"
                         + (f" le {when(d['resolved_at'])}" if d["resolved_at"] else "")
                         + (f" — motif : {d['resolution']}" if d["resolution"] else ""))
        lines.append("")
    return "\n".join(lines) + "\n"


def explanation_csv(data: dict[str, Any]) -> bytes:
    """One row per criterion of each published evaluation (cells neutralised against formula injection)."""
    rows = []
    for ev in data["evaluations"]:
        for c in ev["criteria"]:
            rows.append({
                "evaluation_id": ev["evaluation_id"], "call_id": ev["call_id"], "started_at": ev["started_at"],
                "grid": ev["grid"], "grid_version": ev["grid_version"], "published_at": ev["published_at"],
                "validated": ev["validated"], "validated_by": ev["validated_by"], "validated_at": ev["validated_at"],
                "ai_score": ev["ai_score"], "final_score": ev["final_score"], "criterion": c["label"],
                "ai_verdict": c["ai_verdict"], "final_verdict": c["final_verdict"],
                "evidence": " | ".join(f"{_mmss(e.get('start'))} {e.get('text') or ''}" for e in c["evidence"]),
                "comment": c["comment"], "dispute": (ev["dispute"] or {}).get("status")})
    return rows_to_csv(rows, CSV_FIELDS)


def own_export(*, session: Session, actor: Actor, settings: Settings | None = None) -> bytes:
    """The agent's own download: a ZIP of the explanation, the JSON and a CSV of their published evaluations."""
    if not may(actor.role, "own_evaluations") or actor.agent_id is None:
        raise AccessDenied("Accès refusé : ce téléchargement est celui du téléconseiller, pour ses évaluations.")
    # Restricted calls stay out of the agent's own copy, as out of their screen; the DPO's export has them.
    data = explanation_data(session=session, org_id=actor.org_id, agent_id=actor.agent_id, include_restricted=False)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("explication.txt", explanation_text(data, settings=settings))
        zf.writestr("evaluations.json", json.dumps(data, ensure_ascii=False, indent=2))
        zf.writestr("evaluations.csv", explanation_csv(data))
    audit.log_event(session=session, who=actor.who, action="own_evaluations_exported", target_type="agent",
                    target_id=actor.agent_id, detail={"evaluations": len(data["evaluations"])})
    return buf.getvalue()

