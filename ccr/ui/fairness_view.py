"""The fairness audit as the page shows it: French tables and plain-French sentences for each flag.

Numbers are written as text with :mod:`ccr.core.formats` (« 75,2 », « 12,5 % ») so that they read the same
whatever the browser's language; group names stay data (plain text in tables, escaped in Markdown).
"""

from __future__ import annotations

import pandas as pd

from ccr.core.formats import MISSING, fr_number, fr_percent
from ccr.governance.fairness import (
    ALPHA,
    FLAGGED,
    MIN_EVALUATIONS,
    MIN_REVIEWED,
    NO_GAP,
    STATUS_LABELS,
    TOO_SMALL,
    FairnessReport,
    GroupStats,
    Rate,
)
from ccr.ui.text import md_escape, plain

STATUS_ICONS = {FLAGGED: "⚠️", NO_GAP: "✅", TOO_SMALL: "…"}
GROUP_COLUMN = "Groupe"


def _span(low: float | None, high: float | None, *, ratio: bool = False) -> str:
    if low is None or high is None:
        return MISSING
    if ratio:
        return f"{fr_percent(low, ratio=True)} – {fr_percent(high, ratio=True)}"
    return f"{fr_number(low)} – {fr_number(high)}"


def _rate(rate: Rate) -> str:
    return fr_percent(rate.value, ratio=True)


def _quartiles(group: GroupStats) -> str:
    if group.quartiles is None:
        return MISSING
    _, q1, median, q3, _ = group.quartiles
    return " · ".join(fr_number(v) for v in (q1, median, q3))


def status_text(group: GroupStats) -> str:
    """The group's finding with its icon (« ⚠️ écart au-delà du hasard »)."""
    return f"{STATUS_ICONS[group.status]} {STATUS_LABELS[group.status]}"


def _line(group: GroupStats, finding: str) -> dict[str, object]:
    return {
        GROUP_COLUMN: plain(group.name),
        "Évaluations": group.evaluations,
        "Agents": group.agents,
        "Score IA moyen": fr_number(group.mean_score),
        "IC 95 % du score": _span(group.mean_low, group.mean_high),
        "Q1 · médiane · Q3": _quartiles(group),
        "Min – max": _span(group.quartiles[0], group.quartiles[4]) if group.quartiles else MISSING,
        "Revues humaines": group.reviewed,
        "Désaccord IA / humain": _rate(group.disagreement),
        "IC 95 % du désaccord": _span(group.disagreement.low, group.disagreement.high, ratio=True),
        "Taux de correction": _rate(group.override),
        "IC 95 % de la correction": _span(group.override.low, group.override.high, ratio=True),
        "Sans validation humaine": group.unvalidated,
        "Constat": finding,
    }


def report_frame(report: FairnessReport) -> pd.DataFrame:
    """One line per group, then the whole organisation as the reference."""
    rows = [_line(g, status_text(g)) for g in report.groups]
    rows.append(_line(report.overall, "référence"))
    return pd.DataFrame(rows)


def criteria_frame(report: FairnessReport) -> pd.DataFrame:
    """The AI-human disagreement per criterion and group: « 12,5 % (1/8) » among the reviewed verdicts."""
    groups = [*report.groups, report.overall]
    criteria = sorted({cid for g in groups for cid in g.by_criterion},
                      key=lambda c: (list(report.criterion_labels).index(c) if c in report.criterion_labels
                                     else len(report.criterion_labels), c))
    rows = []
    for g in groups:
        row: dict[str, object] = {GROUP_COLUMN: plain(g.name)}
        for cid in criteria:
            rate = g.by_criterion.get(cid)
            row[plain(report.criterion_labels.get(cid, cid))] = (
                f"{_rate(rate)} ({rate.hits}/{rate.n})" if rate and rate.n else MISSING)
        rows.append(row)
    return pd.DataFrame(rows)


def _p(value: float | None) -> str:
    if value is None:
        return MISSING
    return "< 0,001" if value < 0.001 else fr_number(value, 3)


def flag_sentences(group: GroupStats) -> list[str]:
    """Markdown sentences, in plain French, for each metric where the group differs beyond chance."""
    out = []
    for metric, comp in group.comparisons.items():
        if comp.status != FLAGGED or comp.difference is None:
            continue
        p = f"probabilité corrigée d'un tel écart par hasard : {_p(comp.p_adjusted)}"
        if metric == "score":
            way = "plus bas" if comp.difference < 0 else "plus haut"
            out.append(f"Le score IA moyen est {way} que celui du reste de l'organisation de "
                       f"{fr_number(abs(comp.difference))} points ({p}).")
        elif metric == "disagreement":
            way = "plus souvent" if comp.difference > 0 else "moins souvent"
            out.append(f"Les superviseurs contredisent {way} les verdicts de l'IA que pour le reste de "
                       f"l'organisation : écart de {fr_number(abs(comp.difference) * 100)} points de pourcentage "
                       f"sur les verdicts revus ({p}).")
        else:
            way = "plus souvent" if comp.difference > 0 else "moins souvent"
            out.append(f"Les évaluations revues sont corrigées {way} que pour le reste de l'organisation : écart "
                       f"de {fr_number(abs(comp.difference) * 100)} points de pourcentage ({p}).")
    return out


def flag_heading(group: GroupStats) -> str:
    """The Markdown heading of a flagged group, its name escaped."""
    return f"**{md_escape(group.name)}** — {group.evaluations} évaluations, {group.agents} agents"


HOW_TO_READ = (
    "**Au-delà du hasard.** D'un appel à l'autre, les scores varient : deux groupes traités exactement de la "
    "même façon n'ont presque jamais la même moyenne. Un écart est signalé quand il est trop grand pour "
    f"s'expliquer par ces seules variations : si le groupe était traité comme le reste de l'organisation, un "
    f"écart au moins aussi grand aurait moins de {fr_percent(ALPHA, ratio=True, trim=True)} de chances "
    "d'apparaître. Comme l'audit compare plusieurs groupes et plusieurs mesures, ce seuil est relevé "
    "(correction de Holm) : le risque qu'au moins un signalement de la page soit dû au seul hasard reste sous "
    f"{fr_percent(ALPHA, ratio=True, trim=True)}.\n\n"
    "**Un signalement est une question, pas une preuve de biais.** Un groupe peut avoir des scores plus bas "
    "pour des raisons étrangères à l'IA : appels plus difficiles, campagne différente, agents récemment "
    "arrivés. Le désaccord entre l'IA et les superviseurs est le signe le plus direct d'un traitement inégal "
    "par l'IA elle-même : s'il est plus élevé pour un groupe, écoutez des appels de ce groupe, comparez-les "
    "avec la grille et, au besoin, lancez une session de calibration. Inversement, l'absence de signalement ne "
    "prouve pas l'absence d'écart : un petit groupe ne permet de voir que les grands écarts.\n\n"
    f"**Échantillon insuffisant.** En dessous de {MIN_EVALUATIONS} évaluations (ou de {MIN_REVIEWED} évaluations "
    "revues par un humain pour le désaccord et le taux de correction), aucun test n'est fait : une moyenne sur "
    "quelques appels dit plus de ces appels que du groupe.\n\n"
    "**Lecture du tableau.** Le score est celui de l'IA, avant toute validation. « IC 95 % » est l'intervalle "
    "de confiance à 95 % : la valeur réelle s'y trouve selon toute vraisemblance. Le désaccord est la part des "
    "verdicts de critère que le superviseur a changés parmi les évaluations revues ; le taux de correction, la "
    "part des évaluations revues dont au moins un verdict a été changé. Chaque groupe est comparé au reste de "
    "l'organisation ; un agent peut appartenir à plusieurs groupes."
)
