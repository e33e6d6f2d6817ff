"""The offline, deterministic "rules" engine: criteria verdicts, irritants, category and summary of a call.

Detection is driven by the grid's data: the standard grid (``ccr/scoring/data/grids/ccr-standard-fr.yaml``, v2)
states its criteria as rules over the dialogue acts of each line (``ccr.scoring.actrules``, ``ccr.scoring.acts``);
grids of the first generation (phrase lists, ``ccr-standard-fr-v1.yaml``) still score with the phrase methods
below, matched by ``ccr.scoring.lexicon``.

Speakers: ``agent``, ``customer`` or ``inconnu`` (mono recordings): a mono line counts for the side
whose acts it clearly performs, the first line for the agent (``ccr.scoring.transcript``); an impolite mono
line zeroes the call only when more than its impolite reading gives it to the agent (``ccr.scoring.actrules``).

Irritants and any sentiment measure concern the customer only: the EU AI Act, art. 5(1)(f),
prohibits emotion recognition of employees at the workplace.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ccr.core.errors import InvalidInput
from ccr.core.formats import fr_number
from ccr.core.textnorm import match_form, normalize, stems
from ccr.scoring import actrules, categories, reliability
from ccr.scoring.evaluation import compute_score, recommendations, result_risk, review_reasons
from ccr.scoring.feelings import voices_discontent
from ccr.scoring.grid import METRIC_LABELS, OP_SIGNS, Criterion, Grid, Taxonomy
from ccr.scoring.lexicon import DEFAULT_FUZZY, Lexicon, compile_lexicon, count_cues, find_in, match_text, plain_phrase
from ccr.scoring.transcript import SPEAKER_DOUBT, Call, Outcome, Seg, in_time_order

# A customer line read as this share of an irritant's bar still voices it when the agent answers it with empathy:
# lowered alone, the bars found 57 false irritants on the tuning calls for 8 true ones; with the agent's
# acknowledgement, 4 true ones and no false one.
ACKNOWLEDGED_SHARE = 0.7
# A customer line that says one of the discontent irritant's own phrases, not negated, voices it when the
# classifier of words of feeling (ccr.scoring.feelings) reads the word as meant: the act model alone missed
# plain anger worded unlike its bank (« je suis en colère, je ne vais pas vous le cacher » at 0.38 against 0.7),
# and a word used in passing (« ce serait ridicule de payer deux fois ») must stay out. Only discontent: its
# phrases are words of feeling, while the other irritants' phrases are pieces of a situation that a lookalike
# shares (« fois que j'appelle » in « c'est la première fois que j'appelle »).
PHRASE_CONFIRMED_ACTS = frozenset({"irritant_discontent"})
CATEGORY_HEAD_MIN_TOKENS = 6  # the customer's first full sentence states the reason for calling
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
# Cue weights by where they are said: the opening request states the reason, the agent's later words echo it,
# the customer's later lines drift to add-ons.
CATEGORY_HEAD_WEIGHT = 3.0
CATEGORY_AGENT_WEIGHT = 1.0
CATEGORY_TAIL_WEIGHT = 0.6
MAX_SUMMARY_CHARS = 400  # the reason and the solution, each clipped to 180 characters, with room to spare
CRITICAL_SURE = 0.8  # a zeroing verdict below this confidence goes to a human before anyone acts on it
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-ZÉÈÀÂÎÔÛÇ][a-zéèêëàâîïôûüç]{2,})")
# Capitalised words that are not names: sentence-initial words after commas, greetings, fillers.
_NOT_NAMES = frozenset({
    "Bonjour", "Bonsoir", "Madame", "Monsieur", "Mademoiselle", "Allô", "Allo", "Oui", "Non", "Merci", "Alors",
    "Voilà", "Bon", "Très", "Je", "Vous", "Nous", "Pour", "Que", "Qui", "Quoi", "Comment", "Est", "Bien", "Ah",
    "Euh", "Hein", "Pardon", "Parfait", "Bonne", "Excellente", "Au", "Il", "Elle", "On", "Ça", "Ce", "Mais",
})


def rules_evaluation(tr: dict, grid: Grid, taxonomy: Taxonomy) -> dict:
    """The evaluation contract of a validated transcript, scored by the rules alone."""
    call = Call.from_transcript(tr)
    irritants = detect_irritants(call, taxonomy)
    criteria = [_criterion_item(c, evaluate_criterion(c, call, irritants), call, grid) for c in grid.criteria]
    score, passed, critical = compute_score({x["id"]: x["verdict"] for x in criteria}, grid)
    picked = category_verdict(call, taxonomy)
    category_reason = category_doubt(picked, taxonomy)
    reasons = review_reasons(criteria, grid, category_reason)
    return {
        "grid": grid.id,
        "grid_version": grid.version,
        "engine": "rules",
        "score": score,
        "passed": passed,
        "critical_failed": critical,
        "needs_review": bool(reasons),
        "review_reasons": reasons,
        "result_risk": result_risk(criteria, grid),
        "criteria": criteria,
        "category": picked.category,
        "category_evidence": picked.line.evidence() if picked.line is not None else None,
        "category_confidence": round(picked.confidence, 3) if picked.confidence is not None else None,
        "category_needs_review": bool(category_reason),
        "category_review_reason": category_reason,
        "irritants": [{"label": label, "start": round(s.start, 2), "text": s.text} for label, s in irritants],
        "summary": _summary(call, grid, criteria, picked.line),
        "recommendations": recommendations(grid, criteria),
    }


def _criterion_item(c: Criterion, outcome: Outcome, call: Call, grid: Grid) -> dict:
    """The contract's item for one criterion, with its confidence and whether a human should check it."""
    conf, doubt = outcome.confidence, outcome.doubt
    if c.method not in actrules.METHODS and outcome.evidence:
        conf, doubt = actrules.with_asr(conf, outcome.evidence[0])
    explanation = outcome.explanation
    if call.mono and c.speaker != "any":
        explanation += " Enregistrement mono : le locuteur de chaque phrase est déduit, pas connu."
    # Voices separated automatically but unclearly: whose words these are is a guess, a human decides.
    speakers_doubt = call.speakers_uncertain and c.speaker != "any"
    if speakers_doubt:
        explanation += " Enregistrement mono : les deux voix ont été séparées automatiquement, sans certitude."
    calibrated = _calibrated(c, outcome.verdict, conf, call)
    # What the recogniser barely heard cannot be trusted more than it was heard, whatever the statistics.
    heard_badly = doubt.heard and conf < actrules.HEARD_BADLY
    conf = min(conf, calibrated) if doubt.heard else calibrated
    threshold = float(c.params.get("review_below", grid.review_threshold))
    # A critical failure is never silent: it is either confident or sent to a human with the line to hear.
    flagged = (calibrated < threshold or heard_badly or outcome.must_review or speakers_doubt
               or (c.critical and outcome.verdict == "fail" and conf < CRITICAL_SURE))
    return {
        "id": c.id,
        "verdict": outcome.verdict,
        "weight": c.weight,
        "evidence": [s.evidence() for s in in_time_order(outcome.evidence)],
        "explanation": explanation,
        "confidence": round(max(0.0, min(1.0, conf)), 3),
        "needs_review": flagged,
        "review_reason": (doubt.text or (SPEAKER_DOUBT if speakers_doubt else "verdict incertain")) if flagged else "",
        "review_at": round(doubt.at, 2) if flagged and doubt.at is not None else None,
    }


def _calibrated(c: Criterion, verdict: str, raw: float, call: Call) -> float:
    """The probability that an act-rule verdict is right, when the shipped calibration fits the act model."""
    rel = reliability.default_reliability() if c.method in actrules.METHODS else None
    if rel is None:
        return raw
    return rel.probability(c.id, c.method, verdict, raw, call.asr_quality)


def evaluate_criterion(c: Criterion, call: Call, irritants: list[tuple[str, Seg]]) -> Outcome:
    """Apply the criterion's detection method to a prepared call."""
    segs = _candidates(c, call)
    if c.method == "phrases":
        return _method_phrases(c, call, segs)
    if c.method == "forbidden":
        return _method_forbidden(c, call, segs)
    if c.method == "empathy":
        return _method_empathy(c, call, segs, irritants)
    if c.method == "solution":
        return _method_solution(c, segs)
    if c.method in actrules.METHODS:
        return actrules.evaluate(c.method, c, call, segs, irritants)
    if c.method == "hold":
        return _method_hold(c, call)
    if c.method == "metric":
        return _method_metric(c, call)
    raise InvalidInput(f"Méthode de détection inconnue « {c.method} » pour le critère « {c.id} ».")


def _candidates(c: Criterion, call: Call) -> list[Seg]:
    p = c.params
    segs = call.channel(c.speaker)
    if c.window_start_s is not None:
        segs = [s for s in segs if s.end >= c.window_start_s]
    if c.window_end_s is not None:
        segs = [s for s in segs if s.start - call.answered <= c.window_end_s]
    if p.get("after_customer"):
        segs = [s for s in segs if s.start >= call.first_customer_start - 0.05]
    if p.get("last_fraction"):
        since = call.answered + (call.duration - call.answered) * (1.0 - float(p["last_fraction"]))
        segs = [s for s in segs if s.start >= since]
    if p.get("first_turns"):
        segs = segs[: int(p["first_turns"])]
    return segs


def _threshold(c: Criterion) -> float:
    return float(c.params.get("fuzzy_threshold", DEFAULT_FUZZY))


def _quote(s: Seg) -> str:
    return f"« {s.text.strip()} » ({fr_number(s.start, unit='s')})"


def _method_phrases(c: Criterion, call: Call, segs: list[Seg]) -> Outcome:
    p = c.params
    thr = _threshold(c)
    found: dict[str, Seg] = {}
    for gname, phrases in p["groups"].items():
        hits = find_in(segs, phrases, thr, p.get("exclude"))
        if hits:
            found[gname] = hits[0][0]
    missing = [g for g in p["groups"] if g not in found]
    for gname, reply in (p.get("customer_replies") or {}).items():
        if gname in missing:
            agent_seg = _revealed_by_reply(c, call, reply)
            if agent_seg is not None:
                found[gname] = agent_seg
                missing.remove(gname)
    long_group = p.get("long_turn_satisfies")
    if long_group in missing and found:
        min_tok = int(p.get("long_turn_tokens", 8))
        long_seg = next((s for s in found.values() if s.ntok >= min_tok), None)
        if long_seg is not None:
            found[long_group] = long_seg
            missing.remove(long_group)
    name_group = p.get("proper_name_satisfies")
    if name_group in missing and found:
        named = next((s for s in segs if _has_proper_name(s.text)), None)
        if named is not None:
            found[name_group] = named
            missing.remove(name_group)
    evidence = list(found.values())
    groups_fr = ", ".join(missing)
    if not missing:
        quotes = ", ".join(_quote(s) for s in in_time_order(evidence))
        return Outcome("pass", evidence, f"{c.label} : trouvé dans {quotes}.")
    if evidence:
        return Outcome("fail", evidence, f"{c.label} : incomplet, élément manquant ({groups_fr}) ; seul "
                       + ", ".join(_quote(s) for s in in_time_order(evidence)) + " a été trouvé.")
    where = _window_fr(c, call.answered)
    return Outcome("fail", [], f"{c.label} : aucune expression attendue n'a été trouvée{where}.")


def _revealed_by_reply(c: Criterion, call: Call, reply: dict) -> Seg | None:
    """The agent turn just before a customer reply that reveals it ("non, ce sera tout" answers
    "autre chose ?"); robust when the agent's own words were lost by speech recognition."""
    lex = compile_lexicon(tuple(reply["phrases"]), folded=False)
    thr = float(reply.get("fuzzy_threshold", DEFAULT_FUZZY))
    max_tokens = int(reply.get("max_tokens", 8))
    agent_segs = [s for s in _candidates(c, call)]
    for cs in call.channel("customer"):
        if cs.ntok > max_tokens or not agent_segs or cs.start < agent_segs[0].start:
            continue
        if match_text(lex, cs.nf, cs.nf, thr)[1] is None:
            continue
        before = [s for s in agent_segs if s.start < cs.start and s.idx != cs.idx]
        if before and cs.start - before[-1].end <= float(reply.get("max_delay_s", 8)):
            return before[-1]
    return None


def _window_fr(c: Criterion, answered: float = 0.0) -> str:
    if c.window_end_s is not None:
        since = f" après la prise d'appel ({actrules.clock(answered)})" if answered else ""
        return f" dans les {fr_number(c.window_end_s, trim=True)} premières secondes{since}"
    return ""


def _has_proper_name(text: str) -> bool:
    return any(m.group(1) not in _NOT_NAMES for m in _CAPITALISED.finditer(text))


def _method_forbidden(c: Criterion, call: Call, segs: list[Seg]) -> Outcome:
    p = c.params
    thr = _threshold(c)
    # Unfolded text: folding "mon"/"votre" would turn "mon pote" into an innocent "votre cote".
    lex = compile_lexicon(tuple(p["phrases"]), folded=False)
    hits = []
    for s in segs:
        score, phrase = match_text(lex, s.nf, s.nf, thr)
        if phrase is not None:
            hits.append((s, score, phrase))
    evidence = [h[0] for h in hits]
    reasons = [f"expression interdite « {h[2]} » dans {_quote(h[0])}" for h in hits]
    if p.get("customer_reactions"):
        agent_segs = call.channel(c.speaker)
        for cseg, _, _phrase in find_in(call.channel("customer"), p["customer_reactions"], thr):
            before = [s for s in agent_segs if s.start < cseg.start and s.idx != cseg.idx]
            if before and before[-1] not in evidence:
                evidence.append(before[-1])
                reasons.append(f"le client relève le ton de l'agent ({_quote(cseg)}) après {_quote(before[-1])}")
    if evidence:
        return Outcome("fail", evidence, f"{c.label} : " + " ; ".join(reasons) + ".")
    return Outcome("pass", [], f"{c.label} : aucune expression grossière, méprisante ou familière relevée.")


def _method_empathy(c: Criterion, call: Call, segs: list[Seg], irritants: list[tuple[str, Seg]]) -> Outcome:
    p = c.params
    segs = [s for s in segs if s.start >= call.first_customer_start - 0.05]
    hits = find_in(segs, p["phrases"], _threshold(c), p.get("exclude"))
    if not irritants:
        strong = find_in([h[0] for h in hits], p.get("implies_irritant") or [], _threshold(c), p.get("exclude"))
        if strong:
            s = strong[0][0]
            text = f"{c.label} : l'agent s'excuse ou reconnaît une gêne du client dans {_quote(s)}."
            return Outcome("pass", [s], text)
        return Outcome("na", [], f"{c.label} : le client n'exprime aucun irritant, critère sans objet.")
    first_irritant = min(s.start for _, s in irritants)
    after = [h for h in hits if h[0].end >= first_irritant - 0.05] or hits
    if after:
        s = after[0][0]
        text = f"{c.label} : l'agent reconnaît l'irritant du client dans {_quote(s)}."
        return Outcome("pass", [s, irritants[0][1]], text)
    irr = irritants[0][1]
    return Outcome("fail", [irr], f"{c.label} : le client exprime un irritant ({_quote(irr)}) "
                   "sans excuse ni marque de compréhension de l'agent.")


def _method_solution(c: Criterion, segs: list[Seg]) -> Outcome:
    p = c.params
    thr = _threshold(c)
    expected = {h[0].idx: h for h in find_in(segs, p["expected"], thr)}
    refusals = {h[0].idx: h for h in find_in(segs, p.get("refusal") or [], thr)}
    alt_lex = compile_lexicon(tuple(p.get("alternative_markers") or ()))
    good = []
    for idx, h in expected.items():
        if idx in refusals and not match_text(alt_lex, h[0].mf, h[0].st, 101)[1]:
            continue
        good.append(h)
    if good:
        best = max(good, key=lambda h: (h[1], h[0].start))
        return Outcome("pass", [best[0]], f"{c.label} : l'agent propose une solution concrète, {_quote(best[0])}.")
    if refusals:
        segs_r = [h[0] for h in refusals.values()]
        return Outcome("fail", segs_r, f"{c.label} : refus sans alternative, "
                       + ", ".join(_quote(s) for s in segs_r) + ".")
    return Outcome("fail", [], f"{c.label} : aucune solution ni étape suivante concrète n'a été proposée.")


def _method_hold(c: Criterion, call: Call) -> Outcome:
    p = c.params
    thr = _threshold(c)
    min_gap = float(p.get("min_gap_s", 10))
    longer_than = fr_number(min_gap, trim=True, unit="s")
    lookback = float(p.get("lookback_s", 20))
    ntok = int(p.get("lookahead_tokens", 14))
    gaps = call.gaps(min_gap)
    if not gaps:
        return Outcome("na", [], f"{c.label} : aucun silence de plus de {longer_than}, critère sans objet.")
    agent = call.channel(c.speaker)
    ann_lex = compile_lexicon(tuple(p["announce"]))
    thx_lex = compile_lexicon(tuple(p["thanks"]))
    evidence: list[Seg] = []
    problems: list[str] = []
    for g0, g1 in gaps:
        before = [s for s in agent if s.start < g0 and s.end >= g0 - lookback][-2:]
        ann = next((s for s in reversed(before) if match_text(ann_lex, s.mf, s.st, thr)[1]), None)
        after = [s for s in agent if s.start >= g1 - 0.05][:2]
        if len(after) == 2 and (after[0].ntok > 3 or after[1].start - after[0].end > 5):
            after = after[:1]
        head_mf = " ".join(" ".join(s.mf for s in after).split()[:ntok])
        head_st = " ".join(" ".join(s.st for s in after).split()[:ntok])
        thanked = bool(after) and match_text(thx_lex, head_mf, head_st, thr)[1] is not None
        evidence += [ann] if ann else before[-1:]
        evidence += after[:1]
        where = f"silence de {fr_number(g1 - g0, unit='s')} à {fr_number(g0, unit='s')}"
        if ann is None and not thanked:
            problems.append(f"{where} ni annoncé ni suivi d'un remerciement")
        elif ann is None:
            problems.append(f"{where} non annoncé")
        elif not thanked:
            problems.append(f"{where} annoncé mais sans remerciement à la reprise")
    if problems:
        return Outcome("fail", evidence, f"{c.label} : " + " ; ".join(problems) + ".")
    return Outcome("pass", evidence, f"{c.label} : chaque silence de plus de {longer_than} est annoncé puis "
                   "le client est remercié à la reprise.")


def call_metrics(call: Call) -> dict[str, float]:
    """Measures used by ``metric`` criteria: duration, silences, talk ratios, words."""
    talk = {"agent": 0.0, "customer": 0.0}
    words = {"agent": 0, "customer": 0}
    for speaker, start, end in call.spans:
        talk[speaker if speaker in talk else "agent"] += end - start
    for s in call.segs:
        words[s.speaker if s.speaker in words else "agent"] += s.ntok
    total = sum(talk.values()) or 1.0
    gaps = call.gaps(0.0)
    return {
        "duration_s": call.duration,
        "longest_silence_s": max((b - a for a, b in gaps), default=0.0),
        "agent_talk_ratio": talk["agent"] / total,
        "customer_talk_ratio": talk["customer"] / total,
        "agent_words": float(words["agent"]),
        "customer_words": float(words["customer"]),
        "segments": float(len(call.spans)),
    }


_OPS = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def _method_metric(c: Criterion, call: Call) -> Outcome:
    p = c.params
    value = call_metrics(call)[p["metric"]]
    ok = _OPS[p["op"]](value, float(p["value"]))
    name, unit = METRIC_LABELS[p["metric"]]
    scale, digits = (100.0, 0) if unit == "%" else (1.0, 1 if unit else 0)
    shown, bar = (fr_number(v * scale, digits, trim=True, unit=unit) for v in (value, float(p["value"])))
    text = f"{c.label} : {name} {shown} (attendu {OP_SIGNS[p['op']]} {bar})."
    return Outcome("pass" if ok else "fail", [], text)


# --- irritants, category, summary --------------------------------------------------


def detect_irritants(call: Call, taxonomy: Taxonomy) -> list[tuple[str, Seg]]:
    """(label, segment) pairs of customer irritants, in time order (customer channel only).

    An irritant tied to a dialogue act is recognised by the act model, which reads negation (« ce n'est
    pas la première fois » is a repeated contact, « c'est la première fois » is not), said in one of its words
    of feeling meant as such (discontent), or nearly recognised and answered by the agent with
    empathy; one without an act is found by its phrases."""
    cust = call.channel("customer")
    kinds = [irr.act for irr in taxonomy.irritants if irr.act]
    phrases = {irr.act: compile_lexicon(irr.phrases) for irr in taxonomy.irritants if irr.act in PHRASE_CONFIRMED_ACTS}
    voiced = {s.idx: _voiced_irritants(call, s, kinds, phrases) for s in cust}
    out = []
    for irr in taxonomy.irritants:
        if irr.act:
            out.extend((irr.id, s) for s in cust if irr.act in voiced[s.idx])
        else:
            out.extend((irr.id, s) for s, _, _ in find_in(cust, irr.phrases, taxonomy.fuzzy_threshold))
    out.sort(key=lambda x: (x[1].start, x[0]))
    return out


def _voiced_irritants(call: Call, seg: Seg, kinds: list[str], phrases: dict[str, Lexicon]) -> set[str]:
    """The irritant acts the customer line ``seg`` voices: those it carries clearly, those whose own words of
    feeling (``phrases``) it says unnegated and means (:mod:`ccr.scoring.feelings`), plus the one it nearly
    carries when the agent answers it with empathy, the agent's reaction telling how the line was meant.

    One reply vouches for one irritant: the likeliest of those the model does not read clearly, even when the
    line's words already voiced it, as the reply answers what the customer felt most."""
    read = {a: (call.act_probability(seg, a), actrules.act_threshold({}, a, seg)) for a in kinds}
    voiced = {a for a, (p, bar) in read.items()
              if p >= bar or (a in phrases and plain_phrase(phrases[a], seg.text) and voices_discontent(seg.text))}
    near = [a for a, (p, bar) in read.items() if ACKNOWLEDGED_SHARE * bar <= p < bar]
    if near and _answered_with_empathy(call, seg):
        voiced.add(max(near, key=lambda a: read[a][0] / read[a][1]))
    return voiced


def _answered_with_empathy(call: Call, seg: Seg) -> bool:
    """Whether the agent answers the customer line ``seg`` with empathy: in the agent's first line among the next
    two turns, or in words slipped in while the customer was still speaking (« je comprends »). A listener's « oui »
    said over the customer is no turn: the answer comes after it."""
    turns = 0
    for s in call.segs[seg.idx + 1:]:
        agent = call.likely_speaker(s) == "agent"
        empathy = agent and call.act_probability(s, "empathy") >= actrules.act_threshold({}, "empathy", s)
        if call.said_over(s):
            if empathy:
                return True
            continue
        if agent:
            return empathy
        turns += 1
        if turns == 2:
            return False
    return False


def detect_category(call: Call, taxonomy: Taxonomy) -> str:
    """The call's category: the classifier of reasons for calling when it knows the taxonomy's categories,
    else the category whose cues weigh most, the customer's opening request counting most."""
    return category_verdict(call, taxonomy)[0]


class CategoryPick(NamedTuple):
    """A call's category, the customer line that decided it, and, when the classifier decided, its share of the
    votes and the category that came second (cues give neither)."""

    category: str
    line: Seg | None
    confidence: float | None = None
    second: str | None = None


def category_verdict(call: Call, taxonomy: Taxonomy) -> CategoryPick:
    """The call's category and what decided it: the classifier when it knows the taxonomy's categories, else cues."""
    cust = call.channel("customer")
    ids = [c.id for c in taxonomy.categories]
    lines = [(s.idx, s.text, call.act_probability(s, "reason")) for s in cust]
    verdict = categories.decide(lines, ids, taxonomy.default_category)
    if verdict is not None and set(ids) <= set(categories.CATEGORIES):
        line = call.segs[verdict.line] if verdict.line is not None else None
        return CategoryPick(verdict.category, line, verdict.confidence, verdict.second)
    return CategoryPick(_category_by_cues(call, taxonomy), None)


def category_doubt(pick: CategoryPick, taxonomy: Taxonomy) -> str:
    """Why a human should check the category (French), or "" when the classifier was sure enough or did not decide."""
    if pick.confidence is None or pick.confidence >= categories.REVIEW_BELOW:
        return ""
    labels = {c.id: c.label for c in taxonomy.categories}
    name = labels.get(pick.category, pick.category)
    if pick.line is None:
        return f"aucun motif d'appel net dans les paroles du client, « {name} » par défaut"
    text = f"« {name} » incertaine ({fr_number(pick.confidence, 2)})"
    if pick.second is not None:
        text += f", de peu devant « {labels.get(pick.second, pick.second)} »"
    return text


def _category_by_cues(call: Call, taxonomy: Taxonomy) -> str:
    cust = call.channel("customer")
    scores = {c.id: 0.0 for c in taxonomy.categories}
    head = _opening_request(cust)
    head_mf, head_st = match_form(head), stems(head)
    tail = [s for s in cust if s.start > call.first_customer_start + 0.01]
    agent = [s for s in call.channel("agent") if s.start >= call.first_customer_start]
    for cat in taxonomy.categories:
        lex = compile_lexicon(cat.cues)
        scores[cat.id] += CATEGORY_HEAD_WEIGHT * count_cues(lex, head_mf, head_st, taxonomy.fuzzy_threshold)
        for s in tail:
            scores[cat.id] += CATEGORY_TAIL_WEIGHT * count_cues(lex, s.mf, s.st, taxonomy.fuzzy_threshold)
        for s in agent:
            scores[cat.id] += CATEGORY_AGENT_WEIGHT * count_cues(lex, s.mf, s.st, taxonomy.fuzzy_threshold)
    best = max(scores.values())
    if best <= 0:
        return taxonomy.default_category
    return next(cid for cid, v in scores.items() if v == best)


def _opening_request(cust: list[Seg]) -> str:
    """The customer's first sentence(s) with substance: the reason for calling, before any add-on."""
    words: list[str] = []
    parts: list[str] = []
    for s in cust:
        for sentence in _SENTENCE_END.split(s.text):
            n = len(normalize(sentence).split())
            if n == 0 or (n <= 2 and not words):
                continue  # "Bonjour." alone says nothing about the reason
            parts.append(sentence)
            words.extend(sentence.split())
            if len(words) >= CATEGORY_HEAD_MIN_TOKENS:
                return " ".join(parts)
    return " ".join(parts)


def _summary(call: Call, grid: Grid, criteria: list[dict], reason_seg: Seg | None = None) -> str:
    cust = [s for s in call.channel("customer") if s.ntok >= 3]
    reason = (reason_seg or (cust[0] if cust else None))
    reason = reason.text.strip() if reason is not None else ""
    solution = ""
    for item in criteria:
        if item["id"] == "solution" or grid.criterion(item["id"]).method in ("solution", "acts_solution"):
            if item["verdict"] == "pass" and item["evidence"]:
                solution = item["evidence"][0]["text"].strip()
            break
    parts = []
    if reason:
        parts.append(f"Motif de l'appel : « {_clip(reason)} »")
    if solution:
        parts.append(f"Solution de l'agent : « {_clip(solution)} »")
    else:
        parts.append("Aucune solution concrète n'a été proposée par l'agent")
    return (". ".join(parts) + ".")[:MAX_SUMMARY_CHARS] if parts else ""


def _clip(text: str, n: int = 180) -> str:
    return text if len(text) <= n else text[: n - 1].rsplit(" ", 1)[0] + "…"
