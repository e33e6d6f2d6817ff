"""The optional "llm" scorer: one chat-completions request per call to an OpenAI-compatible endpoint.

The redacted transcript, the grid's criteria and the taxonomy are sent once; the answer must follow
a JSON schema (structured output). Every quote the model returns is looked up in the transcript:
a verdict whose evidence cannot be found is marked unverified and the rules verdict is kept.
A failed request (timeout, 429/5xx after the SDK's retries with back-off, malformed JSON) never
loses the call: the rules evaluation is returned, flagged for a retry.

Irritants are asked for the customer only (EU AI Act art. 5(1)(f): no emotion inference on agents).
"""

from __future__ import annotations

import json
import re
from typing import Any

from rapidfuzz import fuzz

from ccr.core.config import get_settings
from ccr.core.errors import ScoringError
from ccr.core.textnorm import normalize
from ccr.scoring.actrules import ACT_LABELS
from ccr.scoring.evaluation import evaluation_from_verdicts
from ccr.scoring.grid import Grid, Taxonomy
from ccr.scoring.transcript import Call, rejoined, validate_transcript

QUOTE_MIN_RATIO = 90  # a quote may differ from the transcript by punctuation or a typo, not by content
SYSTEM_PROMPT = (
    "Tu es un évaluateur qualité de centre d'appels francophone. Tu notes un appel selon une grille. "
    "Pour chaque critère, donne un verdict pass, fail ou na et cite mot pour mot le ou les passages "
    "de la transcription qui le prouvent (champ quotes, texte exact d'un segment). N'invente jamais de citation. "
    "Les irritants concernent uniquement le client (jamais l'agent) et doivent être cités. "
    "Choisis une catégorie dans la liste donnée. Réponds en français, au format JSON demandé. "
    "Le champ actes de chaque segment liste les actes de dialogue repérés automatiquement (salutation, refus, "
    "prise de congé...) : ce sont des indices qui peuvent se tromper, jamais des preuves ; seule la citation prouve."
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_LONG_NUMBER = re.compile(r"(?:\d[ .-]?){8,}")  # card, IBAN, phone numbers: never sent in clear


def _redact(text: str) -> str:
    """Last-line redaction before text leaves the server (the pipeline already redacts)."""
    return _LONG_NUMBER.sub("[NUMERO]", _EMAIL.sub("[EMAIL]", text))


def response_schema(grid: Grid, taxonomy: Taxonomy) -> dict:
    """JSON schema of the answer expected from the model (strict structured output)."""
    quote = {"type": "object", "additionalProperties": False, "required": ["text"],
             "properties": {"text": {"type": "string"}}}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["criteria", "category", "irritants", "summary"],
        "properties": {
            "criteria": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "verdict", "quotes", "explanation"],
                    "properties": {
                        "id": {"type": "string", "enum": [c.id for c in grid.criteria]},
                        "verdict": {"type": "string", "enum": ["pass", "fail", "na"]},
                        "quotes": {"type": "array", "items": quote},
                        "explanation": {"type": "string"},
                    },
                },
            },
            "category": {"type": "string", "enum": [c.id for c in taxonomy.categories]},
            "irritants": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["label", "quote"],
                    "properties": {
                        "label": {"type": "string", "enum": [i.id for i in taxonomy.irritants]},
                        "quote": {"type": "string"},
                    },
                },
            },
            "summary": {"type": "string"},
        },
    }


def build_messages(transcript: dict, grid: Grid, taxonomy: Taxonomy) -> list[dict]:
    """The chat messages: instructions, then the grid, taxonomy and redacted transcript (with each line's
    recognised dialogue acts as hints) as JSON."""
    call = Call.from_transcript(validate_transcript(transcript))
    payload = {
        "grille": {
            "id": grid.id,
            "criteres": [
                {"id": c.id, "libelle": c.label, "poids": c.weight, "critique": c.critical,
                 "ce_qui_passe": c.description or c.label}
                for c in grid.criteria
            ],
        },
        "categories": {c.id: c.label for c in taxonomy.categories},
        "irritants_client": {i.id: i.label for i in taxonomy.irritants},
        "transcription": [
            # Counted from the agent's answer, as the rules count the opening's window: a recorded message and
            # the queue before it are not shown.
            {"debut": round(s.start - call.answered, 1), "locuteur": s.speaker, "texte": _redact(s.text),
             "actes": [ACT_LABELS[a] for a in sorted(call.acts(s).acts)]}
            for s in call.segs
        ],
    }
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": json.dumps(payload, ensure_ascii=False)},
    ]


def find_quote(quote: str, segments: list[dict], speakers: tuple[str, ...] | None = None) -> dict | None:
    """The transcript segment containing ``quote`` (normalised, fuzzy containment), or None."""
    q = normalize(quote)
    if not q:
        return None
    best, best_score = None, 0.0
    for s in segments:
        if speakers and s["speaker"] not in speakers and s["speaker"] != "inconnu":
            continue
        t = normalize(s["text"])
        if not t:
            continue
        if q in t:
            return s
        # The quote must be (nearly) as long as its match: a short quote cannot hide an invented one.
        score = fuzz.partial_ratio(q, t) if len(q) <= len(t) else fuzz.ratio(q, t)
        if score > best_score:
            best, best_score = s, score
    return best if best_score >= QUOTE_MIN_RATIO else None


def _evidence(seg: dict) -> dict:
    return {"start": round(float(seg["start"]), 2), "speaker": seg["speaker"], "text": seg["text"]}


def score_with_llm(transcript: dict, grid: Grid, taxonomy: Taxonomy, rules_eval: dict, settings: Any) -> dict:
    """Score with the LLM endpoint and verify its quotes; raise ScoringError when the call fails."""
    answer, usage = _request(transcript, grid, taxonomy, settings)
    segments = rejoined(transcript["segments"])  # the lines as the prompt showed them
    rules_by_id = {c["id"]: c for c in rules_eval["criteria"]}
    verdicts: dict[str, dict] = {}
    unverified: list[str] = []
    llm_items = {}
    for item in answer.get("criteria") or []:
        if isinstance(item, dict) and item.get("id") in rules_by_id:
            llm_items[item["id"]] = item
    for c in grid.criteria:
        item = llm_items.get(c.id)
        rules_item = rules_by_id[c.id]
        if item is None or item.get("verdict") not in ("pass", "fail", "na"):
            unverified.append(c.id)
            verdicts[c.id] = rules_item
            continue
        quotes = [q.get("text", "") for q in item.get("quotes") or [] if isinstance(q, dict)]
        found = [find_quote(q, segments) for q in quotes]
        missing = any(f is None for f in found)
        # What is said must be quoted: a pass, or for forbidden expressions a fail (their pass is an absence).
        needs_quote = item["verdict"] == ("fail" if c.method in ("forbidden", "acts_forbidden") else "pass")
        if missing or (needs_quote and not found):
            unverified.append(c.id)
            verdicts[c.id] = rules_item
            continue
        agree = item["verdict"] == rules_item["verdict"]
        # Two engines agreeing is worth the rules' confidence; a disagreement is a question for a human.
        confidence = rules_item.get("confidence", 1.0) if agree else 0.5
        flagged = confidence < grid.review_threshold
        verdicts[c.id] = {
            "id": c.id,
            "verdict": item["verdict"],
            "weight": c.weight,
            "evidence": [_evidence(s) for s in found],
            "explanation": str(item.get("explanation") or rules_item["explanation"]),
            "confidence": confidence,
            "needs_review": flagged,
            "review_reason": ("le modèle de langue et les règles ne sont pas d'accord" if not agree
                              else rules_item.get("review_reason", "")) if flagged else "",
            "review_at": (found[0]["start"] if found else None) if flagged and not agree
            else rules_item.get("review_at") if flagged else None,
        }
    base = rules_eval
    names = {c.id: c.label for c in taxonomy.categories}
    if answer.get("category") in names and answer["category"] != rules_eval["category"]:
        # As for a verdict: two engines that disagree on the category leave it to a human.
        ours, theirs = names.get(rules_eval["category"], rules_eval["category"]), names[answer["category"]]
        base = {**rules_eval, "category": answer["category"], "category_confidence": 0.5,
                "category_needs_review": True,
                "category_review_reason": f"le modèle de langue dit « {theirs} », les règles « {ours} »"}
    out = evaluation_from_verdicts(base, verdicts, grid)  # the review reasons include the category's
    out["engine"] = "llm"
    irritants = []
    labels = {i.id for i in taxonomy.irritants}
    for irr in answer.get("irritants") or []:
        if not isinstance(irr, dict) or irr.get("label") not in labels:
            continue
        seg = find_quote(str(irr.get("quote", "")), segments, speakers=("customer",))
        if seg is not None:
            irritants.append({"label": irr["label"], "start": round(float(seg["start"]), 2), "text": seg["text"]})
    out["irritants"] = irritants
    summary = answer.get("summary")
    if isinstance(summary, str) and summary.strip():
        out["summary"] = summary.strip()
    out["extra"] = {"usage": usage, "unverified": unverified, "model": getattr(settings, "llm_model", "")}
    return out


def _request(transcript: dict, grid: Grid, taxonomy: Taxonomy, settings: Any) -> tuple[dict, dict]:
    import openai  # optional engine: keep the SDK import off the rules path

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "sans-cle"
    client = openai.OpenAI(
        base_url=settings.openai_base_url,
        api_key=key,
        timeout=float(settings.llm_timeout_s),
        max_retries=int(settings.llm_max_retries),  # the SDK backs off exponentially on 429/5xx/timeouts
    )
    try:
        resp = client.chat.completions.create(
            model=settings.llm_model,
            messages=build_messages(transcript, grid, taxonomy),
            temperature=0,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "evaluation_appel", "strict": True, "schema": response_schema(grid, taxonomy)},
            },
        )
    except openai.APITimeoutError as e:
        raise ScoringError("Le service LLM n'a pas répondu à temps ; l'évaluation par règles est conservée.") from e
    except openai.RateLimitError as e:
        raise ScoringError(
            "Le service LLM refuse les requêtes (quota ou trop de requêtes) ; réessayez plus tard."
        ) from e
    except openai.APIStatusError as e:
        raise ScoringError(f"Le service LLM a répondu en erreur (HTTP {e.status_code}).") from e
    except openai.APIError as e:
        raise ScoringError("Le service LLM est injoignable ; l'évaluation par règles est conservée.") from e
    try:
        content = resp.choices[0].message.content or ""
        answer = json.loads(content)
    except (IndexError, AttributeError, TypeError, ValueError) as e:
        raise ScoringError("La réponse du service LLM n'est pas un JSON valide.") from e
    if not isinstance(answer, dict) or not isinstance(answer.get("criteria"), list):
        raise ScoringError("La réponse du service LLM ne respecte pas le format attendu.")
    u = getattr(resp, "usage", None)
    usage = {
        "prompt_tokens": int(getattr(u, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(u, "completion_tokens", 0) or 0),
        "total_tokens": int(getattr(u, "total_tokens", 0) or 0),
    }
    return answer, usage


def score_or_fallback(transcript: dict, grid: Grid, taxonomy: Taxonomy, rules_eval: dict, settings: Any = None) -> dict:
    """LLM evaluation, or the rules evaluation flagged ``retry`` with a French ``llm_error``."""
    if settings is None:
        settings = get_settings()
    if not getattr(settings, "openai_base_url", None) and not getattr(settings, "openai_api_key", None):
        return _fallback(rules_eval, "Le moteur LLM n'est pas configuré (CCR_OPENAI_BASE_URL ou CCR_OPENAI_API_KEY).")
    try:
        return score_with_llm(transcript, grid, taxonomy, rules_eval, settings)
    except ScoringError as e:
        return _fallback(rules_eval, str(e))


def _fallback(rules_eval: dict, message: str) -> dict:
    out = dict(rules_eval)
    out["engine"] = "rules"
    out["extra"] = {**(rules_eval.get("extra") or {}), "llm_error": message, "retry": True}
    return out
