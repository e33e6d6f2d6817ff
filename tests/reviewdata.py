"""Hand-built calls with transcripts and evaluations for the review tests (unit, page and browser).

Evaluations are stored through ``ccr.quality.evaluations.store_evaluation`` with contract dicts whose score
is computed by ``ccr.scoring.evaluation.compute_score``, so the data is what the scorer would store.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from ccr.scoring.evaluation import compute_score, result_risk
from ccr.scoring.grid import default_grid

GRID = default_grid()
# 75.0, passed: 60 of 80 applicable points (identification and conclusion fail; empathy and hold n/a).
BASE_VERDICTS = {
    "accueil": "pass", "identification": "fail", "decouverte": "pass", "empathie": "na",
    "solution": "pass", "attente": "na", "politesse": "pass", "conclusion": "fail",
}
SEGMENTS = [
    {"speaker": "agent", "start": 0.5, "end": 4.0, "text": "Bonjour, Nadia du service client, je vous écoute."},
    {"speaker": "customer", "start": 4.5, "end": 9.0,
     "text": "C'est la troisième fois que j'appelle, ma carte [CARTE] est bloquée."},
    {"speaker": "agent", "start": 12.0, "end": 18.0, "text": "Je comprends, je débloque votre carte tout de suite."},
    {"speaker": "customer", "start": 19.0, "end": 21.0, "text": "Merci, au revoir."},
]


def contract(verdicts: dict[str, str] | None = None, *, unverified: bool = False, score: float | None = None,
             passed: bool | None = None, critical: bool | None = None,
             unsure: dict[str, tuple[float, str]] | None = None) -> dict:
    """An evaluation contract dict with the given verdicts (score computed unless forced).

    ``unsure`` (criterion id -> (confidence, French reason)) adds the scorer's confidence fields, as a
    result scored since they exist; without it the result has none, as one stored before them."""
    verdicts = {**BASE_VERDICTS, **(verdicts or {})}
    s, p, c = compute_score(verdicts, GRID)
    criteria = [
        {"id": cr.id, "verdict": verdicts[cr.id], "weight": cr.weight,
         "evidence": [{"start": 12.0, "speaker": "agent", "text": "je débloque votre carte"}]
         if cr.id == "solution" else [],
         "explanation": f"Explication du critère {cr.label}."}
        for cr in GRID.criteria
    ]
    result = {
        "grid": GRID.id, "grid_version": GRID.version, "engine": "llm" if unverified else "rules",
        "score": s if score is None else score, "passed": p if passed is None else passed,
        "critical_failed": c if critical is None else critical, "criteria": criteria,
        "category": "facturation", "irritants": [{"label": "rappels répétés", "start": 4.5,
                                                  "text": "C'est la troisième fois que j'appelle"}],
        "summary": "Motif de l'appel : carte bloquée.", "recommendations": ["Identifiez le client."],
    }
    if unverified:
        result["extra"] = {"unverified": True}
    if unsure is not None:
        for item in criteria:
            confidence, reason = unsure.get(item["id"], (1.0, ""))
            item.update(confidence=confidence, needs_review=bool(reason), review_reason=reason)
        result["needs_review"] = bool(unsure)
        result["review_reasons"] = [f"{GRID.criterion(cid).label} : {reason}" for cid, (_, reason) in unsure.items()]
        result["result_risk"] = result_risk(criteria, GRID)
    return result


def make_call(*, org_id: int, team_id: int | None, agent_id: int | None, result: dict | None = None,
              segments: list[dict] | None = None, started_at: datetime | None = None, restricted: bool = False,
              audio_key: str | None = None, codec: str | None = None, duration_s: float = 21.0) -> int:
    """Insert a call, its transcript and (when ``result``) its evaluation; return the call id."""
    import json

    from ccr.core.calls import flatten_text
    from ccr.core.db import session, utcnow
    from ccr.core.models import Call, Transcript
    from ccr.quality.evaluations import store_evaluation

    segments = SEGMENTS if segments is None else segments
    with session() as s:
        call = Call(org_id=org_id, team_id=team_id, agent_id=agent_id,
                    sha256=hashlib.sha256(f"{org_id}-{utcnow().isoformat()}-{id(segments)}-{make_call.n}".encode())
                    .hexdigest(),
                    started_at=started_at or utcnow() - timedelta(hours=1), duration_s=duration_s,
                    status="done" if result else "queued", campaign="Relance", direction="entrant",
                    restricted=restricted, audio_key=audio_key, codec=codec)
        make_call.n += 1
        s.add(call)
        s.flush()
        s.add(Transcript(org_id=org_id, call_id=call.id, engine="test", model="test",
                         segments_json=json.dumps(segments, ensure_ascii=False), text=flatten_text(segments)))
        if result is not None:
            store_evaluation(session=s, call=call, result=result, grid_id=None)
        return call.id


make_call.n = 0
