"""Calls in the states the pipeline tests start from."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from ccr.core.db import session
from ccr.core.models import Call, Transcript
from ccr.pipeline import lease

REPO = Path(__file__).resolve().parents[2]


PUBLIC = REPO / "tests" / "fixtures" / "eval" / "public" / "transcripts"


def queued_call(org_id: int, **fields) -> int:
    """A queued call row without audio (claims never look at the audio)."""
    with session() as s:
        call = Call(org_id=org_id, sha256=uuid.uuid4().hex, status=fields.pop("status", "queued"), **fields)
        s.add(call)
        s.flush()
        return call.id


def transcribed_call(org_id: int, name: str = "a01-000.json", **fields) -> int:
    """A call whose redacted transcript is stored: the worker only has to score it."""
    tr = json.loads((PUBLIC / name).read_text(encoding="utf-8"))
    call_id = queued_call(org_id, status=fields.pop("status", "scoring"), duration_s=tr["duration_s"],
                           channels=2, **fields)
    with session() as s:
        s.add(Transcript(org_id=org_id, call_id=call_id, segments_json=json.dumps(tr["segments"]),
                         text="\n".join(seg["text"] for seg in tr["segments"])))
    return call_id


def call_row(call_id: int) -> Call:
    with session() as s:
        return s.get(Call, call_id)


def claim(owner: str, now=None) -> int | None:
    with session() as s:
        return lease.claim_next(session=s, owner=owner, now=now)
