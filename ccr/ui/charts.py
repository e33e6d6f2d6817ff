"""Plotly figures of the dashboard: French labels, the Okabe-Ito palette, hover details.

Each function takes what :mod:`ccr.dashboards.figures` or :mod:`ccr.dashboards.agents` returns and
builds a figure; nothing here queries. Okabe-Ito (Okabe & Ito, 2008) stays distinguishable under the
common colour-vision deficiencies; the heatmap uses Cividis, a sequential scale designed for the same
purpose. Names shown in hover text come from the database: plotly renders them as text, but ``<`` is
escaped anyway because plotly interprets a few HTML-like tags in hover templates.
"""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go

from ccr.core import timings
from ccr.core.formats import fr_number, fr_score
from ccr.ui.text import plain

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
HISTORY_COLOUR = "#999999"  # anonymised history: grey, visibly not the same kind of data
THRESHOLD_COLOUR = "#D55E00"
HEATMAP_SCALE = "Cividis"
FONT = {"family": "Source Sans Pro, sans-serif", "size": 13}
HEIGHT = 340  # two charts per row stay readable on a laptop screen


def esc(value: Any) -> str:
    """Text for plotly labels and hover templates: ``&``, ``<`` and ``>`` escaped, bidi controls removed."""
    return html.escape(plain(value), quote=False)


def _layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0}, font=FONT, height=kw.pop("height", HEIGHT),
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, colorway=OKABE_ITO,
                      legend={"orientation": "h", "y": -0.2}, separators=", ", hoverlabel={"namelength": -1},
                      **kw)
    return fig


def _fmt_period(d: date, granularity: str) -> str:
    if granularity == "week":
        return f"semaine du {d:%d/%m/%Y}"
    return f"{d:%d/%m/%Y}"


@timings.timed("figures")
def trend_figure(trend: dict[str, Any]) -> go.Figure:
    """Average score per day or week, history in grey, pass threshold and the detailed-data boundary."""
    fig = go.Figure()
    gran = trend["granularity"]
    for source, name, colour, dash in (("history", "Historique anonymisé", HISTORY_COLOUR, "dot"),
                                       ("detail", "Score moyen", OKABE_ITO[0], "solid")):
        pts = [p for p in trend["points"] if p["source"] == source]
        if not pts:
            continue
        fig.add_trace(go.Scatter(
            x=[p["period"] for p in pts], y=[p["avg_score"] for p in pts], name=name, mode="lines+markers",
            line={"color": colour, "dash": dash}, marker={"color": colour},
            customdata=[[_fmt_period(p["period"], gran), p["calls"], p["pass_rate"]] for p in pts],
            hovertemplate="%{customdata[0]}<br>Score moyen : %{y:.1f}<br>Appels : %{customdata[1]}"
                          "<br>Conformité : %{customdata[2]:.0f} %<extra>" + name + "</extra>",
        ))
    fig.add_hline(y=trend["pass_threshold"], line={"color": THRESHOLD_COLOUR, "dash": "dash", "width": 1.5},
                  annotation_text=f"Seuil de conformité ({fr_score(trend['pass_threshold'])})",
                  annotation_position="bottom right")
    boundary = trend.get("detail_boundary")
    if boundary:
        x = boundary - timedelta(days=3 if gran == "week" else 0.5)
        fig.add_vline(x=x, line={"color": "#000000", "dash": "dot", "width": 1})
        fig.add_annotation(x=x, y=1, yref="paper", showarrow=False, xanchor="left",
                           text="Fin de l'historique anonymisé — début des données détaillées",
                           font={"size": 11})
    fig.update_yaxes(title="Score (/100)", range=[0, 100])
    fig.update_xaxes(title="Semaine" if gran == "week" else "Jour", tickformat="%d/%m/%Y")
    return _layout(fig, "Évolution du score moyen")


@timings.timed("figures")
def distribution_figure(dist: list[dict[str, Any]], threshold: float) -> go.Figure:
    """Histogram of scores; bars below the threshold in orange, above in blue."""
    fig = go.Figure(go.Bar(
        x=[f"{b['start']}–{b['end']}" for b in dist], y=[b["calls"] for b in dist],
        marker={"color": [OKABE_ITO[0] if b["start"] >= threshold else OKABE_ITO[1] for b in dist]},
        hovertemplate="Score %{x}<br>Appels : %{y}<extra></extra>",
    ))
    fig.update_xaxes(title="Score")
    fig.update_yaxes(title="Appels")
    return _layout(fig, "Répartition des scores")


@timings.timed("figures")
def heatmap_figure(heat: dict[str, Any]) -> go.Figure:
    """Pass rate per criterion (columns) and agent (rows); clicking a cell selects (agent, criterion)."""
    criteria, agents = heat["criteria"], heat["agents"]
    cells = {(c["agent_id"], c["criterion_id"]): c for c in heat["cells"]}
    z, text, custom = [], [], []
    for agent_id, _name in agents:
        row_z, row_t, row_c = [], [], []
        for crit_id, _label in criteria:
            c = cells.get((agent_id, crit_id))
            row_z.append(c["pass_rate"] if c else None)
            row_t.append(f"{c['pass_rate']:.0f}" if c else "")
            row_c.append([agent_id, crit_id, c["passed"] if c else 0, c["applicable"] if c else 0])
        z.append(row_z)
        text.append(row_t)
        custom.append(row_c)
    x = [esc(label) for _id, label in criteria]
    y = [esc(name) for _id, name in agents]
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, text=text, texttemplate="%{text}", colorscale=HEATMAP_SCALE, zmin=0, zmax=100,
        customdata=custom, colorbar={"title": "% réussite"}, xgap=2, ygap=2,
        hovertemplate="%{y}<br>%{x}<br>Réussite : %{z:.0f} %<br>(%{customdata[2]} sur %{customdata[3]} "
                      "appels applicables)<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-30)
    return _layout(fig, "Réussite par critère et par agent (cliquez une case pour voir les appels)",
                   height=max(HEIGHT, 120 + 28 * len(agents)), clickmode="event+select")


@timings.timed("figures")
def irritants_figure(irr: dict[str, Any]) -> go.Figure:
    """Calls with each of the top irritants, per day or week."""
    fig = go.Figure()
    gran = irr["granularity"]
    for i, (irr_id, label, total) in enumerate(irr["irritants"]):
        pts = [p for p in irr["points"] if p["irritant"] == irr_id]
        fig.add_trace(go.Scatter(
            x=[p["period"] for p in pts], y=[p["calls"] for p in pts], mode="lines+markers",
            name=f"{esc(label)} ({total})", line={"color": OKABE_ITO[i % len(OKABE_ITO)]},
            customdata=[_fmt_period(p["period"], gran) for p in pts],
            hovertemplate="%{customdata}<br>" + esc(label) + " : %{y} appels<extra></extra>",
        ))
    fig.update_yaxes(title="Appels")
    fig.update_xaxes(tickformat="%d/%m/%Y")
    return _layout(fig, "Principaux irritants clients")


@timings.timed("figures")
def categories_figure(cats: list[dict[str, Any]]) -> go.Figure:
    """Share of calls per category, with average score and pass rate on hover."""
    cats = list(reversed(cats))
    fig = go.Figure(go.Bar(
        x=[c["share"] for c in cats], y=[esc(c["label"]) for c in cats], orientation="h",
        marker={"color": OKABE_ITO[4]},
        customdata=[[c["calls"], c["avg_score"], c["pass_rate"]] for c in cats],
        hovertemplate="%{y}<br>%{x:.1f} % des appels (%{customdata[0]})<br>Score moyen : %{customdata[1]:.1f}"
                      "<br>Conformité : %{customdata[2]:.0f} %<extra></extra>",
    ))
    fig.update_xaxes(title="% des appels")
    return _layout(fig, "Motifs d'appel")


@timings.timed("figures")
def talk_listen_figure(rows: list[dict[str, Any]], max_agents: int = 30) -> go.Figure:
    """Stacked shares of agent speech, customer speech and silence per agent."""
    rows = rows[:max_agents]
    names = [esc(r["agent"]) for r in rows]
    fig = go.Figure()
    for key, label, colour in (("agent_talk_ratio", "Agent", OKABE_ITO[0]),
                               ("customer_talk_ratio", "Client", OKABE_ITO[1]),
                               ("silence_ratio", "Silence", HISTORY_COLOUR)):
        fig.add_trace(go.Bar(
            x=[r[key] or 0 for r in rows], y=names, orientation="h", name=label, marker={"color": colour},
            hovertemplate="%{y}<br>" + label + " : %{x:.0f} % du temps<extra></extra>",
        ))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="% de la durée des appels")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Temps de parole et silences par agent", height=max(HEIGHT, 100 + 22 * len(rows)))


def tile_display(t: Any) -> tuple[str, str | None, str]:
    """(value, delta, delta_color) of a :class:`ccr.dashboards.figures.Tile` for ``st.metric``, French number format."""

    digits = 0 if t.unit in ("", "s") else 1
    unit = {"%": "%", "s": "s"}.get(t.unit, "")
    value = fr_number(t.value, digits, unit=unit)
    if t.delta is None:
        return value, None, "off"
    delta = ("+" if t.delta > 0 else "") + fr_number(t.delta, digits, unit="pts" if t.unit == "%" else unit)
    colour = "off" if t.higher_is_better is None else ("normal" if t.higher_is_better else "inverse")
    return value, delta, colour


def warm_up() -> None:
    """Build and serialise one figure of each kind, once per process, before the first visitor.

    Plotly loads the code behind each trace type and property on first use; done by the first page
    runs, twenty sessions waited on one another's imports (Python's import lock)."""
    import plotly.io

    day = date(2026, 1, 5)
    trend = {"granularity": "day", "pass_threshold": 80.0, "detail_boundary": day,
             "points": [{"period": day, "avg_score": 80.0, "calls": 1, "pass_rate": 100.0, "source": s}
                        for s in ("history", "detail")]}
    heat = {"criteria": [["c", "Critère"]], "agents": [[1, "Agent"]],
            "cells": [{"agent_id": 1, "criterion_id": "c", "pass_rate": 50.0, "passed": 1, "applicable": 2}]}
    figures = [
        trend_figure(trend),
        distribution_figure([{"start": 0, "end": 10, "calls": 1}], 80.0),
        heatmap_figure(heat),
        irritants_figure({"granularity": "week", "irritants": [("i", "Irritant", 1)],
                          "points": [{"period": day, "irritant": "i", "calls": 1}]}),
        categories_figure([{"label": "Motif", "share": 100.0, "calls": 1, "avg_score": 80.0, "pass_rate": 100.0}]),
        talk_listen_figure([{"agent": "Agent", "agent_talk_ratio": 50.0, "customer_talk_ratio": 40.0,
                             "silence_ratio": 10.0}]),
    ]
    for fig in figures:
        plotly.io.to_json(fig.to_dict(), validate=False)
