"""Cached dashboard reads: ``st.cache_data`` wrappers around :mod:`ccr.dashboards.kpis`.

Every entry is keyed on the viewer's *scope* (organisation, role, sorted team ids) and on the
filters, never on per-user state, so two team leads of the same team share an entry and nobody
ever gets another scope's figures. Entries live ``CACHE_TTL_S`` seconds.

**Call :func:`clear_dashboard_cache` after any write that changes what the dashboards show**: a new
or re-scored evaluation, a human review, a call restricted or un-restricted by the DPO, an erasure
or a retention purge. It empties every entry of every scope at once (the cache is per process).
Code outside Streamlit (the worker, the CLI) cannot reach this cache; there the TTL bounds staleness.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ccr.core.db import session
from ccr.core.users import Actor
from ccr.dashboards import kpis

CACHE_TTL_S = 300  # the freshness budget: figures at most 5 minutes old after background work
Scope = tuple[int, str, tuple[int, ...]]


def scope_of(actor: Actor) -> Scope:
    """The cache key part that decides what an actor may see."""
    return (actor.org_id, actor.role, tuple(sorted(actor.team_ids)))


# The leading-underscore argument is not hashed by Streamlit: the actor only carries the scope,
# which is part of the key already.
@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def _figure(name: str, scope: Scope, filters: kpis.Filters | None, extra: tuple, _actor: Actor) -> Any:
    fn = _FUNCTIONS[name]
    with session() as s:
        if filters is None:
            return fn(session=s, actor=_actor, **dict(extra))
        return fn(session=s, actor=_actor, filters=filters, **dict(extra))


_FUNCTIONS = {
    "labels": kpis.labels,
    "campaigns": kpis.campaigns,
    "kpi_tiles": kpis.kpi_tiles,
    "score_trend": kpis.score_trend,
    "score_distribution": kpis.score_distribution,
    "agent_ranking": kpis.agent_ranking,
    "criterion_agent_heatmap": kpis.criterion_agent_heatmap,
    "irritants_over_time": kpis.irritants_over_time,
    "category_breakdown": kpis.category_breakdown,
    "talk_listen_by_agent": kpis.talk_listen_by_agent,
    "list_calls": kpis.list_calls,
}


def get(name: str, actor: Actor, filters: kpis.Filters | None = None, **kwargs: Any) -> Any:
    """``kpis.<name>(session=..., actor=actor, filters=filters, **kwargs)``, cached per scope and filters."""
    extra = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()))
    return _figure(name, scope_of(actor), filters, extra, actor)


def clear_dashboard_cache() -> None:
    """Forget every cached figure (all scopes); call it after evaluations, reviews, restrictions, erasures."""
    _figure.clear()
