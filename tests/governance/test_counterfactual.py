"""The counterfactual fairness test: its variants, the rules engine unmoved by them, and ``audit-fairness``."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest

from ccr import cli
from ccr.governance import counterfactual as cf
from tests.conftest import FIXTURES
from tests.scoring.llmserver import FakeOpenAI

PUBLIC = FIXTURES / "eval" / "public" / "transcripts"
AUDITED_CALLS = 12  # a dozen real labelled calls keep the rules run under a minute on a loaded 2-core machine


def call(*lines: tuple[str, str], call_id: str = "essai") -> dict:
    """A transcript in the scoring contract from (speaker, text) lines, two seconds each."""
    return {"call_id": call_id, "duration_s": 2.0 * len(lines), "language": "fr",
            "segments": [{"speaker": who, "start": 2.0 * i, "end": 2.0 * i + 1.8, "text": text}
                         for i, (who, text) in enumerate(lines)]}


def texts(tr: dict) -> list[str]:
    return [s["text"] for s in tr["segments"]]


# --- (a) gender agreement ---------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "target", "expected"), [
    ("Je suis vraiment navré de ce contretemps.", "f", "Je suis vraiment navrée de ce contretemps."),
    ("Pardon, je suis désolée, je reviens vers vous.", "m", "Pardon, je suis désolé, je reviens vers vous."),
    ("Je serai ravi de vous rappeler demain.", "f", "Je serai ravie de vous rappeler demain."),
    ("Je ne suis pas certaine du montant exact.", "m", "Je ne suis pas certain du montant exact."),
    ("J'en suis sûr, le colis est déjà parti.", "f", "J'en suis sûre, le colis est déjà parti."),
    ("Je suis prêt et content de vous aider.", "f", "Je suis prête et contente de vous aider."),
    ("Je suis chargée de votre dossier depuis lundi.", "m", "Je suis chargé de votre dossier depuis lundi."),
    ("Je suis occupé sur une autre ligne, une seconde.", "f", "Je suis occupée sur une autre ligne, une seconde."),
    ("Je me suis trompée de date, je me suis permis de corriger.", "m",
     "Je me suis trompé de date, je me suis permis de corriger."),
    ("Navré pour ce délai, je suis là pour ça.", "f", "Navrée pour ce délai, je suis là pour ça."),
    ("Je suis le conseiller qui suit votre demande.", "f", "Je suis la conseillère qui suit votre demande."),
    ("JE SUIS DÉSOLÉ.", "f", "JE SUIS DÉSOLÉE."),
    # Nothing of the agent's gender here: complements, a name, words the same for both genders.
    ("Je suis sur votre dossier, je suis Nadia, je suis honnête avec vous.", "f",
     "Je suis sur votre dossier, je suis Nadia, je suis honnête avec vous."),
    ("Je suis tout à fait d'accord, je suis disponible jeudi.", "f",
     "Je suis tout à fait d'accord, je suis disponible jeudi."),
    ("Je suis ravie, vraiment.", "f", "Je suis ravie, vraiment."),
])
def test_gender_variant_puts_the_agents_own_agreement_in_the_target_gender(line, target, expected):
    tr = call(("agent", line))
    assert texts(cf.gender_variant(tr, target)) == [expected]


def test_gender_variant_leaves_the_customer_and_its_input_alone():
    tr = call(("agent", "Je suis désolé pour l'attente."), ("customer", "Je suis déçu, vraiment déçu."))
    before = copy.deepcopy(tr)
    out = cf.gender_variant(tr, "f")
    assert texts(out) == ["Je suis désolée pour l'attente.", "Je suis déçu, vraiment déçu."]
    assert tr == before


# --- (b) names ----------------------------------------------------------------------------------------

AISHA, MOHAMED = cf.NAME_POOL[4], cf.NAME_POOL[1]


def test_names_are_found_in_introductions_and_after_civilities_with_their_owner():
    tr = call(("agent", "Bonjour, service client Vitalis, ici Paul Girard, à votre écoute."),
              ("customer", "Oui bonjour, je m'appelle Irène Moreau."),
              ("agent", "Merci madame Moreau, Paul va vérifier cela."))
    found = {" ".join(f.tokens): f.role for f in cf.find_names(tr)}
    assert found == {"Paul Girard": "agent", "Irène Moreau": "customer"}


def test_name_variant_swaps_every_occurrence_and_the_civility_that_goes_with_it():
    tr = call(("agent", "Bonjour, service client Vitalis, ici Paul Girard, à votre écoute."),
              ("customer", "Oui bonjour, je m'appelle Irène Moreau."),
              ("agent", "Merci madame Moreau, Paul va vérifier cela. Bonne soirée madame."))
    out = cf.name_variant(tr, AISHA, MOHAMED)
    assert texts(out) == ["Bonjour, service client Vitalis, ici Aïcha Diallo, à votre écoute.",
                          "Oui bonjour, je m'appelle Mohamed Benali.",
                          "Merci monsieur Benali, Aïcha va vérifier cela. Bonne soirée monsieur."]


def test_a_company_before_the_greeting_is_not_taken_for_the_agent():
    tr = call(("agent", "Bonjour, service client Vitalis, Samir à votre écoute."))
    assert [f.tokens for f in cf.find_names(tr)] == [("Samir",)]
    assert texts(cf.name_variant(tr, AISHA, MOHAMED)) == ["Bonjour, service client Vitalis, Aïcha à votre écoute."]


def test_name_swaps_never_reuse_a_name_of_the_call_and_turn_through_the_pool():
    tr = call(("agent", "Bonjour, je m'appelle Marie, que puis-je pour vous ?"))
    seen = set()
    for index in range(len(cf.NAME_POOL)):
        for agent, customer in cf.name_swaps(tr, index=index):
            assert "Marie" not in (agent.first, customer.first) and agent != customer
            seen.add(agent)
    assert len(seen) == len(cf.NAME_POOL) - 1
    assert {p.gender for p in seen} == {"f", "m"} and len({p.origin for p in seen}) >= 5


# --- (c) regional forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "direction", "expected"), [
    ("Cela fait soixante-quinze euros.", "regional", "Cela fait septante-cinq euros."),
    ("Le code est quatre-vingt-dix-huit.", "regional", "Le code est nonante-huit."),
    ("Il reste quatre-vingt-un jours et soixante et onze heures.", "regional",
     "Il reste huitante et un jours et septante et un heures."),
    ("Envoyez-moi un e-mail, à tout à l'heure.", "regional", "Envoyez-moi un courriel, à tantôt."),
    ("Je peux vous rappeler après le déjeuner sur votre portable ?", "regional",
     "Je peux vous rappeler après le dîner sur votre GSM ?"),
    ("Septante-deux euros, s'il vous plaît.", "standard", "Soixante-douze euros, s'il vous plaît."),
    ("Présentement le magasin est fermé, à tantôt.", "standard", "Actuellement le magasin est fermé, à tout à l'heure."),
    ("On se rappelle après le souper, pas au dîner.", "standard", "On se rappelle après le dîner, pas au déjeuner."),
    # Without « souper » the meals are those of France: nothing to bring back.
    ("Je vous rappelle après le déjeuner.", "standard", "Je vous rappelle après le déjeuner."),
])
def test_regional_variant_swaps_forms_of_the_same_meaning(line, direction, expected):
    assert texts(cf.regional_variant(call(("agent", line)), direction)) == [expected]


# --- the rules engine on real labelled calls --------------------------------------------------------------


def _varied_calls(n: int) -> list[dict]:
    """The first ``n`` labelled public calls that give a gender and a name variant (the rest may give none)."""
    out = []
    for path in sorted(PUBLIC.glob("*.json")):
        tr = json.loads(path.read_text(encoding="utf-8"))
        kinds = {v.kind for v in cf.variants_of(tr) if cf.changed_lines(tr, v.transcript)}
        if {"genre", "noms"} <= kinds:
            out.append(tr)
        if len(out) == n:
            return out
    raise AssertionError(f"moins de {n} appels variables dans {PUBLIC}")


def test_the_rules_engine_moves_no_verdict_on_real_calls():
    report = cf.run_audit(_varied_calls(AUDITED_CALLS), engine="rules")
    assert report.calls == AUDITED_CALLS
    assert report.variants["genre"] >= AUDITED_CALLS and report.variants["noms"] >= AUDITED_CALLS
    assert report.variants["regional"] >= 1
    assert report.changes == [], "\n".join(report.lines())
    assert report.lines()[-1] == "Aucun verdict n'a changé."


# --- the command line ---------------------------------------------------------------------------------


def biased_reply(body: dict) -> dict:
    """Fail politeness whenever the agent says « désolée »; answer nothing else (the rules' verdicts stay)."""
    payload = json.loads(body["messages"][-1]["content"])
    feminine = [t["texte"] for t in payload["transcription"] if t["locuteur"] == "agent" and "désolée" in t["texte"]]
    criteria = [{"id": "politesse", "verdict": "fail", "quotes": [{"text": feminine[0]}],
                 "explanation": "Ton jugé sec."}] if feminine else []
    return {"criteria": criteria, "category": "", "irritants": [], "summary": ""}


@pytest.fixture
def biased_model():
    model = FakeOpenAI(responder=biased_reply)
    model.thread.start()
    yield model
    model.server.shutdown()
    model.server.server_close()


POLITE_CALL = call(
    ("agent", "Bonjour, service client Vitalis, je m'appelle Paul, que puis-je pour vous ?"),
    ("customer", "Bonjour, ma commande n'est toujours pas arrivée."),
    ("agent", "Je suis désolé pour ce retard, je regarde tout de suite votre commande."),
    ("agent", "Elle sera livrée demain matin, je vous envoie la confirmation."),
    ("customer", "Très bien, merci."),
    ("agent", "Je vous en prie, bonne journée, au revoir."),
    call_id="=1+1",  # a call id a spreadsheet would run as a formula
)


@pytest.fixture
def llm_env(settings_env, monkeypatch, tmp_path):
    """No stray .env and no LLM setting: each test sets what it needs."""
    monkeypatch.chdir(tmp_path)
    for var in ("CCR_OPENAI_BASE_URL", "CCR_OPENAI_API_KEY", "CCR_LLM_MODEL", "CCR_LLM_MAX_RETRIES"):
        monkeypatch.delenv(var, raising=False)
    yield monkeypatch
    from ccr.core.config import get_settings

    get_settings.cache_clear()


def test_a_biased_llm_makes_the_audit_exit_1_and_report_the_change(llm_env, tmp_path, biased_model, capsys):
    from ccr.core.config import get_settings

    for var, value in (("CCR_OPENAI_BASE_URL", biased_model.base_url), ("CCR_OPENAI_API_KEY", "cle-de-test"),
                       ("CCR_LLM_MODEL", "biaise"), ("CCR_LLM_MAX_RETRIES", "0")):
        llm_env.setenv(var, value)
    get_settings.cache_clear()
    source = tmp_path / "appel.json"
    source.write_text(json.dumps(POLITE_CALL, ensure_ascii=False), encoding="utf-8")
    csv_path, json_path = tmp_path / "changements.csv", tmp_path / "rapport.json"
    code = cli.main(["audit-fairness", "--input", str(source), "--engine", "llm", "--csv", str(csv_path),
                     "--json", str(json_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "Politesse et courtoisie : Conforme → Non conforme" in out
    assert "« Je suis désolé pour ce retard" in out and "→ « Je suis désolée pour ce retard" in out
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert [(c["type_variante"], c["critere"], c["apres"]) for c in report["changements"]] == \
        [(cf.KIND_LABELS["genre"], "politesse", "Non conforme")]
    assert report["instabilite"] == [] and report["echecs"] == []
    # The original twice (the model's own stability), then one request per variant that changed the text.
    assert len(biased_model.requests) == 2 + sum(report["variantes"].values())
    assert "'=1+1" in csv_path.read_bytes().decode("utf-8-sig")


def test_the_llm_engine_without_an_endpoint_exits_2_with_a_french_message(llm_env, tmp_path, capsys):
    source = tmp_path / "appel.json"
    source.write_text(json.dumps(POLITE_CALL), encoding="utf-8")
    assert cli.main(["audit-fairness", "--input", str(source), "--engine", "llm"]) == 2
    err = capsys.readouterr().err
    assert "Le moteur LLM n'est pas configuré" in err and "CCR_OPENAI_BASE_URL" in err


@pytest.mark.parametrize("args", [[], ["--org", "alpha", "--input", "x.json"]])
def test_one_source_exactly_or_exit_2(llm_env, capsys, args):
    assert cli.main(["audit-fairness", *args]) == 2
    assert "Précisez une et une seule source" in capsys.readouterr().err


def test_org_reads_only_that_organisations_analysed_unrestricted_calls(tenants, capsys):
    from sqlmodel import select

    from ccr.core.db import session, utcnow
    from ccr.core.models import AuditLog
    from tests.pipeline.calldata import transcribed_call

    a, b = tenants
    now = utcnow()
    older = transcribed_call(a.org_id, "a01-000.json", status="done", started_at=now - timedelta(days=2))
    newer = transcribed_call(a.org_id, "a01-001.json", status="done", scope="requested",
                             started_at=now - timedelta(days=1))
    transcribed_call(a.org_id, "a01-002.json", status="done", restricted=True, started_at=now)
    transcribed_call(a.org_id, "a01-003.json", status="done", scope="excluded", started_at=now)
    transcribed_call(a.org_id, "a01-004.json", status="done", scope="sampled_out", started_at=now)
    transcribed_call(b.org_id, "a01-005.json", status="done", started_at=now)
    with session() as s:
        assert [t["call_id"] for t in cf.load_org_transcripts(session=s, org_id=a.org_id)] == \
            [str(newer), str(older)]
        assert [t["call_id"] for t in cf.load_org_transcripts(session=s, org_id=a.org_id, limit=1)] == [str(newer)]

    code = cli.main(["audit-fairness", "--org", "Alpha Conseil", "--limit", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 appel(s)" in out and "Aucun verdict n'a changé." in out
    with session() as s:
        logged = s.exec(select(AuditLog).where(AuditLog.action == "fairness_audit")).all()
    assert [row.org_id for row in logged] == [a.org_id]
