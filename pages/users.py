"""Utilisateurs (admin): create, edit, deactivate, reset passwords; teams and agents."""

import pandas as pd
import streamlit as st

from ccr.core import orgs, users
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.vocab import ROLE_LABELS, ROLES
from ccr.ui import dashboard_cache as cache
from ccr.ui.guard import require_page
from ccr.ui.text import md_escape, plain, plain_frame

actor = require_page("users")
st.title("👥 Utilisateurs")

with session() as s:
    rows = users.list_users(session=s, actor=actor)
    teams = orgs.list_teams(session=s, actor=actor)
    agents = orgs.list_agents(session=s, actor=actor, include_inactive=True)
team_names = {t.id: plain(t.name) for t in teams}
agent_names = {a.id: plain(a.name) for a in agents}
role_fmt = ROLE_LABELS.get
PASSWORD_HELP = (f"Au moins {users.MIN_PASSWORD_LEN} caractères, trois types de caractères ; "
                 f"{users.BCRYPT_MAX_BYTES} octets au plus (un caractère accentué en compte deux).")

st.dataframe(
    plain_frame(pd.DataFrame(
        [
            {
                "Identifiant": r["username"],
                "Nom": r["display_name"],
                "Rôle": role_fmt(r["role"]),
                "Équipes": ", ".join(team_names.get(t, "?") for t in r["team_ids"]),
                "Agent": agent_names.get(r["agent_id"], "") if r["agent_id"] else "",
                "Actif": r["active"],
                "Verrouillé": r["locked"],
                "Dernière connexion": r["last_login_at"],
            }
            for r in rows
        ]
    )),
    hide_index=True,
    width="stretch",
)

tab_new, tab_edit, tab_teams = st.tabs(["Nouvel utilisateur", "Modifier un utilisateur", "Équipes et agents"])

with tab_new, st.form("new_user", clear_on_submit=True):
    username = st.text_input("Identifiant")
    display_name = st.text_input("Nom affiché")
    email = st.text_input("E-mail (facultatif)")
    role = st.selectbox("Rôle", ROLES, format_func=role_fmt)
    team_ids = st.multiselect("Équipes (chef d'équipe)", list(team_names), format_func=team_names.get)
    agent_id = st.selectbox("Fiche agent (téléconseiller)", list(agent_names), index=None,
                            format_func=agent_names.get, placeholder="Seulement pour un téléconseiller")
    password = st.text_input("Mot de passe initial", type="password", help=PASSWORD_HELP)
    if st.form_submit_button("Créer l'utilisateur"):
        try:
            with session() as s:
                users.create_user(session=s, org_id=actor.org_id, username=username, display_name=display_name,
                                  password=password, role=role, team_ids=team_ids, email=email or None,
                                  actor=actor, agent_id=agent_id if role == "agent" else None)
            st.success(f"Utilisateur « {md_escape(username)} » créé.")
            st.rerun()
        except CcrError as err:
            st.error(str(err))

with tab_edit:
    by_id = {r["id"]: r for r in rows}
    chosen = st.selectbox("Utilisateur", list(by_id), format_func=lambda i: plain(by_id[i]["username"]),
                          key="edit_user")
    if chosen is not None:
        current = by_id[chosen]
        with st.form("edit_user_form"):
            new_role = st.selectbox("Rôle", ROLES, index=ROLES.index(current["role"]), format_func=role_fmt)
            new_teams = st.multiselect("Équipes", list(team_names), default=current["team_ids"],
                                       format_func=team_names.get)
            new_agent = st.selectbox("Fiche agent (téléconseiller)", list(agent_names),
                                     index=list(agent_names).index(current["agent_id"])
                                     if current["agent_id"] in agent_names else None,
                                     format_func=agent_names.get, placeholder="Seulement pour un téléconseiller")
            new_active = st.checkbox("Compte actif", value=current["active"])
            if st.form_submit_button("Enregistrer"):
                try:
                    with session() as s:
                        users.update_user(session=s, actor=actor, user_id=chosen, role=new_role,
                                          team_ids=new_teams, active=new_active,
                                          agent_id=new_agent if new_role == "agent" else None)
                    st.success("Modifications enregistrées ; les sessions ouvertes de ce compte sont fermées.")
                    st.rerun()
                except CcrError as err:
                    st.error(str(err))
        with st.form("reset_password_form", clear_on_submit=True):
            new_password = st.text_input("Nouveau mot de passe", type="password", help=PASSWORD_HELP)
            if st.form_submit_button("Réinitialiser le mot de passe"):
                try:
                    with session() as s:
                        users.reset_password(session=s, actor=actor, user_id=chosen, new_password=new_password)
                    st.success("Mot de passe réinitialisé ; le compte est déverrouillé.")
                except CcrError as err:
                    st.error(str(err))

with tab_teams:
    st.dataframe(
        plain_frame(pd.DataFrame([{"Agent": a.name, "Équipe": team_names.get(a.team_id, "—"), "Actif": a.active}
                                  for a in agents])),
        hide_index=True,
        width="stretch",
    )
    col_team, col_agent = st.columns(2)
    with col_team, st.form("new_team", clear_on_submit=True):
        team_name = st.text_input("Nom de la nouvelle équipe")
        if st.form_submit_button("Créer l'équipe"):
            try:
                with session() as s:
                    orgs.create_team(session=s, actor=actor, name=team_name)
                cache.clear_after_write()  # the dashboards' filters list teams and agents
                st.rerun()
            except CcrError as err:
                st.error(str(err))
    with col_agent, st.form("new_agent", clear_on_submit=True):
        agent_name = st.text_input("Nom du nouvel agent")
        agent_team = st.selectbox("Équipe", list(team_names), format_func=team_names.get)
        if st.form_submit_button("Créer l'agent"):
            try:
                with session() as s:
                    orgs.create_agent(session=s, actor=actor, name=agent_name, team_id=agent_team)
                cache.clear_after_write()  # the dashboards' filters list teams and agents
                st.rerun()
            except CcrError as err:
                st.error(str(err))
