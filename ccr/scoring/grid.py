"""Scoring grids and taxonomies as values: the data model, its validation, YAML, defaults and upgrades.

Grids are immutable values: :func:`new_version` returns a copy with the next version number, so an
evaluation that recorded ``(grid.id, grid.version)`` is never rewritten by an edit. Their storage per
organisation is :mod:`ccr.scoring.grid_store`; the Grilles page's table rows are :mod:`ccr.scoring.grid_editor`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ccr.core.errors import InvalidInput
from ccr.scoring import actrules
from ccr.scoring.acts import SPEAKER_OF

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_GRID_FILE = DATA_DIR / "grids" / "ccr-standard-fr.yaml"
V1_GRID_FILE = DATA_DIR / "grids" / "ccr-standard-fr-v1.yaml"  # phrase lists: kept to read and upgrade old grids
DEFAULT_TAXONOMY_FILE = DATA_DIR / "taxonomy-fr.yaml"
TOTAL_WEIGHT = 100  # weights are shares of the score: they total 100
DEFAULT_PASS_THRESHOLD = 70.0  # a call passes at 70 and above
# A verdict whose confidence is below this is flagged for a human (« À revoir »); grids may set their own.
DEFAULT_REVIEW_THRESHOLD = 0.6  # grids that set none (phrase grids: raw confidence)
SPEAKERS = ("agent", "customer", "any")
# Detection methods the rules engine implements (see ccr.scoring.rules); anything else is refused.
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
# How a supervisor reads each measure: its French name and unit ("%" for the ratios, stored as fractions).
METRIC_LABELS = {
    "duration_s": ("durée de l'appel", "s"), "longest_silence_s": ("plus long silence", "s"),
    "agent_talk_ratio": ("part de parole de l'agent", "%"), "customer_talk_ratio": ("part de parole du client", "%"),
    "agent_words": ("mots de l'agent", ""), "customer_words": ("mots du client", ""),
    "segments": ("prises de parole", ""),
}
METRIC_OPS = ("<", "<=", ">", ">=", "==", "!=")
OP_SIGNS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "==": "=", "!=": "≠"}
# Grid and criterion ids are slugs (they key stored rows and evaluation results): lowercase, digits, - and _.
SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


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
    # The standard grid revision (:func:`standard_revision`) its parameters were copied from; empty when unknown
    # (grids stored before it was recorded, grids written elsewhere).
    based_on: str = ""

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
    if not SLUG.match(gid):
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
    based_on = data.get("based_on") or ""
    if not isinstance(based_on, str):
        raise InvalidInput("La révision d'origine de la grille (based_on) doit être un texte.")
    grid = Grid(
        id=gid,
        name=str(data.get("name") or gid),
        version=version,
        sections=sections,
        pass_threshold=float(threshold),
        description=str(data.get("description") or ""),
        review_threshold=float(review),
        based_on=based_on,
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
            validate_criterion(c)
    total = sum(c.weight for c in grid.criteria)
    if total != TOTAL_WEIGHT:
        raise InvalidInput(
            f"La somme des poids vaut {total} au lieu de {TOTAL_WEIGHT} : ajustez les poids des critères."
        )


def validate_criterion(c: Criterion) -> None:
    """Raise :class:`InvalidInput` (French) when one criterion is inconsistent: id, weight, method, params."""
    where = f"Critère « {c.id} »"
    if not SLUG.match(c.id):
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
    if not set(after) <= set(p.get("require") or {}):
        raise InvalidInput(f"{where} : « after_customer_act » associe un groupe de « require » à des actes du client.")
    for gname, acts in after.items():
        for act in actrules.act_names(acts, f"{where}, after_customer_act « {gname} »"):
            if SPEAKER_OF[act] != "customer":
                raise InvalidInput(f"{where}, after_customer_act « {gname} » : « {act} » n'est pas un acte du client.")
    answered = p.get("answered_by") or {}
    if not isinstance(answered, dict) or not set(answered) <= set(p.get("require") or {}):
        raise InvalidInput(f"{where} : « answered_by » associe un groupe de « require » à des réponses du client.")
    for gname, kinds in answered.items():
        actrules.reply_names(kinds, f"{where}, answered_by « {gname} »")
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
    # The politeness criterion's readings: a share of the bar, a reaction's floor, the second reading's bar
    # (above 1, the act model alone decides).
    for key, top in (("review_band", 1.0), ("reaction_floor", 1.0), ("courtesy_bar", None)):
        v = p.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                              or (top is not None and v > top)):
            raise InvalidInput(f"{where} : « {key} » doit être un nombre positif" + (" (au plus 1)." if top else "."))
    if not isinstance(p.get("familiar_address", True), bool):
        raise InvalidInput(f"{where} : « familiar_address » vaut true (tutoyer le client est trop familier) ou false.")


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
    criteria = tuple(criterion_from_dict(c, sid) for c in raw)
    return Section(id=sid, label=str(data.get("label") or sid), criteria=criteria)


def criterion_from_dict(data: Any, section_id: str) -> Criterion:
    """Build one criterion from plain data; its method parameters are checked by :func:`validate_criterion`."""
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
    out = {
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
    if grid.based_on:
        out["based_on"] = grid.based_on
    return out


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
    return grid_from_dict(parse_yaml(text, "la grille"))


def dump_grid_yaml(grid: Grid) -> str:
    """YAML text of a grid, stable and readable (keys in the model's order, UTF-8 kept)."""
    return yaml.safe_dump(grid_to_dict(grid), allow_unicode=True, sort_keys=False, width=110)


def new_version(grid: Grid, **changes: Any) -> Grid:
    """A copy of ``grid`` with the next version number and ``changes`` applied; ``grid`` is untouched."""
    fresh = grid_from_dict(grid_to_dict(grid))  # deep copy: params dicts are not shared
    out = replace(fresh, version=grid.version + 1, **changes)
    validate_grid(out)
    return out


def standard_revision(grid: Grid) -> str:
    """A short fingerprint of a grid's criteria rules (id, method, parameters), naming a standard grid version."""
    rules = [[c.id, c.method, c.params] for c in grid.criteria]
    return hashlib.sha256(json.dumps(rules, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()[:12]


def default_grid() -> Grid:
    """The built-in grid « ccr-standard-fr » in its current version (a fresh copy, safe to edit), marked as based
    on itself: an organisation's copy then knows which standard version it started from."""
    grid = load_grid_yaml(read_data_text(DEFAULT_GRID_FILE))
    return replace(grid, based_on=standard_revision(grid))


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
    return taxonomy_from_dict(parse_yaml(text, "la taxonomie"))


def dump_taxonomy_yaml(tax: Taxonomy) -> str:
    """YAML text of a taxonomy."""
    return yaml.safe_dump(taxonomy_to_dict(tax), allow_unicode=True, sort_keys=False, width=110)


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """The built-in French taxonomy (5 categories, 5 customer irritants), parsed once per process: a taxonomy is
    immutable, and every stored one is compared with it when read (``grid_upgrade.upgrade_taxonomy``)."""
    return load_taxonomy_yaml(read_data_text(DEFAULT_TAXONOMY_FILE))


def parse_yaml(text: str, what: str) -> Any:
    """Parsed YAML text; InvalidInput naming ``what`` (French) when it is unreadable."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidInput(f"YAML illisible pour {what} : {e}") from e


@lru_cache(maxsize=4)
def read_data_text(path: Path) -> str:
    """A bundled data file's text, read once per process (the defaults are parsed on every use)."""
    return path.read_text(encoding="utf-8")
