"""Stored grids and taxonomies brought up to the standard ones without undoing an organisation's choices.

An organisation's grid is a copy of the standard grid as it stood the day it was stored. Three kinds of
successor are built when it is read (``ccr.scoring.grid_store`` stores each once, as a new version):
a phrase-list (v1) grid becomes an act grid; an act grid takes the standard parameters shipped since its copy
was made, except those the organisation set itself; a review bar the standard grid no longer uses follows the
current one. A taxonomy gains the standard irritants' acts and words added since, and loses retired ones.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from functools import lru_cache
from typing import Any

from ccr.scoring import actrules
from ccr.scoring.grid import (
    DATA_DIR,
    DEFAULT_REVIEW_THRESHOLD,
    V1_GRID_FILE,
    Criterion,
    Grid,
    Taxonomy,
    default_grid,
    default_taxonomy,
    load_grid_yaml,
    read_data_text,
    validate_grid,
)

# Every version of the standard act grid's criteria ever shipped (python -m scripts.standard_grid_history).
HISTORY_FILE = DATA_DIR / "grids" / "ccr-standard-fr-history.json"
# Review bars the standard act grid shipped with before its confidence calibration changed. An act grid still
# holding one never had its bar set by its organisation: its successor takes the standard grid's.
FORMER_ACT_REVIEW_THRESHOLDS = frozenset({0.85})
# A criterion is taken for a copy of a standard version when it still holds at least this share of that
# version's parameters as shipped; under it, it is the organisation's own criterion under a standard id.
BASE_MIN_SHARE = 0.5


# The act each phrase list of the standard v1 grid stood for: wordings an organisation added to a list
# become its own cues for that act when the grid is upgraded.
V1_LIST_ACTS = {
    ("accueil", "greeting"): "greeting", ("accueil", "intro"): "self_intro",
    ("identification", "identifier"): "ident_request", ("decouverte", "explore"): "open_question",
    ("empathie", "phrases"): "empathy", ("solution", "expected"): "solution", ("solution", "refusal"): "refusal",
    ("attente", "announce"): "hold_announce", ("attente", "thanks"): "hold_thanks",
    ("politesse", "phrases"): "rude_insult", ("conclusion", "other_need"): "other_need",
    ("conclusion", "close"): "closing",
}
V1_METHODS = frozenset({"phrases", "forbidden", "empathy", "solution", "hold"})


def _phrase_lists(c: Criterion) -> dict[str, list[str]]:
    """The named phrase lists of a v1 criterion (groups and method lists)."""
    out = dict(c.params.get("groups") or {})
    for key in ("phrases", "expected", "refusal", "announce", "thanks"):
        if isinstance(c.params.get(key), list):
            out[key] = c.params[key]
    return out


@lru_cache(maxsize=1)
def _standard_grids() -> tuple[Grid, Grid]:
    # The standard v1 and current grids, parsed once per process: every active grid is compared with them each
    # time it is read, and the comparison only reads them (what it keeps is deep-copied).
    return load_grid_yaml(read_data_text(V1_GRID_FILE)), default_grid()


def upgrade_grid(grid: Grid) -> Grid | None:
    """The successor of a grid copied from an earlier standard grid, or None when it has nothing to upgrade.

    Criteria the standard grid knows (same id, a v1 phrase method) take the standard v2 rule and keep the
    organisation's label, weight, critical flag, window, texts and the wordings it added, as cues of the
    act; its own criteria (other ids, metrics) are kept as they are. Act criteria copied from an earlier
    standard version take the parameters the standard grid changed or added since, and keep those the
    organisation set (:func:`follow_standard`). An act grid whose review bar is still one the standard grid
    shipped with before also gets a successor, with the standard grid's bar."""
    former, stock = _standard_grids()
    stock_v1 = {c.id: c for c in former.criteria}
    stock_v2 = {c.id: c for c in stock.criteria}
    changed = False
    sections = []
    for section in grid.sections:
        criteria = []
        for c in section.criteria:
            if c.id in stock_v2 and c.method in actrules.METHODS:
                params = follow_standard(c, stock_v2[c.id], grid.based_on)
                changed = changed or params is not None
                criteria.append(c if params is None else replace(c, params=params))
                continue
            if c.id not in stock_v2 or c.method not in V1_METHODS:
                criteria.append(c)
                continue
            params = copy.deepcopy(stock_v2[c.id].params)
            old = _phrase_lists(stock_v1[c.id]) if c.id in stock_v1 else {}
            cues: dict[str, list[str]] = {}
            for name, phrases in _phrase_lists(c).items():
                act = V1_LIST_ACTS.get((c.id, name))
                shipped = set(old.get(name, []))
                added = [x for x in phrases if x not in shipped]
                if act and added:
                    cues.setdefault(act, []).extend(added)
            if cues:  # the organisation's wordings join the standard's own cues for the act, if any
                merged = params.setdefault("cues", {})
                for act, words in cues.items():
                    merged[act] = [*merged.get(act, []), *(w for w in words if w not in merged.get(act, []))]
            criteria.append(replace(c, method=stock_v2[c.id].method, params=params))
            changed = True
        sections.append(replace(section, criteria=tuple(criteria)))
    # Act rules give calibrated confidences: an untouched review threshold follows the standard grid's.
    standard = stock.review_threshold
    untouched = grid.review_threshold == DEFAULT_REVIEW_THRESHOLD or (
        grid.review_threshold in FORMER_ACT_REVIEW_THRESHOLDS and any(c.method in actrules.METHODS
                                                                     for c in grid.criteria))
    if not changed and not (untouched and grid.review_threshold != standard):
        return None
    review = standard if untouched else grid.review_threshold
    out = replace(grid, version=grid.version + 1, sections=tuple(sections), review_threshold=review,
                  based_on=stock.based_on)
    validate_grid(out)
    return out


@lru_cache(maxsize=1)
def standard_history() -> tuple[dict[str, Any], ...]:
    """The standard act grid's versions as shipped, oldest first: ``{"revision": …, "criteria": {id: {"method":
    …, "params": {…}}}}``."""
    return tuple(json.loads(read_data_text(HISTORY_FILE))["versions"])


@lru_cache(maxsize=64)
def criterion_history(criterion_id: str) -> tuple[dict[str, Any], ...]:
    """A standard criterion's distinct rules as shipped, oldest first: ``{"method": …, "params": {…}}``; built
    once per criterion and process, as every read of an organisation's active grid consults it."""
    out: list[dict[str, Any]] = []
    for version in standard_history():
        rule = version["criteria"].get(criterion_id)
        if rule is not None and rule not in out:
            out.append(rule)
    return tuple(out)


def _base(c: Criterion, based_on: str) -> dict[str, Any] | None:
    """The parameters of the standard version ``c`` was copied from: the recorded revision's when known, else
    the version whose parameters it still holds most of (the latest on ties), or None when it holds less than
    :data:`BASE_MIN_SHARE` of any."""
    recorded = next((v["criteria"].get(c.id) for v in standard_history() if based_on and v["revision"] == based_on),
                    None)
    if recorded is not None:
        return recorded["params"] if recorded["method"] == c.method else None
    best, best_share = None, BASE_MIN_SHARE
    for v in criterion_history(c.id):
        if v["method"] != c.method:
            continue
        keys = set(v["params"]) | set(c.params)
        share = sum(v["params"].get(k) == c.params.get(k) for k in keys) / max(1, len(keys))
        if share >= best_share:
            best, best_share = v["params"], share
    return best


def _merge(mine: dict[str, Any], base: dict[str, Any], stock: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in [*stock, *(k for k in mine if k not in stock)]:
        if key in mine and key in base and key in stock and all(
                isinstance(x[key], dict) for x in (mine, base, stock)):
            out[key] = _merge(mine[key], base[key], stock[key])
        elif key in mine and (key not in base or mine[key] != base[key]):
            out[key] = mine[key]  # set or changed by the organisation
        elif (key in mine or key not in base) and key in stock:
            out[key] = copy.deepcopy(stock[key])  # as shipped then (or not at all): as shipped now
        # otherwise shipped then and removed by the organisation (stays removed), or dropped by the standard
    return out


def follow_standard(c: Criterion, stock: Criterion, based_on: str = "") -> dict[str, Any] | None:
    """The parameters of an act criterion with what the standard grid changed since its copy was made, or None
    when nothing changes.

    A three-way merge, parameter by parameter, from the version it was copied from: one the organisation left
    as it was takes the current standard value (or goes, if the standard dropped it); one it changed, added
    or removed stays its own choice. Mappings (cues, acts required per group) merge key by key the same way, so
    a wording an organisation added for one act leaves the standard's later cues for other acts coming.
    ``based_on`` is the revision the grid records it was copied from; without one, the version is inferred."""
    if c.method != stock.method:
        return None
    base = _base(c, based_on)
    if base is None:
        return None
    out = _merge(c.params, base, stock.params)
    return None if out == c.params else out


# Phrases the standard discontent list once held and dropped: a word of feeling lets a line voice discontent
# (ccr.scoring.feelings reads whether it is meant), and these exclamations also praise or ask (« c'est fou
# comme c'est pratique », « ce n'est pas normal que… ? »). A taxonomy saved with the old list loses them when read.
RETIRED_PHRASES = {"mecontentement": frozenset({
    "n'importe quoi", "ça suffit", "c'est incroyable", "c'est pas normal", "ce n'est pas normal", "pas normal",
    "franchement c'est", "j'hallucine", "c'est dingue", "c'est fou"})}


# Words of feeling the standard discontent list gained on 2026-12-06: judgements (« ridicule »), feelings said
# as verbs (« ça m'énerve ») and weariness (« lassé »). A taxonomy still holding the whole list as it stood
# before, and none of these, gets them; one whose list an organisation pruned, or that already has some of
# them, is left as it is.
ADDED_PHRASES = {"mecontentement": (
    "ridicule", "absurde", "aberrant", "c'est désolant", "c'est navrant", "consternant", "affligeant",
    "c'est minable", "grotesque", "amateurisme", "inconcevable", "un scandale", "du grand n'importe quoi",
    "ça m'énerve", "ça m'agace", "ça m'exaspère", "ça me saoule", "ça me gonfle", "ça me rend fou",
    "ça me rend folle", "pas content", "pas contente", "pas satisfait", "pas satisfaite", "insatisfait",
    "insatisfaite", "agaçant", "énervant", "exaspérant", "fâché", "fâchée", "je suis remonté", "je suis remontée",
    "j'en ai ma claque", "j'en ai plein le dos", "ça commence à bien faire", "c'est pénible", "lassé", "lassée",
    "mécontentement")}


def upgrade_taxonomy(tax: Taxonomy) -> Taxonomy | None:
    """The taxonomy with the standard irritants tied to their dialogue act, without the standard phrases since
    retired and with those since added (:data:`ADDED_PHRASES`), or None when nothing changes."""
    stock = {i.id: i for i in default_taxonomy().irritants}
    irritants = []
    for i in tax.irritants:
        if not i.act and i.id in stock and stock[i.id].act:
            i = replace(i, act=stock[i.id].act)
        retired = RETIRED_PHRASES.get(i.id, frozenset())
        if any(p in retired for p in i.phrases):
            i = replace(i, phrases=tuple(p for p in i.phrases if p not in retired))
        added = ADDED_PHRASES.get(i.id, ())
        before = {p for p in stock[i.id].phrases if p not in added} if i.id in stock else set()
        if added and before <= set(i.phrases) and not set(added) & set(i.phrases):
            i = replace(i, phrases=(*i.phrases, *added))
        irritants.append(i)
    return None if tuple(irritants) == tax.irritants else replace(tax, irritants=tuple(irritants))
