"""The fairness audit: do the scores treat groups of agents (teams, campaigns, groups the organisation
defines) differently from the rest of the organisation?

Guarantees:

- it counts what the dashboards count: the current, unrestricted evaluations of the period (local days,
  ``Settings.timezone``), never a call whose scope is « excluded », and only the actor's organisation;
- each figure comes with its 95 % interval: Student's t for a mean score, Wilson's for a rate;
- a group is compared with *the rest of the organisation* (every counted evaluation outside the group):
  Welch's t-test for the mean AI score and for the AI-human disagreement (one share per reviewed evaluation,
  because the verdicts of one call are not independent of each other), a two-proportion z-test for the
  override rate; Holm's correction runs across every test of the report, so the chance that at least one
  flag is raised by chance alone stays under :data:`ALPHA`;
- below :data:`MIN_EVALUATIONS` evaluations (or :data:`MIN_REVIEWED` human-reviewed ones for the rates) on
  either side, nothing is tested: the report says « échantillon insuffisant » instead of flagging;
- the data is read in a fixed number of queries, whatever the number of evaluations.

A flag is a question to investigate, not a proof of bias: groups may differ for reasons that have nothing
to do with the AI (harder calls, newer agents). The AI-human disagreement is the most direct signal of how
the AI itself treats a group. Group management is for administrators only; every change is audited.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.access import may
from ccr.core.calls import scope_calls
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Agent, AgentGroup, AgentGroupMember, Call, CriterionResult, Evaluation, Team
from ccr.core.models import Grid as GridRow
from ccr.core.orgs import clean_name
from ccr.core.users import Actor
from ccr.dashboards.scope import bounds
from ccr.governance.stats import holm, mean_interval, two_proportion_test, welch_from_moments, wilson_interval
from ccr.scoring.grid import default_grid, load_grid_yaml

DIMENSIONS = {"team": "Équipe", "campaign": "Campagne", "group": "Groupe d'agents"}
ALPHA = 0.05  # the usual 5 % risk of a false alarm, for the whole report once Holm's correction applies
# Below 20 scores the mean of a group says more about those few calls than about the group, and the normal
# approximation behind the rate tests is poor; 20 is also a month of the default quota for two agents.
MIN_EVALUATIONS = 20
MIN_REVIEWED = 20
MIN_EXPECTED = 5  # the usual rule for the two-proportion z-test: at least 5 expected events and non-events
MAX_PERIOD_DAYS = 366  # a year: the audit reads one row per evaluation, so its period is bounded
MAX_GROUP_NAME_CHARS = 80
NO_TEAM, NO_CAMPAIGN = "Sans équipe", "Sans campagne"

# Status of one comparison, and of a group (the most telling of its comparisons).
FLAGGED, NO_GAP, TOO_SMALL = "ecart", "pas_d_ecart", "insuffisant"
STATUS_LABELS = {
    FLAGGED: "écart au-delà du hasard",
    NO_GAP: "pas d'écart au-delà du hasard",
    TOO_SMALL: "échantillon insuffisant",
}
METRICS = {"score": "score IA moyen", "disagreement": "désaccord IA / humain", "override": "taux de correction"}


def _require_audit(actor: Actor) -> None:
    if not may(actor.role, "fairness_audit"):
        raise AccessDenied("Accès refusé : l'audit d'équité est réservé aux superviseurs, au DPO et aux "
                           "administrateurs.")


def _require_admin(actor: Actor) -> None:
    if not may(actor.role, "agent_groups"):
        raise AccessDenied("Accès refusé : seuls les administrateurs gèrent les groupes d'agents.")


# --- the report ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A proportion with its Wilson 95 % interval."""

    hits: int
    n: int
    low: float | None
    high: float | None

    @property
    def value(self) -> float | None:
        """The proportion (0 to 1), None when nothing was counted."""
        return self.hits / self.n if self.n else None


def _rate(hits: int, n: int) -> Rate:
    ci = wilson_interval(hits, n)
    return Rate(hits, n, *(ci if ci else (None, None)))


@dataclass(frozen=True)
class Comparison:
    """One metric of a group against the rest of the organisation."""

    metric: str  # a key of METRICS
    status: str  # FLAGGED | NO_GAP | TOO_SMALL
    difference: float | None = None  # group minus rest: score points, or a rate difference (0 to 1)
    p_value: float | None = None
    p_adjusted: float | None = None  # after Holm's correction across the whole report


@dataclass(frozen=True)
class GroupStats:
    """The figures of one group over the period, and how it compares with the rest of the organisation."""

    key: int | str | None  # team or group id, campaign name; None: the calls without team or campaign
    name: str
    evaluations: int
    agents: int
    unvalidated: int  # evaluations whose score no human validated (the AI's alone)
    mean_score: float | None  # mean AI score
    mean_low: float | None
    mean_high: float | None
    quartiles: tuple[float, float, float, float, float] | None  # min, Q1, median, Q3, max of the AI scores
    reviewed: int  # human-reviewed (validated) evaluations
    disagreement: Rate  # criterion verdicts the human changed, among the reviewed evaluations' verdicts
    override: Rate  # reviewed evaluations with at least one verdict changed
    by_criterion: dict[str, Rate] = field(default_factory=dict)  # criterion id -> disagreement
    comparisons: dict[str, Comparison] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """FLAGGED when any metric differs beyond chance, TOO_SMALL when the score could not be tested."""
        statuses = {c.status for c in self.comparisons.values()}
        if FLAGGED in statuses:
            return FLAGGED
        if not self.comparisons or self.comparisons["score"].status == TOO_SMALL:
            return TOO_SMALL
        return NO_GAP

    @property
    def flagged(self) -> bool:
        """True when at least one metric differs from the rest of the organisation beyond chance."""
        return self.status == FLAGGED


@dataclass(frozen=True)
class FairnessReport:
    """The audit of one dimension over one period: one line per group and the whole organisation."""

    dimension: str
    start: date
    end: date
    groups: list[GroupStats]
    overall: GroupStats
    criterion_labels: dict[str, str]
    outside_groups: int = 0  # evaluations of agents in no group (dimension « group »): in the rest only
    tests: int = 0  # comparisons actually made, the family of Holm's correction

    @property
    def flagged(self) -> list[GroupStats]:
        """The groups with at least one gap beyond chance."""
        return [g for g in self.groups if g.flagged]


@dataclass
class _Row:
    agent_id: int | None
    score: float
    validated: bool
    changed: int = 0  # verdicts the human changed (reviewed evaluations)
    verdicts: int = 0


def _period(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput("La période est invalide : la date de fin précède la date de début.")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidInput(f"La période est trop longue : {MAX_PERIOD_DAYS} jours au plus.")


def _counted(stmt, actor: Actor, start: date, end: date):
    """Restrict a query joined to Evaluation and Call to what the dashboards count for the actor."""
    lo, hi = bounds(start, end)
    return scope_calls(stmt, actor, model=Evaluation, include_restricted=False).where(
        Evaluation.is_current == True, Evaluation.started_at >= lo, Evaluation.started_at < hi,  # noqa: E712
        Call.org_id == actor.org_id, Call.scope != "excluded")


def _criterion_labels(session: Session, org_id: int, grid_ids: set[int]) -> dict[str, str]:
    labels = {c.id: c.label for c in default_grid().criteria}
    if grid_ids:
        for text in session.exec(select(GridRow.definition_json).where(
                col(GridRow.id).in_(sorted(grid_ids)), GridRow.org_id == org_id)).all():
            labels.update({c.id: c.label for c in load_grid_yaml(text).criteria})
    return labels


def _quartiles(values: list[float]) -> tuple[float, float, float, float, float] | None:
    if not values:
        return None
    if len(values) == 1:
        return (values[0],) * 5
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return min(values), q1, q2, q3, max(values)


def _stats(key: int | str | None, name: str, rows: list[_Row],
           verdicts: dict[str, list[int]]) -> GroupStats:
    scores = [r.score for r in rows]
    reviewed = [r for r in rows if r.validated and r.verdicts]
    ci = mean_interval(scores)
    return GroupStats(
        key=key, name=name, evaluations=len(rows), agents=len({r.agent_id for r in rows if r.agent_id is not None}),
        unvalidated=sum(1 for r in rows if not r.validated),
        mean_score=statistics.fmean(scores) if scores else None,
        mean_low=ci[0] if ci else None, mean_high=ci[1] if ci else None, quartiles=_quartiles(scores),
        reviewed=len(reviewed),
        disagreement=_rate(sum(r.changed for r in reviewed), sum(r.verdicts for r in reviewed)),
        override=_rate(sum(1 for r in reviewed if r.changed), len(reviewed)),
        by_criterion={cid: _rate(k, n) for cid, (k, n) in sorted(verdicts.items())})


@dataclass
class _Sums:
    """Count, sum and sum of squares of a sample: the rest of the organisation is the total minus the group."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, x: float) -> None:
        self.n, self.total, self.squares = self.n + 1, self.total + x, self.squares + x * x

    def minus(self, other: _Sums) -> _Sums:
        return _Sums(self.n - other.n, self.total - other.total, self.squares - other.squares)

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def var(self) -> float:
        return (self.squares - self.total * self.total / self.n) / (self.n - 1)


@dataclass
class _Tally:
    """What the tests need of a set of evaluations, additive so that a complement costs nothing to compute."""

    scores: _Sums = field(default_factory=_Sums)
    shares: _Sums = field(default_factory=_Sums)  # per reviewed evaluation: its share of changed verdicts
    overridden: int = 0
    changed: int = 0
    verdicts: int = 0

    def add(self, row: _Row) -> None:
        self.scores.add(row.score)
        if row.validated and row.verdicts:
            self.shares.add(row.changed / row.verdicts)
            self.overridden += row.changed > 0
            self.changed += row.changed
            self.verdicts += row.verdicts

    def minus(self, other: _Tally) -> _Tally:
        return _Tally(self.scores.minus(other.scores), self.shares.minus(other.shares),
                      self.overridden - other.overridden, self.changed - other.changed,
                      self.verdicts - other.verdicts)


def _tally(rows: Iterable[_Row]) -> _Tally:
    out = _Tally()
    for row in rows:
        out.add(row)
    return out


def _tests(a: _Tally, b: _Tally) -> dict[str, tuple[float | None, float | None]]:
    """Per metric, group ``a`` against the rest ``b``: (difference a - b, p-value); (None, None) when too small."""
    out: dict[str, tuple[float | None, float | None]] = {}
    if a.scores.n >= MIN_EVALUATIONS and b.scores.n >= MIN_EVALUATIONS:
        out["score"] = (a.scores.mean - b.scores.mean,
                        welch_from_moments(a.scores.n, a.scores.mean, a.scores.var,
                                           b.scores.n, b.scores.mean, b.scores.var))
    else:
        out["score"] = (None, None)
    na, nb = a.shares.n, b.shares.n
    if na < MIN_REVIEWED or nb < MIN_REVIEWED:
        out["disagreement"] = out["override"] = (None, None)
        return out
    # The disagreement is compared one reviewed call at a time (its share of changed verdicts): the verdicts
    # of one call come from one listening, so counting them as independent would shrink the uncertainty.
    out["disagreement"] = (a.changed / a.verdicts - b.changed / b.verdicts,
                           welch_from_moments(na, a.shares.mean, a.shares.var, nb, b.shares.mean, b.shares.var))
    pooled = (a.overridden + b.overridden) / (na + nb)
    if min(na, nb) * min(pooled, 1 - pooled) < MIN_EXPECTED:
        out["override"] = (None, None)
    else:
        out["override"] = (a.overridden / na - b.overridden / nb,
                           two_proportion_test(a.overridden, na, b.overridden, nb))
    return out


def _memberships(session: Session, actor: Actor, dimension: str,
                 rows: dict[int, tuple[int | None, int | None, str | None]]
                 ) -> tuple[list[tuple[int | str | None, str]], dict[int, list[int | str | None]]]:
    """The groups of the dimension (key, name) and, per evaluation id, the keys of the groups it belongs to."""
    if dimension == "team":
        teams = session.exec(select(Team.id, Team.name).where(Team.org_id == actor.org_id).order_by(Team.name)).all()
        groups: list[tuple[int | str | None, str]] = [(i, n) for i, n in teams]
        if any(team is None for _, team, _ in rows.values()):
            groups.append((None, NO_TEAM))
        return groups, {ev: [team] for ev, (_, team, _) in rows.items()}
    if dimension == "campaign":
        names = sorted({c for _, _, c in rows.values() if c}, key=str.casefold)
        groups = [(c, c) for c in names]
        if any(not c for _, _, c in rows.values()):
            groups.append((None, NO_CAMPAIGN))
        return groups, {ev: [c or None] for ev, (_, _, c) in rows.items()}
    found = session.exec(select(AgentGroup.id, AgentGroup.name).where(AgentGroup.org_id == actor.org_id)
                         .order_by(AgentGroup.name)).all()
    of_agent: dict[int, list[int | str | None]] = defaultdict(list)
    for gid, agent_id in session.exec(select(AgentGroupMember.group_id, AgentGroupMember.agent_id)
                                      .where(AgentGroupMember.org_id == actor.org_id)).all():
        of_agent[agent_id].append(gid)
    return [(i, n) for i, n in found], {ev: of_agent.get(agent, []) for ev, (agent, _, _) in rows.items()}


def group_report(*, session: Session, actor: Actor, dimension: str, start: date, end: date) -> FairnessReport:
    """Scores, AI-human disagreement and overrides per group over [start, end], each group against the rest."""
    _require_audit(actor)
    if dimension not in DIMENSIONS:
        raise InvalidInput(f"Dimension « {dimension} » inconnue : équipe, campagne ou groupe d'agents.")
    _period(start, end)
    # 1. One row per counted evaluation, with what groups it.
    ev_rows = session.exec(_counted(
        select(Evaluation.id, Evaluation.agent_id, Evaluation.team_id, Evaluation.campaign, Evaluation.ai_score,
               Evaluation.validated).join(Call, Call.id == Evaluation.call_id), actor, start, end)).all()
    rows = {i: _Row(agent_id=agent, score=float(score), validated=bool(ok))
            for i, agent, _, _, score, ok in ev_rows}
    # 2. The criterion verdicts of the reviewed ones: the AI's against the one a human validated.
    per_eval_crit: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    grid_ids: set[int] = set()
    for ev_id, cid, ai, final, grid_id in session.exec(_counted(
            select(CriterionResult.evaluation_id, CriterionResult.criterion_id, CriterionResult.ai_verdict,
                   CriterionResult.final_verdict, Evaluation.grid_id)
            .join(Evaluation, Evaluation.id == CriterionResult.evaluation_id)
            .join(Call, Call.id == Evaluation.call_id)
            .where(CriterionResult.org_id == actor.org_id, Evaluation.validated == True),  # noqa: E712
            actor, start, end)).all():
        if ev_id not in rows:
            continue
        per_eval_crit[ev_id].append((cid, ai != final))
        rows[ev_id].verdicts += 1
        rows[ev_id].changed += ai != final
        if grid_id is not None:
            grid_ids.add(grid_id)
    # 3. The groups (teams, campaigns or the organisation's groups and their members).
    groups, keys_of = _memberships(session, actor, dimension,
                                   {i: (agent, team, camp) for i, agent, team, camp, _, _ in ev_rows})
    members: dict[int | str | None, list[int]] = defaultdict(list)
    for ev_id, keys in keys_of.items():
        for key in keys:
            members[key].append(ev_id)

    def crit(ids: Iterable[int]) -> dict[str, list[int]]:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for ev_id in ids:
            for cid, changed in per_eval_crit.get(ev_id, ()):
                counts[cid][0] += changed
                counts[cid][1] += 1
        return counts

    everyone = _tally(rows.values())
    raw: list[tuple[int | str | None, str, list[_Row], dict[str, tuple[float | None, float | None]]]] = []
    for key, name in groups:
        inside = [rows[i] for i in sorted(set(members.get(key, ())))]
        group = _tally(inside)
        raw.append((key, name, inside, _tests(group, everyone.minus(group))))
    # Holm across every test made in the report: the more groups and metrics compared, the stronger a gap
    # must be before it is flagged, so that chance alone rarely raises any flag at all.
    made = [(gi, metric) for gi, (*_, tests) in enumerate(raw) for metric, (_, p) in tests.items() if p is not None]
    adjusted = dict(zip(made, holm([raw[gi][3][metric][1] for gi, metric in made]), strict=True))
    out = []
    for gi, (key, name, inside, tests) in enumerate(raw):
        comparisons = {}
        for metric, (diff, p) in tests.items():
            if p is None:
                comparisons[metric] = Comparison(metric, TOO_SMALL)
                continue
            p_adj = adjusted[(gi, metric)]
            comparisons[metric] = Comparison(metric, FLAGGED if p_adj < ALPHA else NO_GAP, diff, p, p_adj)
        ids = sorted(set(members.get(key, ())))
        out.append(replace(_stats(key, name, inside, crit(ids)), comparisons=comparisons))
    overall = _stats(None, "Toute l'organisation", list(rows.values()), crit(rows))
    outside_groups = sum(1 for keys in keys_of.values() if not keys) if dimension == "group" else 0
    return FairnessReport(dimension=dimension, start=start, end=end, groups=out, overall=overall,
                          criterion_labels=_criterion_labels(session, actor.org_id, grid_ids),
                          outside_groups=outside_groups, tests=len(made))


def default_period(today: date, days: int = 90) -> tuple[date, date]:
    """The default audit period: the last ``days`` days up to ``today`` (a quarter gives enough reviews)."""
    return today - timedelta(days=days - 1), today


# --- the organisation's agent groups ------------------------------------------------------------------


@dataclass(frozen=True)
class GroupView:
    """An agent group as the management tab shows it."""

    id: int
    name: str
    agent_ids: tuple[int, ...]


def list_groups(*, session: Session, actor: Actor) -> list[GroupView]:
    """The organisation's agent groups with their members (whoever may read the audit, or an administrator)."""
    if not (may(actor.role, "fairness_audit") or may(actor.role, "agent_groups")):
        raise AccessDenied("Accès refusé : les groupes d'agents servent à l'audit d'équité.")
    groups = session.exec(select(AgentGroup).where(AgentGroup.org_id == actor.org_id).order_by(AgentGroup.name)).all()
    members: dict[int, list[int]] = defaultdict(list)
    for gid, agent_id in session.exec(select(AgentGroupMember.group_id, AgentGroupMember.agent_id)
                                      .where(AgentGroupMember.org_id == actor.org_id)).all():
        members[gid].append(agent_id)
    return [GroupView(g.id, g.name, tuple(sorted(members.get(g.id, ())))) for g in groups]


def _clean_group_name(session: Session, actor: Actor, name: str, *, except_id: int | None = None) -> str:
    name = clean_name(name)
    if not name:
        raise InvalidInput("Le nom du groupe est obligatoire.")
    if len(name) > MAX_GROUP_NAME_CHARS:
        raise InvalidInput(f"Le nom du groupe est trop long : {MAX_GROUP_NAME_CHARS} caractères au plus.")
    same = session.exec(select(AgentGroup.id).where(AgentGroup.org_id == actor.org_id,
                                                    AgentGroup.name == name)).first()
    if same is not None and same != except_id:
        raise InvalidInput(f"Le groupe « {name} » existe déjà.")
    return name


def _own_group(session: Session, actor: Actor, group_id: int) -> AgentGroup:
    _require_admin(actor)
    group = session.get(AgentGroup, group_id)
    if group is None or group.org_id != actor.org_id:
        raise NotFound("Groupe d'agents introuvable.")
    return group


def create_group(*, session: Session, actor: Actor, name: str) -> AgentGroup:
    """Create an empty agent group in the actor's organisation (administrators)."""
    _require_admin(actor)
    group = AgentGroup(org_id=actor.org_id, name=_clean_group_name(session, actor, name))
    session.add(group)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="agent_group_created", target_type="agent_group",
                    target_id=group.id, detail={"nom": group.name})
    return group


def rename_group(*, session: Session, actor: Actor, group_id: int, name: str) -> AgentGroup:
    """Rename one of the organisation's agent groups (administrators)."""
    group = _own_group(session, actor, group_id)
    old, group.name = group.name, _clean_group_name(session, actor, name, except_id=group.id)
    session.add(group)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="agent_group_renamed", target_type="agent_group",
                    target_id=group.id, detail={"ancien_nom": old, "nom": group.name})
    return group


def delete_group(*, session: Session, actor: Actor, group_id: int) -> None:
    """Delete an agent group and its memberships (administrators); the agents and their calls stay."""
    group = _own_group(session, actor, group_id)
    session.execute(delete(AgentGroupMember).where(AgentGroupMember.group_id == group.id,
                                                   AgentGroupMember.org_id == actor.org_id))
    name = group.name
    session.delete(group)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="agent_group_deleted", target_type="agent_group",
                    target_id=group_id, detail={"nom": name})


def set_members(*, session: Session, actor: Actor, group_id: int, agent_ids: Iterable[int]) -> GroupView:
    """Replace the members of an agent group with ``agent_ids``, all agents of the organisation (administrators)."""
    group = _own_group(session, actor, group_id)
    wanted = {int(a) for a in agent_ids}
    known = set(session.exec(select(Agent.id).where(Agent.org_id == actor.org_id,
                                                    col(Agent.id).in_(sorted(wanted) or [-1]))).all())
    if wanted - known:
        raise NotFound("Agent introuvable.")
    current = set(session.exec(select(AgentGroupMember.agent_id).where(AgentGroupMember.group_id == group.id,
                                                                       AgentGroupMember.org_id == actor.org_id)
                               ).all())
    removed, added = current - wanted, wanted - current
    if removed:
        session.execute(delete(AgentGroupMember).where(AgentGroupMember.group_id == group.id,
                                                       AgentGroupMember.org_id == actor.org_id,
                                                       col(AgentGroupMember.agent_id).in_(sorted(removed))))
    session.add_all([AgentGroupMember(group_id=group.id, agent_id=a, org_id=actor.org_id) for a in sorted(added)])
    session.flush()
    # Agent ids, never names: the log says who changed what without copying the organisation's directory.
    audit.log_event(session=session, who=actor.who, action="agent_group_members_set", target_type="agent_group",
                    target_id=group.id, detail={"membres": len(wanted), "ajoutes": sorted(added),
                                                "retires": sorted(removed)})
    return GroupView(group.id, group.name, tuple(sorted(wanted)))
