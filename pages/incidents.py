"""Incidents & support (admin; DPO read-only on data breaches): availability, register, maintenance, export."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.core.errors import CcrError
from ccr.core.formats import fr_number, fr_percent, label_of
from ccr.ops import health, incidents
from ccr.pipeline import maintenance
from ccr.ui.guard import require_page
from ccr.ui.maintenance_banner import announcements
from ccr.ui.service_level import availability, current_month, latest_probe, local, local_naive, to_utc
from ccr.ui.text import plain, plain_frame

actor = require_page("incidents")
settings = get_settings()
is_admin = actor.role == "admin"
FMT = "%d/%m/%Y %H:%M"
EXPORT_KEY = "ccr_breach_export"


def _fmt(value) -> str:
    return local(value).strftime(FMT) if value else ""


st.title("🚨 Incidents & support")
st.caption(
    f"Support du lundi au vendredi, {settings.support_open_hour} h – {settings.support_close_hour} h, hors jours "
    "fériés français. Délais de prise en charge : P1 sous 4 heures ouvrées, P2 sous 1 jour ouvré, "
    "P3 sous 3 jours ouvrés."
)

# --- availability (admin) -----------------------------------------------------------------------
if is_admin:
    st.subheader("Disponibilité du mois")
    month = current_month()
    avail = availability(actor.org_id, month)
    target = fr_percent(avail["target"], 2, ratio=True, trim=True)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Disponibilité", fr_percent(avail["availability_pct"], 2),
              help=f"Objectif : {target} par mois, maintenances annoncées exclues.")
    c2.metric("Minutes d'indisponibilité", avail["down_minutes"],
              help=f"Au plus {avail['allowed_down_minutes']} minutes pour tenir l'objectif sur la période mesurée.")
    c3.metric("Maintenance exclue (min)", avail["maintenance_minutes"])
    c4.metric("Minutes mesurées", avail["measured_minutes"])
    if avail["availability"] is None:
        st.info("Aucune mesure pour ce mois : la sonde de santé enregistre l'état du service chaque minute.")
    elif avail["meets_target"]:
        st.success(f"Objectif de {target} tenu pour {month} (mesure arrêtée à {_fmt(avail['until'])}).")
    else:
        st.error(f"Objectif de {target} non tenu pour {month} : {fr_number(avail['down_minutes'], 0)} minutes "
                 "d'indisponibilité.")
    st.caption("Une minute sans sonde est comptée indisponible au-delà de "
               "2 minutes de silence ; les minutes avant la première sonde ne sont pas mesurées.")
    probe = latest_probe()
    if probe:
        with st.expander(f"Dernière sonde : {_fmt(probe['checked_at'])} — "
                         f"{label_of(health.CHECK_STATUS_LABELS, probe['status'])}"):
            st.dataframe(pd.DataFrame([{"Contrôle": label_of(health.CHECK_LABELS, k),
                                        "État": label_of(health.CHECK_STATUS_LABELS, v["status"]),
                                        "Détail": v["detail"]}
                                       for k, v in probe["checks"].items()]), hide_index=True, width="stretch")
    if avail["incidents"]:
        st.markdown("**Incidents ayant causé une indisponibilité**")
        st.dataframe(plain_frame(pd.DataFrame([{"N°": i["id"], "Titre": i["titre"], "Priorité": i["priorite"],
                                                "Début": _fmt(i["debut"]), "Fin": _fmt(i["fin"]) or "en cours",
                                                "Minutes": i["minutes"]} for i in avail["incidents"]])),
                     hide_index=True, width="stretch")

# --- register -------------------------------------------------------------------------------------
st.subheader("Registre des incidents" if is_admin else "Violations de données")
with session() as s:
    register = incidents.list_incidents(session=s, actor=actor)
rows = incidents.register_rows(register, settings=settings)
breached = [r for r in rows if r["sla"] == "breached"]
near = [r for r in rows if r["sla"] == "near"]
late_notice = [r for r in rows if r["notification_en_retard"]]
if breached:
    st.error(f"{len(breached)} incident(s) hors délai de prise en charge : "
             + ", ".join(f"n° {r['id']}" for r in breached))
if near:
    st.warning(f"{len(near)} incident(s) bientôt hors délai (moins de 25 % du délai restant) : "
               + ", ".join(f"n° {r['id']}" for r in near))
if late_notice:
    st.error(f"Violation(s) de données sans notification du client après {incidents.BREACH_NOTIFY_HOURS} h : "
             + ", ".join(f"n° {r['id']}" for r in late_notice))
if rows:
    table = plain_frame(pd.DataFrame([{
        "N°": r["id"], "Type": r["type"], "Priorité": r["priorite"], "Titre": r["titre"], "Statut": r["statut"],
        "Ouvert le": _fmt(r["ouvert_le"]), "Échéance de réponse": _fmt(r["echeance_reponse"]),
        "Première réponse": _fmt(r["premiere_reponse"]), "Résolu le": _fmt(r["resolu_le"]),
        "Délai": r["delai"], "Reste (h ouvrées)": r["reste_ouvre_h"],
    } for r in rows]))
    colours = {"breached": "background-color: #f8d7da", "near": "background-color: #fff3cd"}
    states = [r["sla"] for r in rows]
    styled = table.style.apply(lambda row: [colours.get(states[row.name], "")] * len(row), axis=1)
    # A styled table shows the Styler's own text: the hours get the French format there.
    styled = styled.format({"Reste (h ouvrées)": lambda h: "" if pd.isna(h) else fr_number(h, 1)})
    st.dataframe(styled, hide_index=True, width="stretch")
else:
    st.info("Aucun incident enregistré." if is_admin else "Aucune violation de données enregistrée.")

# --- breach export (admin and DPO) -----------------------------------------------------------------
if st.button("Préparer l'export des violations de données (CSV)", key="prepare_breach_export"):
    try:
        with session() as s:
            st.session_state[EXPORT_KEY] = incidents.export_breaches_csv(session=s, actor=actor)
    except CcrError as err:
        st.error(str(err))
if st.session_state.get(EXPORT_KEY):
    st.download_button("Télécharger le CSV", st.session_state[EXPORT_KEY], file_name="violations_de_donnees.csv",
                       mime="text/csv", key="download_breach_export")

if not is_admin:
    st.caption("Consultation en lecture seule : l'administrateur tient le registre.")
    st.stop()

# --- forms (admin) -----------------------------------------------------------------------------
tab_new, tab_edit, tab_maint = st.tabs(["Ouvrir un incident", "Mettre à jour un incident", "Maintenances"])

with tab_new, st.form("new_incident", clear_on_submit=True):
    kind = st.radio("Type", incidents.KINDS, format_func=incidents.KIND_LABELS.get, horizontal=True)
    title = st.text_input("Titre")
    priority = st.selectbox("Priorité", incidents.PRIORITIES, format_func=incidents.PRIORITY_LABELS.get)
    opened_at = st.datetime_input("Ouvert le", value=local_naive(utcnow()), step=timedelta(minutes=1))
    description = st.text_area("Description (nature de la violation le cas échéant)")
    impact = st.text_area("Impact")
    downtime = st.checkbox("A causé une indisponibilité du service")
    downtime_start = st.datetime_input("Début de l'indisponibilité", value=None, step=timedelta(minutes=1))
    st.markdown("**Violation de données** (à remplir pour ce type)")
    categories = st.text_input("Catégories de données concernées")
    people = st.number_input("Nombre de personnes concernées", min_value=0, step=1, value=0)
    consequences = st.text_area("Conséquences probables")
    measures = st.text_area("Mesures prises")
    if st.form_submit_button("Ouvrir l'incident"):
        fields = {"description": description, "impact": impact, "caused_downtime": downtime,
                  "downtime_start": to_utc(downtime_start)}
        if kind == "breach":
            fields |= {"data_categories": categories, "people_count": int(people),
                       "likely_consequences": consequences, "measures_taken": measures}
        try:
            with session() as s:
                inc = incidents.create_incident(session=s, actor=actor, title=title, priority=priority, kind=kind,
                                                opened_at=to_utc(opened_at), settings=settings, **fields)
            availability.clear()
            st.success(f"Incident n° {inc.id} ouvert : réponse attendue avant le {_fmt(inc.response_due_at)}.")
        except CcrError as err:
            st.error(str(err))

with tab_edit:
    by_id = {inc.id: inc for inc in register}
    chosen = st.selectbox("Incident", list(by_id), format_func=lambda i: f"n° {i} — {plain(by_id[i].title)}",
                          key="edit_incident")
    if chosen is not None:
        cur = by_id[chosen]
        with st.form("edit_incident_form"):
            status = st.selectbox("Statut", incidents.STATUSES, index=incidents.STATUSES.index(cur.status),
                                  format_func=incidents.INCIDENT_STATUS_LABELS.get)
            new_priority = st.selectbox("Priorité", incidents.PRIORITIES,
                                        index=incidents.PRIORITIES.index(cur.priority),
                                        format_func=incidents.PRIORITY_LABELS.get)
            first_response = st.datetime_input("Première réponse le", value=local_naive(cur.first_response_at),
                                               step=timedelta(minutes=1))
            resolved = st.datetime_input("Résolu le", value=local_naive(cur.resolved_at), step=timedelta(minutes=1))
            impact_edit = st.text_area("Impact", value=plain(cur.impact))
            downtime_edit = st.checkbox("A causé une indisponibilité du service", value=cur.caused_downtime)
            d_start = st.datetime_input("Début de l'indisponibilité", value=local_naive(cur.downtime_start),
                                        step=timedelta(minutes=1))
            d_end = st.datetime_input("Fin de l'indisponibilité", value=local_naive(cur.downtime_end),
                                      step=timedelta(minutes=1))
            extra = {}
            if cur.kind == "breach":
                extra = {
                    "data_categories": st.text_input("Catégories de données", value=plain(cur.data_categories)),
                    "people_count": int(st.number_input("Personnes concernées", min_value=0, step=1,
                                                        value=cur.people_count or 0)),
                    "likely_consequences": st.text_area("Conséquences probables",
                                                        value=plain(cur.likely_consequences)),
                    "measures_taken": st.text_area("Mesures prises", value=plain(cur.measures_taken)),
                    "client_notified_at": to_utc(st.datetime_input(
                        "Client notifié le", value=local_naive(cur.client_notified_at), step=timedelta(minutes=1))),
                }
            if st.form_submit_button("Enregistrer"):
                try:
                    with session() as s:
                        incidents.update_incident(
                            session=s, actor=actor, incident_id=chosen, settings=settings, status=status,
                            priority=new_priority, first_response_at=to_utc(first_response),
                            resolved_at=to_utc(resolved), impact=impact_edit, caused_downtime=downtime_edit,
                            downtime_start=to_utc(d_start), downtime_end=to_utc(d_end), **extra)
                    availability.clear()
                    st.success("Incident mis à jour.")
                    st.rerun()
                except CcrError as err:
                    st.error(str(err))

with tab_maint:
    with session() as s:
        windows = maintenance.list_windows(session=s, org_id=actor.org_id, since=utcnow() - timedelta(days=31))
    if windows:
        st.dataframe(plain_frame(pd.DataFrame([{
            "N°": w.id, "Début": _fmt(w.starts_at), "Fin": _fmt(w.ends_at), "Message": w.message,
            "Portée": "toutes les organisations" if w.org_id is None else "votre organisation",
            "Programmée le": _fmt(w.created_at),
        } for w in windows])), hide_index=True, width="stretch")
    st.caption(f"Le bandeau s'affiche sur toutes les pages {settings.maintenance_notice_hours} h avant le début ; "
               "pendant la maintenance, les appels importés sont mis en attente puis traités ensuite.")
    with st.form("new_window", clear_on_submit=True):
        default_start = local_naive(utcnow() + timedelta(hours=settings.maintenance_notice_hours))
        w_start = st.datetime_input("Début", value=default_start, step=timedelta(minutes=15))
        w_end = st.datetime_input("Fin", value=default_start + timedelta(hours=1), step=timedelta(minutes=15))
        w_message = st.text_input("Message affiché aux utilisateurs")
        if st.form_submit_button("Programmer la maintenance"):
            try:
                with session() as s:
                    maintenance.schedule_window(session=s, actor=actor, starts_at=to_utc(w_start),
                                                ends_at=to_utc(w_end), message=w_message)
                announcements.clear()
                availability.clear()
                st.success("Maintenance programmée.")
            except CcrError as err:
                st.error(str(err))
    own = [w for w in windows if w.org_id == actor.org_id and local(w.ends_at) > local(utcnow())]
    if own:
        cancel_id = st.selectbox("Annuler une maintenance", [w.id for w in own], key="cancel_window",
                                 format_func=lambda i: f"n° {i}")
        if st.button("Annuler cette maintenance", key="cancel_window_button"):
            with session() as s:
                maintenance.cancel_window(session=s, actor=actor, window_id=cancel_id)
            announcements.clear()
            st.rerun()
