"""The tables of the integrations: API tokens, an organisation's webhook, and the webhook outbox with its
delivery log.

The outbox holds ids, statuses and scores, never a transcript nor a name; its rows go with the call's
evaluations (retention, erasure), and delivered or abandoned rows after ``outbox.KEEP_DAYS``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from ccr.core.db import utcnow


class ApiToken(SQLModel, table=True):
    """A bearer token of an organisation's REST API client; only the SHA-256 of the token is stored."""

    __table_args__ = (Index("ix_apitoken_prefix", "prefix"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str
    prefix: str  # the token's first characters: shown to tell tokens apart, and the lookup key
    token_hash: str  # sha256 hex of the whole token
    scopes: str  # comma-separated, ccr.core.api_tokens.SCOPES
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: int | None = Field(default=None, foreign_key="user.id")
    last_used_at: datetime | None = None


class WebhookEndpoint(SQLModel, table=True):
    """Where an organisation's events are POSTed, and the secret that signs them (sealed at rest)."""

    org_id: int = Field(foreign_key="organisation.id", primary_key=True)
    url: str
    secret_sealed: str  # base64 of AES-GCM(nonce + ciphertext), key derived from the master secret
    events: str  # comma-separated event kinds sent to this URL
    active: bool = True
    updated_by: int | None = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=utcnow)


class WebhookEvent(SQLModel, table=True):
    """One event of the durable outbox: written in the transaction of the change it reports, then delivered."""

    __table_args__ = (
        Index("ix_webhookevent_due", "status", "next_attempt_at"),
        Index("ix_webhookevent_org_time", "org_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id")
    event_uid: str = Field(unique=True)  # sent in the payload: a receiver drops an event it already has
    kind: str  # ccr.core.outbox.EVENT_KINDS
    call_id: int | None = Field(default=None, index=True)  # no foreign key: erasure deletes calls in any order
    payload_json: str = Field(sa_column=Column(Text, nullable=False))
    status: str = "pending"  # pending | delivered | abandoned
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class WebhookAttempt(SQLModel, table=True):
    """One delivery attempt of an event: the admin page's delivery log."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    event_id: int = Field(foreign_key="webhookevent.id", index=True)
    attempted_at: datetime = Field(default_factory=utcnow)
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    manual: bool = False  # « renvoyer » from the admin page
