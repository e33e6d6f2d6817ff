"""Équité des scores: does the AI score groups of agents (teams, campaigns, groups the organisation defines)
differently? Scores, AI-human disagreement and overrides per group, with the gaps beyond chance flagged; the
administrators manage the agent groups in a second tab."""

from zoneinfo import ZoneInfo

import streamlit as st

from ccr.core.access import may
from ccr.core.config import get_settings
from ccr.core.db import session, utcnow
from ccr.core.errors import CcrError
from ccr.core.formats import fr_percent
from ccr.core.orgs import list_agents
from ccr.governance import fairness
from ccr.ui import fairness_view as view
from ccr.ui.consent import ensure_consent_banner
from ccr.ui.guard import require_page
from ccr.ui.text import md_escape, plain, plain_frame

actor = require_page("fairness")
ensure_consent_banner()
FLASH_KEY = "ccr_fairness_flash"
tz = ZoneInfo(get_settings().timezone)

st.title("🧮 Équité des scores")
st.caption("L'IA évalue le travail des agents : cette page vérifie qu'elle ne traite pas un groupe d'agents "
           "différemment du reste de l'organisation. Chaque groupe est comparé au reste, sur les évaluations "
           "que comptent les tableaux de bord (appels restreints et exclus du périmètre non compris).")
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)

is_admin = may(actor.role, "agent_groups")
tabs = st.tabs(["Audit par groupe", "Groupes d'agents"] if is_admin else ["Audit par groupe"])

def _audit() -> None:
    """The audit tab; returns early (never stops the script) so the groups tab still draws."""
    left, right = st.columns([2, 3])
    dimension = left.radio("Comparer par", list(fairness.DIMENSIONS), format_func=fairness.DIMENSIONS.get,
                           horizontal=True, key="fair_dimension")
    today = utcnow().astimezone(tz).date()
    period = right.date_input("Période (date des appels)", value=fairness.default_period(today), max_value=today,
                              format="DD/MM/YYYY", key="fair_period")
    if not (isinstance(period, tuple) and len(period) == 2):
        st.info("Choisissez la date de fin de la période.")
        return
    try:
        with session() as s:
            report = fairness.group_report(session=s, actor=actor, dimension=dimension, start=period[0],
                                           end=period[1])
    except CcrError as err:
        st.error(str(err))
        return

    total = report.overall
    c1, c2, c3 = st.columns(3)
    c1.metric("Évaluations comptées", total.evaluations)
    c2.metric("Revues par un humain", total.reviewed)
    c3.metric("Groupes signalés", len(report.flagged))
    if total.unvalidated:
        st.info(f"{total.unvalidated} évaluation(s) sur {total.evaluations} "
                f"({fr_percent(total.unvalidated / total.evaluations, ratio=True)}) n'ont été validées par aucun "
                "humain : leur score est celui de l'IA seule. Le désaccord et le taux de correction ne portent que "
                f"sur les {total.reviewed} évaluation(s) revue(s).")
    if dimension == "group" and not report.groups:
        st.info("Aucun groupe d'agents n'est défini : un administrateur les crée dans l'onglet « Groupes "
                "d'agents » (un site, une équipe horaire, une tranche d'ancienneté…).")
    elif not total.evaluations:
        st.info("Aucune évaluation sur cette période.")
    else:
        if report.flagged:
            st.subheader("Écarts au-delà du hasard")
            st.caption("À examiner : un signalement est une question à instruire, pas la preuve d'un biais.")
            for group in report.flagged:
                st.warning("\n\n".join([view.flag_heading(group), *view.flag_sentences(group)]), icon="⚠️")
        elif report.tests:
            st.success("Aucun groupe ne s'écarte du reste de l'organisation au-delà de ce que le hasard explique.")
        else:
            st.info("Aucun groupe n'a un échantillon suffisant pour être comparé : élargissez la période.")
        st.subheader("Par groupe")
        st.dataframe(plain_frame(view.report_frame(report)), hide_index=True, width="stretch")
        if dimension == "group" and report.outside_groups:
            st.caption(f"{report.outside_groups} évaluation(s) d'agents sans groupe comptent dans le reste de "
                       "l'organisation.")
        with st.expander("Désaccord IA / humain par critère"):
            if total.reviewed:
                st.dataframe(plain_frame(view.criteria_frame(report)), hide_index=True, width="stretch")
            else:
                st.info("Aucune évaluation revue par un humain sur la période.")
    with st.expander("Comment lire cet audit", expanded=bool(report.flagged)):
        st.markdown(view.HOW_TO_READ)


with tabs[0]:
    _audit()

if is_admin:
    with tabs[1]:
        st.caption("Les groupes servent uniquement à cet audit : un site, une équipe horaire, une tranche "
                   "d'ancienneté… Un agent peut appartenir à plusieurs groupes. Chaque modification est "
                   "journalisée.")
        try:
            with session() as s:
                groups = fairness.list_groups(session=s, actor=actor)
                agents = {a.id: a.name for a in list_agents(session=s, actor=actor, include_inactive=True)}
        except CcrError as err:
            st.error(str(err))
            st.stop()

        def _name(agent_id: int) -> str:
            return plain(agents.get(agent_id, f"Agent n° {agent_id}"))

        def _save(action, message: str) -> None:
            try:
                with session() as s:
                    action(s)
            except CcrError as err:
                st.error(str(err))
                return
            st.session_state[FLASH_KEY] = message
            st.rerun()

        with st.form("fair_new_group", clear_on_submit=True):
            st.markdown("**Nouveau groupe**")
            new_name = st.text_input("Nom du groupe", max_chars=fairness.MAX_GROUP_NAME_CHARS, key="fair_new_name")
            new_members = st.multiselect("Agents", list(agents), format_func=_name, key="fair_new_members")
            if st.form_submit_button("Créer le groupe"):
                def _create(s, name=new_name, members=tuple(new_members)):
                    group = fairness.create_group(session=s, actor=actor, name=name)
                    fairness.set_members(session=s, actor=actor, group_id=group.id, agent_ids=members)

                _save(_create, "Groupe créé.")

        if not groups:
            st.info("Aucun groupe d'agents pour l'instant.")
        for group in groups:
            with st.expander(f"{md_escape(group.name)} — {len(group.agent_ids)} agent(s)"):
                renamed = st.text_input("Nom", value=group.name, max_chars=fairness.MAX_GROUP_NAME_CHARS,
                                        key=f"fair_name_{group.id}")
                members = st.multiselect("Agents", list(agents), default=[a for a in group.agent_ids if a in agents],
                                         format_func=_name, key=f"fair_members_{group.id}")
                save, drop = st.columns(2)
                if save.button("Enregistrer", key=f"fair_save_{group.id}"):
                    def _update(s, gid=group.id, name=renamed, chosen=tuple(members), old=group.name):
                        if name.strip() != old:
                            fairness.rename_group(session=s, actor=actor, group_id=gid, name=name)
                        fairness.set_members(session=s, actor=actor, group_id=gid, agent_ids=chosen)

                    _save(_update, "Groupe enregistré.")
                confirm = drop.checkbox("Confirmer la suppression", key=f"fair_confirm_{group.id}")
                if drop.button("Supprimer le groupe", key=f"fair_delete_{group.id}", disabled=not confirm):
                    _save(lambda s, gid=group.id: fairness.delete_group(session=s, actor=actor, group_id=gid),
                          "Groupe supprimé (les agents et leurs appels ne changent pas).")
