"""The models keep their promises: org_id on client data, aware UTC datetimes, JSON stored as text."""

from __future__ import annotations

import typing
from datetime import datetime

from sqlalchemy import Text
from sqlmodel import SQLModel

import ccr.core.models as models
from ccr.core.db import utcnow

# Tables that hold no client data of one organisation: the tenant itself and system-wide bookkeeping.
SYSTEM_TABLES = {"organisation", "healthcheck", "joblock", "purgerun"}


def _table_models() -> list[type[SQLModel]]:
    return [c for c in vars(models).values()
            if isinstance(c, type) and issubclass(c, SQLModel) and getattr(c, "__table__", None) is not None]


def test_every_client_data_table_has_an_org_id():
    without = {t.name for t in SQLModel.metadata.sorted_tables if "org_id" not in t.columns}
    assert without == SYSTEM_TABLES


def test_every_datetime_default_is_utcnow():
    checked = 0
    for model in _table_models():
        hints = typing.get_type_hints(model)
        for name, field in model.model_fields.items():
            if field.default_factory is not None and hints.get(name) is datetime:
                assert field.default_factory is utcnow, f"{model.__name__}.{name}"
                checked += 1
    assert checked >= 20


def test_new_rows_get_aware_utc_timestamps():
    call = models.Call(org_id=1, sha256="x")
    for value in (call.started_at, call.queued_at, call.created_at, models.Organisation(name="x", slug="x").created_at):
        assert value.tzinfo is not None and value.utcoffset().total_seconds() == 0


def test_json_payloads_are_text_columns():
    json_cols = [(t.name, c) for t in SQLModel.metadata.sorted_tables for c in t.columns if c.name.endswith("_json")]
    assert len(json_cols) >= 15
    for table, col in json_cols:
        assert isinstance(col.type, Text), f"{table}.{col.name}"


def test_simple_defaults_of_a_new_call_and_agent():
    call = models.Call(org_id=1, sha256="x")
    assert (call.status, call.attempts, call.restricted, call.direction) == ("queued", 0, False, "entrant")
    assert models.Agent(org_id=1, name="a").active is True
    assert models.Transcript(org_id=1, call_id=1, segments_json="[]", text="").language == "fr"
