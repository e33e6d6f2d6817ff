"""The counterfactual fairness test: the same calls re-scored with who the agent is swapped.

The variants come from :mod:`ccr.governance.variants` (gender agreement, names, regional forms).
``run_audit`` scores each original and each variant with the same engine and grid and lists every verdict
(criteria and category) that moved: the ``rules`` engine must move none; the LLM engine is measured, its
original scored twice to tell the model's own instability apart.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from ccr.core import audit
from ccr.core.calls import transcript_dict
from ccr.core.errors import ConfigError, InvalidInput
from ccr.core.formats import fr_number
from ccr.core.models import Call, Transcript
from ccr.core.vocab import VERDICT_LABELS
from ccr.governance.variants import KIND_LABELS, NAMES_PER_CALL, Transcript_, changed_lines, variants_of
from ccr.quality.scope import ANALYSED
from ccr.scoring.grid import Grid, default_grid, default_taxonomy
from ccr.scoring.score import score_transcript
from ccr.scoring.transcript import validate_transcript

LLM_MISSING = ("Le moteur LLM n'est pas configuré : renseignez CCR_OPENAI_BASE_URL (et au besoin CCR_OPENAI_API_KEY, "
               "CCR_LLM_MODEL), ou lancez l'audit avec --engine rules.")
CATEGORY_ID = "categorie"  # the call's category is compared like a criterion, under this id
LINE_MAX_CHARS = 160  # the changed line is shown clipped: the report must not reprint transcripts


# --- the audit -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A verdict (French label) that moved between a call and one of its variants, with the first changed line."""

    call_id: str
    kind: str
    variant: str
    criterion_id: str
    criterion_label: str
    before: str
    after: str
    line_before: str = ""
    line_after: str = ""


@dataclass
class AuditReport:
    """What an audit ran through and every verdict that moved."""

    engine: str
    grid_id: str
    calls: int = 0
    variants: Counter = field(default_factory=Counter)  # kind -> variants scored
    identical: Counter = field(default_factory=Counter)  # kind -> variants with nothing to change
    changes: list[Change] = field(default_factory=list)
    unstable: list[Change] = field(default_factory=list)  # the LLM's verdicts moving on the same text
    failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def changed_variants(self) -> Counter:
        """kind -> variants with at least one verdict moved."""
        return Counter(k for k, _v in {(c.kind, (c.call_id, c.variant)) for c in self.changes})

    def lines(self) -> list[str]:
        """The report in French, one line each: totals per kind, then every change."""
        out = [f"Test contrefactuel d'équité — moteur {self.engine}, grille {self.grid_id}",
               f"{fr_number(self.calls, 0)} appel(s), {fr_number(sum(self.variants.values()), 0)} variante(s) "
               f"évaluée(s) en {fr_number(self.elapsed_s, 1, unit='s')}"]
        changed = self.changed_variants
        for kind, label in KIND_LABELS.items():
            out.append(f"  {label} : {fr_number(self.variants[kind], 0)} variante(s), "
                       f"{fr_number(changed[kind], 0)} avec un verdict changé, "
                       f"{fr_number(self.identical[kind], 0)} sans objet (rien à modifier)")
        if self.unstable:
            out.append(f"Instabilité du modèle (même texte évalué deux fois) : {fr_number(len(self.unstable), 0)} "
                       "verdict(s) différent(s) ; les changements ci-dessous peuvent en partie en venir.")
            out += [f"  appel {c.call_id} : {c.criterion_label} {c.before} → {c.after}" for c in self.unstable]
        out += [f"Évaluation impossible : {f}" for f in self.failures]
        if not self.changes:
            out.append("Aucun verdict n'a changé." if not self.failures else
                       "Aucun verdict n'a changé parmi les évaluations abouties : audit incomplet.")
            return out
        out.append(f"{fr_number(len(self.changes), 0)} verdict(s) changé(s) :")
        for c in self.changes:
            out.append(f"  appel {c.call_id} — {KIND_LABELS[c.kind]} ({c.variant}) — {c.criterion_label} : "
                       f"{c.before} → {c.after}")
            if c.line_after:
                out.append(f"      ligne modifiée : « {_clip(c.line_before)} » → « {_clip(c.line_after)} »")
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One row per change, for the CSV export."""
        return [{"appel": c.call_id, "type_variante": KIND_LABELS[c.kind], "variante": c.variant,
                 "critere": c.criterion_id, "libelle": c.criterion_label, "avant": c.before, "apres": c.after,
                 "ligne_avant": _clip(c.line_before), "ligne_apres": _clip(c.line_after)} for c in self.changes]

    def as_dict(self) -> dict[str, Any]:
        """The whole report as JSON-ready data."""
        return {"moteur": self.engine, "grille": self.grid_id, "appels": self.calls, "variantes": dict(self.variants),
                "sans_objet": dict(self.identical), "variantes_changees": dict(self.changed_variants),
                "duree_s": round(self.elapsed_s, 2), "changements": self.rows(), "echecs": list(self.failures),
                "instabilite": [{"appel": c.call_id, "critere": c.criterion_id, "avant": c.before, "apres": c.after}
                                for c in self.unstable]}


CSV_FIELDS = ["appel", "type_variante", "variante", "critere", "libelle", "avant", "apres", "ligne_avant",
              "ligne_apres"]


def _clip(text: str) -> str:
    return text if len(text) <= LINE_MAX_CHARS else text[: LINE_MAX_CHARS - 1] + "…"


def llm_configured(settings: Any) -> bool:
    """True when an OpenAI-compatible endpoint or key is set (CCR_OPENAI_BASE_URL, CCR_OPENAI_API_KEY)."""
    return bool(getattr(settings, "openai_base_url", None) or getattr(settings, "openai_api_key", None))


def run_audit(transcripts: Iterable[Transcript_], *, engine: str = "rules", grid: Grid | None = None,
              settings: Any = None, names_per_call: int = NAMES_PER_CALL) -> AuditReport:
    """Score each call and each of its variants with ``engine`` and list every verdict that moved."""
    if engine not in ("rules", "llm"):
        raise InvalidInput(f"Moteur inconnu « {engine} » (rules ou llm).")
    if engine == "llm" and not llm_configured(settings):
        raise ConfigError(LLM_MISSING)
    grid = grid or default_grid()
    labels = {c.id: c.label for c in grid.criteria} | {CATEGORY_ID: "Catégorie de l'appel"}
    categories = {c.id: c.label for c in default_taxonomy().categories}
    report = AuditReport(engine=engine, grid_id=grid.id)
    started = time.monotonic()

    def evaluate(tr: Transcript_) -> dict[str, str] | None:
        ev = score_transcript(tr, grid=grid, engine=engine, llm_settings=settings)
        error = (ev.get("extra") or {}).get("llm_error")
        if engine == "llm" and error:
            report.failures.append(f"appel {tr.get('call_id') or '?'} : {error}")
            return None
        out = {c["id"]: VERDICT_LABELS.get(c["verdict"], c["verdict"]) for c in ev["criteria"]}
        out[CATEGORY_ID] = categories.get(ev["category"], ev["category"])
        return out

    for index, raw in enumerate(transcripts):
        original = validate_transcript(raw)
        call_id = str(original.get("call_id") or f"n°{index + 1}")
        report.calls += 1
        base = evaluate(original)
        if base is None:
            continue
        # The same text twice: what moves here is the model, not a variant.
        if engine == "llm" and (again := evaluate(original)) is not None:
            report.unstable += _diff(base, again, labels, call_id=call_id, kind="genre", variant="témoin", lines=[])
        for v in variants_of(original, index=index, names_per_call=names_per_call):
            lines = changed_lines(original, v.transcript)
            if not lines:
                report.identical[v.kind] += 1
                continue
            report.variants[v.kind] += 1
            verdicts = evaluate(v.transcript)
            if verdicts is not None:
                report.changes += _diff(base, verdicts, labels, call_id=call_id, kind=v.kind, variant=v.name,
                                        lines=lines)
    report.elapsed_s = time.monotonic() - started
    return report


def _diff(before: dict[str, str], after: dict[str, str], labels: dict[str, str], *, call_id: str, kind: str,
          variant: str, lines: list[tuple[float, str, str]]) -> list[Change]:
    line_before, line_after = (lines[0][1], lines[0][2]) if lines else ("", "")
    return [Change(call_id, kind, variant, cid, labels.get(cid, cid), before[cid], after.get(cid, "—"),
                   line_before, line_after)
            for cid in before if before[cid] != after.get(cid)]


# --- where the transcripts come from -------------------------------------------------------------------


def load_org_transcripts(*, session: Session, org_id: int, limit: int | None = None) -> list[Transcript_]:
    """The organisation's stored transcripts of analysed, unrestricted calls, most recent first."""
    stmt = (select(Call, Transcript).join(Transcript, Transcript.call_id == Call.id)
            .where(Call.org_id == org_id, Transcript.org_id == org_id, Call.restricted == False,  # noqa: E712
                   col(Call.scope).in_(ANALYSED))
            .order_by(col(Call.started_at).desc(), col(Call.id).desc()))
    if limit:
        stmt = stmt.limit(limit)
    return [transcript_dict(call, row) for call, row in session.exec(stmt).all()]


def record_audit_run(*, session: Session, org_id: int, report: AuditReport) -> None:
    """Note in the organisation's audit log that its calls went through the fairness test."""
    audit.log_event(session=session, who=audit.Who(org_id=org_id, user_id=None, username="cli"),
                    action="fairness_audit", target_type="organisation", target_id=org_id,
                    detail={"moteur": report.engine, "appels": report.calls,
                            "variantes": sum(report.variants.values()), "changements": len(report.changes)})


def load_transcript_files(path: Path, *, limit: int | None = None) -> list[Transcript_]:
    """Transcripts from a JSON file (one transcript or a list) or a directory of JSON files, checked."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file())
        if not files:
            raise InvalidInput(f"Aucun fichier JSON dans le dossier {path}.")
    elif path.is_file():
        files = [path]
    else:
        raise InvalidInput(f"Chemin introuvable : {path}.")
    out: list[Transcript_] = []
    for f in files:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            items = [validate_transcript(item) for item in (data if isinstance(data, list) else [data])]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, InvalidInput) as err:
            raise InvalidInput(f"Transcription illisible ({f.name}) : {err}") from err
        for tr in items:
            tr["call_id"] = str(tr.get("call_id") or f.stem)
            out.append(tr)
            if limit and len(out) >= limit:
                return out
    return out
