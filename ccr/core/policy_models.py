"""The tables of an organisation's governance rules: what is analysed (sampling, announced periods,
exclusions), the groups of its fairness audit, and the governance documents as published."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ccr.core.db import utcnow


class ScopePolicy(SQLModel, table=True):
    """Which imported calls an organisation analyses (ccr.quality.scope); no row = every call, no exclusion."""

    org_id: int = Field(foreign_key="organisation.id", primary_key=True)
    sampling: str = "all"  # all | quota
    quota: int = 8  # calls analysed per agent and period when sampling is "quota"
    quota_period: str = "month"  # month | week
    seed: str = ""  # the organisation's secret for the reproducible draw
    store_excluded: bool = False  # an excluded call is stored (never analysed) rather than refused
    use_periods: bool = False  # analyse only calls inside the announced evaluation periods
    block_unvalidated_exports: bool = False  # per-agent scores leave CCR only once a human validated them
    updated_by: int | None = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=utcnow)


class EvaluationPeriod(SQLModel, table=True):
    """A date range, announced to the agents, in which their calls may be listened to and scored."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    starts_on: date
    ends_on: date  # inclusive
    label: str = ""
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class ScopeExclusion(SQLModel, table=True):
    """An agent, phone line or campaign whose calls are never analysed (staff representatives, private lines)."""

    __table_args__ = (UniqueConstraint("org_id", "kind", "value"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    kind: str  # agent | line | campaign
    value: str  # the agent's id, or the normalised line or campaign
    reason: str = ""
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class AgentGroup(SQLModel, table=True):
    """A group of agents an organisation defines for its fairness audit (a site, a shift, a seniority band)."""

    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    name: str
    created_at: datetime = Field(default_factory=utcnow)


class AgentGroupMember(SQLModel, table=True):
    """An agent's membership of an audit group."""

    group_id: int = Field(foreign_key="agentgroup.id", primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", primary_key=True, index=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)


class NoticePublication(SQLModel, table=True):
    """A governance document as published (worker notice, instructions for use, CSE file): text and digest."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organisation.id", index=True)
    kind: str  # ccr.core.vocab.GOVERNANCE_DOCUMENTS
    content: str = Field(sa_column=Column(Text, nullable=False))  # Markdown, as shown when published
    digest: str  # sha256 of the content
    published_by: int | None = Field(default=None, foreign_key="user.id")
    published_at: datetime = Field(default_factory=utcnow)
