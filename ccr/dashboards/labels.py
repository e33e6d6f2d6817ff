"""French display names of what the dashboard's figures refer to, the campaigns, and the pass threshold.

Names come from the organisation's teams, agents, grids and taxonomy; a team lead only gets the teams
and agents they may see. Stored grids and taxonomies are parsed once per distinct text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import text
from sqlmodel import Session, col, select

from ccr.core.errors import CcrError
from ccr.core.models import Agent, Grid, Taxonomy, Team
from ccr.core.users import Actor
from ccr.scoring.grid import default_grid, default_taxonomy, load_grid_yaml, load_taxonomy_yaml

CAMPAIGNS_MAX = 500  # a filter's drop-down, not a report: more campaigns than this are not browsed


@dataclass(frozen=True)
class Labels:
    """French display names of what the figures refer to (teams, agents, criteria...)."""

    teams: dict[int, str] = field(default_factory=dict)
    agents: dict[int, str] = field(default_factory=dict)
    agent_team: dict[int, int | None] = field(default_factory=dict)
    criteria: dict[str, str] = field(default_factory=dict)  # in grid order
    categories: dict[str, str] = field(default_factory=dict)
    irritants: dict[str, str] = field(default_factory=dict)
    grids: dict[str, str] = field(default_factory=dict)
    pass_threshold: float = 70.0


def labels(*, session: Session, actor: Actor) -> Labels:
    """Names of the teams and agents the actor may see, and of the organisation's criteria and taxonomy."""
    team_stmt = select(Team.id, Team.name).where(Team.org_id == actor.org_id)
    agent_stmt = select(Agent.id, Agent.name, Agent.team_id).where(Agent.org_id == actor.org_id)
    if not actor.sees_all_teams:
        visible = sorted(actor.team_ids) or [-1]
        team_stmt = team_stmt.where(col(Team.id).in_(visible))
        agent_stmt = agent_stmt.where(col(Agent.team_id).in_(visible))
    teams = {tid: name for tid, name in session.exec(team_stmt.order_by(Team.name)).all()}
    agents, agent_team = {}, {}
    for aid, name, tid in session.exec(agent_stmt.order_by(Agent.name)).all():
        agents[aid] = name
        agent_team[aid] = tid
    criteria: dict[str, str] = {}
    grids: dict[str, str] = {}
    parsed = []
    for row in session.exec(select(Grid).where(Grid.org_id == actor.org_id)
                            .order_by(col(Grid.is_active).desc(), col(Grid.version).desc())).all():
        g = _parse_grid(row.definition_json)
        if g is not None:
            parsed.append((row.slug, row.name, g))
    if not parsed:
        g = _parse_grid(None)
        parsed = [(g.id, g.name, g)]
    for slug, name, g in parsed:
        grids.setdefault(slug, name)
        for c in g.criteria:
            criteria.setdefault(c.id, c.label)
    tax_row = session.exec(select(Taxonomy.definition_json)
                           .where(Taxonomy.org_id == actor.org_id, Taxonomy.is_active == True)  # noqa: E712
                           .order_by(col(Taxonomy.version).desc())).first()
    tax = _parse_taxonomy(tax_row) or _parse_taxonomy(None)
    return Labels(
        teams=teams, agents=agents, agent_team=agent_team, criteria=criteria,
        categories={c.id: c.label for c in tax.categories},
        irritants={i.id: i.label for i in tax.irritants},
        grids=grids, pass_threshold=float(parsed[0][2].pass_threshold),
    )


def campaigns(*, session: Session, actor: Actor) -> list[str]:
    """Distinct campaigns of the organisation, found by skipping along the campaign index."""
    # A loose index scan: one index seek per distinct value instead of reading a million rows.
    stmt = text(
        "WITH RECURSIVE c(v) AS ("
        " SELECT (SELECT min(campaign) FROM evaluation WHERE org_id = :org AND campaign IS NOT NULL)"
        " UNION ALL"
        " SELECT (SELECT min(campaign) FROM evaluation WHERE org_id = :org AND campaign > c.v)"
        " FROM c WHERE c.v IS NOT NULL)"
        " SELECT v FROM c WHERE v IS NOT NULL"
    ).bindparams(org=actor.org_id)
    return [row[0] for row in session.execute(stmt).all()][:CAMPAIGNS_MAX]


def labels_threshold(*, session: Session, actor: Actor) -> float:
    """Pass threshold of the organisation's active grid (the built-in grid's when none is stored)."""
    row = session.exec(select(Grid.definition_json).where(Grid.org_id == actor.org_id)
                       .order_by(col(Grid.is_active).desc(), col(Grid.version).desc())).first()
    g = _parse_grid(row) or _parse_grid(None)
    return float(g.pass_threshold)


@lru_cache(maxsize=64)
def _parse_grid(definition: str | None):
    """A stored grid, parsed once per distinct text (None: the built-in grid); None when unreadable."""
    if definition is None:
        return default_grid()
    try:
        return load_grid_yaml(definition)
    except CcrError:
        return None  # a broken stored grid must not break the dashboard


@lru_cache(maxsize=16)
def _parse_taxonomy(definition: str | None):
    """A stored taxonomy, parsed once per distinct text (None: the built-in one); None when unreadable."""
    if definition is None:
        return default_taxonomy()
    try:
        return load_taxonomy_yaml(definition)
    except CcrError:
        return None

