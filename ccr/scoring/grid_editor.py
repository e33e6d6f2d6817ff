"""The Grilles page's editor: grid and taxonomy tables as rows, rows back to validated values, and a preview.

Table editors hand back loose cells (None, NaN, text where a number is expected): the cell helpers read
them, and :func:`grid_from_editor` lists every problem at once, in French, instead of stopping at the first.
"""

from __future__ import annotations

import json
import math
from typing import Any

import yaml

from ccr.core.errors import InvalidInput
from ccr.scoring.grid import (
    DATA_DIR,
    SLUG,
    TOTAL_WEIGHT,
    Criterion,
    Grid,
    Section,
    Taxonomy,
    criterion_from_dict,
    parse_yaml,
    read_data_text,
    taxonomy_from_dict,
    validate_criterion,
    validate_grid,
)
from ccr.scoring.grid_upgrade import upgrade_taxonomy
from ccr.scoring.score import score_transcript

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
    if not SLUG.match(gid):
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
            parsed = parse_yaml(params.get(cid, "") or "", f"les paramètres du critère « {cid} »") or {}
            if not isinstance(parsed, dict):
                raise InvalidInput(f"Critère « {cid} » : les paramètres doivent être un objet YAML (clé: valeur).")
            crit = criterion_from_dict({
                "id": cid, "label": cell_text(row.get("label")) or cid, "weight": weight,
                "critical": bool(row.get("critical")) if not _blank(row.get("critical")) else False,
                "speaker": cell_text(row.get("speaker")) or "agent",
                "window": {k: v for k, v in (("start_s", _num_cell(row.get("window_start_s"))),
                                             ("end_s", _num_cell(row.get("window_end_s")))) if v is not None},
                "method": cell_text(row.get("method")), "params": parsed,
                "description": descriptions.get(cid, ""), "recommendation": cell_text(row.get("recommendation")),
            }, "?")
            validate_criterion(crit)
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
                review_threshold=base.review_threshold, based_on=base.based_on)
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
    return json.loads(read_data_text(SAMPLE_TRANSCRIPT_FILE))


def preview_evaluation(grid: Grid, *, taxonomy: Taxonomy | None = None,
                       transcript: dict[str, Any] | str | None = None) -> dict[str, Any]:
    """Score ``transcript`` (a dict, pasted JSON text, or the bundled sample) with ``grid`` (rules engine)."""
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
