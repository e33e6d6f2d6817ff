"""Cached dashboard reads: one ``st.cache_data`` function per figure or list the pages draw.

Every entry is keyed on the viewer's *scope* (organisation, role, sorted team ids) and on the
filters, never on per-user state, so two team leads of the same team share an entry and nobody
ever gets another scope's figures. Entries live ``CACHE_TTL_S`` seconds.

**Call :func:`clear_after_write` after any write that changes what the dashboards show**: a new
or re-scored evaluation, a human review, a call restricted or un-restricted by the DPO, a
rectification, an erasure or a retention purge, a grid, taxonomy, team or agent saved. It empties
every entry of every scope at once (the cache is per process). Code outside Streamlit (the worker,
the CLI) cannot reach this cache; there the TTL bounds staleness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from ccr.core.db import session
from ccr.core.users import Actor
from ccr.dashboards import agents, call_list, figures, reports
from ccr.dashboards import labels as names
from ccr.dashboards.figures import Tile
from ccr.dashboards.filters import CallQuery, Filters, query_kwargs
from ccr.dashboards.labels import Labels

# Figures at most 5 minutes old after background work (scoring, purges), which cannot clear this cache.
CACHE_TTL_S = 300
FIGURE_ENTRIES = 2000  # built charts kept: six per (scope, filters) a team looks at, many teams
Scope = tuple[int, str, tuple[int, ...]]


def scope_of(actor: Actor) -> Scope:
    """The cache key part that decides what an actor may see."""
    return (actor.org_id, actor.role, tuple(sorted(actor.team_ids)))


# Each cached function takes the scope (hashed) and the actor as ``_actor``: a leading underscore is not
# hashed by Streamlit, and the actor only carries the scope, which is part of the key already.


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _labels(scope: Scope, _actor: Actor) -> Labels:
    with session() as s:
        return names.labels(session=s, actor=_actor)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _campaigns(scope: Scope, _actor: Actor) -> list[str]:
    with session() as s:
        return names.campaigns(session=s, actor=_actor)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _kpi_tiles(scope: Scope, filters: Filters, _actor: Actor) -> list[Tile]:
    with session() as s:
        return figures.kpi_tiles(session=s, actor=_actor, filters=filters)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _validation(scope: Scope, filters: Filters, _actor: Actor) -> tuple[figures.Validation, bool]:
    with session() as s:
        return (figures.validation_counts(session=s, actor=_actor, filters=filters),
                reports.blocks_unvalidated(s, _actor.org_id))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _score_trend(scope: Scope, filters: Filters, granularity: str, _actor: Actor) -> dict[str, Any]:
    with session() as s:
        return figures.score_trend(session=s, actor=_actor, filters=filters, granularity=granularity)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _score_distribution(scope: Scope, filters: Filters, _actor: Actor) -> list[dict[str, Any]]:
    with session() as s:
        return figures.score_distribution(session=s, actor=_actor, filters=filters)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _irritants_over_time(scope: Scope, filters: Filters, granularity: str, _actor: Actor) -> dict[str, Any]:
    with session() as s:
        return figures.irritants_over_time(session=s, actor=_actor, filters=filters, granularity=granularity)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _category_breakdown(scope: Scope, filters: Filters, _actor: Actor) -> list[dict[str, Any]]:
    with session() as s:
        return figures.category_breakdown(session=s, actor=_actor, filters=filters)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _agent_ranking(scope: Scope, filters: Filters, _actor: Actor) -> list[dict[str, Any]]:
    with session() as s:
        return agents.agent_ranking(session=s, actor=_actor, filters=filters)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _criterion_agent_heatmap(scope: Scope, filters: Filters, agent_ids: tuple[int, ...] | None,
                             _actor: Actor) -> dict[str, Any]:
    with session() as s:
        return agents.criterion_agent_heatmap(session=s, actor=_actor, filters=filters,
                                              agent_ids=None if agent_ids is None else list(agent_ids))


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _list_calls(scope: Scope, filters: Filters, query: CallQuery, page_size: int,
                _actor: Actor) -> call_list.CallPage:
    with session() as s:
        return call_list.list_calls(session=s, actor=_actor, filters=filters, page=query.page, page_size=page_size,
                                    **query_kwargs(query))


@st.cache_resource(ttl=CACHE_TTL_S, max_entries=FIGURE_ENTRIES, show_spinner=False)
def _figure(kind: str, scope: Scope, digest: str, _build: Callable[[], go.Figure]) -> go.Figure:
    return _build()


_CACHED = (_labels, _campaigns, _kpi_tiles, _validation, _score_trend, _score_distribution, _irritants_over_time,
           _category_breakdown, _agent_ranking, _criterion_agent_heatmap, _list_calls)


def labels(actor: Actor) -> Labels:
    """French names of the actor's teams and agents and of the organisation's criteria, cached per scope."""
    return _labels(scope_of(actor), actor)


def campaigns(actor: Actor) -> list[str]:
    """The organisation's distinct campaigns, cached."""
    return _campaigns(scope_of(actor), actor)


def kpi_tiles(actor: Actor, filters: Filters) -> list[Tile]:
    """The KPI tiles of the period (:func:`ccr.dashboards.figures.kpi_tiles`), cached per scope and filters."""
    return _kpi_tiles(scope_of(actor), filters, actor)


def validation(actor: Actor, filters: Filters) -> tuple[figures.Validation, bool]:
    """How many of the view's scores no human validated, and whether per-agent exports of them are forbidden."""
    return _validation(scope_of(actor), filters, actor)


def score_trend(actor: Actor, filters: Filters, granularity: str = "auto") -> dict[str, Any]:
    """The score trend (:func:`ccr.dashboards.figures.score_trend`), cached per scope and filters."""
    return _score_trend(scope_of(actor), filters, granularity, actor)


def score_distribution(actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """The score histogram (:func:`ccr.dashboards.figures.score_distribution`), cached per scope and filters."""
    return _score_distribution(scope_of(actor), filters, actor)


def irritants_over_time(actor: Actor, filters: Filters, granularity: str = "auto") -> dict[str, Any]:
    """The top irritants over time (:func:`ccr.dashboards.figures.irritants_over_time`), cached."""
    return _irritants_over_time(scope_of(actor), filters, granularity, actor)


def category_breakdown(actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """Calls per category (:func:`ccr.dashboards.figures.category_breakdown`), cached per scope and filters."""
    return _category_breakdown(scope_of(actor), filters, actor)


def agent_ranking(actor: Actor, filters: Filters) -> list[dict[str, Any]]:
    """The agents' ranking (:func:`ccr.dashboards.agents.agent_ranking`), cached per scope and filters."""
    return _agent_ranking(scope_of(actor), filters, actor)


def criterion_agent_heatmap(actor: Actor, filters: Filters, agent_ids: list[int] | None = None) -> dict[str, Any]:
    """The criterion × agent heatmap (:func:`ccr.dashboards.agents.criterion_agent_heatmap`), cached."""
    return _criterion_agent_heatmap(scope_of(actor), filters, None if agent_ids is None else tuple(agent_ids), actor)


def list_calls(actor: Actor, filters: Filters, query: CallQuery, page_size: int) -> call_list.CallPage:
    """One page (``query.page``) of the calls list and its count (:func:`ccr.dashboards.call_list.list_calls`)."""
    return _list_calls(scope_of(actor), filters, query, page_size, actor)


def figure(actor: Actor, builder: Callable[..., go.Figure], *data: Any) -> go.Figure:
    """``builder(*data)``, built once per scope and exact data, then shared by every session that draws it.

    The key is the data itself (a digest of its ``repr``), so a chart is never older than the figures it
    draws; twenty sessions of a team then pay plotly's validation once. The chart object is shared, not
    copied (``st.plotly_chart`` only reads it): callers never change it."""
    digest = hashlib.sha256(repr(data).encode("utf-8")).hexdigest()
    return _figure(builder.__name__, scope_of(actor), digest, lambda: builder(*data))


def clear_after_write() -> None:
    """Forget every cached figure and list (all scopes): call it after any write the dashboards show."""
    for cached in _CACHED:
        cached.clear()
    _figure.clear()
