"""Périmètre d'évaluation: which calls are analysed (sampling, announced periods, exclusions) and the DPO's bilan."""

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from ccr.core.access import may
from ccr.core.db import session
from ccr.core.errors import CcrError
from ccr.core.formats import fr_percent
from ccr.core.orgs import list_agents
from ccr.core.vocab import SCOPE_EXCLUSION_KINDS
from ccr.quality import scope
from ccr.ui.guard import require_page
from ccr.ui.text import plain, plain_frame

actor = require_page("scope")
FLASH_KEY = "ccr_scope_flash"
editor = may(actor.role, "scope_policy")
st.title("🧭 Périmètre d'évaluation")
st.caption("L'écoute et l'évaluation des appels doivent rester ponctuelles, annoncées à l'avance et laisser de côté "
           "les lignes des représentants du personnel et les appels privés. Ces règles s'appliquent à chaque import : "
           "un appel hors périmètre est conservé sans être transcrit ni noté, un appel exclu n'est jamais analysé.")

if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)


def _run(action, message: str) -> None:
    """Run a change in one transaction, then show ``message`` after the rerun (or the French error now)."""
    try:
        with session() as s:
            action(s)
        st.session_state[FLASH_KEY] = message
        st.rerun()
    except CcrError as err:
        st.error(str(err))


try:
    with session() as s:
        rules = scope.get_rules(session=s, org_id=actor.org_id)
        agents = {a.id: plain(a.name) for a in list_agents(session=s, actor=actor)}
except CcrError as err:
    st.error(str(err))
    st.stop()

st.info(rules.summary())
tabs = st.tabs(["Règles", f"Périodes annoncées ({len(rules.periods)})", f"Exclusions ({len(rules.exclusions)})",
                "Bilan par agent et par mois"])

with tabs[0]:
    with st.form("scope_rules"):
        modes = list(scope.SAMPLING_MODES)
        sampling = st.radio("Appels analysés", modes, index=modes.index(rules.sampling),
                            format_func=scope.SAMPLING_MODES.get, disabled=not editor)
        c1, c2 = st.columns(2)
        quota = c1.number_input("Quota par agent", 1, scope.MAX_QUOTA, rules.quota, disabled=not editor)
        periods = list(scope.QUOTA_PERIODS)
        quota_period = c2.selectbox("par", periods, index=periods.index(rules.quota_period),
                                    format_func=scope.QUOTA_PERIODS.get, disabled=not editor)
        st.caption("Le tirage est aléatoire mais reproductible : chaque enregistrement reçoit un nombre fixe, et le "
                   "quota est un plafond. Les appels non retenus sont conservés ; un superviseur peut en demander "
                   "l'analyse en la motivant (la demande est tracée).")
        use_periods = st.checkbox("N'analyser que les appels passés pendant les périodes annoncées",
                                  value=rules.use_periods, disabled=not editor)
        store_excluded = st.checkbox("Conserver les appels exclus (sans jamais les analyser) au lieu de les refuser "
                                     "à l'import", value=rules.store_excluded, disabled=not editor)
        block = st.checkbox("Interdire l'export des scores par agent qu'aucun humain n'a validés",
                            value=rules.block_unvalidated_exports, disabled=not editor)
        if editor and st.form_submit_button("Enregistrer les règles", type="primary"):
            _run(lambda s: scope.update_rules(session=s, actor=actor, sampling=sampling, quota=int(quota),
                                              quota_period=quota_period, store_excluded=store_excluded,
                                              use_periods=use_periods, block_unvalidated_exports=block),
                 "Règles enregistrées : elles s'appliquent aux appels importés à partir de maintenant.")
        elif not editor:
            st.form_submit_button("Seul un administrateur modifie ces règles", disabled=True)

with tabs[1]:
    if rules.use_periods and not rules.periods:
        st.warning("Aucune période annoncée : aucun appel importé ne sera analysé.")
    if rules.periods:
        st.dataframe(plain_frame(pd.DataFrame(
            [{"Du": p.starts_on.strftime("%d/%m/%Y"), "Au": p.ends_on.strftime("%d/%m/%Y"), "Libellé": p.label}
             for p in rules.periods])), hide_index=True)
    else:
        st.caption("Aucune période annoncée.")
    if editor:
        with st.form("scope_period", clear_on_submit=True):
            c1, c2 = st.columns(2)
            today = date.today()
            start = c1.date_input("Du", today, format="DD/MM/YYYY")
            end = c2.date_input("Au (inclus)", today + timedelta(days=30), format="DD/MM/YYYY")
            label = st.text_input("Libellé (affiché aux agents)", max_chars=scope.MAX_REASON)
            if st.form_submit_button("Annoncer cette période"):
                _run(lambda s: scope.add_period(session=s, actor=actor, starts_on=start, ends_on=end, label=label),
                     "Période annoncée.")
        if rules.periods:
            choice = st.selectbox("Retirer une période", [p.id for p in rules.periods], index=None,
                                  placeholder="Choisir une période",
                                  format_func=lambda i: next(f"{p.starts_on:%d/%m/%Y} – {p.ends_on:%d/%m/%Y}"
                                                             for p in rules.periods if p.id == i))
            if choice is not None and st.button("Retirer"):
                _run(lambda s: scope.remove_period(session=s, actor=actor, period_id=choice), "Période retirée.")

with tabs[2]:
    if rules.exclusions:
        st.dataframe(plain_frame(pd.DataFrame(
            [{"Type": SCOPE_EXCLUSION_KINDS[e.kind], "Exclu": e.label, "Motif": e.reason} for e in rules.exclusions])),
            hide_index=True)
    else:
        st.caption("Aucune exclusion.")
    if editor:
        kinds = list(SCOPE_EXCLUSION_KINDS)
        kind = st.selectbox("Exclure", kinds, format_func=SCOPE_EXCLUSION_KINDS.get, key="scope_kind")
        with st.form("scope_exclusion", clear_on_submit=True):
            if kind == "agent":
                value = st.selectbox("Agent", list(agents), format_func=agents.get, index=None,
                                     placeholder="Choisir un agent")
            else:
                value = st.text_input("Numéro de ligne" if kind == "line" else "Campagne", max_chars=200)
            reason = st.text_input("Motif (visible des administrateurs et du DPO seulement)",
                                   max_chars=scope.MAX_REASON)
            st.caption("Les appels déjà importés de cet agent, de cette ligne ou de cette campagne sont exclus aussi : "
                       "ceux en attente ne seront pas traités, ceux déjà notés disparaissent des listes et des "
                       "tableaux de bord.")
            if st.form_submit_button("Ajouter l'exclusion"):
                if value in (None, ""):
                    st.error("Choisissez l'agent, ou indiquez la ligne ou la campagne.")
                else:
                    _run(lambda s: scope.add_exclusion(session=s, actor=actor, kind=kind, value=value, reason=reason),
                         "Exclusion ajoutée.")
        if rules.exclusions:
            gone = st.selectbox("Lever une exclusion (pour les appels importés ensuite)",
                                [e.id for e in rules.exclusions], index=None, placeholder="Choisir une exclusion",
                                format_func=lambda i: next(f"{SCOPE_EXCLUSION_KINDS[e.kind]} : {plain(e.label)}"
                                                           for e in rules.exclusions if e.id == i))
            if gone is not None and st.button("Lever l'exclusion"):
                _run(lambda s: scope.remove_exclusion(session=s, actor=actor, exclusion_id=gone), "Exclusion levée.")

with tabs[3]:
    st.caption("Pour chaque agent et chaque mois : les appels reçus, ceux analysés (dont à la demande d'un "
               "superviseur) et ceux laissés de côté, au regard du quota. De quoi montrer que l'évaluation reste "
               "ponctuelle.")
    months = st.slider("Mois affichés", 1, 24, 6)
    try:
        with session() as s:
            rows = scope.coverage_report(session=s, actor=actor, months=months)
    except CcrError as err:
        st.error(str(err))
        rows = []
    if not rows:
        st.caption("Aucun appel sur la période.")
    else:
        st.dataframe(plain_frame(pd.DataFrame([{
            "Mois": r.month.strftime("%m/%Y"), "Agent": r.agent, "Reçus": r.received, "Analysés": r.analysed,
            "dont à la demande": r.requested, "Non tirés": r.sampled_out, "Hors période": r.outside_period,
            "Exclus": r.excluded, "Part analysée": fr_percent(r.share, ratio=True, digits=0),
            "Quota": "—" if r.quota is None else r.quota,
            "Au-delà du quota": "⚠️ oui" if r.over_quota else ""} for r in rows])), hide_index=True)
        over = sum(r.over_quota for r in rows)
        if over:
            st.warning(f"{over} ligne(s) au-delà du quota : des appels ont été analysés avant un changement de règle.")
