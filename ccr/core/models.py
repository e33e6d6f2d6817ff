"""All SQLModel tables of CCR.

Multi-tenant from day one: every table that holds client data has an ``org_id``.
Datetimes are timezone-aware UTC (``ccr.core.db.utcnow``); display converts to ``Settings.timezone``.
JSON payloads are stored as text columns (``*_json``) so that SQLite and
PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from ccr.core.db import utcnow


class Organisation(SQLModel, table=True):
    """A client company: the tenant boundary."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    slug: str = Field(unique=True, index=True)
    status: str = Field(default="active")  # ccr.core.vocab.ORG_STATUSES
    terminated_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Team(SQLModel, table=True):
    """A team of agents inside an organisation."""

    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str


class Agent(SQLModel, table=True):
    """A call-centre agent (an employee whose calls are scored; not a login)."""

    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    name: str
    external_ref: str | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    """A login of the app, with one role, inside one organisation."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    username: str = Field(unique=True, index=True)
    display_name: str
    email: str | None = None
    password_hash: str
    role: str  # ccr.core.vocab.ROLES
    # The agent record an "agent" login is (its own evaluations); None for every other role.
    agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = None
    # Sessions and re-login cookies issued before this instant are void (logout, deactivation, reset).
    sessions_revoked_at: datetime | None = None
    last_login_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class UserTeam(SQLModel, table=True):
    """Teams a team lead is attached to."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    team_id: int = Field(foreign_key="team.id", primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)


class Grid(SQLModel, table=True):
    """One version of a scoring grid; versions are immutable once used."""

    __table_args__ = (UniqueConstraint("org_id", "slug", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    slug: str
    name: str
    version: int
    definition_json: str = Field(sa_column=Column(Text, nullable=False))
    is_active: bool = False
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class Vocabulary(SQLModel, table=True):
    """One version of an organisation's business vocabulary (brands, offers, names) given to the recogniser."""

    __table_args__ = (UniqueConstraint("org_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    version: int
    terms_json: str = Field(sa_column=Column(Text, nullable=False))  # a JSON list of terms, in the editor's order
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class Taxonomy(SQLModel, table=True):
    """An organisation's categories (with cue phrases) and irritant lexicon, versioned."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    version: int = 1
    definition_json: str = Field(sa_column=Column(Text, nullable=False))
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Call(SQLModel, table=True):
    """A recorded call: metadata, encrypted audio reference, processing state and metrics."""

    __table_args__ = (
        UniqueConstraint("org_id", "sha256"),
        Index("ix_call_org_started", "org_id", "started_at"),
        Index("ix_call_org_status", "org_id", "status"),
        Index("ix_call_lease", "status", "lease_until"),
        # The scope's quota counts an agent's calls of a period at each import; the DPO's bilan groups a
        # month's calls by agent and scope: both read these indexes alone, never the table.
        Index("ix_call_agent_period", "org_id", "agent_id", "started_at", "scope"),
        Index("ix_call_scope_month", "org_id", "started_at", "agent_id", "scope"),
        Index("ix_call_org_external", "org_id", "external_id"),  # the API's de-duplication on the caller's id
        Index("ix_call_org_updated", "org_id", "updated_at", "id"),  # the API's list of changed calls
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    external_id: str | None = None
    source_name: str | None = None  # sanitised display name of the upload; never used as a path
    sha256: str
    audio_key: str | None = None  # internal storage id of the encrypted file
    audio_size: int | None = None
    duration_s: float | None = None
    channels: int | None = None
    sample_rate: int | None = None
    codec: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    direction: str = "entrant"  # entrant | sortant
    campaign: str | None = None
    customer_phone: str | None = Field(default=None, index=True)  # for data-subject requests
    # processing
    status: str = Field(default="queued")  # ccr.core.vocab.CALL_STATUSES
    attempts: int = 0
    last_error: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    rescore_grid_id: int | None = Field(default=None, foreign_key="grid.id")
    needs_llm_retry: bool = False
    restricted: bool = False
    line: str | None = None  # the agent's phone line (number or name), for the scope's exclusions
    # A supervisor found the agent on the other stereo channel: transcription reads the channels the other way.
    channels_swapped: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    channel_check: str | None = None  # ccr.core.vocab.CHANNEL_CHECKS, set when a stereo call is scored
    scope: str = Field(default="in", sa_column_kwargs={"server_default": "in"})  # ccr.core.vocab.CALL_SCOPES
    scope_draw: float | None = None  # the call's fixed lottery number in [0, 1), when a quota applies
    queued_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    processing_s: float | None = None
    uploaded_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime | None = Field(default_factory=utcnow)  # imported, scored, failed or validated (API)
    # conversation metrics
    agent_talk_s: float | None = None
    customer_talk_s: float | None = None
    silence_s: float | None = None
    longest_silence_s: float | None = None
    overtalk_s: float | None = None
    interruptions: int | None = None
    agent_wpm: float | None = None


class Transcript(SQLModel, table=True):
    """The redacted transcript of a call (the raw text is never stored)."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    call_id: int = Field(foreign_key="call.id", unique=True)
    language: str = "fr"
    engine: str = ""
    model: str = ""
    segments_json: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))  # flattened, for full-text search
    redactions_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    truncated: bool = False
    # Mono calls only (ccr.core.vocab.SPEAKER_SEPARATIONS): how the two voices were told apart, and how clearly.
    speaker_separation: str | None = None
    speaker_confidence: float | None = None
    vocabulary_version: int | None = None  # the organisation's vocabulary given to the recogniser (None: none)
    created_at: datetime = Field(default_factory=utcnow)


class Evaluation(SQLModel, table=True):
    """One scoring of a call by an engine with a grid version; the current one feeds dashboards.

    Dashboard columns are denormalised from the call so aggregation needs no join.
    ``final_*`` equal the AI values until a human review validates other ones. ``category`` is the one the
    dashboards count: the scorer's until a review corrects it (the scorer's stays in ``result_json``).
    """

    __table_args__ = (
        Index("ix_eval_dash", "org_id", "is_current", "started_at"),
        Index("ix_eval_team", "org_id", "team_id", "started_at"),
        Index("ix_eval_agent", "org_id", "agent_id", "started_at"),
        # Dashboards (ccr.dashboards.figures): every figure of a period is read from this index alone, in time order,
        # never from the wide rows (result_json holds the whole scoring contract).
        Index("ix_eval_cover", "org_id", "is_current", "restricted", "started_at", "team_id", "agent_id",
              "final_score", "final_passed", "final_critical_failed", "validated", "irritant_count", "duration_s",
              "silence_s", "agent_talk_s", "customer_talk_s", "category"),
        Index("ix_eval_campaign", "org_id", "campaign"),  # distinct campaigns by skipping along the index
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    grid_slug: str
    grid_version: int
    engine: str
    is_current: bool = True
    ai_score: float
    ai_passed: bool
    ai_critical_failed: bool
    final_score: float
    final_passed: bool
    final_critical_failed: bool
    validated: bool = False
    category: str | None = None
    irritant_count: int = 0
    unverified: bool = False
    # The scorer was unsure of a verdict (doubtful speech recognition or dialogue act): the call goes to
    # "À revoir". The server default keeps rows written without the column (older code) unflagged.
    needs_review: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The scorer's chance that its pass or fail is wrong (ccr.scoring.evaluation.result_risk): the « À revoir »
    # queue shows the calls whose result is most at stake first. Null on results scored before it existed.
    result_risk: float | None = None
    # Publication to the agent (ccr.quality.publication): drafts are never shown to the agent. AI-only =
    # published without a human review, with that mention on the agent's screen.
    published_at: datetime | None = None
    published_by: int | None = Field(default=None, foreign_key="user.id")
    published_ai_only: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    acknowledged_at: datetime | None = None
    result_json: str = Field(sa_column=Column(Text, nullable=False))  # the scoring contract object
    usage_json: str | None = Field(default=None, sa_column=Column(Text))
    # denormalised from the call
    team_id: int | None = Field(default=None, index=True)
    agent_id: int | None = Field(default=None, index=True)
    started_at: datetime = Field(default_factory=utcnow)
    campaign: str | None = None
    direction: str | None = None
    duration_s: float | None = None
    silence_s: float | None = None
    agent_talk_s: float | None = None
    customer_talk_s: float | None = None
    restricted: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class CriterionResult(SQLModel, table=True):
    """One criterion verdict of an evaluation, flattened for SQL aggregation (heatmaps)."""

    __table_args__ = (
        Index("ix_crit_dash", "org_id", "criterion_id", "started_at"),
        # Heatmap (ccr.dashboards.agents): each drawn agent's verdicts of a period, read from the index alone.
        Index("ix_crit_agent", "org_id", "agent_id", "started_at", "criterion_id", "final_verdict", "evaluation_id"),
        # The rollups' refresh: a week's verdicts of every agent and criterion (also the organisation's index).
        Index("ix_crit_time", "org_id", "started_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id")
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    criterion_id: str
    ai_verdict: str  # pass | fail | na
    final_verdict: str
    team_id: int | None = None
    agent_id: int | None = None
    started_at: datetime = Field(default_factory=utcnow)


class IrritantHit(SQLModel, table=True):
    """A customer irritant found in a call (customer side only, from text)."""

    __table_args__ = (
        Index("ix_irritant_dash", "org_id", "label", "started_at"),
        # Irritants over time (ccr.dashboards.figures): a period's hits read from the index alone.
        Index("ix_irritant_time", "org_id", "started_at", "label", "evaluation_id", "team_id", "agent_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    label: str
    start_s: float = 0.0
    team_id: int | None = None
    agent_id: int | None = None
    started_at: datetime = Field(default_factory=utcnow)


class Review(SQLModel, table=True):
    """A supervisor's validation of an evaluation; the AI evaluation itself is never modified."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    reviewer_id: int | None = Field(default=None, foreign_key="user.id")
    ai_score: float
    final_score: float
    final_passed: bool
    overrides_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    comments_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    summary: str | None = Field(default=None, sa_column=Column(Text))
    recommendations_json: str | None = Field(default=None, sa_column=Column(Text))
    coaching_note: str | None = Field(default=None, sa_column=Column(Text))
    # The category the review kept (the scorer's or a correction); None on reviews older than the choice.
    category: str | None = None
    ai_category: str | None = None  # the scorer's, beside it: what the calibration page compares
    # The irritant labels the review kept (JSON list); None when it left them as they were.
    irritants_json: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)


class QualityPolicy(SQLModel, table=True):
    """An organisation's rules for disputes and reviews (ccr.quality.policy); no row = the defaults."""

    org_id: int = Field(foreign_key="organisation.id", primary_key=True)
    dispute_days: int = 15  # what French contact centres' QA agreements usually give an agent to contest
    answer_days: int = 10  # two working weeks for the supervisor's answer
    dispute_limit: int = 5  # per agent and window (0 = none): room for real errors, not for blocking every one
    dispute_window_days: int = 30
    blind_review: bool = False
    updated_by: int | None = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=utcnow)


class Dispute(SQLModel, table=True):
    """An agent's contest of criteria of a published evaluation, and the supervisor's answer."""

    __table_args__ = (UniqueConstraint("evaluation_id"),
                      Index("ix_dispute_queue", "org_id", "status", "answer_due_at"))
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id")
    evaluation_id: int = Field(foreign_key="evaluation.id")
    call_id: int = Field(foreign_key="call.id", index=True)
    agent_id: int | None = Field(default=None, index=True)
    team_id: int | None = None
    opened_by: int | None = Field(default=None, foreign_key="user.id")
    opened_at: datetime = Field(default_factory=utcnow)
    answer_due_at: datetime
    comment: str = Field(sa_column=Column(Text, nullable=False))
    status: str = "open"  # ccr.core.vocab.DISPUTE_STATUSES
    resolved_by: int | None = Field(default=None, foreign_key="user.id")
    resolved_at: datetime | None = None
    resolution: str | None = Field(default=None, sa_column=Column(Text))


class DisputeItem(SQLModel, table=True):
    """One contested criterion of a dispute: the verdict contested, the one asked for, the decision."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id")
    dispute_id: int = Field(foreign_key="dispute.id", index=True)
    criterion_id: str
    verdict: str
    requested: str
    decision: str | None = None  # ccr.core.vocab.DISPUTE_DECISIONS


class CalibrationSession(SQLModel, table=True):
    """Several supervisors score one call blind; the group then agrees on a result (ccr.quality.calibration)."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    title: str
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    status: str = "open"  # open | closed
    agreed_json: str | None = Field(default=None, sa_column=Column(Text))
    closed_by: int | None = Field(default=None, foreign_key="user.id")
    closed_at: datetime | None = None


class BlindScore(SQLModel, table=True):
    """Verdicts a person gave without seeing the AI's (blind review) or the group's (calibration session)."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id")
    evaluation_id: int = Field(foreign_key="evaluation.id", index=True)
    call_id: int = Field(foreign_key="call.id", index=True)
    reviewer_id: int | None = Field(default=None, foreign_key="user.id")
    calibration_id: int | None = Field(default=None, foreign_key="calibrationsession.id", index=True)
    verdicts_json: str = Field(sa_column=Column(Text, nullable=False))
    comments_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    score: float
    created_at: datetime = Field(default_factory=utcnow)


class AuditLog(SQLModel, table=True):
    """Append-only log of actions; each row carries an HMAC of its content and of the previous row of its chain."""

    __table_args__ = (Index("ix_audit_org_time", "org_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int | None = Field(default=None, index=True)  # None: system chain (e.g. unknown login)
    user_id: int | None = None
    username: str | None = None
    action: str = Field(index=True)
    target_type: str | None = None
    target_id: str | None = None
    outcome: str = "ok"  # ok | refused | error
    detail_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    prev_hash: str = ""
    hash: str = ""


class RetentionSetting(SQLModel, table=True):
    """Retention duration of one data category for one organisation."""

    __table_args__ = (UniqueConstraint("org_id", "category"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    category: str
    days: int
    justification: str | None = Field(default=None, sa_column=Column(Text))
    updated_by: int | None = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=utcnow)


class DailyStat(SQLModel, table=True):
    """Anonymised daily statistics kept after deletion: no agent, no call id.

    ``team_id`` is None for the organisation level (teams with fewer than 5 agents fold into it).
    """

    __table_args__ = (UniqueConstraint("org_id", "day", "team_id"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(index=True)
    day: date = Field(index=True)
    team_id: int | None = None
    calls: int = 0
    score_sum: float = 0.0
    passed: int = 0
    critical_failed: int = 0
    validated: int = 0
    with_irritant: int = 0
    duration_sum: float = 0.0
    silence_sum: float = 0.0
    criteria_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # id -> [pass, applicable]
    irritants_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # label -> count
    categories_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # category -> count


class PurgeRun(SQLModel, table=True):
    """One run of the retention job."""

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    reference_now: datetime | None = None
    dry_run: bool = False
    trigger: str = "schedule"  # schedule | manual | cli
    status: str = "running"  # running | ok | error | skipped | interrupted
    deleted_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # Files whose rows were deleted in a committed batch, removed right after the commit; a run killed
    # in between leaves them here and the next run removes them (no orphan, nothing half-deleted).
    pending_files_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))
    duration_s: float | None = None


class JobLock(SQLModel, table=True):
    """A lease row so that only one process runs a given job (e.g. the purge) at a time."""

    name: str = Field(primary_key=True)
    owner: str | None = None
    expires_at: datetime | None = None


class Export(SQLModel, table=True):
    """An export archive (organisation or data subject), kept for a limited time."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    kind: str  # organisation | subject
    subject: str | None = None
    include_audio: bool = False
    status: str = "queued"  # queued | running | done | failed
    progress: float = 0.0
    file_key: str | None = None
    manifest_json: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = None
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None


class ConsentRecord(SQLModel, table=True):
    """Proof of a cookie choice: random consent id, choices, policy version, time and expiry."""

    id: int | None = Field(default=None, primary_key=True)
    consent_id: str = Field(index=True)
    org_id: int | None = None
    choices_json: str = Field(sa_column=Column(Text, nullable=False))
    policy_version: str
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    withdrawn_at: datetime | None = None


class HealthCheck(SQLModel, table=True):
    """One run of the health probe (system-wide, no organisation): the basis of measured availability.

    ``ok`` is True when the service is up (every check ok or only degraded); ``status`` says which.
    """

    id: int | None = Field(default=None, primary_key=True)
    checked_at: datetime = Field(default_factory=utcnow, index=True)
    ok: bool
    status: str = "ok"  # ok | degraded | down
    results_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))  # check -> {status, detail}
    duration_ms: int = 0
    source: str = "scheduler"  # scheduler | cli


class MaintenanceWindow(SQLModel, table=True):
    """A scheduled maintenance window: uploads are held during it and its minutes leave the availability.

    ``org_id`` None = every organisation (scheduled by the operator from the command line).
    """

    id: int | None = Field(default=None, primary_key=True)
    org_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    starts_at: datetime = Field(index=True)
    ends_at: datetime
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    cancelled_at: datetime | None = None  # cancelled windows are kept (announcement history), never applied


class Incident(SQLModel, table=True):
    """An entry of the incident register (SLA priorities and deadlines); ``kind="breach"`` = data breach.

    The breach fields follow the DPA (nature, categories, consequences, measures) and GDPR art. 33.
    """

    __table_args__ = (Index("ix_incident_org_opened", "org_id", "opened_at"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    kind: str = "incident"  # incident | breach
    priority: str = "P3"  # P1 | P2 | P3
    title: str
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    impact: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = "open"  # open | in_progress | resolved
    opened_at: datetime = Field(default_factory=utcnow)
    response_due_at: datetime | None = None  # fixed when opened (or when the priority changes)
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    caused_downtime: bool = False
    downtime_start: datetime | None = None
    downtime_end: datetime | None = None
    # data breach (kind == "breach")
    data_categories: str | None = Field(default=None, sa_column=Column(Text))
    people_count: int | None = None
    likely_consequences: str | None = Field(default=None, sa_column=Column(Text))
    measures_taken: str | None = Field(default=None, sa_column=Column(Text))
    client_notified_at: datetime | None = None
    created_by: int | None = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=utcnow)


# The integrations', rollups' and governance rules' tables live in their own modules; importing them here
# registers them with the metadata wherever the models are loaded (Alembic, the tests' schema), and keeps one
# import path.
from ccr.core.integration_models import ApiToken, WebhookAttempt, WebhookEndpoint, WebhookEvent  # noqa: E402, F401
from ccr.core.policy_models import (  # noqa: E402, F401
    AgentGroup,
    AgentGroupMember,
    EvaluationPeriod,
    NoticePublication,
    ScopeExclusion,
    ScopePolicy,
)
from ccr.core.rollup_models import (  # noqa: E402, F401
    ROLLUP_LAYOUT,
    RollupAgent,
    RollupCategory,
    RollupCriterionWeek,
    RollupDirty,
    RollupIrritantDay,
    RollupState,
    RollupTeamDay,
)
