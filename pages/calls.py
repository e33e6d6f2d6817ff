"""Appels: the evaluated calls, filtered, searched in their transcripts, sorted and paginated in the database."""

from dataclasses import replace

import streamlit as st

from ccr.core.db import session
from ccr.core.formats import fr_number
from ccr.dashboards import reports
from ccr.dashboards.call_list import EXPORT_MAX_ROWS
from ccr.ui import dashboard_cache as cache
from ccr.ui.filters import call_query_bar, filter_bar, go_to, set_call_page
from ccr.ui.guard import require_page
from ccr.ui.text import NUMBER_FORMAT, plain_frame

actor = require_page("calls")
PAGE_SIZE = 50  # one screen of rows; the database returns only these
SIG_KEY = "ccr_calls_sig"  # criteria of the previous run: a change goes back to page 1

st.title("📞 Appels")
filters = filter_bar(actor, "calls")
lab = cache.labels(actor)
query = call_query_bar(actor, "calls", lab)
signature = repr((filters, replace(query, page=1)))
if st.session_state.get(SIG_KEY, signature) != signature:
    query = replace(query, page=1)
st.session_state[SIG_KEY] = signature

listed = cache.list_calls(actor, filters, query, PAGE_SIZE)
pages = max(1, -(-listed.total // PAGE_SIZE))
if query.page > pages and not listed.capped:
    query = replace(query, page=pages)
    listed = cache.list_calls(actor, filters, query, PAGE_SIZE)
rows, total, capped = listed.rows, listed.total, listed.capped
query = set_call_page(actor, "calls", query, query.page)

# A count that stopped at its cap: the pages go on while they are full.
last_page = len(rows) < PAGE_SIZE if capped else query.page >= pages
shown = {"more_than": "plus de ", "at_least": "au moins "}.get(listed.count, "") + fr_number(total, 0)
st.caption(f"{shown} appel(s) du {filters.start:%d/%m/%Y} au {filters.end:%d/%m/%Y}"
           + ("" if actor.sees_all_teams else " — vos équipes uniquement."))
table = plain_frame(reports.calls_table(rows))
table.insert(1, "Ouvrir", [f"review?call_id={r['call_id']}" for r in rows])
event = st.dataframe(
    table, hide_index=True, key="calls_table", on_select="rerun", selection_mode="single-row",
    column_config={
        "Ouvrir": st.column_config.LinkColumn("Revue", display_text="Ouvrir"),
        "Score": st.column_config.ProgressColumn("Score", min_value=0, max_value=100, format=NUMBER_FORMAT),
    },
)
selected = event.selection.rows if event and event.selection else []
if selected and selected[0] < len(rows):
    call_id = rows[selected[0]]["call_id"]
    go_to("review", {"call_id": str(call_id)}, f"Ouvrir l'appel n° {call_id}")

prev_col, info_col, next_col = st.columns([1, 2, 1])
if prev_col.button("← Page précédente", disabled=query.page <= 1, key="calls_prev"):
    set_call_page(actor, "calls", query, query.page - 1)
    st.rerun()
info_col.markdown(f"Page **{query.page}**" if capped else f"Page **{query.page}** sur **{pages}**")
if next_col.button("Page suivante →", disabled=last_page, key="calls_next"):
    set_call_page(actor, "calls", query, query.page + 1)
    st.rerun()

st.subheader("Exporter la vue")


def _export(fmt: str) -> bytes:
    with session() as s:
        return reports.export_calls_file(session=s, actor=actor, filters=filters, query=query, fmt=fmt)[1]


stem = f"appels-{filters.start.isoformat()}-{filters.end.isoformat()}"
c1, c2 = st.columns(2)
c1.download_button("CSV", lambda: _export("csv"), file_name=f"{stem}.csv", mime="text/csv", on_click="ignore",
                   key="calls_csv")
c2.download_button("Excel", lambda: _export("xlsx"), file_name=f"{stem}.xlsx", on_click="ignore", key="calls_xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
st.caption(f"Export limité à {fr_number(EXPORT_MAX_ROWS, 0)} lignes ; les cellules qui ressemblent à des "
           "formules sont neutralisées. La colonne « Validé » indique les scores de l'IA seule."
           + (" Votre organisation interdit d'exporter les scores qu'aucun humain n'a validés : ces appels sont "
              "retirés de l'export." if cache.validation(actor, filters)[1] else ""))
