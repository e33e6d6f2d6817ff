"""One recording arriving by itself (the REST API, the watched drop folder) with its metadata as JSON.

The metadata object is checked here (known fields, types, ISO 8601 date), then the file goes through
exactly the Import page's path (:func:`ccr.pipeline.ingest.ingest_upload`): decoding, de-duplication on the
recording and on ``external_id``, the organisation's scope, maintenance holding, encryption and queueing.

Fields, all optional: ``agent`` and ``team`` (names known in the organisation), ``started_at`` (ISO 8601;
without an offset it is local time, ``CCR_TIMEZONE``), ``direction`` (entrant/sortant), ``campaign``,
``external_id`` (the telephony platform's id of the call), ``line`` (the agent's phone line) and
``customer_phone``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ccr.core.config import get_settings
from ccr.core.db import session as db_session
from ccr.core.errors import CcrError, InvalidInput
from ccr.core.users import Actor
from ccr.pipeline.ingest import IngestResult, ingest_upload, sanitize_filename

METADATA_FIELDS = ("agent", "team", "started_at", "direction", "campaign", "external_id", "line", "customer_phone")
MAX_METADATA_BYTES = 16 * 1024  # a few fields: anything larger is a client's mistake, refused before parsing
MAX_VALUE_LEN = 200


def parse_started_at(value: str) -> datetime:
    """An ISO 8601 date and time; without an offset it is the organisation's local time (``CCR_TIMEZONE``)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise InvalidInput(f"« started_at » n'est pas une date ISO 8601 (ex. 2026-03-15T14:30:05+01:00) : "
                           f"« {value[:40]} ».") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(get_settings().timezone))
    return moment


def parse_metadata(raw: str | bytes | dict | None) -> dict[str, Any]:
    """The metadata of one recording from a JSON object (text or parsed), checked field by field in French."""
    if raw is None or raw == "" or raw == b"":
        return {}
    if isinstance(raw, (str, bytes)):
        if len(raw.encode("utf-8") if isinstance(raw, str) else raw) > MAX_METADATA_BYTES:
            raise InvalidInput(f"Métadonnées trop longues : {MAX_METADATA_BYTES // 1024} Ko au plus.")
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise InvalidInput(f"Les métadonnées ne sont pas un JSON valide ({err}).") from err
    if not isinstance(raw, dict):
        raise InvalidInput("Les métadonnées doivent être un objet JSON ({\"agent\": …, \"started_at\": …}).")
    unknown = sorted(k for k in raw if k not in METADATA_FIELDS)
    if unknown:
        raise InvalidInput(f"Champ de métadonnées inconnu : {', '.join(map(str, unknown))[:200]} "
                           f"(possibles : {', '.join(METADATA_FIELDS)}).")
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidInput(f"Le champ « {key} » doit être un texte.")
        text = str(value).strip()
        if len(text) > MAX_VALUE_LEN:
            raise InvalidInput(f"Le champ « {key} » dépasse {MAX_VALUE_LEN} caractères.")
        meta[key] = parse_started_at(text) if key == "started_at" else text
    return meta


def ingest_one(*, actor: Actor, filename: str, data: bytes, metadata: dict[str, Any] | None = None) -> IngestResult:
    """Import one recording with its checked metadata in its own transaction; a refusal says why in French."""
    try:
        with db_session() as s:
            return ingest_upload(session=s, actor=actor, filename=filename, data=data, metadata=metadata or {})
    except CcrError as err:
        return IngestResult(sanitize_filename(filename), "rejected", str(err))
