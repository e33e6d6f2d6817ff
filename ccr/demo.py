"""Demo organisation: a fictitious energy supplier, its teams, agents, users and a few thousand calls.

Everything goes through the real code paths: transcripts built from varied
French call templates are redacted, measured and scored by the real scorer,
then stored as evaluations; the four real stereo recordings are imported like
an upload and transcribed by the worker. Demo passwords exist in demo mode only
(``CCR_DEMO_MODE=1``) and must never be used in production.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from ccr.core import audit
from ccr.core.calls import flatten_text
from ccr.core.config import get_settings
from ccr.core.db import migrate, session, utcnow
from ccr.core.errors import ConfigError
from ccr.core.models import Agent, Call, Organisation, Team, Transcript, User
from ccr.core.orgs import create_organisation
from ccr.core.users import create_user, load_actor
from ccr.pipeline import ingest
from ccr.quality import agent_space, disputes, reviews, scope
from ccr.quality.evaluations import store_evaluation
from ccr.scoring import grid_store, score
from ccr.speech import metrics, redaction, vocabulary

DEMO_ORG = "Helios Énergie"
DEMO_PASSWORD = "Demo-CCR-2026!"  # noqa: S105 - published in the README, demo mode only
DEMO_USERS = (  # username, display name, role
    ("admin", "Claire Admin", "admin"),
    ("dpo", "Marc Délégué", "dpo"),
    ("superviseur", "Sophie Superviseure", "supervisor"),
    ("chef.equipe", "Karim Chef d'équipe", "team_lead"),
    ("agent.demo", "Nadia Benali", "agent"),  # the agent record of the same name: her own evaluations
)
DEMO_PUBLISHED = 12  # the demo agent's latest evaluations published to her: a third validated, one disputed
TEAMS = ("Équipe Lyon", "Équipe Lille", "Équipe Nantes")
AGENTS = (
    "Nadia Benali", "Inès Moreau", "Thomas Girard", "Julie Lefèvre", "Hugo Martin", "Sarah Petit",
    "Yanis Robert", "Camille Durand", "Lucas Bernard", "Emma Fontaine", "Mehdi Haddad", "Léa Garnier",
)
CAMPAIGNS = ("Service client", "Fidélisation", "Recouvrement")
# The brand the four real recordings greet with, and first names heard on them: short on purpose, since on
# these 8 kHz calls the 14-term list of every agent's name cost 3 WER points (benchmarks/bench_vocabulary.py).
DEMO_VOCABULARY = ("Domivia", "Helios Énergie", "Nadia", "Inès", "Hugo", "Lucas")
AUDIO_FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "audio"
WORDS_PER_SECOND = 2.6  # French conversational speech rate (about 155 words per minute)

GREETINGS = [
    "Bonjour, Helios Énergie, {agent} à votre écoute.",
    "Bonjour et bienvenue chez Helios Énergie, je m'appelle {agent}, que puis-je faire pour vous ?",
    "Helios Énergie bonjour, {agent} du service client, je vous écoute.",
    "Bonjour, service clients Helios, vous êtes en ligne avec {agent}.",
]
NO_INTRO_GREETINGS = ["Oui, allô ?", "Allô, oui, je vous écoute."]
REASONS = {
    "facturation": [
        "J'ai reçu une facture beaucoup plus élevée que d'habitude ce mois-ci.",
        "Je ne comprends pas le montant prélevé sur mon compte, il y a un problème sur ma facture.",
        "On m'a facturé deux fois l'abonnement, je voudrais comprendre.",
    ],
    "livraison": [
        "J'attends toujours la livraison de mon compteur, il devait arriver la semaine dernière.",
        "Le colis avec mon boîtier n'est jamais arrivé, le suivi ne bouge plus.",
        "Le technicien devait livrer l'équipement hier et personne n'est venu.",
    ],
    "resiliation": [
        "Je souhaite résilier mon contrat, je déménage à l'étranger.",
        "Je voudrais mettre fin à mon abonnement le plus vite possible.",
        "Comment est-ce que je peux annuler mon contrat d'électricité ?",
    ],
    "support_technique": [
        "Mon compteur affiche un message d'erreur et l'application ne se connecte plus.",
        "Depuis ce matin je n'ai plus de courant dans une partie de la maison, le disjoncteur saute.",
        "Le boîtier ne s'allume plus du tout, j'ai essayé de le redémarrer sans succès.",
    ],
    "information": [
        "Je voudrais savoir quelles sont vos offres pour un nouvel appartement.",
        "J'aimerais des renseignements sur l'option heures creuses.",
        "Pouvez-vous m'expliquer comment fonctionne le chèque énergie ?",
    ],
}
IRRITANTS = {
    "relances": "C'est la troisième fois que j'appelle pour la même chose, personne ne me rappelle.",
    "attente_delai": "J'ai attendu plus de vingt minutes avant d'avoir quelqu'un, c'est beaucoup trop long.",
    "erreur_facturation": "Vous m'avez prélevé deux fois le même montant, c'est une erreur de votre part.",
    "menace_depart": "Si ça continue, je vais partir chez un concurrent.",
    "mecontentement": "Franchement je suis très mécontent, c'est inadmissible.",
}
IDENTIFICATION = [
    "Pouvez-vous me donner votre numéro client, s'il vous plaît ?",
    "Pour commencer, puis-je avoir votre nom et votre date de naissance ?",
    "Quelle est l'adresse e-mail associée à votre compte ?",
    "Pouvez-vous me rappeler votre numéro de contrat ?",
]
CUSTOMER_IDS = [
    "Oui, c'est le 4 5 8 1 2 2 3.",
    "Martin, né le 3 mars 1978.",
    "C'est jean.martin@exemple.fr.",
    "Vous pouvez me joindre au 06 12 34 56 78.",
]
DISCOVERY = [
    "Si je comprends bien, {reformulation}, c'est bien cela ?",
    "Pouvez-vous me décrire précisément ce qui se passe ?",
    "D'accord, depuis quand rencontrez-vous ce problème ?",
]
REFORMULATIONS = {
    "facturation": "le montant de votre facture ne correspond pas à votre consommation habituelle",
    "livraison": "votre équipement n'a pas été livré à la date prévue",
    "resiliation": "vous souhaitez mettre fin à votre contrat",
    "support_technique": "votre équipement ne fonctionne plus correctement",
    "information": "vous cherchez l'offre la plus adaptée à votre logement",
}
EMPATHY = [
    "Je suis vraiment désolé pour ce désagrément, je comprends votre agacement.",
    "Je comprends tout à fait, c'est normal d'être contrarié dans cette situation.",
    "Toutes mes excuses pour ce contretemps.",
]
SOLUTIONS = {
    "facturation": "Je procède tout de suite au remboursement du trop-perçu, vous le recevrez sous cinq jours ouvrés.",
    "livraison": "Je relance l'expédition aujourd'hui et je vous envoie un nouveau numéro de suivi par e-mail.",
    "resiliation": "J'enregistre votre résiliation dès aujourd'hui, vous recevrez une confirmation par courrier.",
    "support_technique": "Je vous programme l'intervention d'un technicien demain matin entre huit et dix heures.",
    "information": "Je vous envoie notre grille tarifaire par e-mail et je peux souscrire l'option dès maintenant.",
}
REFUSALS = ["Je ne peux rien faire pour vous, il faudra rappeler plus tard.",
            "Ce n'est pas possible, ce n'est pas de notre ressort."]
RUDE = ["Écoutez, c'est pas mon problème, fallait lire le contrat.", "Bon, vous m'avez compris ou pas ?"]
HOLD_ANNOUNCE = ["Je vous mets en attente quelques instants, je vérifie votre dossier.",
                 "Patientez un instant s'il vous plaît, je consulte votre compte."]
HOLD_THANKS = ["Merci de votre patience.", "Merci d'avoir patienté."]
OTHER_NEED = ["Puis-je vous aider pour autre chose ?", "Avez-vous d'autres questions ?"]
CLOSINGS = ["Merci de votre appel, je vous souhaite une bonne journée, au revoir.",
            "Je vous remercie, bonne fin de journée, au revoir."]


@dataclass
class SeedResult:
    """What the demo seeding created."""

    org_id: int
    calls: int
    audio_calls: int
    seconds: float
    users: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """A French summary printed by ``python -m ccr seed-demo``."""
        return (f"Organisation de démonstration « {DEMO_ORG} » créée : {self.calls} appels évalués, "
                f"{self.audio_calls} enregistrements réels en file de transcription ({self.seconds:.0f} s).")


def _say(rng: random.Random, segs: list, t: float, speaker: str, text: str) -> float:
    """Append one turn after a short gap and return the time it ends."""
    start = t + rng.uniform(0.3, 1.1)
    end = start + max(0.8, len(text.split()) / WORDS_PER_SECOND)
    segs.append({"speaker": speaker, "start": round(start, 2), "end": round(end, 2), "text": text})
    return end


def build_transcript(rng: random.Random, agent_first: str, skill: float) -> tuple[dict, str]:
    """One synthetic French call: its transcript and its category; ``skill`` (0..1) drives the agent's habits."""
    category = rng.choice(list(REASONS))
    segs: list[dict] = []
    p = lambda base: rng.random() < min(0.98, base * (0.55 + 0.6 * skill))  # noqa: E731
    t = 0.0
    if rng.random() < 0.04:  # a greeting only after a long silence: late
        t = 32.0
    greeting = rng.choice(GREETINGS if p(0.95) else NO_INTRO_GREETINGS).format(agent=agent_first)
    t = _say(rng, segs, t, "agent", greeting)
    t = _say(rng, segs, t, "customer", "Bonjour. " + rng.choice(REASONS[category]))
    irritant = rng.choice(list(IRRITANTS)) if rng.random() < 0.35 else None
    if irritant:
        t = _say(rng, segs, t, "customer", IRRITANTS[irritant])
        if p(0.8):
            t = _say(rng, segs, t, "agent", rng.choice(EMPATHY))
    if p(0.85):
        t = _say(rng, segs, t, "agent", rng.choice(IDENTIFICATION))
        t = _say(rng, segs, t, "customer", rng.choice(CUSTOMER_IDS))
    if p(0.8):
        t = _say(rng, segs, t, "agent", rng.choice(DISCOVERY).format(reformulation=REFORMULATIONS[category]))
        t = _say(rng, segs, t, "customer", "Oui, c'est exactement ça.")
    if rng.random() < 0.3:
        if p(0.85):
            t = _say(rng, segs, t, "agent", rng.choice(HOLD_ANNOUNCE))
        t += rng.uniform(12, 70)
        if p(0.8):
            t = _say(rng, segs, t, "agent", rng.choice(HOLD_THANKS))
    if rng.random() < 0.02 * (1.5 - skill):
        t = _say(rng, segs, t, "agent", rng.choice(RUDE))
    t = _say(rng, segs, t, "agent", SOLUTIONS[category] if p(0.9) else rng.choice(REFUSALS))
    t = _say(rng, segs, t, "customer", "D'accord, merci.")
    if p(0.75):
        t = _say(rng, segs, t, "agent", rng.choice(OTHER_NEED))
        t = _say(rng, segs, t, "customer", "Non, ce sera tout, merci.")
    if p(0.9):
        t = _say(rng, segs, t, "agent", rng.choice(CLOSINGS))
    else:
        t = _say(rng, segs, t, "agent", "Voilà.")
    return {"call_id": "", "duration_s": round(t + 0.8, 2), "language": "fr", "segments": segs}, category


def _require_demo_mode() -> None:
    if not get_settings().demo_mode:
        raise ConfigError("Le jeu de démonstration n'est disponible qu'en mode démo (CCR_DEMO_MODE=1).")


def seed_demo(*, calls: int = 2500, days: int = 90, seed: int = 42, if_empty: bool = False) -> SeedResult | None:
    """Create the demo organisation; with ``if_empty``, do nothing when an organisation exists."""
    _require_demo_mode()
    t0 = time.perf_counter()
    migrate()
    rng = random.Random(seed)
    with session() as s:
        if if_empty and s.exec(select(Organisation)).first():
            return None
        org = create_organisation(session=s, name=DEMO_ORG)
        teams = [Team(org_id=org.id, name=n) for n in TEAMS]
        s.add_all(teams)
        s.flush()
        agents = [Agent(org_id=org.id, team_id=teams[i % len(teams)].id, name=n) for i, n in enumerate(AGENTS)]
        s.add_all(agents)
        s.flush()
        by_name = {a.name: a.id for a in agents}
        for username, display, role in DEMO_USERS:
            create_user(session=s, org_id=org.id, username=username, display_name=display, password=DEMO_PASSWORD,
                        role=role, team_ids=[teams[0].id] if role == "team_lead" else [], check_strength=False,
                        agent_id=by_name[display] if role == "agent" else None)
        grid_row, grid = grid_store.active_grid(session=s, org_id=org.id)
        org_id, grid_id = org.id, grid_row.id
        agent_rows = [(a.id, a.team_id, a.name.split()[0]) for a in agents]
    skills = {a[0]: rng.uniform(0.35, 1.0) for a in agent_rows}
    now = utcnow()
    batch: list[tuple] = []
    for i in range(calls):
        agent_id, team_id, first = rng.choice(agent_rows)
        transcript, _category = build_transcript(rng, first, skills[agent_id])
        segments, counts = redaction.redact_segments(transcript["segments"])
        transcript["segments"] = segments
        m = metrics.conversation_metrics(segments, transcript["duration_s"])
        result = score.score_transcript(transcript | {"agent_name": first}, grid=grid)  # as the worker does
        started = now - timedelta(days=rng.uniform(0, days), hours=rng.uniform(0, 2))
        started = started.replace(hour=rng.randint(8, 18))
        batch.append((agent_id, team_id, started, transcript, counts, m, result, i))
        if len(batch) >= 200 or i == calls - 1:
            _store_batch(org_id, grid_id, batch, rng)
            batch = []
    _publish_to_demo_agent(org_id)
    _demo_scope(org_id, now)
    _demo_vocabulary(org_id)  # before the recordings, so the worker transcribes them with it
    audio_calls = _import_recordings(org_id)
    # A demo database may be checked days later without a server having run: its chain is anchored now.
    audit.checkpoint_job()
    users = [(u, r) for u, _, r in DEMO_USERS]
    return SeedResult(org_id=org_id, calls=calls, audio_calls=audio_calls, seconds=time.perf_counter() - t0,
                      users=users)


def _store_batch(org_id: int, grid_id: int, batch: list[tuple], rng: random.Random) -> None:
    with session() as s:
        for agent_id, team_id, started, transcript, counts, m, result, i in batch:
            call = Call(org_id=org_id, team_id=team_id, agent_id=agent_id, sha256=f"demo-{org_id}-{i:07d}",
                        source_name=f"demo-{i:05d}.wav", duration_s=transcript["duration_s"], channels=2,
                        sample_rate=8000, started_at=started, direction="entrant" if rng.random() < 0.8 else "sortant",
                        campaign=rng.choice(CAMPAIGNS), status="done", processed_at=started, queued_at=started,
                        created_at=started, **{k: m[k] for k in ("agent_talk_s", "customer_talk_s", "silence_s",
                                                                  "longest_silence_s", "overtalk_s", "interruptions",
                                                                  "agent_wpm")})
            s.add(call)
            s.flush()
            s.add(Transcript(org_id=org_id, call_id=call.id, language="fr", engine="démo", model="modèles d'appels",
                             segments_json=json.dumps(transcript["segments"], ensure_ascii=False),
                             text=flatten_text(transcript["segments"]), redactions_json=json.dumps(counts),
                             created_at=started))
            ev = store_evaluation(session=s, call=call, result=result, grid_id=grid_id)
            ev.created_at = started


def _publish_to_demo_agent(org_id: int) -> None:
    """Publish the demo agent's latest evaluations (some validated with a coaching note, the others as the AI
    scored them) and open one dispute, so « Mes évaluations » and « Contestations » have something to show."""
    with session() as s:
        supervisor = load_actor(session=s, user_id=s.exec(select(User.id).where(
            User.org_id == org_id, User.role == "supervisor")).first())
        agent = load_actor(session=s, user_id=s.exec(select(User.id).where(
            User.org_id == org_id, User.role == "agent")).first())
        calls = s.exec(select(Call.id).where(Call.org_id == org_id, Call.agent_id == agent.agent_id)
                       .order_by(col(Call.started_at).desc()).limit(DEMO_PUBLISHED)).all()
    for i, call_id in enumerate(calls):
        with session() as s:
            if i % 3 == 0:
                reviews.validate_review(session=s, actor=supervisor, call_id=call_id, overrides={}, comments={},
                                        coaching_note="Bonne écoute ; pensez à reformuler la demande avant de "
                                                      "proposer une solution.", publish=True)
            else:
                reviews.publish_evaluation(session=s, actor=supervisor, call_id=call_id)
    with session() as s:
        for item in agent_space.list_own(session=s, actor=agent):
            view = agent_space.open_own(session=s, actor=agent, evaluation_id=item.evaluation_id, log=False)
            failed = [c["id"] for c in view.criteria if c["final_verdict"] == "fail"]
            if failed and not item.validated:
                disputes.open_dispute(session=s, actor=agent, evaluation_id=item.evaluation_id,
                                      criteria={failed[0]: "pass"},
                                      comment="J'ai bien reformulé la demande du client au début de l'appel.")
                break


def _demo_scope(org_id: int, now) -> None:
    """An announced evaluation period around today and a staff representative's line left out, so the
    « Périmètre d'évaluation » page and the agents' notice show them; every demo call stays analysed."""
    with session() as s:
        admin = load_actor(session=s, user_id=s.exec(select(User.id).where(
            User.org_id == org_id, User.role == "admin")).first())
        today = now.date()
        scope.add_period(session=s, actor=admin, starts_on=today.replace(day=1), ends_on=today + timedelta(days=90),
                         label="Campagne qualité du trimestre")
        scope.add_exclusion(session=s, actor=admin, kind="line", value="01 84 80 00 00",
                            reason="Ligne du délégué syndical (mandat)")


def _demo_vocabulary(org_id: int) -> None:
    """The « Vocabulaire métier » of the demo, saved by its supervisor like any version."""
    with session() as s:
        supervisor = load_actor(session=s, user_id=s.exec(select(User.id).where(
            User.org_id == org_id, User.role == "supervisor")).first())
        vocabulary.save_vocabulary(session=s, actor=supervisor, terms=list(DEMO_VOCABULARY))


def _import_recordings(org_id: int) -> int:
    """Queue the four real stereo recordings through the same path as an upload."""
    files = sorted(AUDIO_FIXTURES.glob("*.wav"))
    if not files:
        return 0
    with session() as s:
        admin = s.exec(select(User).where(User.org_id == org_id, User.role == "supervisor")).first()
        actor = load_actor(session=s, user_id=admin.id)
        team_agents = s.exec(select(Agent).where(Agent.org_id == org_id).order_by(Agent.id)).all()
    count = 0
    for i, path in enumerate(files):
        agent = team_agents[i % len(team_agents)]
        with session() as s:
            result = ingest.ingest_upload(session=s, actor=actor, filename=path.name, data=path.read_bytes(),
                                          metadata=None, defaults={"agent_id": agent.id, "team_id": agent.team_id,
                                                                   "direction": "entrant",
                                                                   "campaign": "Service client"})
            count += int(bool(getattr(result, "call_id", None)))
    return count


def print_demo_logins() -> None:
    """Print the demo logins (demo mode only)."""
    _require_demo_mode()
    for username, display, role in DEMO_USERS:
        print(f"  {username:<12} / {DEMO_PASSWORD}   ({display}, rôle {role})")
