"""Scoring grids and taxonomies: the data model (load, validate, dump YAML, version) and their storage.

The pure part knows only the data model. Grids are immutable values: :func:`new_version`
returns a copy with the next version number, so an evaluation that recorded
``(grid.id, grid.version)`` is never rewritten by an edit. The editor-rows part turns the
Grilles page's tables back into grids. The storage part (end of the module) keeps each
organisation's versions in the ``grid`` and ``taxonomy`` tables, one row per version.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, func, select, update

from ccr.core import audit
from ccr.core.db import hold_write_lock
from ccr.core.errors import AccessDenied, InvalidInput, NotFound
from ccr.core.models import Grid as GridRow
from ccr.core.models import Taxonomy as TaxonomyRow
from ccr.core.users import Actor
from ccr.scoring import actrules

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_GRID_FILE = DATA_DIR / "grids" / "ccr-standard-fr.yaml"
V1_GRID_FILE = DATA_DIR / "grids" / "ccr-standard-fr-v1.yaml"  # phrase lists: kept to read and upgrade old grids
DEFAULT_TAXONOMY_FILE = DATA_DIR / "taxonomy-fr.yaml"
TOTAL_WEIGHT = 100  # weights are shares of the score: they total 100
DEFAULT_PASS_THRESHOLD = 70.0  # a call passes at 70 and above
# A verdict whose confidence is below this is flagged for a human (« À revoir »); grids may set their own.
DEFAULT_REVIEW_THRESHOLD = 0.6  # grids that set none (phrase grids: raw confidence)
GRID_LOCK_BASE = 0x0CC3_0000  # advisory-lock namespace of the first storing of an organisation's grid (audit: 0x0CC2)
SPEAKERS = ("agent", "customer", "any")
# Detection methods the rules engine implements (see ccr.scoring.score); anything else is refused.
METHODS = {
    "phrases": "expressions attendues (tous les groupes doivent être trouvés)",
    "forbidden": "expressions interdites (la moindre occurrence fait échouer le critère)",
    "empathy": "reconnaissance d'un irritant du client (na sans irritant)",
    "solution": "solution concrète proposée, refus sans alternative",
    "hold": "mises en attente annoncées avant un silence et remerciées après",
    "metric": "condition sur une mesure de l'appel (durée, silences, temps de parole)",
    **actrules.METHODS,
}
METRICS = ("duration_s", "longest_silence_s", "agent_talk_ratio", "customer_talk_ratio", "agent_words",
           "customer_words", "segments")
METRIC_OPS = ("<", "<=", ">", ">=", "==", "!=")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


@dataclass(frozen=True)
class Criterion:
    """One scored criterion: what to look for, in whose speech, when, and its weight."""

    id: str
    label: str
    weight: int
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    critical: bool = False
    speaker: str = "agent"
    window_start_s: float | None = None
    window_end_s: float | None = None
    description: str = ""
    recommendation: str = ""


@dataclass(frozen=True)
class Section:
    """A named group of criteria (ouverture, traitement, clôture...)."""

    id: str
    label: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Grid:
    """A versioned scoring grid; ``id`` is a slug such as ``ccr-standard-fr``."""

    id: str
    name: str
    version: int
    sections: tuple[Section, ...]
    pass_threshold: float = DEFAULT_PASS_THRESHOLD
    description: str = ""
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        """All criteria, in section order."""
        return tuple(c for s in self.sections for c in s.criteria)

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion with this id (``KeyError`` when absent)."""
        for c in self.criteria:
            if c.id == criterion_id:
                return c
        raise KeyError(criterion_id)


@dataclass(frozen=True)
class Category:
    """A call category with the cue phrases that reveal it in the customer's request."""

    id: str
    label: str
    cues: tuple[str, ...]


@dataclass(frozen=True)
class IrritantType:
    """A customer irritant with its lexicon (customer side only: no emotion inference on agents)."""

    id: str
    label: str
    phrases: tuple[str, ...]
    act: str = ""  # the customer dialogue act that carries it (ccr.scoring.acts); empty: phrases only


@dataclass(frozen=True)
class Taxonomy:
    """Categories and irritant lexicon of an organisation."""

    categories: tuple[Category, ...]
    irritants: tuple[IrritantType, ...]
    default_category: str = "information"
    fuzzy_threshold: int = 88


# --- grids ---------------------------------------------------------------------------


def grid_from_dict(data: Any) -> Grid:
    """Build and validate a :class:`Grid` from plain data (parsed YAML/JSON)."""
    if not isinstance(data, dict):
        raise InvalidInput("La grille doit être un objet (clés id, name, version, sections).")
    gid = _req_str(data, "id", "la grille")
    if not _SLUG.match(gid):
        raise InvalidInput(f"Identifiant de grille invalide « {gid} » : minuscules, chiffres, tirets seulement.")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInput("La version de la grille doit être un entier supérieur ou égal à 1.")
    threshold = data.get("pass_threshold", DEFAULT_PASS_THRESHOLD)
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 <= threshold <= 100:
        raise InvalidInput("Le seuil de réussite doit être un nombre entre 0 et 100.")
    review = data.get("review_threshold", DEFAULT_REVIEW_THRESHOLD)
    if not isinstance(review, (int, float)) or isinstance(review, bool) or not 0 <= review <= 1:
        raise InvalidInput("Le seuil de revue (review_threshold) doit être un nombre entre 0 et 1.")
    raw_sections = data.get("sections")
    if not isinstance(raw_sections, list) or not raw_sections:
        raise InvalidInput("La grille doit contenir au moins une section avec des critères.")
    sections = tuple(_section_from_dict(s, i) for i, s in enumerate(raw_sections, 1))
    grid = Grid(
        id=gid,
        name=str(data.get("name") or gid),
        version=version,
        sections=sections,
        pass_threshold=float(threshold),
        description=str(data.get("description") or ""),
        review_threshold=float(review),
    )
    validate_grid(grid)
    return grid


def validate_grid(grid: Grid) -> None:
    """Raise :class:`InvalidInput` (French) when the grid is inconsistent: weights, ids, methods."""
    seen: set[str] = set()
    section_ids: set[str] = set()
    for s in grid.sections:
        if s.id in section_ids:
            raise InvalidInput(f"La section « {s.id} » apparaît deux fois.")
        section_ids.add(s.id)
        if not s.criteria:
            raise InvalidInput(f"La section « {s.id} » ne contient aucun critère.")
        for c in s.criteria:
            if c.id in seen:
                raise InvalidInput(f"Le critère « {c.id} » apparaît deux fois : chaque identifiant doit être unique.")
            seen.add(c.id)
            _validate_criterion(c)
    total = sum(c.weight for c in grid.criteria)
    if total != TOTAL_WEIGHT:
        raise InvalidInput(
            f"La somme des poids vaut {total} au lieu de {TOTAL_WEIGHT} : ajustez les poids des critères."
        )


def _validate_criterion(c: Criterion) -> None:
    where = f"Critère « {c.id} »"
    if not _SLUG.match(c.id):
        raise InvalidInput(f"{where} : identifiant invalide (minuscules, chiffres, tirets, soulignés).")
    if not isinstance(c.weight, int) or isinstance(c.weight, bool) or c.weight < 0:
        raise InvalidInput(f"{where} : le poids doit être un entier positif ou nul.")
    if c.method not in METHODS:
        known = ", ".join(sorted(METHODS))
        raise InvalidInput(f"{where} : méthode de détection inconnue « {c.method} » (connues : {known}).")
    if c.speaker not in SPEAKERS:
        raise InvalidInput(f"{where} : locuteur « {c.speaker} » inconnu (agent, customer ou any).")
    for name, value in (("début", c.window_start_s), ("fin", c.window_end_s)):
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise InvalidInput(f"{where} : la {name} de la fenêtre doit être un nombre de secondes positif.")
    if c.window_start_s is not None and c.window_end_s is not None and c.window_end_s <= c.window_start_s:
        raise InvalidInput(f"{where} : la fenêtre se termine avant de commencer.")
    p = c.params
    if not isinstance(p, dict):
        raise InvalidInput(f"{where} : les paramètres doivent être un objet.")
    if c.method == "phrases":
        groups = p.get("groups")
        if not isinstance(groups, dict) or not groups:
            raise InvalidInput(f"{where} : la méthode « phrases » demande au moins un groupe d'expressions.")
        for gname, phrases in groups.items():
            _phrase_list(phrases, f"{where}, groupe « {gname} »")
    elif c.method == "forbidden":
        _phrase_list(p.get("phrases"), f"{where}, expressions interdites")
    elif c.method == "empathy":
        _phrase_list(p.get("phrases"), f"{where}, expressions d'empathie")
    elif c.method == "solution":
        _phrase_list(p.get("expected"), f"{where}, solutions attendues")
        _phrase_list(p.get("refusal", ["-"]), f"{where}, refus")
    elif c.method == "hold":
        _phrase_list(p.get("announce"), f"{where}, annonces d'attente")
        _phrase_list(p.get("thanks"), f"{where}, remerciements après l'attente")
        gap = p.get("min_gap_s", 10)
        if not isinstance(gap, (int, float)) or gap <= 0:
            raise InvalidInput(f"{where} : min_gap_s doit être un nombre de secondes positif.")
    elif c.method in actrules.METHODS:
        _validate_act_params(c, where)
    elif c.method == "metric":
        if p.get("metric") not in METRICS:
            raise InvalidInput(f"{where} : mesure inconnue « {p.get('metric')} » (connues : {', '.join(METRICS)}).")
        if p.get("op") not in METRIC_OPS:
            raise InvalidInput(f"{where} : opérateur inconnu « {p.get('op')} » ({' '.join(METRIC_OPS)}).")
        if not isinstance(p.get("value"), (int, float)) or isinstance(p.get("value"), bool):
            raise InvalidInput(f"{where} : la valeur de comparaison doit être un nombre.")
    threshold = p.get("fuzzy_threshold")
    if threshold is not None and (not isinstance(threshold, (int, float)) or not 50 <= threshold <= 100):
        raise InvalidInput(f"{where} : fuzzy_threshold doit être compris entre 50 et 100.")


def _validate_act_params(c: Criterion, where: str) -> None:
    p = c.params
    if c.method == "acts":
        groups = p.get("require")
        if not isinstance(groups, dict) or not groups:
            raise InvalidInput(f"{where} : la méthode « acts » demande au moins un groupe d'actes (require).")
        for gname, acts in groups.items():
            actrules.act_names(acts, f"{where}, groupe « {gname} »")
    for key in ("response", "solution", "refusal", "alternative", "announce", "thanks", "acts", "reaction"):
        if key in p:
            actrules.act_names(p[key], f"{where}, {key}")
    after = p.get("after_customer_act") or {}
    ends = p.get("at_end") or {}
    if not isinstance(after, dict) or not isinstance(ends, dict):
        raise InvalidInput(f"{where} : « after_customer_act » et « at_end » associent un groupe à une valeur.")
    for gname, acts in after.items():
        actrules.act_names(acts, f"{where}, after_customer_act « {gname} »")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in ends.values()):
        raise InvalidInput(f"{where} : « at_end » donne un nombre de tours (entier ≥ 1) par groupe.")
    cues = p.get("cues") or {}
    if not isinstance(cues, dict):
        raise InvalidInput(f"{where} : « cues » associe un acte à une liste d'expressions.")
    for act, phrases in cues.items():
        actrules.act_names([act], f"{where}, cues")
        _phrase_list(phrases, f"{where}, expressions de l'acte « {act} »")
    floors = p.get("min_probability") or {}
    if not isinstance(floors, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1 for v in floors.values()):
        raise InvalidInput(f"{where} : « min_probability » associe un acte à un seuil entre 0 et 1.")
    actrules.act_names(list(floors) or ["greeting"], f"{where}, min_probability")
    review = p.get("review_below")
    if review is not None and (not isinstance(review, (int, float)) or not 0 <= review <= 1):
        raise InvalidInput(f"{where} : « review_below » doit être un nombre entre 0 et 1.")


def _phrase_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(x, str) and x.strip() for x in value):
        raise InvalidInput(f"{where} : une liste non vide d'expressions (texte) est attendue.")
    return value


def _req_str(data: dict, key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"Le champ « {key} » de {where} est obligatoire (texte).")
    return value.strip()


def _section_from_dict(data: Any, index: int) -> Section:
    if not isinstance(data, dict):
        raise InvalidInput(f"La section n°{index} doit être un objet (id, label, criteria).")
    sid = _req_str(data, "id", f"la section n°{index}")
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"La section « {sid} » doit contenir une liste de critères.")
    criteria = tuple(_criterion_from_dict(c, sid) for c in raw)
    return Section(id=sid, label=str(data.get("label") or sid), criteria=criteria)


def _criterion_from_dict(data: Any, section_id: str) -> Criterion:
    if not isinstance(data, dict):
        raise InvalidInput(f"Un critère de la section « {section_id} » n'est pas un objet.")
    cid = _req_str(data, "id", f"un critère de la section « {section_id} »")
    window = data.get("window") or {}
    if not isinstance(window, dict):
        raise InvalidInput(f"Critère « {cid} » : la fenêtre doit être un objet (start_s, end_s).")
    weight = data.get("weight")
    if not isinstance(weight, int) or isinstance(weight, bool):
        raise InvalidInput(f"Critère « {cid} » : le poids doit être un entier.")
    critical = data.get("critical", False)
    if not isinstance(critical, bool):
        raise InvalidInput(f"Critère « {cid} » : « critical » doit valoir true ou false.")
    return Criterion(
        id=cid,
        label=str(data.get("label") or cid),
        weight=weight,
        method=str(data.get("method") or ""),
        params=copy.deepcopy(data.get("params") or {}),
        critical=critical,
        speaker=str(data.get("speaker") or "agent"),
        window_start_s=window.get("start_s"),
        window_end_s=window.get("end_s"),
        description=str(data.get("description") or ""),
        recommendation=str(data.get("recommendation") or ""),
    )


def grid_to_dict(grid: Grid) -> dict[str, Any]:
    """Plain-data form of a grid (the inverse of :func:`grid_from_dict`)."""
    return {
        "id": grid.id,
        "name": grid.name,
        "version": grid.version,
        "pass_threshold": grid.pass_threshold,
        "review_threshold": grid.review_threshold,
        "description": grid.description,
        "sections": [
            {
                "id": s.id,
                "label": s.label,
                "criteria": [_criterion_to_dict(c) for c in s.criteria],
            }
            for s in grid.sections
        ],
    }


def _criterion_to_dict(c: Criterion) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id, "label": c.label, "weight": c.weight, "critical": c.critical, "speaker": c.speaker,
    }
    if c.window_start_s is not None or c.window_end_s is not None:
        out["window"] = {k: v for k, v in (("start_s", c.window_start_s), ("end_s", c.window_end_s)) if v is not None}
    out.update({
        "method": c.method, "description": c.description, "recommendation": c.recommendation,
        "params": copy.deepcopy(c.params),
    })
    return out


def load_grid_yaml(text: str) -> Grid:
    """Parse and validate a grid written in YAML (or JSON, which is YAML too)."""
    return grid_from_dict(_parse_yaml(text, "la grille"))


def dump_grid_yaml(grid: Grid) -> str:
    """YAML text of a grid, stable and readable (keys in the model's order, UTF-8 kept)."""
    return yaml.safe_dump(grid_to_dict(grid), allow_unicode=True, sort_keys=False, width=110)


def new_version(grid: Grid, **changes: Any) -> Grid:
    """A copy of ``grid`` with the next version number and ``changes`` applied; ``grid`` is untouched."""
    fresh = grid_from_dict(grid_to_dict(grid))  # deep copy: params dicts are not shared
    out = replace(fresh, version=grid.version + 1, **changes)
    validate_grid(out)
    return out


def default_grid() -> Grid:
    """The built-in grid « ccr-standard-fr » v1 (a fresh copy, safe to edit)."""
    return load_grid_yaml(_read_text(DEFAULT_GRID_FILE))


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


def upgrade_grid(grid: Grid) -> Grid | None:
    """The act-based successor of a grid built on the standard v1, or None when it has nothing to upgrade.

    Criteria the standard grid knows (same id, a v1 phrase method) take the standard v2 rule and keep the
    organisation's label, weight, critical flag, window, texts and the wordings it added, as cues of the
    act; its own criteria (other ids, metrics) are kept as they are."""
    stock_v1 = {c.id: c for c in load_grid_yaml(_read_text(V1_GRID_FILE)).criteria}
    stock_v2 = {c.id: c for c in default_grid().criteria}
    changed = False
    sections = []
    for section in grid.sections:
        criteria = []
        for c in section.criteria:
            if c.id not in stock_v2 or c.method not in V1_METHODS:
                criteria.append(c)
                continue
            params = copy.deepcopy(stock_v2[c.id].params)
            old = _phrase_lists(stock_v1[c.id]) if c.id in stock_v1 else {}
            cues: dict[str, list[str]] = {}
            for name, phrases in _phrase_lists(c).items():
                act = V1_LIST_ACTS.get((c.id, name))
                added = [x for x in phrases if x not in set(old.get(name, []))]
                if act and added:
                    cues.setdefault(act, []).extend(added)
            if cues:
                params["cues"] = cues
            criteria.append(replace(c, method=stock_v2[c.id].method, params=params))
            changed = True
        sections.append(replace(section, criteria=tuple(criteria)))
    if not changed:
        return None
    # Act rules give calibrated confidences: an untouched review threshold follows the standard grid's.
    review = default_grid().review_threshold if grid.review_threshold == DEFAULT_REVIEW_THRESHOLD \
        else grid.review_threshold
    out = replace(grid, version=grid.version + 1, sections=tuple(sections), review_threshold=review)
    validate_grid(out)
    return out


def upgrade_taxonomy(tax: Taxonomy) -> Taxonomy | None:
    """The taxonomy with the standard irritants tied to their dialogue act, or None when nothing changes."""
    acts = {i.id: i.act for i in default_taxonomy().irritants}
    irritants = tuple(replace(i, act=acts[i.id]) if not i.act and acts.get(i.id) else i for i in tax.irritants)
    return None if irritants == tax.irritants else replace(tax, irritants=irritants)


# --- taxonomies ----------------------------------------------------------------------


def taxonomy_from_dict(data: Any) -> Taxonomy:
    """Build and validate a :class:`Taxonomy` from plain data."""
    if not isinstance(data, dict):
        raise InvalidInput("La taxonomie doit être un objet (categories, irritants).")
    cats_raw, irr_raw = data.get("categories"), data.get("irritants")
    if not isinstance(cats_raw, dict) or not cats_raw:
        raise InvalidInput("La taxonomie doit définir au moins une catégorie avec ses expressions.")
    if not isinstance(irr_raw, dict):
        raise InvalidInput("La taxonomie doit définir le lexique des irritants (« irritants »).")
    categories = []
    for cid, body in cats_raw.items():
        if not isinstance(body, dict):
            raise InvalidInput(f"Catégorie « {cid} » : un objet (label, cues) est attendu.")
        cues = _phrase_list(body.get("cues"), f"Catégorie « {cid} »")
        categories.append(Category(id=str(cid), label=str(body.get("label") or cid), cues=tuple(cues)))
    irritants = []
    for iid, body in irr_raw.items():
        if not isinstance(body, dict):
            raise InvalidInput(f"Irritant « {iid} » : un objet (label, phrases) est attendu.")
        phrases = _phrase_list(body.get("phrases"), f"Irritant « {iid} »")
        act = str(body.get("act") or "")
        if act:
            actrules.act_names([act], f"Irritant « {iid} »")
        irritants.append(IrritantType(id=str(iid), label=str(body.get("label") or iid), phrases=tuple(phrases),
                                      act=act))
    ids = [c.id for c in categories]
    default = str(data.get("default_category") or ids[0])
    if default not in ids:
        raise InvalidInput(f"La catégorie par défaut « {default} » n'est pas définie.")
    threshold = data.get("fuzzy_threshold", 88)
    if not isinstance(threshold, (int, float)) or not 50 <= threshold <= 100:
        raise InvalidInput("fuzzy_threshold de la taxonomie doit être compris entre 50 et 100.")
    return Taxonomy(categories=tuple(categories), irritants=tuple(irritants), default_category=default,
                    fuzzy_threshold=int(threshold))


def taxonomy_to_dict(tax: Taxonomy) -> dict[str, Any]:
    """Plain-data form of a taxonomy."""
    return {
        "default_category": tax.default_category,
        "fuzzy_threshold": tax.fuzzy_threshold,
        "categories": {c.id: {"label": c.label, "cues": list(c.cues)} for c in tax.categories},
        "irritants": {i.id: {"label": i.label, **({"act": i.act} if i.act else {}), "phrases": list(i.phrases)}
                      for i in tax.irritants},
    }


def load_taxonomy_yaml(text: str) -> Taxonomy:
    """Parse and validate a taxonomy written in YAML."""
    return taxonomy_from_dict(_parse_yaml(text, "la taxonomie"))


def dump_taxonomy_yaml(tax: Taxonomy) -> str:
    """YAML text of a taxonomy."""
    return yaml.safe_dump(taxonomy_to_dict(tax), allow_unicode=True, sort_keys=False, width=110)


def default_taxonomy() -> Taxonomy:
    """The built-in French taxonomy (5 categories, 5 customer irritants)."""
    return load_taxonomy_yaml(_read_text(DEFAULT_TAXONOMY_FILE))


def _parse_yaml(text: str, what: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidInput(f"YAML illisible pour {what} : {e}") from e


@lru_cache(maxsize=4)
def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- editor rows (the Grilles page's tables) --------------------------------------------------

PHRASE_SEPARATOR = ";"  # French phrases often hold commas, hardly ever semicolons
EDITOR_COLUMNS = ("section", "id", "label", "weight", "critical", "speaker", "window_start_s", "window_end_s",
                  "method", "recommendation")
SAMPLE_TRANSCRIPT_FILE = DATA_DIR / "sample-call-fr.json"


def criteria_rows(grid: Grid) -> list[dict[str, Any]]:
    """One flat row per criterion (section id, id, label, weight...) for a table editor; params apart."""
    return [
        {"section": s.id, "id": c.id, "label": c.label, "weight": c.weight, "critical": c.critical,
         "speaker": c.speaker, "window_start_s": c.window_start_s, "window_end_s": c.window_end_s,
         "method": c.method, "recommendation": c.recommendation}
        for s in grid.sections for c in s.criteria
    ]


def params_yaml(criterion: Criterion) -> str:
    """The detection parameters of a criterion as editable YAML text."""
    if not criterion.params:
        return ""
    return yaml.safe_dump(criterion.params, allow_unicode=True, sort_keys=False, width=110)


def grid_from_editor(
    base: Grid,
    rows: list[dict[str, Any]],
    *,
    params: dict[str, str],
    slug: str | None = None,
    name: str | None = None,
    pass_threshold: Any = None,
) -> tuple[Grid | None, list[str]]:
    """Rebuild a grid from edited table rows and per-criterion YAML params: (grid, []) or (None, French errors).

    Every problem is listed at once so the user fixes them in one go; descriptions and section
    labels unknown to the table are kept from ``base``.
    """
    errors: list[str] = []
    gid = (slug or base.id).strip()
    if not _SLUG.match(gid):
        errors.append(f"Identifiant de grille invalide « {gid} » : minuscules, chiffres, tirets seulement.")
    threshold = base.pass_threshold if _blank(pass_threshold) else pass_threshold
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 <= threshold <= 100:
        errors.append("Le seuil de réussite doit être un nombre entre 0 et 100.")
    section_labels = {s.id: s.label for s in base.sections}
    descriptions = {c.id: c.description for c in base.criteria}
    by_section: dict[str, list[Criterion]] = {}
    seen: set[str] = set()
    weights_ok = True
    for i, row in enumerate(rows, 1):
        cid = "" if _blank(row.get("id")) else str(row["id"]).strip()
        if not cid:
            errors.append(f"Ligne {i} : l'identifiant du critère est obligatoire.")
            continue
        if cid in seen:
            errors.append(f"Le critère « {cid} » apparaît deux fois : chaque identifiant doit être unique.")
        seen.add(cid)
        weight = cell_int(row.get("weight"))
        if weight is None:
            weights_ok = False
            errors.append(f"Critère « {cid} » : le poids doit être un entier.")
            continue
        try:
            parsed = _parse_yaml(params.get(cid, "") or "", f"les paramètres du critère « {cid} »") or {}
            if not isinstance(parsed, dict):
                raise InvalidInput(f"Critère « {cid} » : les paramètres doivent être un objet YAML (clé: valeur).")
            crit = _criterion_from_dict({
                "id": cid, "label": cell_text(row.get("label")) or cid, "weight": weight,
                "critical": bool(row.get("critical")) if not _blank(row.get("critical")) else False,
                "speaker": cell_text(row.get("speaker")) or "agent",
                "window": {k: v for k, v in (("start_s", _num_cell(row.get("window_start_s"))),
                                             ("end_s", _num_cell(row.get("window_end_s")))) if v is not None},
                "method": cell_text(row.get("method")), "params": parsed,
                "description": descriptions.get(cid, ""), "recommendation": cell_text(row.get("recommendation")),
            }, "?")
            _validate_criterion(crit)
        except InvalidInput as e:
            errors.append(str(e))
            continue
        section = cell_text(row.get("section")) or "criteres"
        by_section.setdefault(section, []).append(crit)
    if not rows:
        errors.append("La grille doit contenir au moins un critère.")
    total = editor_weight_total(rows)
    if weights_ok and rows and total != TOTAL_WEIGHT:
        errors.append(f"La somme des poids vaut {total} au lieu de {TOTAL_WEIGHT} : ajustez les poids des critères.")
    if errors:
        return None, errors
    sections = tuple(Section(id=sid, label=section_labels.get(sid, sid), criteria=tuple(cs))
                     for sid, cs in by_section.items())
    grid = Grid(id=gid, name=(name or "").strip() or base.name, version=base.version, sections=sections,
                pass_threshold=float(threshold), description=base.description,
                review_threshold=base.review_threshold)
    try:
        validate_grid(grid)
    except InvalidInput as e:  # anything the row checks above did not see (e.g. a bad section id)
        return None, [str(e)]
    return grid, []


def editor_weight_total(rows: list[dict[str, Any]]) -> int:
    """The total of the whole-number weights of edited rows (shown while editing)."""
    return sum(w for w in (cell_int(r.get("weight")) for r in rows) if w is not None)


def taxonomy_rows(tax: Taxonomy) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Category rows (id, label, cues) and irritant rows (id, label, phrases), phrases joined by « ; »."""
    sep = f" {PHRASE_SEPARATOR} "
    return (
        [{"id": c.id, "label": c.label, "cues": sep.join(c.cues)} for c in tax.categories],
        [{"id": i.id, "label": i.label, "phrases": sep.join(i.phrases)} for i in tax.irritants],
    )


def taxonomy_from_editor(
    categories: list[dict[str, Any]], irritants: list[dict[str, Any]], *, default_category: str,
    fuzzy_threshold: int,
) -> Taxonomy:
    """Rebuild and validate a taxonomy from edited rows; raise InvalidInput (French)."""
    def table(rows: list[dict[str, Any]], key: str, what: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for i, row in enumerate(rows, 1):
            rid = cell_text(row.get("id"))
            if not rid:
                raise InvalidInput(f"{what}, ligne {i} : l'identifiant est obligatoire.")
            if rid in out:
                raise InvalidInput(f"{what} « {rid} » apparaît deux fois.")
            phrases = [p.strip() for p in cell_text(row.get(key)).split(PHRASE_SEPARATOR) if p.strip()]
            out[rid] = {"label": cell_text(row.get("label")) or rid, key: phrases}
        return out

    tax = taxonomy_from_dict({
        "default_category": default_category, "fuzzy_threshold": fuzzy_threshold,
        "categories": table(categories, "cues", "Catégorie"), "irritants": table(irritants, "phrases", "Irritant"),
    })
    return upgrade_taxonomy(tax) or tax  # the table has no act column: standard irritants keep theirs


def sample_transcript() -> dict[str, Any]:
    """A bundled French sample call (a billing complaint with a hold) for previews."""
    return json.loads(_read_text(SAMPLE_TRANSCRIPT_FILE))


def preview_evaluation(grid: Grid, *, taxonomy: Taxonomy | None = None,
                       transcript: dict[str, Any] | str | None = None) -> dict[str, Any]:
    """Score ``transcript`` (a dict, pasted JSON text, or the bundled sample) with ``grid`` (rules engine)."""
    from ccr.scoring.score import score_transcript  # ccr.scoring.score imports this module: import at call time

    if transcript is None:
        transcript = sample_transcript()
    elif isinstance(transcript, str):
        try:
            transcript = json.loads(transcript)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"Transcription JSON illisible (ligne {e.lineno}, colonne {e.colno}).") from e
    return score_transcript(transcript, grid=grid, taxonomy=taxonomy, engine="rules")


def _blank(value: Any) -> bool:
    # Table editors hand back None for empty text cells and NaN for empty number cells.
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def cell_text(value: Any) -> str:
    """A table cell as stripped text ("" when empty)."""
    return "" if _blank(value) else str(value).strip()


def _num_cell(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, str):
        try:
            return float(value.replace(",", "."))
        except ValueError:
            return value  # refused by the criterion validation with its French message
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def cell_int(value: Any) -> int | None:
    """A table cell as an integer, or None when empty or not a whole number."""
    if _blank(value) or isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        return int(value) if value.lstrip("-").isdigit() else None
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    return None


# --- storage (per organisation) ---------------------------------------------------------------
# Every stored version is a new row: an edit never rewrites a row, so an evaluation that recorded
# (grid_id, grid_version) keeps pointing at the definition it was scored with. Only the
# ``is_active`` flag moves between rows.

GRID_EDIT_ROLES = frozenset({"supervisor", "admin"})  # the Grilles page is for them only


def _require_edit(actor: Actor) -> None:
    if actor.role not in GRID_EDIT_ROLES:
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
    """Store once the act-based successor of an organisation's v1-style active grid, and make it active.

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


def get_grid_version(*, session: Session, actor: Actor, grid_id: int) -> tuple[GridRow, Grid]:
    """One stored grid version of the actor's organisation; NotFound for another organisation's."""
    row = session.get(GridRow, grid_id)
    if row is None or row.org_id != actor.org_id:
        raise NotFound("Grille introuvable.")
    return row, grid_of_row(row)


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
