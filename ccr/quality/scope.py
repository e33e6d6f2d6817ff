"""What an organisation analyses: every call or a quota per agent, only in announced periods, never the
excluded agents, lines and campaigns.

The CNIL asks that listening and evaluation at work stay occasional, announced beforehand, and leave out
staff representatives' mandate lines and private calls. The rules are one row per organisation
(:class:`~ccr.core.models.ScopePolicy`, no row = every call analysed) plus its periods and exclusions.
:func:`decide` is applied at import: a call out of scope is stored without being transcribed or scored
(status ``stored``); an excluded call is also restricted, so no list, search or dashboard shows it.

The quota draw is random and reproducible: each call gets a fixed number in [0, 1) from a keyed hash of
its audio (the organisation's secret seed), and is analysed when that number is below the share still
needed, ``(quota - analysed so far) / calls expected in the rest of the period``; the expected volume is
the agent's calls of the previous period, or the pace of the current one when that is higher. The quota
is a ceiling: once reached, the agent's later calls of the period are stored only.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, update
from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import as_utc, utcnow
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Agent, Call, Evaluation, EvaluationPeriod, ScopeExclusion, ScopePolicy
from ccr.core.textnorm import strip_accents
from ccr.core.users import Actor
from ccr.core.vocab import SCOPE_EXCLUSION_KINDS
from ccr.dashboards.buckets import day_bounds
from ccr.dashboards.rollups import mark_dirty

SAMPLING_MODES = {"all": "Tous les appels importés", "quota": "Un quota d'appels par agent et par période"}
QUOTA_PERIODS = {"month": "mois", "week": "semaine"}
MAX_QUOTA = 1000
ANALYSED = ("in", "requested")  # the scopes whose calls are transcribed and scored
MAX_REASON = 300
BATCH = 500


@dataclass(frozen=True)
class Period:
    """An announced evaluation period (dates inclusive, in the organisation's local calendar)."""

    id: int
    starts_on: date
    ends_on: date
    label: str


@dataclass(frozen=True)
class Exclusion:
    """An agent, line or campaign never analysed; ``label`` is what a person reads (the agent's name)."""

    id: int
    kind: str
    value: str
    label: str
    reason: str


@dataclass(frozen=True)
class ScopeRules:
    """The scope in force for one organisation."""

    sampling: str  # all | quota
    quota: int
    quota_period: str  # month | week
    store_excluded: bool
    use_periods: bool
    block_unvalidated_exports: bool
    periods: tuple[Period, ...]
    exclusions: tuple[Exclusion, ...]

    def summary(self) -> str:
        """One French sentence on what is analysed, for notices and page headers."""
        what = ("tous les appels importés sont analysés" if self.sampling == "all" else
                f"au plus {self.quota} appel{'s' if self.quota > 1 else ''} par agent et par "
                f"{QUOTA_PERIODS[self.quota_period]}, tiré{'s' if self.quota > 1 else ''} au sort, "
                f"{'sont analysés' if self.quota > 1 else 'est analysé'}")
        when = (" pendant les périodes d'évaluation annoncées" if self.use_periods else "")
        return what[:1].upper() + what[1:] + when + "."


@dataclass(frozen=True)
class Decision:
    """Whether an imported call is analysed: its scope code, its lottery number, and why (in French)."""

    scope: str
    draw: float | None
    reason: str

    @property
    def analysed(self) -> bool:
        """True when the call is transcribed and scored."""
        return self.scope in ANALYSED


def get_rules(*, session: Session, org_id: int) -> ScopeRules:
    """The organisation's scope (every call, no period, no exclusion when it never set one)."""
    row = session.get(ScopePolicy, org_id) or ScopePolicy(org_id=org_id)
    periods = session.exec(select(EvaluationPeriod).where(EvaluationPeriod.org_id == org_id)
                           .order_by(EvaluationPeriod.starts_on)).all()
    rows = session.exec(select(ScopeExclusion).where(ScopeExclusion.org_id == org_id)
                        .order_by(ScopeExclusion.kind, ScopeExclusion.id)).all()
    agent_ids = [int(r.value) for r in rows if r.kind == "agent"]
    names = dict(session.exec(select(Agent.id, Agent.name).where(Agent.org_id == org_id,
                                                                  col(Agent.id).in_(agent_ids))).all())
    exclusions = tuple(Exclusion(r.id, r.kind, r.value, names.get(int(r.value), "agent supprimé")
                                 if r.kind == "agent" else r.value, r.reason) for r in rows)
    return ScopeRules(sampling=row.sampling, quota=row.quota, quota_period=row.quota_period,
                      store_excluded=row.store_excluded, use_periods=row.use_periods,
                      block_unvalidated_exports=row.block_unvalidated_exports,
                      periods=tuple(Period(p.id, p.starts_on, p.ends_on, p.label) for p in periods),
                      exclusions=exclusions)


def _require(actor: Actor, action: str = "scope_policy") -> None:
    if not may(actor.role, action):
        raise AccessDenied("Accès refusé : seuls les administrateurs fixent le périmètre d'évaluation.")


def _policy_row(session: Session, org_id: int) -> ScopePolicy:
    row = session.get(ScopePolicy, org_id)
    if row is None:
        row = ScopePolicy(org_id=org_id, seed=secrets.token_hex(16))
        session.add(row)
    elif not row.seed:
        row.seed = secrets.token_hex(16)
    return row


def update_rules(*, session: Session, actor: Actor, sampling: str, quota: int, quota_period: str,
                 store_excluded: bool, use_periods: bool, block_unvalidated_exports: bool) -> ScopeRules:
    """Change how calls are selected (administrators); audited with the old and new values.

    Calls already imported keep their decision: the rules apply to the calls imported from now on."""
    _require(actor)
    if sampling not in SAMPLING_MODES:
        raise InvalidInput("Mode d'échantillonnage inconnu.")
    if quota_period not in QUOTA_PERIODS:
        raise InvalidInput("Période du quota inconnue (mois ou semaine).")
    if isinstance(quota, bool) or not isinstance(quota, int) or not 1 <= quota <= MAX_QUOTA:
        raise InvalidInput(f"Quota : un nombre entier entre 1 et {MAX_QUOTA}.")
    old = get_rules(session=session, org_id=actor.org_id)
    row = _policy_row(session, actor.org_id)
    new = {"sampling": sampling, "quota": quota, "quota_period": quota_period,
           "store_excluded": bool(store_excluded), "use_periods": bool(use_periods),
           "block_unvalidated_exports": bool(block_unvalidated_exports)}
    for name, value in new.items():
        setattr(row, name, value)
    row.updated_by, row.updated_at = actor.user_id, utcnow()
    session.add(row)
    session.flush()
    changes = {k: [getattr(old, k), v] for k, v in new.items() if getattr(old, k) != v}
    audit.log_event(session=session, who=actor.who, action="scope_policy_updated", target_type="organisation",
                    target_id=actor.org_id, detail=changes)
    return get_rules(session=session, org_id=actor.org_id)


def add_period(*, session: Session, actor: Actor, starts_on: date, ends_on: date, label: str = "") -> Period:
    """Announce an evaluation period (administrators): dates inclusive, at most a year, no overlap."""
    _require(actor)
    if not isinstance(starts_on, date) or not isinstance(ends_on, date) or ends_on < starts_on:
        raise InvalidInput("Période invalide : la date de fin doit suivre la date de début.")
    if (ends_on - starts_on).days > 366:
        raise InvalidInput("Une période d'évaluation dure au plus un an : l'évaluation doit rester ponctuelle.")
    for p in get_rules(session=session, org_id=actor.org_id).periods:
        if p.starts_on <= ends_on and starts_on <= p.ends_on:
            raise InvalidInput(f"Cette période chevauche celle du {p.starts_on:%d/%m/%Y} au {p.ends_on:%d/%m/%Y}.")
    row = EvaluationPeriod(org_id=actor.org_id, starts_on=starts_on, ends_on=ends_on,
                           label=(label or "").strip()[:MAX_REASON], created_by=actor.user_id)
    session.add(row)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="evaluation_period_added", target_type="organisation",
                    target_id=actor.org_id, detail={"du": starts_on.isoformat(), "au": ends_on.isoformat()})
    return Period(row.id, row.starts_on, row.ends_on, row.label)


def remove_period(*, session: Session, actor: Actor, period_id: int) -> None:
    """Withdraw an announced period (administrators); calls already analysed keep their evaluation."""
    _require(actor)
    row = session.get(EvaluationPeriod, period_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound("Période introuvable.")
    audit.log_event(session=session, who=actor.who, action="evaluation_period_removed",
                    target_type="organisation", target_id=actor.org_id,
                    detail={"du": row.starts_on.isoformat(), "au": row.ends_on.isoformat()})
    session.delete(row)


def normalise_line(value: str) -> str:
    """A phone line in one form: digits with a leading +, French national numbers as +33; names folded."""
    text = (value or "").strip()
    digits = re.sub(r"[\s.\-()/]", "", text)
    if re.fullmatch(r"\+?\d{3,20}", digits):
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        elif re.fullmatch(r"0\d{9}", digits):
            digits = "+33" + digits[1:]
        return digits
    return _fold(text)


def _fold(text: str) -> str:
    """Lower case, no accents, single spaces: « Campagne  Fidélité » and « campagne fidelite » match."""
    return " ".join(strip_accents(text or "").casefold().split())


def _normalise(kind: str, value: str) -> str:
    if kind == "line":
        return normalise_line(value)
    if kind == "campaign":
        return _fold(value)
    return str(int(value))


def add_exclusion(*, session: Session, actor: Actor, kind: str, value: str | int, reason: str) -> Exclusion:
    """Never analyse an agent's, a line's or a campaign's calls again (administrators); audited.

    The calls of that agent, line or campaign already imported are excluded too: those waiting are no
    longer processed, and those already scored are restricted, out of every list, search and dashboard."""
    _require(actor)
    if kind not in SCOPE_EXCLUSION_KINDS:
        raise InvalidInput("Type d'exclusion inconnu.")
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise InvalidInput("Indiquez le motif de l'exclusion (par exemple : représentant du personnel).")
    try:
        norm = _normalise(kind, str(value))
    except ValueError:
        raise InvalidInput("Agent invalide.") from None
    if not norm:
        raise InvalidInput("Indiquez la ligne ou la campagne à exclure.")
    if kind == "agent":
        agent = session.get(Agent, int(norm))
        if agent is None or agent.org_id != actor.org_id:
            raise NotFound("Agent introuvable.")
    if session.exec(select(ScopeExclusion.id).where(ScopeExclusion.org_id == actor.org_id,
                                                    ScopeExclusion.kind == kind,
                                                    ScopeExclusion.value == norm)).first() is not None:
        raise InvalidInput("Cette exclusion existe déjà.")
    row = ScopeExclusion(org_id=actor.org_id, kind=kind, value=norm, reason=reason[:MAX_REASON],
                         created_by=actor.user_id)
    session.add(row)
    session.flush()
    count = _exclude_existing(session, actor.org_id, kind, norm)
    audit.log_event(session=session, who=actor.who, action="scope_exclusion_added", target_type="organisation",
                    target_id=actor.org_id, detail={"type": kind, "appels_exclus": count})
    return next(e for e in get_rules(session=session, org_id=actor.org_id).exclusions if e.id == row.id)


def _exclude_existing(session: Session, org_id: int, kind: str, norm: str) -> int:
    """Exclude the calls already imported that the new exclusion covers; returns how many."""
    if kind == "agent":
        ids = list(session.exec(select(Call.id).where(Call.org_id == org_id, Call.agent_id == int(norm),
                                                      Call.scope != "excluded")).all())
    else:
        # An organisation has few distinct lines or campaigns: spellings are matched on those, then the
        # calls are read by value, never every call's line or campaign.
        field = Call.line if kind == "line" else Call.campaign
        fold = normalise_line if kind == "line" else _fold
        spellings = [v for v in session.exec(select(field).distinct().where(
            Call.org_id == org_id, col(field).is_not(None))).all() if fold(v) == norm]
        ids = list(session.exec(select(Call.id).where(Call.org_id == org_id, col(field).in_(spellings),
                                                      Call.scope != "excluded")).all()) if spellings else []
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        mark_dirty(session, org_id, call_ids=chunk)
        waiting = ("received", "held", "queued")
        session.execute(update(Call).where(Call.org_id == org_id, col(Call.id).in_(chunk))
                        .values(scope="excluded", restricted=True,
                                status=case((col(Call.status).in_(waiting), "stored"), else_=Call.status))
                        .execution_options(synchronize_session=False))
        session.execute(update(Evaluation).where(Evaluation.org_id == org_id, col(Evaluation.call_id).in_(chunk))
                        .values(restricted=True).execution_options(synchronize_session=False))
    return len(ids)


def remove_exclusion(*, session: Session, actor: Actor, exclusion_id: int) -> None:
    """Lift an exclusion for the calls imported from now on (administrators); calls already excluded stay so."""
    _require(actor)
    row = session.get(ScopeExclusion, exclusion_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound("Exclusion introuvable.")
    audit.log_event(session=session, who=actor.who, action="scope_exclusion_removed", target_type="organisation",
                    target_id=actor.org_id, detail={"type": row.kind})
    session.delete(row)


# --- the decision at import --------------------------------------------------------------------------


def local_day(moment: datetime) -> date:
    """The organisation's calendar day of an instant (the display timezone), as periods and quotas count."""
    return as_utc(moment).astimezone(ZoneInfo(get_settings().timezone)).date()


def quota_window(day: date, quota_period: str) -> tuple[date, date]:
    """The first and last day of the month or ISO week that contains ``day``."""
    if quota_period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _utc_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    return day_bounds(first, last, ZoneInfo(get_settings().timezone))


def draw(seed: str, sha256: str) -> float:
    """The call's fixed lottery number in [0, 1): the same recording and seed always draw the same."""
    digest = hmac.new(seed.encode(), sha256.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _excluded_by(rules: ScopeRules, agent_id: int | None, line: str | None, campaign: str | None) -> Exclusion | None:
    keys = {("agent", str(agent_id)) if agent_id is not None else None,
            ("line", normalise_line(line)) if line else None,
            ("campaign", _fold(campaign)) if campaign else None}
    return next((e for e in rules.exclusions if (e.kind, e.value) in keys), None)


def exclusion_message(exclusion: Exclusion) -> str:
    """Why an import is refused, in French, without the exclusion's private reason."""
    what = {"agent": "de cet agent", "line": "de cette ligne téléphonique", "campaign": "de cette campagne"}
    return (f"Appel refusé : les appels {what[exclusion.kind]} sont exclus de l'évaluation par votre "
            "organisation ; rien n'a été conservé.")


def decide(*, session: Session, org_id: int, sha256: str, agent_id: int | None, line: str | None,
           campaign: str | None, started_at: datetime, rules: ScopeRules | None = None) -> Decision:
    """Whether a call about to be imported is analysed, under the organisation's rules in force."""
    rules = rules or get_rules(session=session, org_id=org_id)
    if (exclusion := _excluded_by(rules, agent_id, line, campaign)) is not None:
        return Decision("excluded", None, exclusion_message(exclusion))
    day = local_day(started_at)
    if rules.use_periods and not any(p.starts_on <= day <= p.ends_on for p in rules.periods):
        return Decision("outside_period", None,
                        f"Appel du {day:%d/%m/%Y} hors des périodes d'évaluation annoncées : conservé, non analysé.")
    if rules.sampling != "quota":
        return Decision("in", None, "")
    seed = _policy_row(session, org_id).seed
    number = draw(seed, sha256)
    first, last = quota_window(day, rules.quota_period)
    lo, hi = _utc_bounds(first, last)
    agent_cond = Call.agent_id == agent_id if agent_id is not None else col(Call.agent_id).is_(None)
    counts = dict(session.exec(
        select(Call.scope, func.count()).where(Call.org_id == org_id, agent_cond, Call.started_at >= lo,
                                               Call.started_at < hi, Call.scope != "excluded")
        .group_by(Call.scope)).all())
    analysed = counts.get("in", 0)
    if analysed >= rules.quota:
        return Decision("sampled_out", number, "Quota de l'agent atteint pour la période : conservé, non analysé.")
    expected = _expected_volume(session, org_id, agent_cond, first, last, rules.quota_period,
                                seen=sum(counts.values()) + 1, at=as_utc(started_at), lo=lo, hi=hi)
    share = (rules.quota - analysed) / max(1.0, expected)
    if number < share:
        return Decision("in", number, "")
    return Decision("sampled_out", number, "Non retenu par le tirage au sort du quota : conservé, non analysé.")


def _expected_volume(session: Session, org_id: int, agent_cond, first: date, last: date, quota_period: str, *,
                     seen: int, at: datetime, lo: datetime, hi: datetime) -> float:
    """The agent's calls still expected in the period after ``at``: the previous period's volume, or the
    current pace when higher, times the share of the period left."""
    prev_first, prev_last = quota_window(first - timedelta(days=1), quota_period)
    plo, phi = _utc_bounds(prev_first, prev_last)
    previous = session.exec(select(func.count()).select_from(Call).where(
        Call.org_id == org_id, agent_cond, Call.started_at >= plo, Call.started_at < phi,
        Call.scope != "excluded")).one()
    span = (hi - lo).total_seconds()
    elapsed = min(max((at - lo).total_seconds() / span, 1 / (last - first).days if last > first else 1.0), 1.0)
    pace = seen / elapsed
    return max(previous, pace) * (1 - elapsed) + 1  # this call counts as expected too


# --- the DPO's view: is the analysis occasional? --------------------------------------------------


@dataclass(frozen=True)
class CoverageRow:
    """One agent's calls of one month by what the scope decided; ``over_quota`` when more were analysed."""

    month: date
    agent_id: int | None
    agent: str
    received: int
    analysed: int
    requested: int
    sampled_out: int
    outside_period: int
    excluded: int
    quota: int | None
    over_quota: bool

    @property
    def share(self) -> float | None:
        """The share of the agent's calls (excluded ones aside) that were analysed, in [0, 1]."""
        base = self.received - self.excluded
        return self.analysed / base if base else None


def coverage_report(*, session: Session, actor: Actor, months: int = 6, today: date | None = None
                    ) -> list[CoverageRow]:
    """Per agent and month (the last ``months``, newest first): calls received, analysed, requested, left
    out by the quota, the periods or an exclusion, against the quota in force. One query per month."""
    if not may(actor.role, "scope_report"):
        raise AccessDenied("Accès refusé : ce bilan est réservé aux administrateurs et au DPO.")
    months = max(1, min(int(months), 24))
    rules = get_rules(session=session, org_id=actor.org_id)
    monthly_quota = (rules.quota if rules.quota_period == "month" else None) if rules.sampling == "quota" else None
    names = dict(session.exec(select(Agent.id, Agent.name).where(Agent.org_id == actor.org_id)).all())
    first = (today or local_day(utcnow())).replace(day=1)
    rows: list[CoverageRow] = []
    for _ in range(months):
        lo, hi = _utc_bounds(*quota_window(first, "month"))
        counts: dict[int | None, dict[str, int]] = {}
        for agent_id, scope_code, n in session.exec(
                select(Call.agent_id, Call.scope, func.count()).where(
                    Call.org_id == actor.org_id, Call.started_at >= lo, Call.started_at < hi)
                .group_by(Call.agent_id, Call.scope)).all():
            counts.setdefault(agent_id, {})[scope_code] = int(n)
        for agent_id, by in sorted(counts.items(), key=lambda kv: (names.get(kv[0]) or "~").casefold()):
            analysed = by.get("in", 0) + by.get("requested", 0)
            rows.append(CoverageRow(
                month=first, agent_id=agent_id, agent=names.get(agent_id, "Sans agent") if agent_id else "Sans agent",
                received=sum(by.values()), analysed=analysed, requested=by.get("requested", 0),
                sampled_out=by.get("sampled_out", 0), outside_period=by.get("outside_period", 0),
                excluded=by.get("excluded", 0), quota=monthly_quota,
                over_quota=monthly_quota is not None and by.get("in", 0) > monthly_quota))
        first = (first - timedelta(days=1)).replace(day=1)
    return rows
