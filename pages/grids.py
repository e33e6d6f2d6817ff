"""Grilles (supervisor, admin): grid versions, criteria editor, preview, re-scoring, and the taxonomy."""

import hashlib
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.core.errors import CcrError
from ccr.core.formats import fr_score, label_of
from ccr.core.vocab import SPEAKER_LABELS
from ccr.pipeline import queue
from ccr.scoring import grid, grid_editor, grid_store
from ccr.ui import dashboard_cache as cache
from ccr.ui.guard import require_page
from ccr.ui.text import fmt_ts, md_escape, plain, plain_frame

actor = require_page("grids")

RESCORE_DEFAULT_DAYS = 30  # a month of calls: the usual span of a quality campaign
FLASH_KEY = "grids_flash"
SELECT_KEY = "grids_version"
NEXT_SELECT_KEY = "grids_select_next"
UPLOAD_GEN_KEY = "grids_upload_gen"  # bumped after a save so the uploaders forget the file just stored
VERDICTS = {"pass": "✅ Conforme", "fail": "❌ Non conforme", "na": "➖ Non applicable"}
AI_ACT_HELP = (
    "Les irritants et toute mesure de ressenti concernent uniquement le client et sont déduits du texte : "
    "CCR ne déduit aucune émotion des agents. Le règlement européen sur l'IA (art. 5, paragraphe 1, point f) "
    "interdit la reconnaissance des émotions des salariés sur le lieu de travail."
)
COLUMNS = {
    "section": st.column_config.TextColumn("Section", help="Identifiant de la section (ouverture, clôture…)"),
    "id": st.column_config.TextColumn("Identifiant", required=True),
    "label": st.column_config.TextColumn("Libellé"),
    "weight": st.column_config.NumberColumn("Poids", min_value=0, max_value=100, step=1, format="%d"),
    "critical": st.column_config.CheckboxColumn("Critique", help="Un échec met la note à 0."),
    "speaker": st.column_config.SelectboxColumn("Locuteur", options=list(grid.SPEAKERS)),
    "window_start_s": st.column_config.NumberColumn("Fenêtre début (s)", min_value=0),
    "window_end_s": st.column_config.NumberColumn("Fenêtre fin (s)", min_value=0),
    "method": st.column_config.SelectboxColumn(
        "Méthode", options=list(grid.METHODS),
        help=" ; ".join(f"{k} : {v}" for k, v in grid.METHODS.items())),
    "recommendation": st.column_config.TextColumn("Recommandation", width="large"),
}

settings = get_settings()
tz = ZoneInfo(settings.timezone)
st.title("📐 Grilles")
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)

try:
    with session() as s:
        versions = grid_store.list_grid_versions(session=s, actor=actor)
        active_tax = grid_store.active_taxonomy(session=s, org_id=actor.org_id)
        tax_version = grid_store.active_taxonomy_version(session=s, org_id=actor.org_id)
except CcrError as err:
    st.error(str(err))
    st.stop()


def _saved(message: str, select_id: int | None = None) -> None:
    cache.clear_after_write()  # grid names, criteria and pass thresholds show on the dashboards and calls list
    st.session_state[FLASH_KEY] = message
    st.session_state[UPLOAD_GEN_KEY] = st.session_state.get(UPLOAD_GEN_KEY, 0) + 1
    if select_id is not None:
        st.session_state[NEXT_SELECT_KEY] = select_id
    st.rerun()


def _errors(errors: list[str]) -> None:
    st.error("La grille n'est pas valide :\n\n" + "\n".join(f"- {md_escape(e)}" for e in errors))


tab_grid, tab_tax = st.tabs(["Grille d'évaluation", "Taxonomie (catégories et irritants)"])

with tab_grid:
    by_id = {v.id: v for v in versions}
    if (nxt := st.session_state.pop(NEXT_SELECT_KEY, None)) in by_id:
        st.session_state[SELECT_KEY] = nxt
    active_id = next((v.id for v in versions if v.is_active), versions[0].id)
    # index only on the first run: afterwards the session state holds the choice (a saved version included)
    first = {} if SELECT_KEY in st.session_state else {"index": list(by_id).index(active_id)}
    chosen = st.selectbox(
        "Version de grille", list(by_id), key=SELECT_KEY, **first,
        format_func=lambda i: f"{plain(by_id[i].name)} ({by_id[i].slug}) — v{by_id[i].version}"
                              + (" — ✅ active" if by_id[i].is_active else ""))
    uploaded = st.file_uploader("Importer une grille (YAML)", type=["yaml", "yml", "json"],
                                key=f"grid_upload_{st.session_state.get(UPLOAD_GEN_KEY, 0)}",
                                help="La grille importée est chargée dans l'éditeur ; elle n'est enregistrée "
                                     "qu'avec « Enregistrer une nouvelle version ».")
    base = None
    if uploaded is not None:
        try:
            base = grid.load_grid_yaml(uploaded.getvalue().decode("utf-8"))
            base_key = "import-" + hashlib.sha256(uploaded.getvalue()).hexdigest()[:12]
            st.info(f"Grille importée : « {md_escape(base.name)} » ({md_escape(base.id)}), non enregistrée.")
        except (CcrError, UnicodeDecodeError) as err:
            st.error(f"Import impossible : {md_escape(err)}")
    if base is None:
        with session() as s:
            _, base = grid_store.get_grid_version(session=s, actor=actor, grid_id=chosen)
        base_key = f"v{chosen}"

    c_slug, c_name, c_threshold = st.columns([2, 3, 1])
    slug = c_slug.text_input("Identifiant de la grille", value=base.id, key=f"slug_{base_key}",
                             help="Enregistrer sous un nouvel identifiant crée une grille propre à votre "
                                  "organisation (version 1), à partir de la grille affichée.")
    name = c_name.text_input("Nom", value=base.name, key=f"name_{base_key}")
    threshold = c_threshold.number_input("Seuil de réussite", min_value=0.0, max_value=100.0, step=1.0,
                                         value=float(base.pass_threshold), key=f"threshold_{base_key}")
    edited = st.data_editor(pd.DataFrame(grid_editor.criteria_rows(base), columns=list(grid_editor.EDITOR_COLUMNS)),
                            key=f"criteria_{base_key}", num_rows="dynamic", hide_index=True, width="stretch",
                            column_config=COLUMNS)
    records = edited.to_dict("records")
    total = grid_editor.editor_weight_total(records)
    st.caption(f"Total des poids : **{total}** / {grid.TOTAL_WEIGHT}. Un critère « na » (non applicable) "
               "est retiré du calcul ; l'échec d'un critère critique met la note à 0.")
    known = {c.id: c for c in base.criteria}
    params: dict[str, str] = {}
    with st.expander("Paramètres de détection (YAML) de chaque critère"):
        for r in records:
            cid = grid_editor.cell_text(r.get("id"))
            if not cid or cid in params:
                continue
            params[cid] = st.text_area(md_escape(cid), height=160, key=f"params_{base_key}_{cid}",
                                       value=grid_editor.params_yaml(known[cid]) if cid in known else "")
    candidate, errors = grid_editor.grid_from_editor(base, records, params=params, slug=slug, name=name,
                                               pass_threshold=threshold)

    c_check, c_save, c_activate = st.columns([1, 2, 2], vertical_alignment="center")
    activate = c_activate.checkbox("Activer pour les nouveaux appels", value=True)
    if c_check.button("Valider"):
        if errors:
            _errors(errors)
        else:
            st.success(f"La grille est valide : {len(candidate.criteria)} critères, poids totalisant 100.")
    if c_save.button("Enregistrer une nouvelle version", type="primary"):
        if errors:
            _errors(errors)
        else:
            try:
                with session() as s:
                    row = grid_store.save_grid_version(session=s, actor=actor, grid=candidate, activate=activate)
                    saved = (row.id, row.slug, row.version)
                _saved(f"Version {saved[2]} de la grille « {saved[1]} » enregistrée"
                       + (" et activée." if activate else "."), select_id=saved[0])
            except CcrError as err:
                st.error(str(err))

    c_export, c_make_active = st.columns(2)
    exported = candidate or base
    c_export.download_button("Exporter en YAML", data=grid.dump_grid_yaml(exported),
                             file_name=f"{exported.id}-v{exported.version}.yaml", mime="application/x-yaml")
    if uploaded is None and not by_id[chosen].is_active and c_make_active.button("Activer cette version"):
        try:
            with session() as s:
                grid_store.activate_grid(session=s, actor=actor, grid_id=chosen)
            _saved(f"La version {by_id[chosen].version} de « {by_id[chosen].slug} » est active.", select_id=chosen)
        except CcrError as err:
            st.error(str(err))

    st.subheader("Aperçu sur un appel")
    source = st.radio("Transcription", ["Appel exemple fourni", "Coller une transcription JSON"], horizontal=True)
    pasted = None
    if source != "Appel exemple fourni":
        pasted = st.text_area("Transcription JSON (call_id, duration_s, language, segments)", height=160)
    if candidate is None:
        st.info("Corrigez la grille pour voir l'aperçu.")
    elif source == "Appel exemple fourni" or (pasted or "").strip():
        try:
            ev = grid_editor.preview_evaluation(candidate, taxonomy=active_tax, transcript=pasted)
        except CcrError as err:
            st.error(str(err))
        else:
            verdict = "réussi" if ev["passed"] else "échoué"
            critical = " — échec critique" if ev["critical_failed"] else ""
            st.metric("Note", f"{fr_score(ev['score'])} / 100", f"{verdict}{critical}",
                      delta_color="normal" if ev["passed"] else "inverse")
            crit_labels = {c.id: c.label for c in candidate.criteria}
            cat_labels = {c.id: c.label for c in active_tax.categories}
            irr_labels = {i.id: i.label for i in active_tax.irritants}
            st.dataframe(plain_frame(pd.DataFrame([{
                "Critère": label_of(crit_labels, c["id"]), "Verdict": VERDICTS.get(c["verdict"], c["verdict"]),
                "Poids": c["weight"],
                "Preuves": " | ".join(f"[{fmt_ts(e['start'])}] {SPEAKER_LABELS.get(e['speaker'], e['speaker'])} : "
                                      f"{e['text']}" for e in c["evidence"]),
                "Explication": c["explanation"],
            } for c in ev["criteria"]])), hide_index=True, width="stretch")
            st.markdown(f"**Catégorie :** {md_escape(label_of(cat_labels, ev['category']))}  \n"
                        f"**Résumé :** {md_escape(ev['summary'])}")
            for irr in ev["irritants"]:
                st.markdown(f"- Irritant client **{md_escape(label_of(irr_labels, irr['label']))}** à "
                            f"{fmt_ts(irr['start'])} : « {md_escape(irr['text'])} »")
            for rec in ev["recommendations"]:
                st.markdown(f"- 💡 {md_escape(rec)}")

    st.subheader("Re-scorer")
    if uploaded is not None:
        st.info("Enregistrez d'abord la grille importée pour re-scorer des appels avec elle.")
    else:
        today = utcnow().astimezone(tz).date()
        period = st.date_input("Appels de la période", value=(today - timedelta(days=RESCORE_DEFAULT_DAYS), today),
                               max_value=today, format="DD/MM/YYYY")
        st.caption(f"Les appels transcrits de la période sont remis en file et notés avec la version "
                   f"{by_id[chosen].version} de « {md_escape(by_id[chosen].slug)} » ; leurs évaluations précédentes "
                   "restent dans l'historique.")
        if st.button("Re-scorer les appels d'une période avec cette version"):
            if isinstance(period, tuple) and len(period) == 2:
                start = datetime.combine(period[0], time.min, tzinfo=tz).astimezone(UTC)
                end = datetime.combine(period[1] + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
                try:
                    with session() as s:
                        n = queue.rescore_calls(session=s, actor=actor, grid_id=chosen, period=(start, end))
                    st.success(f"{n} appel(s) mis en file pour être re-notés.")
                except CcrError as err:
                    st.error(str(err))
            else:
                st.error("Choisissez une date de début et une date de fin.")

with tab_tax:
    st.caption(AI_ACT_HELP)
    st.caption(f"Version active : {tax_version}" if tax_version else "Taxonomie française fournie par CCR "
               "(aucune version propre à votre organisation).")
    tax_file = st.file_uploader("Importer une taxonomie (YAML)", type=["yaml", "yml", "json"],
                                key=f"tax_upload_{st.session_state.get(UPLOAD_GEN_KEY, 0)}")
    tax_base, tax_key = active_tax, f"tax{tax_version or 0}"
    if tax_file is not None:
        try:
            tax_base = grid.load_taxonomy_yaml(tax_file.getvalue().decode("utf-8"))
            tax_key = "taximport-" + hashlib.sha256(tax_file.getvalue()).hexdigest()[:12]
        except (CcrError, UnicodeDecodeError) as err:
            st.error(f"Import impossible : {md_escape(err)}")
    cat_rows, irr_rows = grid_editor.taxonomy_rows(tax_base)
    st.markdown(f"**Catégories** et leurs expressions révélatrices, séparées par « {grid_editor.PHRASE_SEPARATOR} ».")
    cats = st.data_editor(pd.DataFrame(cat_rows, columns=["id", "label", "cues"]), key=f"cats_{tax_key}",
                          num_rows="dynamic", hide_index=True, width="stretch", column_config={
                              "id": st.column_config.TextColumn("Identifiant", required=True),
                              "label": st.column_config.TextColumn("Libellé"),
                              "cues": st.column_config.TextColumn("Expressions", width="large")})
    st.markdown("**Irritants du client** et leur lexique (côté client uniquement).")
    irrs = st.data_editor(pd.DataFrame(irr_rows, columns=["id", "label", "phrases"]), key=f"irr_{tax_key}",
                          num_rows="dynamic", hide_index=True, width="stretch", column_config={
                              "id": st.column_config.TextColumn("Identifiant", required=True),
                              "label": st.column_config.TextColumn("Libellé"),
                              "phrases": st.column_config.TextColumn("Expressions", width="large")})
    cat_ids = [grid_editor.cell_text(i) for i in cats["id"] if grid_editor.cell_text(i)] or [tax_base.default_category]
    c_default, c_fuzzy = st.columns(2)
    default_cat = c_default.selectbox("Catégorie par défaut", cat_ids, key=f"default_{tax_key}",
                                      index=cat_ids.index(tax_base.default_category)
                                      if tax_base.default_category in cat_ids else 0)
    fuzzy = c_fuzzy.number_input("Seuil de ressemblance (50 à 100)", min_value=50, max_value=100, step=1,
                                 value=int(tax_base.fuzzy_threshold), key=f"fuzzy_{tax_key}",
                                 help="Plus il est bas, plus les fautes de transcription sont tolérées.")
    c_tax_save, c_tax_export = st.columns(2)
    tax_candidate = None
    try:
        tax_candidate = grid_editor.taxonomy_from_editor(cats.to_dict("records"), irrs.to_dict("records"),
                                                   default_category=default_cat, fuzzy_threshold=int(fuzzy))
    except CcrError as err:
        tax_error = str(err)
    if c_tax_save.button("Enregistrer la taxonomie", type="primary"):
        if tax_candidate is None:
            st.error(tax_error)
        else:
            try:
                with session() as s:
                    trow = grid_store.save_taxonomy(session=s, actor=actor, taxonomy=tax_candidate)
                    tv = trow.version
                _saved(f"Taxonomie enregistrée (version {tv}) : elle s'applique aux prochains appels notés.")
            except CcrError as err:
                st.error(str(err))
    c_tax_export.download_button("Exporter en YAML", data=grid.dump_taxonomy_yaml(tax_candidate or tax_base),
                                 file_name="taxonomie.yaml", mime="application/x-yaml", key="tax_export")
