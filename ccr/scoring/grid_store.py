"""Grids and taxonomies per organisation: the ``grid`` and ``taxonomy`` tables, one row per version.

Every stored version is a new row: an edit never rewrites a row, so an evaluation that recorded
(grid_id, grid_version) keeps pointing at the definition it was scored with. Only the ``is_active``
flag moves between rows.
"""

from __future__ import annotations

import json
from dataclasses import replace

from sqlmodel import Session, col, func, select, update

from ccr.core import audit
from ccr.core.access import may
from ccr.core.db import hold_write_lock
from ccr.core.errors import AccessDenied, NotFound
from ccr.core.models import Grid as GridRow
from ccr.core.models import Taxonomy as TaxonomyRow
from ccr.core.users import Actor
from ccr.scoring.grid import (
    Grid,
    Taxonomy,
    default_grid,
    default_taxonomy,
    grid_to_dict,
    load_grid_yaml,
    load_taxonomy_yaml,
    taxonomy_from_dict,
    taxonomy_to_dict,
    validate_grid,
)
from ccr.scoring.grid_upgrade import upgrade_grid, upgrade_taxonomy

GRID_LOCK_BASE = 0x0CC3_0000  # advisory-lock namespace of the first storing of an organisation's grid (audit: 0x0CC2)


def _require_edit(actor: Actor) -> None:
    if not may(actor.role, "edit_grids"):
        raise AccessDenied("Seuls un superviseur ou un administrateur peuvent modifier les grilles et la taxonomie.")


def grid_of_row(row: GridRow) -> Grid:
    """The grid stored in a database row (its definition carries the row's slug and version)."""
    return load_grid_yaml(row.definition_json)  # JSON is YAML too


def _definition(grid: Grid) -> str:
    return json.dumps(grid_to_dict(grid), ensure_ascii=False)


def _next_grid_version(session: Session, org_id: int, slug: str) -> int:
    last = session.exec(select(func.max(GridRow.version)).where(GridRow.org_id == org_id, GridRow.slug == slug)).one()
    return int(last or 0) + 1


def _set_active_grid(session: Session, org_id: int, row: GridRow) -> None:
    session.exec(update(GridRow).where(GridRow.org_id == org_id, GridRow.id != row.id)
                 .values(is_active=False).execution_options(synchronize_session=False))
    row.is_active = True
    session.add(row)


def active_grid(*, session: Session, org_id: int) -> tuple[GridRow, Grid]:
    """The organisation's active grid version; stores the default grid as its active version when it has none."""
    row = session.exec(
        select(GridRow).where(GridRow.org_id == org_id, GridRow.is_active == True)  # noqa: E712
        .order_by(col(GridRow.id).desc())
    ).first()
    if row is None:
        # Two workers scoring an organisation's first calls at once would each store the default grid (the
        # second as v2): the first to hold the lock stores it, the other reads it after.
        hold_write_lock(session, GRID_LOCK_BASE + org_id)
        row = session.exec(
            select(GridRow).where(GridRow.org_id == org_id, GridRow.is_active == True)  # noqa: E712
            .order_by(col(GridRow.id).desc())
        ).first()
    if row is None:
        g = default_grid()
        g = replace(g, version=_next_grid_version(session, org_id, g.id))  # v1 unless the default was stored before
        row = GridRow(org_id=org_id, slug=g.id, name=g.name, version=g.version, definition_json=_definition(g),
                      is_active=True)
        session.add(row)
        session.flush()
        return row, g
    return _upgraded(session, org_id, row, grid_of_row(row))


def _upgraded(session: Session, org_id: int, row: GridRow, grid: Grid) -> tuple[GridRow, Grid]:
    """Store once the successor of an organisation's active grid (:func:`ccr.scoring.grid_upgrade.upgrade_grid`: a
    v1-style grid, an act grid missing standard parameters shipped since it was stored, or one on the former
    standard review bar), and make it active.

    Once a later version of the same grid exists, a supervisor who re-activates the old one keeps it."""
    newer = session.exec(select(func.count()).select_from(GridRow).where(
        GridRow.org_id == org_id, GridRow.slug == row.slug, GridRow.version > row.version)).one()
    up = None if newer else upgrade_grid(grid)
    if up is None:
        return row, grid
    hold_write_lock(session, GRID_LOCK_BASE + org_id)
    if session.exec(select(func.count()).select_from(GridRow).where(
            GridRow.org_id == org_id, GridRow.slug == row.slug, GridRow.version > row.version)).one():
        return active_grid(session=session, org_id=org_id)  # another worker upgraded it meanwhile
    up = replace(up, version=_next_grid_version(session, org_id, up.id))
    new_row = GridRow(org_id=org_id, slug=up.id, name=up.name, version=up.version, definition_json=_definition(up),
                      is_active=False)
    session.add(new_row)
    session.flush()
    _set_active_grid(session, org_id, new_row)
    audit.log_event(session=session, who=audit.SYSTEM, org_id=org_id, action="grid_upgraded", target_type="grid",
                    target_id=new_row.id, detail={"grille": up.id, "de": row.version, "vers": up.version})
    return new_row, up


def list_grid_versions(*, session: Session, actor: Actor) -> list[GridRow]:
    """Every stored grid version of the actor's organisation (slug, then newest version first)."""
    active_grid(session=session, org_id=actor.org_id)  # an organisation always has a grid to show
    return list(session.exec(
        select(GridRow).where(GridRow.org_id == actor.org_id)
        .order_by(col(GridRow.slug), col(GridRow.version).desc())
    ).all())


def grid_by_id(*, session: Session, org_id: int, grid_id: int) -> tuple[GridRow, Grid]:
    """One stored grid version of an organisation, as stored (no upgrade); NotFound for another organisation's."""
    row = session.get(GridRow, grid_id)
    if row is None or row.org_id != org_id:
        raise NotFound("Grille introuvable.")
    return row, grid_of_row(row)


def get_grid_version(*, session: Session, actor: Actor, grid_id: int) -> tuple[GridRow, Grid]:
    """One stored grid version of the actor's organisation; NotFound for another organisation's."""
    if not may(actor.role, "read_grids"):
        raise AccessDenied("Accès refusé : les grilles sont consultées par l'encadrement.")
    return grid_by_id(session=session, org_id=actor.org_id, grid_id=grid_id)


def save_grid_version(*, session: Session, actor: Actor, grid: Grid, activate: bool) -> GridRow:
    """Store ``grid`` as a new version of its slug (max + 1; a new slug starts at 1) and audit it."""
    _require_edit(actor)
    validate_grid(grid)
    version = _next_grid_version(session, actor.org_id, grid.id)
    stored = replace(grid, version=version)
    row = GridRow(org_id=actor.org_id, slug=stored.id, name=stored.name, version=version,
                  definition_json=_definition(stored), is_active=False, created_by=actor.user_id)
    session.add(row)
    session.flush()
    if activate:
        _set_active_grid(session, actor.org_id, row)
    audit.log_event(session=session, who=actor.who, action="grid_saved", target_type="grid", target_id=row.id,
                    detail={"grille": row.slug, "version": version, "active": activate,
                            "poids": {c.id: c.weight for c in stored.criteria}})
    return row


def activate_grid(*, session: Session, actor: Actor, grid_id: int) -> GridRow:
    """Make a stored version the organisation's active grid (new calls are scored with it)."""
    _require_edit(actor)
    row, _ = get_grid_version(session=session, actor=actor, grid_id=grid_id)
    _set_active_grid(session, actor.org_id, row)
    audit.log_event(session=session, who=actor.who, action="grid_activated", target_type="grid", target_id=row.id,
                    detail={"grille": row.slug, "version": row.version})
    return row


def _active_taxonomy_row(session: Session, org_id: int) -> TaxonomyRow | None:
    return session.exec(
        select(TaxonomyRow).where(TaxonomyRow.org_id == org_id, TaxonomyRow.is_active == True)  # noqa: E712
        .order_by(col(TaxonomyRow.version).desc())
    ).first()


def active_taxonomy(*, session: Session, org_id: int) -> Taxonomy:
    """The organisation's active taxonomy, or the built-in French one when it never saved its own."""
    row = _active_taxonomy_row(session, org_id)
    if row is None:
        return default_taxonomy()
    tax = load_taxonomy_yaml(row.definition_json)
    # Taxonomies saved before irritants had acts read them from the act model too (standard ids only).
    return upgrade_taxonomy(tax) or tax


def active_taxonomy_version(*, session: Session, org_id: int) -> int | None:
    """The version number of the organisation's active taxonomy (None: the built-in one)."""
    row = _active_taxonomy_row(session, org_id)
    return row.version if row else None


def save_taxonomy(*, session: Session, actor: Actor, taxonomy: Taxonomy) -> TaxonomyRow:
    """Store ``taxonomy`` as the organisation's new active version (older versions are kept) and audit it."""
    _require_edit(actor)
    checked = taxonomy_from_dict(taxonomy_to_dict(taxonomy))  # re-validate: the value may be hand-built
    last = session.exec(select(func.max(TaxonomyRow.version)).where(TaxonomyRow.org_id == actor.org_id)).one()
    row = TaxonomyRow(org_id=actor.org_id, version=int(last or 0) + 1,
                      definition_json=json.dumps(taxonomy_to_dict(checked), ensure_ascii=False), is_active=True)
    session.add(row)
    session.flush()
    session.exec(update(TaxonomyRow).where(TaxonomyRow.org_id == actor.org_id, TaxonomyRow.id != row.id)
                 .values(is_active=False).execution_options(synchronize_session=False))
    audit.log_event(session=session, who=actor.who, action="taxonomy_saved", target_type="taxonomy",
                    target_id=row.id, detail={"version": row.version,
                                              "categories": [c.id for c in checked.categories],
                                              "irritants": [i.id for i in checked.irritants]})
    return row
