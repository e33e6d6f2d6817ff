"""Tableau de bord: KPI tiles, trend, distribution, agents, criteria heatmap, irritants, categories."""

import streamlit as st

from ccr.core.db import session
from ccr.dashboards import reports
from ccr.dashboards.agents import HEATMAP_MAX_AGENTS, talk_listen_from_ranking
from ccr.dashboards.filters import filters_to_query
from ccr.ui import charts
from ccr.ui import dashboard_cache as cache
from ccr.ui.filters import filter_bar, go_to
from ccr.ui.guard import require_page
from ccr.ui.text import NUMBER_FORMAT, plain, plain_frame

actor = require_page("dashboard")
GOTO_KEY = "ccr_dash_goto"  # a one-shot drill-down request set by a selection callback

st.title("📊 Tableau de bord")
filters = filter_bar(actor, "dash")
base_query = filters_to_query(filters)

goto = st.session_state.pop(GOTO_KEY, None)
if goto:
    go_to("calls", goto["query"], goto["label"])

st.caption(f"Du {filters.start:%d/%m/%Y} au {filters.end:%d/%m/%Y} ({filters.days} jours), comparé aux "
           f"{filters.days} jours précédents. Scores validés par un humain lorsqu'ils existent ; appels restreints "
           "exclus." + ("" if actor.sees_all_teams else " Vous voyez uniquement vos équipes."))

tiles = cache.kpi_tiles(actor, filters)
checked, ai_exports_blocked = cache.validation(actor, filters)
if checked.note:
    st.caption("🤖 " + checked.note)
for row in (tiles[:4], tiles[4:]):
    for column, tile in zip(st.columns(4), row, strict=False):
        value, delta, colour = charts.tile_display(tile)
        column.metric(tile.label, value, delta=delta, delta_color=colour, help=tile.help, border=True)

if not tiles[0].value:
    st.info("Aucun appel évalué sur cette période avec ces filtres.")

gran_label = st.segmented_control("Granularité", ["Automatique", "Jour", "Semaine"], default="Automatique",
                                  key="dash_gran")
granularity = {"Jour": "day", "Semaine": "week"}.get(gran_label or "", "auto")
trend = cache.score_trend(actor, filters, granularity=granularity)
left, right = st.columns([3, 2])
# Charts come built from the cache: the sessions of a team share them (``cache.figure``).
left.plotly_chart(cache.figure(actor, charts.trend_figure, trend), key="dash_trend")
right.plotly_chart(cache.figure(actor, charts.distribution_figure, cache.score_distribution(actor, filters),
                                trend["pass_threshold"]), key="dash_dist")

st.subheader("Agents")
ranking = cache.agent_ranking(actor, filters)


def _on_agent_selected() -> None:
    rows = st.session_state["dash_ranking"].selection.rows
    if rows and rows[0] < len(ranking) and ranking[rows[0]]["agent_id"] is not None:
        r = ranking[rows[0]]
        st.session_state[GOTO_KEY] = {"query": {**base_query, "agent": str(r["agent_id"])},
                                      "label": f"Voir les appels de {r['agent']}"}


ranking_df = plain_frame(reports.ranking_table(ranking))
ranking_df["Tendance"] = [[v for v in r["trend"] if v is not None] for r in ranking]
st.dataframe(
    ranking_df, hide_index=True, key="dash_ranking", on_select=_on_agent_selected, selection_mode="single-row",
    column_config={
        "Score moyen": st.column_config.ProgressColumn("Score moyen", min_value=0, max_value=100,
                                                       format=NUMBER_FORMAT),
        "Conformité (%)": st.column_config.NumberColumn(format="%.0f %%"),
        "Échecs critiques (%)": st.column_config.NumberColumn(format="%.0f %%"),
        "Tendance": st.column_config.LineChartColumn("Tendance (12 dernières semaines)", y_min=0, y_max=100),
    },
)
st.caption("Sélectionnez un agent pour ouvrir la liste de ses appels.")

st.subheader("Qui coacher sur quoi")
weakest = [r["agent_id"] for r in reversed(ranking) if r["agent_id"] is not None][:HEATMAP_MAX_AGENTS]
heat = cache.criterion_agent_heatmap(actor, filters, agent_ids=weakest)
if heat["cells"]:
    event = st.plotly_chart(cache.figure(actor, charts.heatmap_figure, heat), key="dash_heat", on_select="rerun",
                            selection_mode="points")
    agent_by_label = {charts.esc(name): aid for aid, name in heat["agents"]}
    crit_by_label = {charts.esc(label): cid for cid, label in heat["criteria"]}
    points = (event.selection.points if event and event.selection else []) or []
    if points:
        p = points[0]
        custom = p.get("customdata")
        agent_id = custom[0] if custom else agent_by_label.get(p.get("y"))
        crit_id = custom[1] if custom else crit_by_label.get(p.get("x"))
        if agent_id is not None and crit_id:
            go_to("calls", {**base_query, "agent": str(agent_id), "critere": crit_id},
                  "Voir les appels en échec sur ce critère")
    with st.expander("Ouvrir les appels en échec d'un agent sur un critère"):
        names = {a: plain(n) for a, n in heat["agents"]}
        crits = {c: plain(n) for c, n in heat["criteria"]}
        c1, c2 = st.columns(2)
        pick_agent = c1.selectbox("Agent", list(names), format_func=names.get, key="dash_heat_agent")
        pick_crit = c2.selectbox("Critère", list(crits), format_func=crits.get, key="dash_heat_crit")
        if st.button("Voir les appels en échec", key="dash_heat_go"):
            go_to("calls", {**base_query, "agent": str(pick_agent), "critere": pick_crit},
                  "Voir les appels en échec")
else:
    st.caption("Pas encore de verdicts par critère sur cette période.")

left, right = st.columns(2)
left.plotly_chart(cache.figure(actor, charts.irritants_figure,
                               cache.irritants_over_time(actor, filters, granularity=granularity)), key="dash_irr")
right.plotly_chart(cache.figure(actor, charts.categories_figure, cache.category_breakdown(actor, filters)),
                   key="dash_cat")
st.plotly_chart(cache.figure(actor, charts.talk_listen_figure, talk_listen_from_ranking(ranking)), key="dash_talk")

st.subheader("Exports")
lab = cache.labels(actor)


def _ranking_file(fmt: str) -> bytes:
    with session() as s:
        return reports.export_ranking_file(session=s, actor=actor, filters=filters, fmt=fmt)[1]


c1, c2, c3 = st.columns(3)
stem = f"classement-{filters.start.isoformat()}-{filters.end.isoformat()}"
if checked.unvalidated and ai_exports_blocked:
    c1.caption("Export du classement désactivé : il contient des scores qu'aucun humain n'a validés, et votre "
               "organisation interdit de les exporter.")
else:
    c1.download_button("Classement (CSV)", lambda: _ranking_file("csv"), file_name=f"{stem}.csv", mime="text/csv",
                       on_click="ignore", key="dash_csv")
    c2.download_button("Classement (Excel)", lambda: _ranking_file("xlsx"), file_name=f"{stem}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click="ignore",
                       key="dash_xlsx")
team_choices: list = ([None] if actor.sees_all_teams or len(lab.teams) > 1 else []) + list(lab.teams)
report_team = c3.selectbox("Équipe du rapport", team_choices, key="dash_report_team",
                           format_func=lambda t: "Toutes mes équipes" if t is None else plain(lab.teams.get(t, "")))


def _report() -> bytes:
    with session() as s:
        return reports.team_report_html(session=s, actor=actor, filters=filters, team_id=report_team)[1]


c3.download_button("Rapport HTML de l'équipe", _report, file_name=f"rapport-qualite-{filters.start}-{filters.end}.html",
                   mime="text/html", on_click="ignore", key="dash_report")
