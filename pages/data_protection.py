"""Protection des données (DPO, admin): conservation et purge, exports, droits des personnes,
journal d'audit, sous-traitants; résiliation de l'organisation (admin)."""

import json
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from ccr.core import audit, orgs
from ccr.core.config import get_settings
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.formats import fr_number
from ccr.core.vocab import DIRECTIONS
from ccr.ops import scheduler
from ccr.privacy import exports, retention, subjects
from ccr.privacy.subprocessors import list_subprocessors
from ccr.ui import dashboard_cache as cache
from ccr.ui.guard import require_page
from ccr.ui.text import NUMBER_FORMAT, md_escape, plain, plain_frame

actor = require_page("data_protection")
settings = get_settings()
TZ = ZoneInfo(settings.timezone)
PURGE_STATUS_LABELS = {"ok": "✅ terminée", "error": "❌ erreur", "skipped": "⏭️ ignorée (autre processus)",
                 "running": "⏳ en cours", "interrupted": "⚠️ interrompue puis reprise"}
EXPORT_STATUS = {"queued": "en attente", "running": "en cours", "done": "prêt", "failed": "échec"}
TRIGGERS = {"schedule": "planifiée", "manual": "manuelle", "cli": "ligne de commande"}


def local(dt: datetime | None) -> str:
    """A stored UTC instant as local French text."""
    return dt.astimezone(TZ).strftime("%d/%m/%Y %H:%M") if dt else "—"


def deleted_summary(deleted_json: str) -> str:
    """The per-category counts of a run, in French."""
    counts = json.loads(deleted_json or "{}")
    return ", ".join(f"{retention.DELETED_LABELS.get(k, k)} : {v}" for k, v in counts.items()) or "rien"


st.title("🛡️ Protection des données")
with session() as s:
    org = orgs.get_organisation(session=s, actor=actor)
countdown = retention.termination_countdown(org, settings=settings)
if countdown is not None:
    st.error(f"Organisation résiliée : toutes ses données seront supprimées dans {countdown} jour(s), le "
             f"{local(retention.termination_deadline(org, settings))}. Exportez-les avant cette date.")

tab_keep, tab_exports, tab_rights, tab_audit, tab_sub = st.tabs(
    ["Conservation", "Exports", "Droits des personnes", "Journal d'audit", "Sous-traitants"])

# --- Conservation ----------------------------------------------------------------------------------
with tab_keep:
    with session() as s:
        rules = retention.get_retention(session=s, actor=actor)
    st.caption("Les données de chaque catégorie sont supprimées automatiquement à l'échéance ; les statistiques "
               "anonymes (sans agent ni appel) sont conservées. Raccourcir une durée est toujours possible ; "
               "la prolonger au-delà de la référence exige une justification écrite.")
    with st.form("retention_form"):
        wanted = {}
        for rule in rules:
            st.markdown(f"**{rule['label']}**")
            left, right = st.columns([1, 2])
            days = left.number_input("Durée (jours)", min_value=retention.MIN_DAYS, max_value=retention.MAX_DAYS,
                                     value=int(rule["days"]), step=1, key=f"ret_days_{rule['category']}")
            right.caption(f"Référence : {rule['reference_days']} jours au plus — {rule['reference']} "
                          f"Décompte à partir de : {rule['counted_from']}. Par défaut : {rule['default_days']} jours.")
            why = right.text_area("Justification (obligatoire au-delà de la référence)",
                                  value=rule["justification"] or "", key=f"ret_why_{rule['category']}", height=68)
            wanted[rule["category"]] = (int(days), why)
        if st.form_submit_button("Enregistrer les durées", type="primary"):
            changed, errors = 0, []
            for rule in rules:
                days, why = wanted[rule["category"]]
                if days == rule["days"] and (why or None) == rule["justification"]:
                    continue
                try:
                    with session() as s:
                        retention.set_retention(session=s, actor=actor, category=rule["category"], days=days,
                                                justification=why)
                    changed += 1
                except CcrError as err:
                    errors.append(str(err))
            for message in errors:
                st.error(message)
            if changed:
                st.success(f"{changed} durée(s) enregistrée(s).")

    st.subheader("Purge automatique")
    nxt = scheduler.next_run_time(settings)
    st.write(f"Prochaine purge planifiée : **{local(nxt)}** (chaque jour à {settings.purge_hour} h, heure de Paris).")
    if st.button("Lancer maintenant", key="purge_now"):
        with st.spinner("Purge en cours…"):
            run = retention.run_purge_now(actor=actor)
        cache.clear_after_write()  # the purged calls leave the dashboards at once, not after the cache's TTL
        if run.status == "ok":
            st.success(f"Purge terminée en {fr_number(run.duration_s, 1, unit='s')} : "
                       f"{deleted_summary(run.deleted_json)}.")
        elif run.status == "skipped":
            st.warning("Une purge est déjà en cours dans un autre processus : réessayez dans quelques minutes.")
        else:
            st.error(f"La purge a échoué : {run.error}")
    with session() as s:
        runs = retention.list_runs(session=s, actor=actor)
    st.markdown("**Historique des purges**")
    if runs:
        st.dataframe(pd.DataFrame([{
            "Début": local(r.started_at), "Déclenchement": TRIGGERS.get(r.trigger, r.trigger),
            "Statut": PURGE_STATUS_LABELS.get(r.status, r.status) + (" (simulation)" if r.dry_run else ""),
            "Durée (s)": None if r.duration_s is None else round(r.duration_s, 1),
            "Supprimé": deleted_summary(r.deleted_json), "Erreur": r.error or "",
        } for r in runs]), hide_index=True, width="stretch",
            column_config={"Durée (s)": st.column_config.NumberColumn(format=NUMBER_FORMAT)})
    else:
        st.info("Aucune purge n'a encore été exécutée.")

    if actor.role == "admin":
        with st.expander("Résilier l'organisation"):
            st.warning(f"La résiliation coupe immédiatement l'accès de tous les utilisateurs. Toutes les données "
                       f"sont supprimées {settings.termination_grace_days} jours plus tard (statistiques anonymes "
                       "exceptées). Exportez-les d'abord (onglet Exports).")
            phrase = f"RÉSILIER {plain(org.name)}"
            typed = st.text_input(f"Tapez « {md_escape(phrase)} » pour confirmer", key="terminate_confirm")
            if st.button("Résilier l'organisation", type="primary", disabled=typed.strip() != phrase):
                try:
                    with session() as s:
                        done = orgs.set_organisation_status(session=s, actor=actor, status="terminated")
                    st.success(f"Organisation résiliée. Suppression des données le "
                               f"{local(retention.termination_deadline(done, settings))}.")
                except CcrError as err:
                    st.error(str(err))

# --- Exports ---------------------------------------------------------------------------------------
with tab_exports:
    st.caption("Les archives sont chiffrées sur le serveur et supprimées après la durée de conservation des "
               "exports. Chaque export et chaque téléchargement est journalisé.")
    include_audio = st.checkbox("Inclure les enregistrements audio (déchiffrés dans l'archive)", key="exp_audio")
    if st.button("Exporter toute l'organisation", key="exp_org"):
        try:
            exports.start_organisation_export(actor=actor, include_audio=include_audio)
            st.toast("Export lancé.")
            st.rerun()
        except CcrError as err:
            st.error(str(err))

    with session() as s:
        export_rows = exports.list_exports(session=s, actor=actor)
    in_progress = [e.id for e in export_rows if e.status in ("queued", "running")]

    if in_progress:
        @st.fragment(run_every=1)
        def export_progress() -> None:
            """Progress of the exports being built, refreshed every second; a full rerun once they are done."""
            with session() as s:
                live = {e.id: e for e in exports.list_exports(session=s, actor=actor)}
            if not any(live[i].status in ("queued", "running") for i in in_progress if i in live):
                st.rerun()  # the download buttons are drawn by a full run, never by this polling fragment
            for export_id in in_progress:
                ex = live.get(export_id)
                if ex is not None:
                    st.progress(float(ex.progress or 0),
                                text=f"Export du {local(ex.created_at)} : {round(100 * (ex.progress or 0))} %")

        export_progress()

    if not export_rows:
        st.info("Aucun export disponible.")
    for ex in export_rows:
        if ex.status in ("queued", "running"):
            continue
        kind = "Organisation" if ex.kind == "organisation" else f"Personne ({md_escape(ex.subject)})"
        cols = st.columns([3, 2, 2])
        cols[0].write(f"**{kind}** — {local(ex.created_at)}" + (" — avec audio" if ex.include_audio else ""))
        cols[1].write(f"Expire le {local(ex.expires_at)}")
        if ex.status == "done":
            # Decrypted and audited only when clicked (deferred callable).
            cols[2].download_button(
                "Télécharger l'archive", key=f"dl_{ex.id}", file_name=exports.download_name(ex),
                mime="application/zip", on_click="ignore",
                data=lambda export_id=ex.id: exports.read_export(actor=actor, export_id=export_id))
        else:
            cols[2].error(f"Échec : {md_escape(ex.error or 'erreur inconnue')}")

    st.subheader("Export des données d'une personne")
    st.caption("Droit d'accès et portabilité : données au format JSON et résumé lisible en français.")
    with session() as s:
        agents = orgs.list_agents(session=s, actor=actor, include_inactive=True)
    agent_names = {a.id: plain(a.name) for a in agents}
    by = st.radio("Personne concernée", ["Agent", "Numéro de téléphone client"], horizontal=True, key="sub_exp_by")
    if by == "Agent":
        sub_agent = st.selectbox("Agent", list(agent_names), format_func=agent_names.get, key="sub_exp_agent")
        sub_phone = None
    else:
        sub_agent, sub_phone = None, st.text_input("Numéro de téléphone", key="sub_exp_phone")
    sub_audio = st.checkbox("Inclure les enregistrements audio", key="sub_exp_audio")
    if st.button("Exporter les données de la personne", key="sub_exp_go"):
        try:
            exports.create_subject_export(actor=actor, agent_id=sub_agent, phone=sub_phone, include_audio=sub_audio)
            st.success("Export prêt : il apparaît dans la liste ci-dessus.")
            st.rerun()
        except CcrError as err:
            st.error(str(err))

# --- Droits des personnes ---------------------------------------------------------------------------
with tab_rights:
    by = st.radio("Rechercher par", ["Agent", "Numéro de téléphone client"], horizontal=True, key="rights_by")
    if by == "Agent":
        r_agent = st.selectbox("Agent", list(agent_names), format_func=agent_names.get, key="rights_agent")
        r_phone = None
    else:
        r_agent, r_phone = None, st.text_input("Numéro de téléphone", key="rights_phone")
    target = {"agent_id": r_agent, "phone": r_phone}
    if st.button("Rechercher", key="rights_search"):
        st.session_state["rights_target"] = target
    if st.session_state.get("rights_target") == target and (r_agent or r_phone):
        try:
            with session() as s:
                pv = subjects.preview(session=s, actor=actor, **target)
        except CcrError as err:
            st.error(str(err))
            pv = None
        if pv:
            cols = st.columns(6)
            for col, (label, key) in zip(cols, [("Appels", "calls"), ("Transcriptions", "transcripts"),
                                                ("Évaluations", "evaluations"), ("Validations", "reviews"),
                                                ("Fichiers audio", "audio_files"),
                                                ("Mentions au journal", "audit_mentions")], strict=True):
                col.metric(label, pv[key])
            st.caption(f"Appels en traitement limité : {pv['restricted']}. Exports existants (supprimés avec "
                       f"l'effacement, car ils peuvent contenir ces données) : {pv['exports']}.")

            st.markdown("**Limitation du traitement**")
            st.caption("Les appels limités sont conservés mais exclus des traitements, des tableaux de bord "
                       "et de l'écoute.")
            lim, unlim = st.columns(2)
            for button, flag in ((lim.button("Limiter le traitement", key="restrict_on"), True),
                                 (unlim.button("Lever la limitation", key="restrict_off"), False)):
                if button:
                    with session() as s:
                        n = subjects.set_restriction(session=s, actor=actor, restricted=flag, **target)
                    cache.clear_after_write()
                    st.success(f"{n} appel(s) mis à jour.")

            st.markdown("**Rectification**")
            if r_agent:
                new_name = st.text_input("Nom corrigé de l'agent", value=agent_names[r_agent], key="rect_name")
                if st.button("Corriger le nom", key="rect_name_go"):
                    try:
                        with session() as s:
                            subjects.rectify_agent(session=s, actor=actor, agent_id=r_agent, name=new_name)
                        cache.clear_after_write()
                        st.success("Nom corrigé.")
                    except CcrError as err:
                        st.error(str(err))
            with st.form("rect_call"):
                st.caption("Corriger les métadonnées d'un appel (laisser vide ce qui ne change pas).")
                c1, c2, c3 = st.columns(3)
                call_id = c1.number_input("N° d'appel", min_value=1, step=1, key="rect_call_id")
                campaign = c2.text_input("Campagne", key="rect_campaign")
                direction = c3.selectbox("Sens", ["", *DIRECTIONS], key="rect_direction")
                external = c1.text_input("Identifiant externe", key="rect_external")
                phone = c2.text_input("Numéro du client", key="rect_phone")
                agent_fix = c3.selectbox("Agent", [None, *agent_names], format_func=lambda i: agent_names.get(i, "—"),
                                         key="rect_agent")
                if st.form_submit_button("Corriger l'appel"):
                    fields = {k: v for k, v in {"campaign": campaign, "direction": direction, "external_id": external,
                                                "customer_phone": phone, "agent_id": agent_fix}.items() if v}
                    try:
                        with session() as s:
                            subjects.rectify_call(session=s, actor=actor, call_id=int(call_id), **fields)
                        cache.clear_after_write()
                        st.success("Appel corrigé." if fields else "Rien à corriger.")
                    except CcrError as err:
                        st.error(str(err))

            st.markdown("**Effacement**")
            st.warning("L'effacement est définitif : appels, enregistrements, transcriptions, évaluations, "
                       "validations et exports existants. Les statistiques anonymes sont conservées ; le journal "
                       "d'audit aussi (preuve des traitements, RGPD art. 17.3), jusqu'à sa propre échéance.")
            typed = st.text_input(f"Tapez « {md_escape(pv['confirmation'])} » pour confirmer", key="erase_confirm")
            if st.button("Effacer définitivement", type="primary", key="erase_go",
                         disabled=typed.strip() != pv["confirmation"]):
                try:
                    counts = subjects.erase_subject(actor=actor, confirmation=typed, **target)
                    cache.clear_after_write()  # no cached figure or list may show an erased call again
                    st.session_state.pop("rights_target", None)
                    st.success(f"Effacement terminé : {counts.get('calls', 0)} appel(s), "
                               f"{counts.get('transcripts', 0)} transcription(s), "
                               f"{counts.get('audio_files', 0)} enregistrement(s) supprimés.")
                except CcrError as err:
                    st.error(str(err))

# --- Journal d'audit --------------------------------------------------------------------------------
with tab_audit:
    f1, f2, f3, f4 = st.columns(4)
    f_user = f1.text_input("Utilisateur", key="aud_user")
    f_action = f2.text_input("Action (exacte)", key="aud_action", placeholder="ex. export_downloaded")
    f_target = f3.text_input("Cible (type ou identifiant)", key="aud_target")
    today = datetime.now(TZ).date()
    period = f4.date_input("Période", value=(today - timedelta(days=30), today), key="aud_period",
                           format="DD/MM/YYYY")
    start, end = (period if isinstance(period, tuple) and len(period) == 2 else (period, period))
    filters = {"user": f_user or None, "action": f_action or None, "target": f_target or None,
               "since": datetime.combine(start, time.min, TZ) if start else None,
               "until": datetime.combine(end + timedelta(days=1), time.min, TZ) if end else None}
    with session() as s:
        entries = audit.list_events(session=s, org_id=actor.org_id, limit=500, **filters)
    st.dataframe(plain_frame(pd.DataFrame([{
        "Date": local(e.created_at), "Utilisateur": e.username, "Action": e.action,
        "Cible": f"{e.target_type or ''} {e.target_id or ''}".strip(), "Résultat": e.outcome, "Détail": e.detail_json,
    } for e in entries])), hide_index=True, width="stretch")
    st.caption(f"{len(entries)} entrée(s) affichée(s) (500 au plus). Le journal est en ajout seul ; chaque entrée "
               "porte l'empreinte de la précédente.")
    a1, a2, a3 = st.columns(3)
    a1.download_button("Exporter en CSV", key="aud_csv", file_name="journal-audit.csv", mime="text/csv",
                       on_click="ignore", data=lambda: exports.audit_log_csv(actor=actor, **filters))
    a3.download_button("Exporter les points de contrôle signés", key="aud_points",
                       file_name="journal-audit-points-de-controle.jsonl", mime="application/jsonl",
                       on_click="ignore", data=lambda: exports.audit_checkpoints_file(actor=actor),
                       help="À garder hors du serveur : « python -m ccr audit verify --points FICHIER » "
                            "y confronte le journal.")
    if a2.button("Vérifier l'intégrité du journal", key="aud_verify"):
        with session() as s:
            report = audit.verify_chain(session=s, org_id=actor.org_id)
        if report.ok:
            a2.success(f"Journal intègre : {report.checked} entrées vérifiées.")
        else:
            # Built from ids and dates only: no user-supplied text.
            where = f" aux entrées : {', '.join(map(str, report.broken_at))}" if report.broken_at else ""
            a2.error(f"Journal altéré{where}. " + " ; ".join(report.problems))

# --- Sous-traitants ---------------------------------------------------------------------------------
with tab_sub:
    st.caption("Liste établie à partir de la configuration en vigueur de ce serveur.")
    st.dataframe(pd.DataFrame([{
        "Service": i["name"], "Finalité": i["purpose"], "Hôte": i["host"], "Données transmises": i["data"],
        "Localisation": i["location"], "Actif": i["enabled"],
    } for i in list_subprocessors(settings)]), hide_index=True, width="stretch")
