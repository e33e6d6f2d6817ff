"""Downloadable quality report of a team (or of every team the viewer sees) over a period.

One self-contained HTML file: KPI tiles, the score trend, the score distribution, categories and
irritants drawn as inline SVG (no script, no external resource, readable offline and printable to
PDF from any browser), and the coaching priorities of each agent (their weakest criteria).
Every value that comes from the database is ``html.escape``'d. Each export is written to the audit log.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlmodel import Session

from ccr.core import audit, csvsafe
from ccr.core.config import get_settings
from ccr.core.db import utcnow
from ccr.core.errors import AccessDenied
from ccr.core.formats import fr_number
from ccr.core.models import ScopePolicy
from ccr.core.orgs import get_organisation, get_team, slugify
from ccr.core.users import Actor
from ccr.dashboards.agents import agent_ranking, weakest_criteria
from ccr.dashboards.call_list import export_calls
from ccr.dashboards.figures import (
    Tile,
    category_breakdown,
    irritants_over_time,
    kpi_tiles,
    score_distribution,
    score_trend,
    validation_counts,
)
from ccr.dashboards.filters import CallQuery, Filters, call_query_to_query, filters_to_query

# Chart geometry (pixels) of the inline SVGs: wide enough for a year of weekly points on A4 landscape.
SVG_W, SVG_H, PAD = 760, 240, 36
BLUE, ORANGE, GREY, RED = "#0072B2", "#E69F00", "#999999", "#D55E00"  # Okabe-Ito, as on screen
COACHING_MIN_APPLICABLE = 3  # a criterion judged on fewer calls is not a reliable coaching priority


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None, digits: int = 1, unit: str = "") -> str:
    return fr_number(value, digits, unit=unit)


def _tile_text(t: Tile) -> tuple[str, str]:
    unit = {"%": "%", "s": "s", "pts": ""}.get(t.unit, "")
    digits = 0 if t.unit == "" or t.unit == "s" else 1
    value = _num(t.value, digits, unit)
    if t.delta is None:
        return value, "pas de comparaison"
    sign = "+" if t.delta > 0 else ""
    return value, f"{sign}{_num(t.delta, digits, 'pts' if t.unit == '%' else unit)} vs période précédente"


def _line_svg(trend: dict[str, Any]) -> str:
    pts = trend["points"]
    if not pts:
        return "<p>Aucune donnée sur la période.</p>"
    periods = sorted({p["period"] for p in pts})
    index = {d: i for i, d in enumerate(periods)}
    n = max(1, len(periods) - 1)

    def xy(i: int, score: float) -> tuple[float, float]:
        return PAD + (SVG_W - 2 * PAD) * i / n, SVG_H - PAD - (SVG_H - 2 * PAD) * score / 100

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_W} {SVG_H}" role="img" '
             f'aria-label="Évolution du score moyen">']
    for y in (0, 50, 100):
        _, yy = xy(0, y)
        parts.append(f'<line x1="{PAD}" x2="{SVG_W - PAD}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>'
                     f'<text x="4" y="{yy + 4:.1f}" font-size="11">{y}</text>')
    threshold = fr_number(trend["pass_threshold"], 1, trim=True)
    _, ty = xy(0, trend["pass_threshold"])
    parts.append(f'<line x1="{PAD}" x2="{SVG_W - PAD}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="{RED}" '
                 f'stroke-dasharray="6 4"/><text x="{SVG_W - PAD}" y="{ty - 4:.1f}" font-size="11" '
                 f'text-anchor="end" fill="{RED}">Seuil {threshold}</text>')
    for source, colour, dash in (("history", GREY, ' stroke-dasharray="2 3"'), ("detail", BLUE, "")):
        line = [xy(index[p["period"]], p["avg_score"]) for p in pts if p["source"] == source]
        if line:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in line]
    if trend.get("detail_boundary"):
        first = next((i for d, i in index.items() if d >= trend["detail_boundary"]), None)
        if first is not None:
            bx, _ = xy(first, 0)
            parts.append(f'<line x1="{bx:.1f}" x2="{bx:.1f}" y1="{PAD}" y2="{SVG_H - PAD}" stroke="#000" '
                         f'stroke-dasharray="2 2"/><text x="{bx + 4:.1f}" y="{PAD - 6}" font-size="11">'
                         f'Début des données détaillées ({trend["detail_boundary"]:%d/%m/%Y})</text>')
    first_d, last_d = periods[0], periods[-1]
    parts.append(f'<text x="{PAD}" y="{SVG_H - 8}" font-size="11">{first_d:%d/%m/%Y}</text>'
                 f'<text x="{SVG_W - PAD}" y="{SVG_H - 8}" font-size="11" text-anchor="end">{last_d:%d/%m/%Y}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bars_svg(items: list[tuple[str, float, str]], label: str, unit: str = "") -> str:
    """Horizontal bars: (label, value, colour); the longest bar spans the chart."""
    if not items:
        return "<p>Aucune donnée sur la période.</p>"
    top = max(v for _, v, _ in items) or 1
    row_h, left = 22, 220
    h = row_h * len(items) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_W} {h}" role="img" aria-label="{_e(label)}">']
    for i, (name, value, colour) in enumerate(items):
        y = 5 + i * row_h
        w = (SVG_W - left - 80) * value / top
        parts.append(f'<text x="{left - 6}" y="{y + 15}" font-size="12" text-anchor="end">{_e(name)}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{colour}"/>'
                     f'<text x="{left + w + 4:.1f}" y="{y + 15}" font-size="12">{_e(_num(value, 0, unit))}</text>')
    parts.append("</svg>")
    return "".join(parts)


CSS = """
body{font-family:Arial,Helvetica,sans-serif;color:#222;margin:24px;max-width:1000px}
h1{font-size:22px;margin-bottom:2px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}
.meta{color:#555;font-size:13px} .tiles{display:flex;flex-wrap:wrap;gap:10px}
.tile{border:1px solid #ccc;border-radius:6px;padding:8px 12px;min-width:190px}
.tile .v{font-size:22px;font-weight:bold} .tile .d{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:13px;width:100%} th,td{border:1px solid #ddd;padding:4px 6px;text-align:left}
th{background:#f3f3f3} td.n{text-align:right} svg{width:100%;height:auto}
@media print{body{margin:8mm}}
"""


def team_report_html(*, session: Session, actor: Actor, filters: Filters,
                     team_id: int | None = None) -> tuple[str, bytes]:
    """Build the HTML report of ``team_id`` (None: every team the actor sees) and audit the export.

    Returns ``(file name, UTF-8 bytes)``. A team outside the actor's scope is not found.
    """
    from dataclasses import replace

    org = get_organisation(session=session, actor=actor)
    if team_id is not None:
        team = get_team(session=session, actor=actor, team_id=team_id)
        filters = replace(filters, team_ids=(team.id,))
        scope_name = team.name
    else:
        scope_name = "Toutes les équipes" if actor.sees_all_teams else "Mes équipes"
    tiles = kpi_tiles(session=session, actor=actor, filters=filters)
    trend = score_trend(session=session, actor=actor, filters=filters)
    dist = score_distribution(session=session, actor=actor, filters=filters)
    ranking = agent_ranking(session=session, actor=actor, filters=filters)
    cats = category_breakdown(session=session, actor=actor, filters=filters)
    irr = irritants_over_time(session=session, actor=actor, filters=filters)
    priorities = weakest_criteria(session=session, actor=actor, filters=filters,
                                  min_applicable=COACHING_MIN_APPLICABLE)
    threshold = trend["pass_threshold"]
    checked = validation_counts(session=session, actor=actor, filters=filters)
    if checked.unvalidated and blocks_unvalidated(session, actor.org_id):
        ranking = []  # per-agent scores no human validated may not leave CCR: the team figures stay

    out = ["<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\">",
           f"<title>Rapport qualité — {_e(scope_name)}</title><style>{CSS}</style></head><body>",
           f"<h1>Rapport qualité — {_e(scope_name)}</h1>",
           f'<p class="meta">{_e(org.name)} · du {filters.start:%d/%m/%Y} au {filters.end:%d/%m/%Y} '
           f"({filters.days} jours) · comparé aux {filters.days} jours précédents · généré le "
           f"{utcnow():%d/%m/%Y %H:%M} UTC par {_e(actor.display_name)}</p>",
           *([f'<p class="meta"><strong>{_e(checked.note)}</strong></p>'] if checked.note else []),
           "<h2>Indicateurs</h2><div class=\"tiles\">"]
    for t in tiles:
        value, delta = _tile_text(t)
        out.append(f'<div class="tile" data-kpi="{_e(t.key)}"><div>{_e(t.label)}</div>'
                   f'<div class="v">{_e(value)}</div><div class="d">{_e(delta)}</div></div>')
    out.append("</div>")
    out.append("<h2>Évolution du score moyen</h2>" + _line_svg(trend))
    out.append("<h2>Répartition des scores</h2>" + _bars_svg(
        [(f"{b['start']}–{b['end']}", b["calls"], BLUE if b["start"] >= threshold else ORANGE) for b in dist],
        "Répartition des scores", ""))
    out.append("<h2>Motifs d'appel</h2>" + _bars_svg(
        [(c["label"], c["share"], BLUE) for c in cats], "Motifs d'appel", "%"))
    out.append("<h2>Principaux irritants clients</h2>" + _bars_svg(
        [(label, total, ORANGE) for _id, label, total in irr["irritants"]], "Irritants", ""))
    out.append("<h2>Agents et priorités de coaching</h2>"
               "<table><tr><th>Agent</th><th>Équipe</th><th>Appels</th><th>Score moyen</th>"
               "<th>Conformité</th><th>Priorités de coaching (critères les moins réussis)</th></tr>")
    if not ranking and checked.unvalidated and blocks_unvalidated(session, actor.org_id):
        out.append('<tr><td colspan="6">Résultats par agent non inclus : votre organisation interdit d\'exporter '
                   "des scores par agent qu'aucun humain n'a validés.</td></tr>")
    for r in ranking:
        prio = priorities.get(r["agent_id"], [])
        prio_text = "; ".join(f"{p['label']} ({_num(p['pass_rate'], 0, '%')} sur {p['applicable']} appels)"
                              for p in prio) or "—"
        out.append(f"<tr><td>{_e(r['agent'])}</td><td>{_e(r['team'])}</td><td class=\"n\">{r['calls']}</td>"
                   f"<td class=\"n\">{_e(_num(r['avg_score']))}</td>"
                   f"<td class=\"n\">{_e(_num(r['pass_rate'], 0, '%'))}</td><td>{_e(prio_text)}</td></tr>")
    out.append("</table>")
    if trend.get("detail_boundary"):
        out.append(f'<p class="meta">Avant le {trend["detail_boundary"]:%d/%m/%Y}, les chiffres proviennent des '
                   "statistiques anonymisées conservées après la suppression des appels (niveau équipe).</p>")
    out.append('<p class="meta">Scores retenus : ceux validés par un superviseur lorsqu\'ils existent, sinon '
               "ceux de l'évaluation automatique. Appels restreints exclus.</p></body></html>")

    audit.log_event(session=session, who=actor.who, action="report_exported", target_type="team",
                    target_id=team_id, detail={"du": filters.start.isoformat(), "au": filters.end.isoformat(),
                                               "format": "html", "perimetre": scope_name})
    name = f"rapport-qualite-{slugify(scope_name)}-{filters.start.isoformat()}-{filters.end.isoformat()}.html"
    return name, "".join(out).encode("utf-8")


def report_period_label(start: date, end: date) -> str:
    """French label of a report period, for buttons and captions."""
    return f"du {start:%d/%m/%Y} au {end:%d/%m/%Y}"


# --- tabular views (screen and CSV/Excel downloads) -------------------------------------------------


def calls_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The calls list as shown and downloaded, with French column names and local times."""
    tz = ZoneInfo(get_settings().timezone)
    return pd.DataFrame([{
        "Appel": r["call_id"],
        "Date": r["started_at"].astimezone(tz).strftime("%d/%m/%Y %H:%M"),
        "Agent": r["agent"], "Équipe": r["team"], "Campagne": r["campaign"], "Sens": r["direction"],
        "Catégorie": r["category"],
        "Durée (s)": round(r["duration_s"]) if r["duration_s"] is not None else None,
        "Score": round(r["score"], 1), "Conforme": "oui" if r["passed"] else "non",
        "Échec critique": "oui" if r["critical_failed"] else "non",
        "Validé": "oui" if r["validated"] else "non", "Irritants": r["irritants"],
        "À revoir": "oui" if r["to_review"] else "non",
    } for r in rows], columns=["Appel", "Date", "Agent", "Équipe", "Campagne", "Sens", "Catégorie", "Durée (s)",
                               "Score", "Conforme", "Échec critique", "Validé", "Irritants", "À revoir"])


def ranking_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The agent ranking as downloaded (the sparkline stays on screen)."""
    return pd.DataFrame([{
        "Agent": r["agent"], "Équipe": r["team"], "Appels": r["calls"], "Score moyen": round(r["avg_score"], 1),
        "Conformité (%)": round(r["pass_rate"], 1), "Échecs critiques (%)": round(r["critical_rate"], 1),
        "Non validés par un humain": r.get("unvalidated", 0),
    } for r in rows], columns=["Agent", "Équipe", "Appels", "Score moyen", "Conformité (%)", "Échecs critiques (%)",
                               "Non validés par un humain"])


def _file(df: pd.DataFrame, fmt: str, stem: str, sheet: str) -> tuple[str, bytes]:
    if fmt == "xlsx":
        return f"{stem}.xlsx", csvsafe.dataframe_to_xlsx(df, sheet_name=sheet)
    return f"{stem}.csv", csvsafe.dataframe_to_csv(df)


def blocks_unvalidated(session: Session, org_id: int) -> bool:
    """Whether the organisation forbids per-agent scores no human validated from leaving CCR."""
    policy = session.get(ScopePolicy, org_id)
    return bool(policy and policy.block_unvalidated_exports)


def export_calls_file(*, session: Session, actor: Actor, filters: Filters, query: CallQuery,
                      fmt: str = "csv") -> tuple[str, bytes]:
    """The current calls view as CSV or Excel (cells neutralised), audited; the « Validé » column says which
    scores are the AI's alone, and those rows are left out when the organisation forbids exporting them."""
    rows = export_calls(session=session, actor=actor, filters=filters, query=query)
    withheld = 0
    if blocks_unvalidated(session, actor.org_id):
        kept = [r for r in rows if r["validated"]]
        withheld, rows = len(rows) - len(kept), kept
    audit.log_event(session=session, who=actor.who, action="calls_exported", target_type="calls",
                    detail={"format": fmt, "lignes": len(rows), "non_valides_retenus": withheld,
                            **filters_to_query(filters), **call_query_to_query(query)})
    return _file(calls_table(rows), fmt, f"appels-{filters.start.isoformat()}-{filters.end.isoformat()}", "Appels")


def export_ranking_file(*, session: Session, actor: Actor, filters: Filters,
                        fmt: str = "csv") -> tuple[str, bytes]:
    """The dashboard's agent ranking as CSV or Excel (cells neutralised), audited, with each agent's share of
    scores no human validated; refused when the organisation forbids exporting such scores and some are in it."""
    rows = agent_ranking(session=session, actor=actor, filters=filters)
    checked = validation_counts(session=session, actor=actor, filters=filters)
    if checked.unvalidated and blocks_unvalidated(session, actor.org_id):
        raise AccessDenied(f"Export refusé : ce classement contient {checked.unvalidated} score(s) qu'aucun humain "
                           "n'a validé(s), et votre organisation interdit de les exporter. Validez ces appels ou "
                           "réduisez la période.")
    for r in rows:
        r["unvalidated"] = checked.by_agent.get(r.get("agent_id"), 0)
    audit.log_event(session=session, who=actor.who, action="dashboard_exported", target_type="ranking",
                    detail={"format": fmt, "lignes": len(rows), **filters_to_query(filters)})
    return _file(ranking_table(rows), fmt, f"classement-{filters.start.isoformat()}-{filters.end.isoformat()}",
                 "Classement")
