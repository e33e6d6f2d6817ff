"""The AI Act deployer pack: the instructions for use, the workers' notice and the CSE file, built live.

Evaluating workers is a high-risk use of AI (AI Act, Annex III, 4(b)). The deployer informs the workers and
their representatives before putting the system into service (art. 26(7); Code du travail L1222-4 and
L2312-38), keeps its logs at least six months (art. 26(6)), entrusts oversight to trained people, and
follows instructions for use that state the system's accuracy and limits (art. 13).

Guarantees:

- every document is generated from the organisation's settings in force (scope, periods, retention, dispute
  rules, grid, roles) and from figures measured on its own data: changing a setting changes the text, and a
  document never restates a duration or a rule in fixed prose;
- the accuracy per criterion is the AI's verdict against the final human verdict of the organisation's
  validated calls (the comparison :func:`ccr.quality.calibration.ai_agreement` makes), with a 95 % Wilson
  interval, and says so plainly when there are too few validated calls;
- untrusted values (grid and criterion labels, period labels, the organisation's name) are escaped in the
  Markdown and in the HTML: only the templates written here carry markup;
- a publication stores the Markdown shown and its SHA-256; the audit log records who published what digest,
  never the text;
- every function checks the actor's role on the server side and reads the actor's organisation only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case, distinct
from sqlmodel import Session, col, func, select

from ccr.core import audit
from ccr.core.access import ACTIONS, PAGES, PUBLIC, may
from ccr.core.config import Settings, get_settings
from ccr.core.errors import AccessDenied, InvalidInput
from ccr.core.models import (
    Call,
    CriterionResult,
    Evaluation,
    NoticePublication,
    Organisation,
    User,
)
from ccr.core.users import Actor
from ccr.core.vocab import GOVERNANCE_DOCUMENTS, ORG_WIDE_ROLES, ROLE_LABELS, ROLES
from ccr.governance.documents import (
    Block,
    Document,
    Text,
    bullets,
    fr_count,
    fr_days,
    fr_ratio,
    heading,
    lit,
    paragraph,
    t,
    table,
)
from ccr.governance.log_check import AUDIT_LOG_MIN_DAYS
from ccr.governance.log_check import audit_log_check as audit_log_check  # the page and the pack read it here
from ccr.governance.stats import wilson_interval
from ccr.privacy import retention
from ccr.privacy.notices import retention_rows
from ccr.quality import reviews
from ccr.quality.policy import get_policy
from ccr.quality.scope import ScopeRules, get_rules
from ccr.scoring.grid import Grid
from ccr.scoring.grid_store import active_grid

# Below 30 validated calls a criterion's 95 % interval is wider than ±15 points: too wide to call it accuracy.
MIN_VALIDATED_CALLS = 30
NARROWBAND_HZ = 8_000  # the telephone band: speech above 4 kHz is lost, and with it some words
DIGEST_SHOWN = 12  # hex characters of a digest shown in lists: enough to tell two versions apart
PUBLICATIONS_SHOWN = 100

# The scorer's agreement with human annotators on the evaluation sets shipped with CCR, as the README's
# « Mesures » table records them (tests/governance/test_deployer_pack.py keeps the two in step): the
# held-out part only, since the thresholds were tuned on the rest.
SHIPPED_EVALUATIONS: tuple[tuple[str, str, str], ...] = (
    ("Jeu varié `public-d`, 40 appels tenus à l'écart du réglage, transcription propre", "92,8 %",
     "d'accord par critère"),
    ("Même jeu après reconnaissance vocale réelle (`public-d-asr`)", "78,1 %", "d'accord par critère"),
    ("Appels rédigés par l'éditeur, jamais utilisés pour le réglage (22), après reconnaissance vocale",
     "83,5 %", "d'accord par critère"),
)

# Singular and plural of each kind of scope exclusion (ccr.core.vocab.SCOPE_EXCLUSION_KINDS).
EXCLUSION_NOUNS = {"agent": ("agent", "agents"), "line": ("ligne téléphonique", "lignes téléphoniques"),
                   "campaign": ("campagne", "campagnes")}

# What each action of ccr.core.access.ACTIONS lets a role do, for the CSE file's table of rights.
ACTION_LABELS = {
    "import_calls": "Importer des appels",
    "manage_queue": "Relancer ou re-noter des appels",
    "manage_agents": "Gérer la liste des agents",
    "edit_grids": "Modifier les grilles d'évaluation",
    "read_grids": "Consulter les grilles d'évaluation",
    "read_reviews": "Écouter les appels, lire transcriptions et évaluations",
    "validate_reviews": "Valider ou corriger une évaluation de l'IA",
    "review_queue": "Consulter la file des appels à revoir",
    "export_data": "Exporter les données",
    "manage_retention": "Fixer les durées de conservation",
    "data_subjects": "Traiter les demandes d'accès et d'effacement",
    "schedule_maintenance": "Planifier les maintenances",
    "write_incidents": "Tenir le registre des incidents",
    "read_breaches": "Consulter les violations de données",
    "own_evaluations": "Lire, accuser réception et contester ses propres évaluations publiées",
    "publish_evaluations": "Publier une évaluation à l'agent",
    "resolve_disputes": "Répondre aux contestations",
    "calibrate": "Mener les séances de calibration",
    "quality_policy": "Fixer les délais de contestation et la revue à l'aveugle",
    "scope_policy": "Fixer le périmètre d'évaluation (quota, périodes, exclusions)",
    "scope_report": "Consulter le périmètre d'évaluation",
    "request_evaluation": "Demander l'analyse d'un appel hors quota",
    "agent_groups": "Définir les groupes de l'audit d'équité",
    "deployer_pack": "Consulter le dossier de conformité IA",
    "publish_notices": "Publier les notes d'information",
    "fairness_audit": "Consulter l'audit d'équité des scores",
    "manage_api": "Gérer les jetons d'API, le webhook et son journal de livraisons",
    "edit_vocabulary": "Modifier le vocabulaire métier donné à la transcription",
}

# The personal data CCR processes, and the actions (ccr.core.access.ACTIONS) that reach each: the CSE file's
# « who sees what » is read from the role matrix, never written by hand.
DATA_ACCESS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Identité professionnelle des agents", "nom, équipe, identifiant de l'agent ; comptes des utilisateurs",
     ("manage_agents", "read_reviews", "data_subjects")),
    ("Enregistrements audio", "fichiers chiffrés des appels analysés", ("read_reviews", "data_subjects")),
    ("Transcriptions", "texte des appels, numéros de carte, IBAN, e-mails et téléphones masqués",
     ("read_reviews", "data_subjects")),
    ("Évaluations et validations", "verdict par critère et citation justificative, note, commentaires du "
     "superviseur, contestations", ("read_reviews", "validate_reviews", "own_evaluations", "data_subjects")),
    ("Métadonnées des appels", "date, durée, sens, campagne, ligne, numéro du client",
     ("read_reviews", "import_calls", "data_subjects")),
    ("Journal d'audit", "qui a fait quoi et quand, sans le contenu des appels", ("export_data", "read_breaches")),
)


def _require(actor: Actor, action: str = "deployer_pack") -> None:
    if not may(actor.role, action):
        what = "publier les notes d'information" if action == "publish_notices" else "consulter le dossier de " \
                                                                                       "conformité IA"
        raise AccessDenied(f"Accès refusé : seuls le DPO et l'administrateur peuvent {what}.")




def _roles_of(action: str) -> Text:
    return lit(", ".join(ROLE_LABELS[r] for r in ROLES if r in ACTIONS[action]) or "—")


def _local(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.timezone)).strftime("%d/%m/%Y à %H:%M")


# --- measured accuracy -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionAccuracy:
    """How often the AI's verdict on one criterion equals the human's final verdict."""

    criterion_id: str
    label: str
    n: int
    agree: int

    @property
    def rate(self) -> float | None:
        """Share of agreement (None without any validated verdict)."""
        return self.agree / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % Wilson interval of :attr:`rate`; (0, 1) before any validated verdict."""
        return wilson_interval(self.agree, self.n) or (0.0, 1.0)


@dataclass(frozen=True)
class Accuracy:
    """The AI against the humans on the organisation's validated calls."""

    calls: int
    criteria: tuple[CriterionAccuracy, ...]

    @property
    def enough(self) -> bool:
        """True when there are enough validated calls to state an accuracy."""
        return self.calls >= MIN_VALIDATED_CALLS


def measured_accuracy(*, session: Session, actor: Actor) -> Accuracy:
    """Per criterion, the AI's verdict against the final human verdict on the organisation's validated calls.

    The same comparison as the validated part of :func:`ccr.quality.calibration.ai_agreement` (current,
    validated, unrestricted evaluations), counted in SQL so a year of calls costs one query."""
    _require(actor)
    where = (Evaluation.org_id == actor.org_id, CriterionResult.org_id == actor.org_id,
             Evaluation.is_current == True, Evaluation.validated == True,  # noqa: E712
             Evaluation.restricted == False)  # noqa: E712
    join = (CriterionResult, Evaluation.id == CriterionResult.evaluation_id)
    agree = func.sum(case((CriterionResult.ai_verdict == CriterionResult.final_verdict, 1), else_=0))
    counts = session.exec(select(CriterionResult.criterion_id, func.count(), agree)
                          .select_from(Evaluation).join(*join).where(*where)
                          .group_by(CriterionResult.criterion_id)).all()
    calls = session.exec(select(func.count(distinct(CriterionResult.call_id)))
                         .select_from(Evaluation).join(*join).where(*where)).one()
    grid_ids = session.exec(select(Evaluation.grid_id).distinct().where(
        Evaluation.org_id == actor.org_id, Evaluation.is_current == True,  # noqa: E712
        Evaluation.validated == True)).all()  # noqa: E712
    _, grid = active_grid(session=session, org_id=actor.org_id)
    labels: dict[str, str] = {}
    for gid in grid_ids:
        labels.update({c.id: c.label for c in reviews.grid_by_row_id(session=session, org_id=actor.org_id,
                                                                     grid_id=gid).criteria})
    labels.update({c.id: c.label for c in grid.criteria})  # the active grid's wording wins
    order = [c.id for c in grid.criteria]
    rows = sorted(counts, key=lambda r: (order.index(r[0]) if r[0] in order else len(order), r[0]))
    return Accuracy(calls=int(calls or 0),
                    criteria=tuple(CriterionAccuracy(cid, labels.get(cid, cid), int(n), int(a or 0))
                                   for cid, n, a in rows))


# --- the facts every document reads --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    org_name: str
    settings: Settings
    rules: ScopeRules
    retention: list[dict]
    dispute_days: int
    answer_days: int
    dispute_limit: int
    dispute_window_days: int
    blind_review: bool
    grid_name: str
    grid_version: int
    grid: Grid


def _facts(session: Session, actor: Actor, settings: Settings) -> _Facts:
    org = session.get(Organisation, actor.org_id)
    row, grid = active_grid(session=session, org_id=actor.org_id)
    policy = get_policy(session=session, org_id=actor.org_id)
    return _Facts(org_name=org.name if org else "", settings=settings,
                  rules=get_rules(session=session, org_id=actor.org_id),
                  retention=retention_rows(session=session, settings=settings, org_id=actor.org_id),
                  dispute_days=policy.dispute_days, answer_days=policy.answer_days,
                  dispute_limit=policy.dispute_limit, dispute_window_days=policy.dispute_window_days,
                  blind_review=policy.blind_review, grid_name=row.name, grid_version=row.version, grid=grid)


def _scope_blocks(f: _Facts) -> list[Block]:
    r = f.rules
    blocks = [Block("p", lit(r.summary()))]
    if r.sampling == "quota":
        period = "semaine" if r.quota_period == "week" else "mois"
        blocks.append(paragraph("Échantillonnage : au plus **{quota}** appels par agent et par {period}, tirés au sort "
                         "de façon reproductible parmi les appels importés ; les autres sont conservés sans être "
                         "transcrits ni évalués.", quota=fr_count(r.quota), period=period))
    else:
        blocks.append(paragraph("Échantillonnage : aucun ; tous les appels importés sont transcrits et évalués."))
    if r.periods:
        blocks.append(paragraph("Périodes d'évaluation annoncées" + (" (seuls les appels de ces périodes sont analysés)"
                                                              if r.use_periods else "") + " :"))
        blocks.append(bullets(t("du {start} au {end}" + (" — {label}" if p.label else ""),
                            start=f"{p.starts_on:%d/%m/%Y}", end=f"{p.ends_on:%d/%m/%Y}", label=p.label)
                          for p in r.periods))
    else:
        blocks.append(paragraph("Périodes d'évaluation : aucune période n'est annoncée à ce jour."))
    kinds = {k: sum(1 for e in r.exclusions if e.kind == k) for k in EXCLUSION_NOUNS}
    if any(kinds.values()):
        # Counts only: who is excluded (a staff representative, a private line) is nobody else's business.
        what = ", ".join(f"{fr_count(n)} {EXCLUSION_NOUNS[k][n > 1]}" for k, n in kinds.items() if n)
        blocks.append(paragraph("Exclusions : {what} ; leurs appels ne sont jamais analysés (par exemple les "
                                "lignes des "
                         "représentants du personnel ou les appels privés).", what=what))
    else:
        blocks.append(paragraph("Exclusions : aucune exclusion n'est enregistrée."))
    return blocks


def _retention_block(f: _Facts) -> Block:
    return table(["Données", "Durée de conservation", "Décompte à partir de"],
                  [(lit(r["label"]), fr_days(r["days"]), lit(r["counted_from"])) for r in f.retention])


def _no_emotion_block() -> Block:
    return paragraph("**Aucune reconnaissance des émotions.** CCR ne déduit ni l'émotion, ni le ton, ni le stress, ni "
              "l'humeur des salariés (règlement européen sur l'IA, art. 5, § 1, f). Il n'analyse pas la voix : "
              "il ne lit que les mots de la transcription. Les irritants repérés (réclamation, attente, rappel "
              "répété) portent uniquement sur ce que dit le client.")


def _dispute_text(f: _Facts) -> Text:
    limit = (t(" ; au plus {n} contestations par période de {w}", n=f.dispute_limit, w=fr_days(f.dispute_window_days))
             if f.dispute_limit else t(""))
    return t("contester une évaluation publiée, critère par critère, dans les **{d}** qui suivent sa publication ; "
             "un superviseur répond dans les **{a}**, en motivant tout refus{limit}.",
             d=fr_days(f.dispute_days), a=fr_days(f.answer_days), limit=limit)


def _grid_table(grid: Grid) -> Block:
    return table(["Critère", "Poids", "Éliminatoire"],
                  [(c.label, fr_count(c.weight), lit("oui" if c.critical else "non")) for c in grid.criteria])


def _accuracy_blocks(acc: Accuracy) -> list[Block]:
    if acc.calls == 0:
        return [paragraph("**Aucun appel validé par un humain** dans l'organisation : l'exactitude de l'IA sur vos "
                   "appels n'est pas encore mesurable. Elle le sera après {n} validations au moins.",
                   n=MIN_VALIDATED_CALLS)]
    blocks = []
    if not acc.enough:
        blocks.append(paragraph("**Trop peu d'appels validés** ({calls}, il en faut au moins {n}) : les chiffres "
                                "ci-dessous "
                         "sont donnés pour information, leurs intervalles sont trop larges pour conclure.",
                         calls=fr_count(acc.calls), n=MIN_VALIDATED_CALLS))
    blocks.append(paragraph("Appels validés mesurés : **{calls}**. Pour chaque critère, part des verdicts de l'IA "
                     "identiques au verdict final retenu par le superviseur, avec son intervalle de confiance à "
                     "95 % (méthode de Wilson).", calls=fr_count(acc.calls)))
    rows = []
    for c in acc.criteria:
        lo, hi = c.interval
        rows.append((c.label, fr_count(c.n), fr_ratio(c.rate), t("{lo} – {hi}", lo=fr_ratio(lo), hi=fr_ratio(hi))))
    blocks.append(table(["Critère", "Verdicts comparés", "Accord", "Intervalle à 95 %"], rows))
    blocks.append(paragraph("Cet accord peut être flatté quand le superviseur confirme la proposition de l'IA sans "
                     "la discuter : la revue à l'aveugle et la calibration entre superviseurs le vérifient."))
    return blocks


def _analysed_calls(session: Session, org_id: int) -> tuple[int, int, int]:
    total, mono, narrow = session.exec(select(
        func.count(),
        func.sum(case((Call.channels == 1, 1), else_=0)),
        func.sum(case((Call.sample_rate <= NARROWBAND_HZ, 1), else_=0)),
    ).where(Call.org_id == org_id, Call.status == "done")).one()
    return int(total or 0), int(mono or 0), int(narrow or 0)


# --- the documents -------------------------------------------------------------------------------------------


def instructions_for_use(*, session: Session, actor: Actor, settings: Settings | None = None) -> Document:
    """The instructions for use (AI Act art. 13, 26): what the AI does, its measured accuracy, limits, oversight."""
    _require(actor)
    settings = settings or get_settings()
    f = _facts(session, actor, settings)
    acc = measured_accuracy(session=session, actor=actor)
    total, mono, narrow = _analysed_calls(session, actor.org_id)
    published, ai_only = session.exec(select(
        func.count(), func.sum(case((Evaluation.published_ai_only == True, 1), else_=0)))  # noqa: E712
        .where(Evaluation.org_id == actor.org_id, col(Evaluation.published_at).is_not(None))).one()
    overseers = session.exec(select(func.count()).select_from(User).where(
        User.org_id == actor.org_id, User.active == True,  # noqa: E712
        col(User.role).in_(sorted(ACTIONS["validate_reviews"])))).one()
    audit_days = retention.retention_days(session=session, org_id=actor.org_id, settings=settings)["audit_log"]
    engine = (t("un moteur de règles exécuté localement (lexique et reconnaissance des actes de dialogue)")
              if settings.scoring_engine == "rules" else
              t("un modèle de langage (« {m} ») interrogé par le point d'accès configuré par l'exploitant",
                m=lit(settings.llm_model)))
    title = "Notice d'utilisation de l'IA"
    blocks = [
        heading(1, "Notice d'utilisation de l'IA — {org}", org=f.org_name),
        paragraph("Système d'IA à haut risque au sens du règlement européen sur l'IA (annexe III, point 4, b : "
           "évaluation des performances et du comportement des travailleurs). Cette notice décrit le système tel "
           "qu'il est paramétré aujourd'hui dans l'organisation ; elle est régénérée à chaque changement de "
           "paramètre."),
        heading(2, "Ce que fait l'IA"),
        bullets([
            t("Transcription automatique des appels ({engine}, langue « {lang} ») ; les numéros de carte, IBAN, "
              "numéros de sécurité sociale, e-mails et téléphones prononcés sont masqués.",
              engine=lit(settings.asr_engine), lang=lit(settings.asr_language)),
            "Proposition d'un verdict par critère de la grille (conforme, non conforme, non applicable), chaque "
            "verdict étant justifié par une citation de l'appel, et d'une note sur 100.",
            t("Notation par {engine}.", engine=engine),
            "Mesures de temps de parole, de silences et d'interruptions, calculées à partir des horodatages.",
            "Repérage des irritants exprimés par le client et classement du motif d'appel.",
        ]),
        heading(2, "Ce que l'IA ne fait pas"),
        bullets([
            "Elle ne prend aucune décision concernant un salarié : ses verdicts sont des propositions.",
            "Elle ne reconnaît pas les émotions, le ton ni le stress des salariés et n'analyse pas la voix.",
            "Elle n'identifie pas les personnes par leur voix (aucune biométrie).",
            "Elle ne classe pas les salariés entre eux et ne calcule aucun score de personnalité.",
        ]),
        heading(2, "Grille d'évaluation en vigueur"),
        paragraph("Grille active : **{name}**, version {version}. Seuil de réussite : {threshold} sur 100.",
           name=f.grid_name, version=f.grid_version, threshold=fr_count(int(f.grid.pass_threshold))),
        _grid_table(f.grid),
        heading(2, "Exactitude mesurée sur vos appels"),
        *_accuracy_blocks(acc),
        heading(2, "Exactitude mesurée par l'éditeur"),
        paragraph("Accord du moteur de règles avec des annotateurs humains sur les jeux d'évaluation fournis avec CCR "
           "(appels fictifs en français) :"),
        table(["Jeu d'évaluation", "Résultat"], [(t(name), t(f"{r} {what}"))
                                                   for name, r, what in SHIPPED_EVALUATIONS]),
        heading(2, "Limites connues"),
        bullets([
            t("Enregistrements mono : sans canal séparé, le locuteur de chaque phrase est inconnu ; les actes "
              "(accueil, reformulation, conclusion) ne peuvent pas être attribués à l'agent plutôt qu'au client. "
              "Appels analysés dans l'organisation : {total}, dont {mono} en mono.", total=fr_count(total),
              mono=fr_count(mono)),
            t("Qualité de la transcription : les lignes téléphoniques à 8 kHz et les appels bruités font perdre "
              "des mots, et l'exactitude chute après reconnaissance vocale (voir ci-dessus). Appels analysés "
              "échantillonnés à 8 kHz ou moins : {narrow}.", narrow=fr_count(narrow)),
            "Les conversations écrites (chat, messagerie) ne sont pas prises en charge.",
            "Seul le français est pris en charge ; les accents régionaux marqués et le jargon métier peuvent "
            "être mal transcrits.",
            "Une citation mal transcrite peut conduire à un verdict erroné : le verdict doit être vérifié à "
            "l'écoute avant toute utilisation.",
        ]),
        heading(2, "Contrôle humain"),
        bullets([
            t("Seuls les rôles {roles} valident ou corrigent une évaluation ; la note de l'IA et la note validée "
              "sont toutes deux conservées, et chaque correction est journalisée. {n} comptes actifs ont ce rôle "
              "aujourd'hui : ils doivent avoir été formés à la grille et aux limites ci-dessus.",
              roles=_roles_of("validate_reviews"), n=fr_count(int(overseers))),
            t("Aucune évaluation n'est visible de l'agent avant sa publication par un humain ({roles}). "
              "Évaluations publiées : {published}, dont {ai_only} sans validation humaine (publiées avec la "
              "mention « Évaluation automatique, non revue par un humain »).",
              roles=_roles_of("publish_evaluations"), published=fr_count(int(published or 0)),
              ai_only=fr_count(int(ai_only or 0))),
            t("L'agent peut {dispute}", dispute=_dispute_text(f)),
            t("Revue à l'aveugle : {state}.", state="activée (le superviseur note avant de voir les verdicts de "
              "l'IA)" if f.blind_review else "désactivée"),
            "Aucune décision (entretien, prime, sanction) ne peut reposer sur la seule note automatique "
            "(RGPD art. 22).",
        ]),
        heading(2, "Journalisation"),
        paragraph("Chaque accès, validation, publication et export est inscrit au journal d'audit, chaîné et signé. "
           "Durée de conservation du journal dans l'organisation : **{days}** (minimum exigé : {min}). "
           "Référence : {ref}", days=fr_days(audit_days), min=fr_days(AUDIT_LOG_MIN_DAYS),
           ref=lit(retention.CATEGORIES["audit_log"].reference)),
        heading(2, "Périmètre de l'analyse"),
        *_scope_blocks(f),
    ]
    return Document("instructions", title, tuple(blocks))


def worker_notice(*, session: Session, actor: Actor, settings: Settings | None = None) -> Document:
    """The notice to the workers (AI Act art. 26(7), Code du travail L1222-4), from the rules in force."""
    _require(actor)
    settings = settings or get_settings()
    f = _facts(session, actor, settings)
    blocks = [
        heading(1, "Note d'information des salariés — {org}", org=f.org_name),
        paragraph("Cette note vous informe, avant sa mise en œuvre, de l'évaluation de vos appels à l'aide "
                  "d'un système "
           "d'intelligence artificielle (article L1222-4 du Code du travail ; règlement européen sur l'IA, "
           "art. 26, § 7). Le comité social et économique a été consulté sur ce dispositif."),
        *_purpose_blocks(f),
        heading(2, "Quand vos appels sont-ils évalués ?"),
        *_scope_blocks(f),
        heading(2, "Un humain décide"),
        paragraph("Les verdicts de l'IA sont des propositions. Une évaluation ne vous est montrée qu'après sa "
                  "publication "
           "par un superviseur ; elle indique si elle a été validée par un humain ou non. Aucune décision vous "
           "concernant (entretien, prime, sanction) ne peut reposer sur la seule note automatique."),
        _no_emotion_block(),
        heading(2, "Combien de temps vos données sont-elles conservées ?"),
        _retention_block(f),
        *_rights_blocks(f),
    ]
    return Document("worker_notice", "Note d'information des salariés", tuple(blocks))


def _purpose_blocks(f: _Facts) -> list[Block]:
    return [
        heading(2, "Pourquoi ?"),
        bullets([
            "Évaluer la qualité du service rendu aux clients au regard d'une grille connue à l'avance.",
            "Former et accompagner les salariés : retours individuels, partage des bonnes pratiques.",
            "Suivre la qualité de service de façon globale (tableaux de bord par équipe).",
        ]),
        paragraph("Base légale : intérêt légitime de l'employeur (RGPD, art. 6, § 1, f). Responsable du traitement : "
           "**{org}**.", org=f.org_name),
        heading(2, "Comment ?"),
        bullets([
            "Les appels retenus sont enregistrés et stockés chiffrés, puis transcrits automatiquement ; les "
            "numéros de carte, IBAN, e-mails et téléphones prononcés sont masqués.",
            t("L'IA propose un verdict par critère de la grille « {name} » (version {version}), chaque verdict "
              "justifié par une citation de l'appel ; un superviseur le valide ou le corrige.",
              name=f.grid_name, version=f.grid_version),
        ]),
        paragraph("Critères de la grille :"),
        bullets(t("{label}" + (" (éliminatoire)" if c.critical else ""), label=c.label) for c in f.grid.criteria),
    ]


def _rights_blocks(f: _Facts) -> list[Block]:
    return [
        heading(2, "Vos droits"),
        bullets([
            "accéder à vos enregistrements, transcriptions et évaluations et en obtenir une copie ;",
            "faire rectifier une donnée inexacte ;",
            "demander l'effacement des données qui ne sont plus nécessaires, la limitation d'un traitement "
            "contesté, et vous opposer au traitement pour des raisons tenant à votre situation ;",
            _dispute_text(f),
            "obtenir une explication de toute évaluation : chaque verdict est justifié par une citation de l'appel.",
        ]),
        paragraph("Contact : le délégué à la protection des données, {dpo}. Réponse sous un mois. Vous pouvez aussi "
           "saisir la CNIL. Exercer ces droits ne peut entraîner aucune conséquence défavorable pour vous.",
           dpo=lit(f.settings.dpo_contact)),
    ]


def cse_file(*, session: Session, actor: Actor, settings: Settings | None = None) -> Document:
    """The CSE consultation file (Code du travail L2312-38): the facts of the notice, the data and who sees it."""
    _require(actor)
    settings = settings or get_settings()
    f = _facts(session, actor, settings)
    acc = measured_accuracy(session=session, actor=actor)
    page_rows = []
    for role in ROLES:
        pages = [p.title for p in PAGES if role in p.roles and PUBLIC not in p.roles]
        reach = ("toute l'organisation" if role in ORG_WIDE_ROLES else
                 "ses équipes" if role == "team_lead" else "ses propres évaluations publiées")
        page_rows.append((lit(ROLE_LABELS[role]), lit(", ".join(pages) or "—"), lit(reach)))
    action_rows = [(lit(ACTION_LABELS.get(key, key)), _roles_of(key)) for key in ACTIONS]
    data_rows = [(lit(label), lit(what), lit(", ".join(ROLE_LABELS[r] for r in ROLES
                                                     if any(r in ACTIONS[a] for a in actions))))
                 for label, what, actions in DATA_ACCESS]
    blocks = [
        heading(1, "Dossier de consultation du CSE — {org}", org=f.org_name),
        paragraph("Consultation préalable du comité social et économique sur un moyen de contrôle de l'activité des "
           "salariés (article L2312-38 du Code du travail) et information des représentants des travailleurs "
           "avant la mise en service d'un système d'IA à haut risque (règlement européen sur l'IA, art. 26, "
           "§ 7). Les éléments ci-dessous sont ceux en vigueur à la date de la consultation."),
        *_purpose_blocks(f),
        heading(2, "Périmètre et périodes d'évaluation"),
        *_scope_blocks(f),
        heading(2, "Données traitées et qui y a accès"),
        table(["Données", "Contenu", "Rôles qui y accèdent"], data_rows),
        paragraph("Un chef d'équipe ne voit que les appels de ses équipes ; un téléconseiller ne voit que ses propres "
           "évaluations, une fois publiées."),
        heading(2, "Rôles et écrans"),
        table(["Rôle", "Écrans ouverts", "Périmètre"], page_rows),
        heading(2, "Droits de chaque rôle"),
        table(["Action", "Rôles autorisés"], action_rows),
        heading(2, "Contrôle humain et exactitude"),
        paragraph("Validation des évaluations : {roles}. Publication à l'agent : {pub}. Réponse aux contestations : "
           "{res}.", roles=_roles_of("validate_reviews"), pub=_roles_of("publish_evaluations"),
           res=_roles_of("resolve_disputes")),
        *_accuracy_blocks(acc),
        _no_emotion_block(),
        heading(2, "Durées de conservation"),
        _retention_block(f),
        *_rights_blocks(f),
    ]
    return Document("cse_file", "Dossier de consultation du CSE", tuple(blocks))


_BUILDERS = {"worker_notice": worker_notice, "instructions": instructions_for_use, "cse_file": cse_file}


def build(*, session: Session, actor: Actor, kind: str, settings: Settings | None = None) -> Document:
    """The live document of ``kind`` (a key of :data:`ccr.core.vocab.GOVERNANCE_DOCUMENTS`)."""
    _require(actor)
    if kind not in GOVERNANCE_DOCUMENTS:
        raise InvalidInput("Document inconnu.")
    return _BUILDERS[kind](session=session, actor=actor, settings=settings)


# --- publication --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Publication:
    """A published version of a document: who published it, when, and its digest."""

    id: int
    kind: str
    content: str
    digest: str
    published_at: datetime
    published_by: str

    @property
    def short_digest(self) -> str:
        """The digest's first characters, as lists show it."""
        return self.digest[:DIGEST_SHOWN]


def publications(*, session: Session, actor: Actor, kind: str | None = None,
                 limit: int = PUBLICATIONS_SHOWN) -> list[Publication]:
    """The organisation's published versions (of one kind, or all), newest first."""
    _require(actor)
    stmt = (select(NoticePublication, User.display_name)
            .join(User, (User.id == NoticePublication.published_by) & (User.org_id == actor.org_id), isouter=True)
            .where(NoticePublication.org_id == actor.org_id))
    if kind is not None:
        stmt = stmt.where(NoticePublication.kind == kind)
    rows = session.exec(stmt.order_by(col(NoticePublication.published_at).desc(),
                                      col(NoticePublication.id).desc()).limit(limit)).all()
    return [Publication(id=p.id, kind=p.kind, content=p.content, digest=p.digest, published_at=p.published_at,
                        published_by=name or "compte supprimé") for p, name in rows]


def last_publication(*, session: Session, actor: Actor, kind: str) -> Publication | None:
    """The newest published version of ``kind``, or None."""
    found = publications(session=session, actor=actor, kind=kind, limit=1)
    return found[0] if found else None


def changed_since_publication(*, session: Session, actor: Actor, kind: str,
                              document: Document | None = None) -> bool:
    """True when the live document differs from its last published version (or was never published)."""
    document = document or build(session=session, actor=actor, kind=kind)
    last = last_publication(session=session, actor=actor, kind=kind)
    return last is None or last.digest != document.digest


def publish(*, session: Session, actor: Actor, kind: str, settings: Settings | None = None) -> Publication:
    """Publish the live document of ``kind`` as shown (DPO, admin); audited with its digest, never its text."""
    _require(actor, "publish_notices")
    doc = build(session=session, actor=actor, kind=kind, settings=settings)
    last = last_publication(session=session, actor=actor, kind=kind)
    if last is not None and last.digest == doc.digest:
        raise InvalidInput(f"Cette version est déjà publiée depuis le "
                           f"{_local(last.published_at, settings or get_settings())}.")
    row = NoticePublication(org_id=actor.org_id, kind=kind, content=doc.markdown, digest=doc.digest,
                            published_by=actor.user_id)
    session.add(row)
    session.flush()
    audit.log_event(session=session, who=actor.who, action="governance_document_published",
                    target_type="notice", target_id=row.id,
                    detail={"document": kind, "empreinte": doc.digest, "caracteres": len(doc.markdown)})
    return Publication(id=row.id, kind=kind, content=row.content, digest=row.digest,
                       published_at=row.published_at, published_by=actor.display_name)



# --- points for the DPO's attention --------------------------------------------------------------------------


def attention_points(*, session: Session, actor: Actor, settings: Settings | None = None) -> list[str]:
    """What the DPO should look at before publishing (French sentences); empty when nothing stands out."""
    _require(actor)
    settings = settings or get_settings()
    rules = get_rules(session=session, org_id=actor.org_id)
    days = retention.retention_days(session=session, org_id=actor.org_id, settings=settings)
    points = []
    if rules.sampling != "quota" and not rules.use_periods:
        points.append("Tous les appels sont analysés, sans quota ni période annoncée : la CNIL demande que "
                      "l'écoute et l'évaluation restent ponctuelles (page « Périmètre d'évaluation »).")
    if days["audit_log"] < AUDIT_LOG_MIN_DAYS:
        points.append(f"Le journal d'audit n'est conservé que {fr_days(days['audit_log'])} : le règlement sur "
                      f"l'IA en exige au moins {fr_days(AUDIT_LOG_MIN_DAYS)}.")
    for key, rule in retention.CATEGORIES.items():
        if days[key] > rule.reference_days:
            points.append(f"{rule.label} : {fr_days(days[key])}, au-delà de la référence de "
                          f"{fr_days(rule.reference_days)}.")
    acc = measured_accuracy(session=session, actor=actor)
    if not acc.enough:
        points.append(f"Seulement {fr_count(acc.calls)} appel(s) validé(s) : l'exactitude de l'IA sur vos appels n'est "
                      f"pas encore mesurable (au moins {MIN_VALIDATED_CALLS}).")
    for kind, label in GOVERNANCE_DOCUMENTS.items():
        if last_publication(session=session, actor=actor, kind=kind) is None:
            points.append(f"« {label} » n'a jamais été publiée.")
    return points
