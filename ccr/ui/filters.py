"""Dashboard filter widgets kept in step with the URL query parameters (so a view can be shared).

The URL is the source of truth when it changes from outside (a shared link, a drill-down from the
dashboard): the widgets are then re-seeded from it. When the user changes a widget, the URL is
rewritten from the widgets. Parsing is :mod:`ccr.dashboards.filters`'s job and scoping
:mod:`ccr.dashboards.scope`'s; a team lead's foreign ids never reach a widget. A shared link's custom
period is kept between :data:`EARLIEST` and today (the date picker refuses anything else), with a
French notice when it had to be moved.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import streamlit as st

from ccr.core.access import PAGE_BY_KEY
from ccr.core.config import get_settings
from ccr.core.users import Actor
from ccr.core.vocab import DIRECTION_LABELS
from ccr.dashboards.filters import (
    CALL_SORTS,
    DEFAULT_PRESET,
    OUTCOME_FILTERS,
    PRESETS,
    CallQuery,
    Filters,
    call_query_from_query,
    call_query_to_query,
    filters_from_query,
    filters_to_query,
    preset_period,
)
from ccr.dashboards.labels import Labels
from ccr.ui import dashboard_cache as cache
from ccr.ui.links import page_link
from ccr.ui.text import plain

ALL = "__all__"  # sentinel option of the single-choice filters
# Earliest day a period may start: older than any call CCR can hold, and the date picker needs a bound
# (left to itself it computes one ten years before the value, which fails before year 11).
EARLIEST = date(2000, 1, 1)


def local_today() -> date:
    """Today in the configured timezone (presets end today)."""
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def _iso(raw: object) -> date | None:
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        return None


def sane_query(params: dict[str, str], today: date) -> tuple[dict[str, str], str | None]:
    """``params`` with a custom period kept between :data:`EARLIEST` and ``today``, and the French notice
    to show when it moved (a shared link with a future end date, or one from another century).

    Done on the raw dates, before :func:`ccr.dashboards.filters.filters_from_query` caps the period's length
    from its end.
    """
    d1, d2 = _iso(params.get("du", "")), _iso(params.get("au", ""))
    if params.get("periode") != "perso" or d1 is None or d2 is None:
        return params, None
    lo, hi = min(d1, d2), max(d1, d2)
    if EARLIEST <= lo and hi <= today:
        return params, None
    asked = f"du {lo:%d/%m/%Y} au {hi:%d/%m/%Y}"
    if lo > today or hi < EARLIEST:
        kept = {k: v for k, v in params.items() if k not in ("periode", "du", "au")}
        label = PRESETS[DEFAULT_PRESET]
        return ({**kept, "periode": DEFAULT_PRESET},
                f"La période du lien ({asked}) ne contient aucun jour possible : affichage de la période "
                f"par défaut ({label}).")
    lo, hi = max(lo, EARLIEST), min(hi, today)
    return ({**params, "du": lo.isoformat(), "au": hi.isoformat()},
            f"La période du lien ({asked}) dépasse les dates possibles : affichage du {lo:%d/%m/%Y} "
            f"au {hi:%d/%m/%Y}.")


def _sig(params: dict[str, str]) -> str:
    return json.dumps(params, sort_keys=True)


def _must_seed(k: str, params: dict[str, str], sentinel: str) -> bool:
    """True when the widgets must be (re)filled from the URL: it changed, or they were dropped.

    Streamlit forgets a widget's keyed value once a run does not draw it (another page was opened),
    while the signature, a plain session key, survives: without the sentinel check, coming back to the
    page drew the widgets with their bare defaults (a range slider came back as a single value).
    """
    return st.session_state.get(k + "sig") != _sig(params) or k + sentinel not in st.session_state


def _write_query(params: dict[str, str], owned: set[str]) -> None:
    """Replace the ``owned`` keys of the URL by ``params``, leaving the others alone."""
    current = st.query_params.to_dict()
    for key in owned:
        if key in current and key not in params:
            del st.query_params[key]
    for key, value in params.items():
        if current.get(key) != value:
            st.query_params[key] = value


FILTER_KEYS = {"periode", "du", "au", "equipe", "agent", "campagne", "categorie", "grille", "sens"}
CALL_KEYS = {"score_min", "score_max", "statut", "irritant", "critere", "a_revoir", "q", "tri", "page"}


def filter_bar(actor: Actor, prefix: str) -> Filters:
    """Draw the filters in the sidebar and return them; the URL follows the widgets and vice versa."""
    today = local_today()
    params, notice = sane_query(st.query_params.to_dict(), today)
    url = filters_from_query(params, actor, today)
    if notice:
        st.warning(notice)
    lab = cache.labels(actor)
    campaigns = cache.campaigns(actor)
    k = f"{prefix}_f_"
    if _must_seed(k, filters_to_query(url), "preset"):
        st.session_state[k + "preset"] = url.preset
        st.session_state[k + "range"] = (url.start, url.end)
        st.session_state[k + "teams"] = [t for t in url.team_ids if t in lab.teams]
        st.session_state[k + "agents"] = [a for a in url.agent_ids if a in lab.agents]
        st.session_state[k + "campaign"] = url.campaign if url.campaign in campaigns else ALL
        st.session_state[k + "category"] = url.category if url.category in lab.categories else ALL
        st.session_state[k + "grid"] = url.grid if url.grid in lab.grids else ALL
        st.session_state[k + "direction"] = url.direction or ALL
    side = st.sidebar
    side.header("Filtres")
    preset = side.selectbox("Période", list(PRESETS), format_func=PRESETS.get, key=k + "preset")
    if preset == "perso":
        picked = side.date_input("Du … au …", key=k + "range", format="DD/MM/YYYY", min_value=EARLIEST,
                                 max_value=today)
        start, end = (picked[0], picked[-1]) if isinstance(picked, (list, tuple)) and picked else (url.start, url.end)
    else:
        start, end = preset_period(preset, today)
    teams = side.multiselect("Équipes", list(lab.teams), format_func=lambda t: plain(lab.teams.get(t)), key=k + "teams",
                             placeholder="Toutes mes équipes" if not actor.sees_all_teams else "Toutes")
    agent_options = [a for a in lab.agents if not teams or lab.agent_team.get(a) in teams]
    st.session_state[k + "agents"] = [a for a in st.session_state.get(k + "agents", []) if a in agent_options]
    agents = side.multiselect("Agents", agent_options, format_func=lambda a: plain(lab.agents.get(a)), key=k + "agents",
                              placeholder="Tous")

    def single(label: str, options: dict[str, str], key: str) -> str | None:
        value = side.selectbox(label, [ALL, *options], key=k + key,
                               format_func=lambda v: "Toutes" if v == ALL else plain(options.get(v, v)))
        return None if value == ALL else value

    campaign = single("Campagne", {c: c for c in campaigns}, "campaign")
    category = single("Catégorie", lab.categories, "category")
    grid = single("Grille", lab.grids, "grid")
    direction = single("Sens", DIRECTION_LABELS, "direction")
    filters = Filters(start=min(start, end), end=max(start, end), preset=preset, team_ids=tuple(sorted(teams)),
                      agent_ids=tuple(sorted(agents)), campaign=campaign, category=category, grid=grid,
                      direction=direction)
    query = filters_to_query(filters)
    _write_query(query, FILTER_KEYS)
    st.session_state[k + "sig"] = _sig(query)
    return filters


def call_query_bar(actor: Actor, prefix: str, lab: Labels) -> CallQuery:
    """The calls list's own criteria (score range, status, irritant, to review, search, sort), URL-synced."""
    url = call_query_from_query(st.query_params.to_dict())
    k = f"{prefix}_q_"
    if _must_seed(k, call_query_to_query(url), "score"):
        st.session_state[k + "score"] = (url.score_min or 0.0, 100.0 if url.score_max is None else url.score_max)
        st.session_state[k + "status"] = url.status or ALL
        st.session_state[k + "irritant"] = url.irritant if url.irritant in lab.irritants else ALL
        st.session_state[k + "criterion"] = url.failed_criterion if url.failed_criterion in lab.criteria else ALL
        st.session_state[k + "review"] = url.to_review
        st.session_state[k + "search"] = url.search
        st.session_state[k + "sort"] = url.sort
        st.session_state[k + "page"] = url.page
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    search = c1.text_input("Recherche dans les transcriptions", key=k + "search",
                           placeholder="ex. : remboursement facture")
    status = c2.selectbox("Statut", [ALL, *OUTCOME_FILTERS], key=k + "status",
                          format_func=lambda v: "Tous" if v == ALL else OUTCOME_FILTERS[v])
    irritant = c3.selectbox("Irritant", [ALL, *lab.irritants], key=k + "irritant",
                            format_func=lambda v: "Tous" if v == ALL else plain(lab.irritants.get(v, v)))
    criterion = c4.selectbox("Critère en échec", [ALL, *lab.criteria], key=k + "criterion",
                             format_func=lambda v: "Tous" if v == ALL else plain(lab.criteria.get(v, v)))
    c5, c6, c7 = st.columns([3, 2, 2])
    lo, hi = c5.slider("Score", 0.0, 100.0, key=k + "score", step=1.0)
    sort = c6.selectbox("Tri", list(CALL_SORTS), key=k + "sort", format_func=CALL_SORTS.get)
    to_review = c7.checkbox("À revoir uniquement", key=k + "review",
                            help="Non validés, et en échec (critique ou non), au verdict incertain, non vérifiés ou "
                                 "proches du seuil de leur grille.")
    q = CallQuery(score_min=lo if lo > 0 else None, score_max=hi if hi < 100 else None,
                  status=None if status == ALL else status, irritant=None if irritant == ALL else irritant,
                  failed_criterion=None if criterion == ALL else criterion, to_review=to_review,
                  search=search.strip()[:200], sort=sort, page=int(st.session_state.get(k + "page", 1)))
    return q


def set_call_page(actor: Actor, prefix: str, q: CallQuery, page: int) -> CallQuery:
    """Record the current page of the calls list in the URL and the session."""
    k = f"{prefix}_q_"
    q = replace(q, page=page)
    st.session_state[k + "page"] = page
    query = call_query_to_query(q)
    _write_query(query, CALL_KEYS)
    st.session_state[k + "sig"] = _sig(query)
    return q


def go_to(key: str, query_params: dict[str, str], label: str) -> None:
    """Open the registered page ``key`` with ``query_params``; where no navigation exists, offer a link."""
    from streamlit.errors import StreamlitAPIException

    try:
        st.switch_page(PAGE_BY_KEY[key].path, query_params=query_params)
    except StreamlitAPIException:
        # A page run on its own (AppTest, legacy pages/ mode) cannot switch: a link still leads there.
        page_link(key, label, query_params=query_params)
