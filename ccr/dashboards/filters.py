"""The dashboard's and the calls list's criteria, and their URL codec (so a view can be shared by link).

A shared link must always open: anything malformed in the URL is ignored rather than refused. A team
lead's foreign team ids are dropped when parsing (:func:`filters_from_query`); the SQL scope
(:mod:`ccr.dashboards.scope`) narrows every query again, so a hand-built :class:`Filters` cannot widen it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from ccr.core.users import Actor
from ccr.core.vocab import DIRECTION_LABELS

PRESETS = {"7j": "7 jours", "30j": "30 jours", "mois": "Ce mois-ci", "perso": "Personnalisé"}
DEFAULT_PRESET = "30j"  # the morning view of a team lead: the last month, day by day
MAX_PERIOD_DAYS = 3 * 366  # a custom period is capped so a crafted URL cannot ask for decades
CAMPAIGN_MAX_LEN = 100  # a campaign name, not a text: a longer URL value is cut rather than matched
# Slugs of categories, irritants, criteria and grids: what the editors accept, so nothing else can match.
_SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

# Calls list: what became of the evaluation (not the call's processing state, ccr.core.vocab.CALL_STATUSES),
# and the sorts ("à revoir" is ccr.scoring.triage's rule).
OUTCOME_FILTERS = {
    "valide": "Validé par un humain",
    "a_valider": "Non validé",
    "conforme": "Conforme",
    "non_conforme": "Non conforme",
    "critique": "Échec critique",
}
CALL_SORTS = {
    "recent": "Plus récents",
    "ancien": "Plus anciens",
    "score_asc": "Score croissant",
    "score_desc": "Score décroissant",
    "duree_desc": "Plus longs",
}
DEFAULT_SORT = "recent"


@dataclass(frozen=True)
class Filters:
    """What the dashboard and the calls list show: a period (inclusive dates) and optional narrowing."""

    start: date
    end: date
    preset: str = DEFAULT_PRESET
    team_ids: tuple[int, ...] = ()
    agent_ids: tuple[int, ...] = ()
    campaign: str | None = None
    category: str | None = None
    grid: str | None = None
    direction: str | None = None

    @property
    def days(self) -> int:
        """Length of the period in days."""
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The same filters on the period of equal length just before."""
        n = self.days
        return replace(self, start=self.start - timedelta(days=n), end=self.start - timedelta(days=1),
                       preset="perso")

    @property
    def has_call_level_filters(self) -> bool:
        """True when a filter cannot apply to the anonymised team-level history."""
        return bool(self.agent_ids or self.campaign or self.category or self.grid or self.direction)


def preset_period(preset: str, today: date) -> tuple[date, date]:
    """The (start, end) dates of a preset period ending today."""
    if preset == "7j":
        return today - timedelta(days=6), today
    if preset == "mois":
        return today.replace(day=1), today
    return today - timedelta(days=29), today


def _param(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return str(value).strip()


def _ids(raw: str) -> tuple[int, ...]:
    out = []
    for part in raw.split(","):
        part = part.strip()
        if part.isdigit() and len(part) <= 12:
            out.append(int(part))
    return tuple(sorted(set(out)))


def _iso(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _slug(raw: str) -> str | None:
    return raw if raw and _SLUG_RE.match(raw) else None


def filters_from_query(params: Mapping[str, Any], actor: Actor, today: date) -> Filters:
    """Parse URL query parameters into :class:`Filters`, clamped to what ``actor`` may see.

    Anything malformed is ignored rather than refused (a shared link must always open); a team lead's
    foreign team ids are dropped silently.
    """
    preset = _param(params, "periode") or DEFAULT_PRESET
    if preset not in PRESETS:
        preset = DEFAULT_PRESET
    start, end = preset_period(preset, today)
    if preset == "perso":
        d1, d2 = _iso(_param(params, "du")), _iso(_param(params, "au"))
        if d1 and d2:
            start, end = min(d1, d2), max(d1, d2)
            if (end - start).days + 1 > MAX_PERIOD_DAYS:
                start = end - timedelta(days=MAX_PERIOD_DAYS - 1)
        else:
            preset = DEFAULT_PRESET
            start, end = preset_period(preset, today)
    team_ids = _ids(_param(params, "equipe"))
    if not actor.sees_all_teams:
        team_ids = tuple(t for t in team_ids if t in actor.team_ids)
    campaign = _param(params, "campagne")[:CAMPAIGN_MAX_LEN] or None
    direction = _param(params, "sens")
    return Filters(
        start=start,
        end=end,
        preset=preset,
        team_ids=team_ids,
        agent_ids=_ids(_param(params, "agent")),
        campaign=campaign,
        category=_slug(_param(params, "categorie")),
        grid=_slug(_param(params, "grille")),
        direction=direction if direction in DIRECTION_LABELS else None,
    )


def filters_to_query(filters: Filters) -> dict[str, str]:
    """URL query parameters of ``filters`` (the inverse of :func:`filters_from_query`)."""
    out: dict[str, str] = {"periode": filters.preset}
    if filters.preset == "perso":
        out["du"] = filters.start.isoformat()
        out["au"] = filters.end.isoformat()
    if filters.team_ids:
        out["equipe"] = ",".join(str(t) for t in filters.team_ids)
    if filters.agent_ids:
        out["agent"] = ",".join(str(a) for a in filters.agent_ids)
    for key, value in (("campagne", filters.campaign), ("categorie", filters.category),
                       ("grille", filters.grid), ("sens", filters.direction)):
        if value:
            out[key] = value
    return out


@dataclass(frozen=True)
class CallQuery:
    """The calls list's own criteria, on top of :class:`Filters` (kept in the URL too)."""

    score_min: float | None = None
    score_max: float | None = None
    status: str | None = None
    irritant: str | None = None
    failed_criterion: str | None = None
    to_review: bool = False
    search: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1


def _float(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if 0.0 <= value <= 100.0 else None


def call_query_from_query(params: Mapping[str, Any]) -> CallQuery:
    """Parse the calls list's own URL parameters (malformed values are ignored)."""
    status = _param(params, "statut")
    sort = _param(params, "tri")
    page = _param(params, "page")
    return CallQuery(
        score_min=_float(_param(params, "score_min")),
        score_max=_float(_param(params, "score_max")),
        status=status if status in OUTCOME_FILTERS else None,
        irritant=_slug(_param(params, "irritant")),
        failed_criterion=_slug(_param(params, "critere")),
        to_review=_param(params, "a_revoir") in ("1", "true", "oui"),
        search=_param(params, "q")[:200],
        sort=sort if sort in CALL_SORTS else DEFAULT_SORT,
        page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1,
    )


def call_query_to_query(q: CallQuery) -> dict[str, str]:
    """URL parameters of a :class:`CallQuery` (defaults left out)."""
    out: dict[str, str] = {}
    if q.score_min is not None:
        out["score_min"] = f"{q.score_min:g}"
    if q.score_max is not None:
        out["score_max"] = f"{q.score_max:g}"
    for key, value in (("statut", q.status), ("irritant", q.irritant), ("critere", q.failed_criterion),
                       ("q", q.search)):
        if value:
            out[key] = value
    if q.to_review:
        out["a_revoir"] = "1"
    if q.sort != DEFAULT_SORT:
        out["tri"] = q.sort
    if q.page > 1:
        out["page"] = str(q.page)
    return out


def query_kwargs(query: CallQuery) -> dict[str, Any]:
    """The :func:`ccr.dashboards.call_list.list_calls` keyword arguments of a :class:`CallQuery` (page excluded)."""
    return {"score_min": query.score_min, "score_max": query.score_max, "status": query.status,
            "irritant": query.irritant, "to_review": query.to_review, "search": query.search, "sort": query.sort,
            "failed_criterion": query.failed_criterion}
