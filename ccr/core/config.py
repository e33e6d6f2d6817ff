"""The one settings object of CCR, read from ``CCR_*`` environment variables and ``.env``.

Defaults make the embedded mode work out of the box: SQLite and encrypted audio
under ``data/``, the in-process worker, the offline faster-whisper model shipped
by a PyPI package, and the offline rule-based scorer.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ccr.core.errors import ConfigError

SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name; the key is generated on first start, mode 0600
MIN_SECRET_LEN = 32  # 256 bits of hex at least
# Values seen in tutorials and .env templates: never accepted as a secret key.
DEFAULT_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "secret-key", "your-secret-key", "default", "ccr", "test"}
)


class Settings(BaseSettings):
    """All CCR settings; each field maps to ``CCR_<FIELD>`` (``DATABASE_URL`` also works)."""

    model_config = SettingsConfigDict(env_prefix="CCR_", env_file=".env", extra="ignore")

    # --- storage -------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Runtime data: database, encrypted audio, exports.")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("CCR_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; defaults to SQLite in the data directory. PostgreSQL works too.",
    )
    secret_key: SecretStr | None = Field(
        None, description="Master secret; generated into data/secret.key (0600) when unset."
    )
    timezone: str = Field("Europe/Paris", description="Timezone used for display and schedules.")
    language: Literal["fr"] = Field("fr", description="UI language (French only for now).")
    demo_mode: bool = Field(False, description="Allows the demo organisation and its published passwords.")

    # --- accounts ------------------------------------------------------------------
    lockout_attempts: int = Field(5, description="Wrong passwords before an account is locked.")
    lockout_minutes: int = Field(15, description="How long a locked account stays locked.")
    cookie_expiry_hours: float = Field(10.0, description="Re-login cookie lifetime: one working day.")
    bcrypt_rounds: int = Field(12, ge=4, le=16, description="bcrypt cost factor of password hashes.")

    # --- uploads and audio ---------------------------------------------------------
    max_audio_seconds: float = Field(7200.0, description="Longest recording accepted (default 2 h).")
    max_upload_mb: int = Field(200, description="Largest upload accepted, in MB (kept equal to server.maxUploadSize).")
    agent_channel: Literal["left", "right"] = Field("left", description="Stereo channel carrying the agent.")

    # --- transcription -------------------------------------------------------------
    asr_engine: Literal["faster-whisper", "openai-whisper", "openai"] = Field(
        "faster-whisper", description="Transcription engine."
    )
    asr_model: str = Field(
        "base-offline",
        description="faster-whisper model: 'base-offline' (from the PyPI weight packages), a directory, "
        "or a hub name such as 'small' on a machine with internet.",
    )
    asr_language: str = Field("fr", description="Transcription language.")
    asr_cpu_threads: int = Field(2, description="CPU threads for faster-whisper.")
    asr_device: str = Field("cpu", description="'cpu' or 'cuda' for faster-whisper.")
    asr_compute_type: str = Field("int8", description="CTranslate2 compute type.")
    asr_time_budget_factor: float = Field(
        1.5, description="Per-file transcription budget, as a multiple of the audio duration."
    )
    openai_whisper_checkpoint: Path | None = Field(None, description="Path of an openai-whisper .pt checkpoint.")
    asr_openai_model: str = Field("whisper-1", description="Model of the OpenAI transcription API.")
    asr_api_timeout_s: float = Field(
        300.0, description="Timeout of one request to the transcription API (a whole channel is sent)."
    )
    asr_api_max_retries: int = Field(3, description="Retries of the transcription API on timeout, 429 and 5xx.")
    diarization: Literal["auto", "off"] = Field(
        "auto",
        description="Speaker separation of mono calls: 'auto' when requirements-diarization.txt is installed, "
        "'off' to keep mono lines' speaker unknown.",
    )

    # --- OpenAI-compatible endpoint (LLM scorer and API transcription) -------------
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. a self-hosted vLLM.")
    openai_api_key: SecretStr | None = Field(None, description="API key of that endpoint.")
    llm_model: str = Field("gpt-4o-mini", description="Chat model of the LLM scorer.")
    llm_timeout_s: float = Field(60.0, description="Timeout of one LLM request.")
    llm_max_retries: int = Field(3, description="Retries with back-off on 429/5xx.")
    scoring_engine: Literal["rules", "llm"] = Field("rules", description="Default scoring engine.")

    # --- worker --------------------------------------------------------------------
    background_services: bool = Field(
        True,
        description="Start the worker, the scheduler and the dashboards' refresher with the app (off in page tests).",
    )
    worker_threads: int = Field(1, description="Transcription workers started with the app (threads of its worker).")
    worker_mode: Literal["process", "thread"] = Field(
        "process",
        description="Where the app's workers run: a child process of their own (default, so transcription never "
        "holds the pages' interpreter) or threads of the app's process.",
    )
    worker_nice: int = Field(10, ge=0, le=19, description="Scheduling niceness of the worker process: pages first.")
    run_timings_file: Path | None = Field(
        None, description="Measuring only: each page run appends where its time went (JSON lines) to this file."
    )
    rollup_refresh_s: float = Field(
        1.0, gt=0, description="Longest wait before the dashboards' rollups catch up with a change made elsewhere."
    )
    worker_poll_s: float = Field(1.0, description="Idle worker poll interval.")
    job_lease_s: int = Field(900, description="A job whose lease expired is taken again.")
    job_max_attempts: int = Field(3, description="Attempts before a call is marked failed.")
    broker_url: str | None = Field(None, description="Celery broker URL; unset keeps the in-process worker.")
    broker_visibility_s: int = Field(
        1800, ge=1, description="Celery: a task unacknowledged this long (its worker died) is delivered again."
    )

    # --- integrations: REST API, webhooks, drop folder ------------------------------
    api_host: str = Field("127.0.0.1", description="Address the REST API binds to (loopback: a TLS proxy in front).")
    api_port: int = Field(8600, ge=1, le=65535, description="Port of the REST API.")
    api_rate_per_min: int = Field(
        600, ge=1, description="Requests a token may make per minute (burst included); beyond: 429 with Retry-After."
    )
    api_page_size: int = Field(100, ge=1, le=1000, description="Calls per page of GET /api/v1/calls (at most).")
    webhook_poll_s: float = Field(5.0, gt=0, description="How often due webhook events are looked for.")
    webhook_timeout_s: float = Field(10.0, gt=0, description="Timeout of one webhook POST.")
    webhook_retry_hours: float = Field(24.0, gt=0, description="Webhook events are retried this long, then abandoned.")
    watch_settle_s: float = Field(
        5.0, ge=0, description="A dropped file is imported once its size and date stayed unchanged this long."
    )
    watch_interval_s: float = Field(2.0, gt=0, description="How often the watched drop folder is scanned.")

    # --- review --------------------------------------------------------------------
    review_sample_rate: float = Field(0.05, description="Share of calls sampled for calibration review.")
    review_margin: float = Field(5.0, description="Scores within this margin of the threshold go to review.")
    dashboard_rollups: bool = Field(
        True, description="Dashboards read pre-aggregated daily figures (exact; off: every figure is live SQL)."
    )

    # --- data protection -----------------------------------------------------------
    dpo_contact: str = Field("dpo@example.invalid", description="DPO contact shown on the privacy pages.")
    export_keep_days: int = Field(7, description="Days an export stays downloadable.")
    backup_keep: int = Field(7, description="Backups kept; older ones are deleted.")
    termination_grace_days: int = Field(30, description="Days after termination before data is deleted.")
    purge_hour: int = Field(3, description="Hour of the daily retention job (local time).")

    # --- consent and analytics -----------------------------------------------------
    matomo_url: str | None = Field(None, description="Matomo base URL; analytics stay off when unset.")
    matomo_site_id: str | None = Field(None, description="Matomo site id.")
    consent_policy_version: str = Field("2026-05-13", description="Cookie policy version; a change re-asks.")
    consent_max_days: int = Field(182, description="Consent lifetime (at most 6 months).")

    # --- service level (availability, maintenance, support) -------------------------
    maintenance_notice_hours: int = Field(
        72, ge=0, description="Hours before a maintenance window from which its banner shows on every page."
    )
    support_open_hour: int = Field(9, ge=0, le=23, description="Support opening hour (local time, Mon-Fri).")
    support_close_hour: int = Field(18, ge=1, le=24, description="Support closing hour (local time, Mon-Fri).")

    @field_validator("consent_max_days")
    @classmethod
    def _consent_at_most_six_months(cls, v: int) -> int:
        if not 1 <= v <= 183:
            raise ValueError("consent_max_days doit être compris entre 1 et 183 jours")
        return v

    # --- derived -------------------------------------------------------------------
    def to_env(self) -> dict[str, str]:
        """These settings as ``CCR_*`` variables, so a child process (the worker) runs with exactly them."""
        env = {}
        for name, value in self.model_dump(mode="json").items():
            if name == "secret_key":
                value = self.secret_key.get_secret_value() if self.secret_key else None
            if value is None:
                continue
            env[f"CCR_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
        return env

    @cached_property  # read on every database session: resolving the path each time was 2 % of a page run
    def db_url(self) -> str:
        """The SQLAlchemy URL in force: ``DATABASE_URL`` or SQLite in the data directory."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://") :]
            elif url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'ccr.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        """True when the database is SQLite."""
        return self.db_url.startswith("sqlite")

    @property
    def audio_dir(self) -> Path:
        """Where encrypted recordings are stored."""
        return self.data_dir / "audio"

    @property
    def exports_dir(self) -> Path:
        """Where export archives are stored until they expire."""
        return self.data_dir / "exports"

    @property
    def backups_dir(self) -> Path:
        """Where encrypted backups are stored."""
        return self.data_dir / "backups"

    @property
    def models_dir(self) -> Path:
        """Where model directories are assembled from PyPI packages."""
        return self.data_dir / "models"

    def secret(self) -> str:
        """Return the master secret, generating ``data/secret.key`` (0600) on first start."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            _check_secret(value, "CCR_SECRET_KEY")
            return value
        path = self.data_dir / SECRET_KEY_FILE
        if path.exists():
            value = path.read_text().strip()
            _check_secret(value, str(path))
            return value
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        return value


def _check_secret(value: str, origin: str) -> None:
    if value.strip().lower() in DEFAULT_SECRETS or len(value.strip()) < MIN_SECRET_LEN:
        raise ConfigError(
            f"La clé secrète ({origin}) est une valeur par défaut ou trop courte "
            f"(au moins {MIN_SECRET_LEN} caractères) : CCR refuse de démarrer avec."
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
