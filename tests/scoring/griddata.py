"""Shared grid test data: the editor rows of a grid, the stock and an organisation's phrase-list (v1) grid, and
the standard act grid as its first copies held it."""

from __future__ import annotations

from ccr.scoring.grid import V1_GRID_FILE, default_grid, grid_from_dict, grid_to_dict, load_grid_yaml
from ccr.scoring.grid_editor import criteria_rows, params_yaml
from ccr.scoring.grid_upgrade import criterion_history


def editor_inputs(grid=None):
    """The Grilles table rows and per-criterion params YAML of ``grid`` (the default grid when None)."""
    g = grid or default_grid()
    return criteria_rows(g), {c.id: params_yaml(c) for c in g.criteria}


def stock_v1():
    """The bundled first-generation grid, on phrase lists."""
    return load_grid_yaml(V1_GRID_FILE.read_text(encoding="utf-8"))


def v1_edited():
    """An organisation's v1 grid: accueil reweighted, a house greeting added, a criterion of its own."""
    d = grid_to_dict(stock_v1())
    first = d["sections"][0]["criteria"][0]
    first["weight"], first["label"] = 10, "Accueil maison"
    first["params"]["groups"]["intro"].append("Aquavéo à votre écoute")
    d["sections"][0]["criteria"].append({"id": "duree", "label": "Durée", "weight": 5, "method": "metric",
                                         "params": {"metric": "duration_s", "op": "<=", "value": 900}})
    return grid_from_dict(d)


def first_act_copy():
    """The standard act grid as an organisation stored it the day act grids shipped: each criterion's
    parameters as first shipped, everything else as now, and no record of the version it was copied from."""
    d = grid_to_dict(default_grid())
    del d["based_on"]
    for section in d["sections"]:
        for c in section["criteria"]:
            c["params"] = criterion_history(c["id"])[0]["params"]
    return grid_from_dict(d)
