"""Grid criteria as rules over dialogue acts and timing (the ``acts*`` detection methods).

Each line of a call carries the acts its speaker performs (``ccr.scoring.acts``); a criterion names the acts
it needs and where: the first turns, after the customer's first turn, in the last part of the call,
around a silence. A verdict's ``confidence`` says how sure the scorer is: for an act found, how clearly
the line carries it; for an act missing, how far the closest line was from carrying it; and, for
speech-recognition output, how well the words of the deciding line were heard.

An organisation can add its own wordings to an act (``cues``: phrases that count as the act, matched as whole
words on the normalised text), so a house greeting or a product name is never missed; the standard grid
uses them only for expressions that are impolite in any context.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ccr.core.errors import InvalidInput
from ccr.core.formats import fr_number
from ccr.core.textnorm import normalize
from ccr.scoring import courtesy, replies
from ccr.scoring.acts import ACTS, AGENT_ACTS, HEARD_BADLY, IRRITANT_ACTS, RUDE_ACTS, default_model, heard_weight
from ccr.scoring.address import addresses_as_tu
from ccr.scoring.agent_name import says_name
from ccr.scoring.transcript import NO_DOUBT, Call, Doubt, Outcome, Seg, in_time_order

METHODS = {
    "acts": "actes de dialogue attendus (chaque groupe doit être trouvé)",
    "acts_empathy": "reconnaissance par l'agent d'un irritant exprimé par le client (na sans irritant)",
    "acts_solution": "solution ou étape suivante ; un refus sans alternative fait échouer",
    "acts_hold": "chaque silence long annoncé avant et remercié après",
    "acts_forbidden": "aucun acte impoli (insulte, rejet, condescendance, sarcasme, familiarité)",
}
CUE_PROBABILITY = 0.95  # an organisation's own wording of an act is nearly certain
DEFAULT_FORBIDDEN_PROBABILITY = 0.5
REACTION_FLOOR = 0.2  # a line the customer objects to is impolite once the model sees even this much of it
HOLD_LOOKBACK_S = 20.0
# An agent line this close to the impolite bar is sent to a human, not passed in silence. With the standard
# bar of 0.85 a line goes to review once the model reads it as more likely impolite than not (0.5): implicit
# rudeness rarely reaches the bar for a zero, and a reviewer who hears the line costs less than a rude call
# passed in silence. Most calls already wait in « À revoir » for other reasons, so the queue barely grows.
RUDE_REVIEW_BAND = 0.35
DOUBTFUL = 0.5  # the confidence given to a verdict a human must confirm
# A reviewer is pointed at a few lines, not at one: the model's likeliest line is often a polite lookalike while
# the impolite one sits below it, even under the review level, and a reviewer who hears only the lookalike
# validates a rude call. Lines are ranked by both readings of rudeness, less the work each line does
# (``_to_hear``): of public-d's rude calls not zeroed, ranked by the act model alone the lines named held the rude
# one in 5 of 12 (tuning part) and 1 of 5 (held out), ranked this way in 9 of 12 and 4 of 5.
LINES_TO_HEAR = 3
ECHO_SHARE = 0.5  # a reply whose words are mostly the agent's own repeats them, it does not answer them
# A reformulation restates the customer's problem in the agent's words: the model reads the framing (« en
# clair », « si je comprends bien »), the call tells whether the content is the customer's. A line whose subject
# words are several of the customer's, and a good part of its own, counts at the bar (doubtful enough for a
# human to confirm) when the model reads it as nearly one (RESTATE_CLOSE of the bar), or when it puts those
# words back as a question and the model reads it at all as one (RESTATE_ASKED of the bar): many agents check
# their understanding with no framing phrase (« plus d'eau chaude depuis mardi, c'est ça ? »). Stated flatly and
# read so faintly, the customer's words are as often the agent's finding (« le colis est parti au mauvais point
# relais »). Figures in ccr/scoring/data/acts/README.md, « A reformulation is also read from the call ».
RESTATE_CLOSE = 0.6
RESTATE_ASKED = 0.25
# A line asks its words back with a question mark, or, where the transcriber wrote none (some transcribers and
# recognisers never punctuate), with a check tag at its end (« …depuis mardi, c'est bien ça », « …cassée, non »),
# before at most a form of address or a filler. Normalised forms (``textnorm.normalize``).
CHECK_TAGS = ("ce est ca", "ce est bien ca", "ce est cela", "ce est bien cela", "ne est ce pas", "je me trompe",
              "ce est exact", "ce est bien exact", "ce est juste", "ce est correct", "non")
TAG_TRAILERS = frozenset({"hein", "madame", "monsieur", "alors", "donc", "oui"})
RESTATED_WORDS = 3
RESTATED_SHARE = 0.4
# A question asks one thing. A line the model reads only faintly as exploring the need (under this) but clearly
# as asking who the customer is or whether they need anything else is that other question: « avec qui ai-je le
# plaisir de parler ? » identifies, « il vous reste une question ? » closes. A line asking both at once that
# the model reads faintly as exploring loses that reading too; the agent's next question still counts.
OPEN_CLEARLY = 0.5
QUESTION_RIVALS = ("ident_request", "other_need")
# A customer asked for an identifier gives one. A typed line that only mentions one (« je vous envoie votre
# numéro de contrat par SMS », « vous voulez que vos factures portent le nom de votre société ») still reads to
# the act model as a request, and passed identification unasked. Such a line, not put as a question, that none
# of the customer's next two turns answers even faintly (the reply model under this) asked for nothing; a human
# hears it. On a public-d check, true requests put as statements got at least 0.29 from one of those turns.
UNANSWERED_TURNS = 2
FAINT_REPLY = 0.2
# A question without its question mark (a transcriber that writes none): « est-ce que », or a verb and its
# subject pronoun inverted (« pouvez-vous », « a-t-il »).
QUESTION_FORM = re.compile(r"\best-ce qu|\b\w+-(?:t-)?(?:vous|tu|il|elle|on|ils|elles)\b", re.IGNORECASE)
# An introduction says who answers: a line made only of greetings, forms of address and fillers (« oui,
# bonjour madame ! », « allô ? ») introduces no one, however the model reads it. The model reads a bare
# greeting at about 0.5 as an introduction, under the bar for typed text but over the lower one for heard
# lines, where an agent who only said « bonjour » then passed the introduction. Letters on their own are
# recognition debris (« allô, oui, bonjour D »).
GREETING_ONLY_WORDS = frozenset(
    "bonjour bonsoir salut hello rebonjour re allo oui ouais euh madame monsieur mademoiselle messieurs dames "
    "a vous et".split())
ACT_LABELS = {
    "greeting": "salutation", "self_intro": "présentation", "ident_request": "demande d'identification",
    "open_question": "question ouverte", "reformulation": "reformulation", "empathy": "marque d'empathie",
    "solution": "solution ou étape suivante", "refusal": "refus", "alternative": "alternative",
    "hold_announce": "annonce de mise en attente", "hold_thanks": "remerciement après l'attente",
    "other_need": "question sur un autre besoin", "closing": "prise de congé", "readback": "relecture",
    "rude_insult": "insulte", "rude_dismissal": "rejet du client", "rude_condescension": "condescendance",
    "rude_sarcasm": "sarcasme", "rude_familiar": "familiarité", "reason": "motif d'appel",
    "irritant_wait": "attente", "irritant_repeat": "relance", "irritant_billing_error": "erreur de facturation",
    "irritant_churn": "menace de départ", "irritant_discontent": "mécontentement", "confirm": "confirmation",
    "tone_reaction": "reproche sur le ton",
}


@dataclass(frozen=True)
class Hit:
    """The best line for a set of acts: the segment, the act and its probability (cues included)."""

    seg: Seg | None
    act: str
    p: float


# --- act lookup -----------------------------------------------------------------------------


def _known_names(value: object, where: str, known: Sequence[str], expected: str, unknown_fr: str,
                 known_fr: str) -> tuple[str, ...]:
    """A grid's list of names (or one name), each one of ``known``; a French error otherwise."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise InvalidInput(f"{where} : une liste {expected} est attendue.")
    unknown = [a for a in value if a not in known]
    if unknown:
        raise InvalidInput(f"{where} : {unknown_fr} {', '.join(unknown)} ({known_fr} : {', '.join(known)}).")
    return tuple(value)


def act_names(value: object, where: str) -> tuple[str, ...]:
    """Validate a list of act names from a grid (French error when one is unknown)."""
    return _known_names(value, where, ACTS, "d'actes de dialogue", "acte(s) inconnu(s)", "connus")


def reply_names(value: object, where: str) -> tuple[str, ...]:
    """Validate a list of customer reply names from a grid (French error when one is unknown)."""
    return _known_names(value, where, replies.REPLIES, "de réponses du client", "réponse(s) inconnue(s)", "connues")


def act_threshold(params: dict, act: str, seg: Seg | None = None) -> float:
    """The probability from which ``act`` counts on ``seg``: the criterion's own ``min_probability``, or the
    model's bar for typed text or, when ``seg`` came from speech recognition, for heard text."""
    custom = (params.get("min_probability") or {}).get(act)
    if custom is not None:
        return float(custom)
    return default_model().threshold(act, heard=heard_weight(seg.asr) if seg is not None else 0.0)


def _cue_hit(params: dict, act: str, seg: Seg) -> bool:
    cues = (params.get("cues") or {}).get(act) or ()
    padded = f" {seg.nf} "
    return any(f" {form} " in padded for form in (normalize(c) for c in cues) if form)


def probability(call: Call, params: dict, seg: Seg, act: str) -> float:
    """Probability that ``seg`` carries ``act`` for its speaker, an organisation's cue counting as near-certain,
    a faint open question that reads clearly as another question counting as that one, a bare greeting
    introducing no one, and a line close to reading as a reformulation, or asking the customer's words back,
    counting at the bar when it restates the customer, and an agent's line saying their own name introducing
    them."""
    p = call.act_probability(seg, act)
    if act == "self_intro" and greeting_only(seg):
        p = 0.0
    if act == "self_intro" and call.agent_first_name and call.likely_speaker(seg) != "customer":
        p = max(p, says_name(call.agent_first_name, seg.text))
    if act == "open_question" and 0.0 < p < OPEN_CLEARLY:
        for rival in QUESTION_RIVALS:
            q = call.act_probability(seg, rival)
            if q > p and q >= act_threshold(params, rival, seg):
                p *= 1.0 - q  # read as exploring, and not as the rival question
    if _cue_hit(params, act, seg):
        p = max(p, CUE_PROBABILITY)
    if act == "reformulation" and p > 0.0:
        bar = act_threshold(params, act, seg)
        floor = RESTATE_ASKED * bar if asks_back(seg) else RESTATE_CLOSE * bar
        if floor <= p < bar and restates_customer(call, params, seg):
            p = bar
    return p


def asks_back(seg: Seg) -> bool:
    """Whether ``seg`` is put as a question: a question mark, or a check tag (« c'est bien ça », « non ») ending
    it, so that an unpunctuated transcript asks as a punctuated one does."""
    if "?" in seg.text:
        return True
    words = seg.nf.split()
    while words and words[-1] in TAG_TRAILERS:
        words.pop()
    ending = " ".join(words[-5:])
    return any(ending == tag or ending.endswith(" " + tag) for tag in CHECK_TAGS)


def greeting_only(seg: Seg) -> bool:
    """Whether ``seg`` holds nothing but greetings, forms of address and fillers (no name, no service)."""
    return all(w in GREETING_ONLY_WORDS or len(w) < 2 for w in seg.nf.split())


def restates_customer(call: Call, params: dict, seg: Seg) -> bool:
    """Whether the agent's ``seg`` says again what the customer said before it: several of its subject words,
    and a good part of them, already theirs, and not an answer (a solution or a refusal also repeats the
    customer's words, to act on them)."""
    said = call.subject_words(seg)
    shared = len(said & call.said_before(seg, "customer"))
    if shared < RESTATED_WORDS or shared < RESTATED_SHARE * len(said):
        return False
    return all(call.act_probability(seg, a) < act_threshold(params, a, seg) for a in ("solution", "refusal"))


def best(call: Call, params: dict, segs: Iterable[Seg], acts: Sequence[str]) -> Hit:
    """The line among ``segs`` most likely to carry one of ``acts`` (earliest on ties)."""
    top = Hit(None, acts[0], 0.0)
    for s in segs:
        for a in acts:
            p = probability(call, params, s, a)
            if p > top.p:
                top = Hit(s, a, p)
    return top


def hits(call: Call, params: dict, segs: Iterable[Seg], acts: Sequence[str]) -> list[Hit]:
    """Every line of ``segs`` carrying one of ``acts`` (its most probable one), in time order."""
    out = []
    for s in segs:
        found = [(probability(call, params, s, a), a) for a in acts]
        found = [(p, a) for p, a in found if p >= act_threshold(params, a, s)]
        if found:
            p, a = max(found)
            out.append(Hit(s, a, p))
    return out


# --- confidence -------------------------------------------------------------------------------


def found_confidence(params: dict, hit: Hit) -> float:
    """How sure a found act is: 0.5 at its threshold, 1 at certainty."""
    return _above_bar(hit.p, act_threshold(params, hit.act, hit.seg))


def _above_bar(p: float, bar: float) -> float:
    return 0.5 + 0.5 * (p - bar) / max(1e-6, 1.0 - bar)


def missing_confidence(params: dict, closest: Hit) -> float:
    """How sure an act is absent: 1 when no line comes near it, 0.5 when one line is at the threshold."""
    thr = act_threshold(params, closest.act, closest.seg)
    return 0.5 + 0.5 * max(0.0, thr - closest.p) / max(1e-6, thr)


def with_asr(confidence: float, seg: Seg | None) -> tuple[float, Doubt]:
    """Lower a confidence to the speech recognition's on the deciding line; the doubt in French if it does."""
    if seg is None or seg.asr is None or seg.asr >= confidence:
        return confidence, NO_DOUBT
    at = seg.doubt_at if seg.doubt_at is not None else seg.start
    return seg.asr, Doubt(f"transcription peu fiable à {clock(at)}", at, heard=True)


def unattributed(call: Call, seg: Seg) -> bool:
    """True for a mono line whose acts other than the impolite ones do not tell that the agent said it."""
    return seg.speaker == "inconnu" and call.likely_speaker(seg, RUDE_ACTS) != "agent"


def heard_badly(seg: Seg | None) -> bool:
    """True when the recogniser gave ``seg``'s words a mean probability under :data:`HEARD_BADLY`."""
    return seg is not None and seg.asr is not None and seg.asr < HEARD_BADLY


def clock(seconds: float) -> str:
    """mm:ss of a call time, as the audio player shows it."""
    s = max(0, int(seconds))
    return f"{s // 60:02d}:{s % 60:02d}"


def _doubt_on(act: str, seg: Seg | None) -> Doubt:
    if seg is None:
        return NO_DOUBT
    # « détection incertaine (…) » reads right whatever the gender of the act's French name.
    return Doubt(f"détection incertaine ({ACT_LABELS[act]}) dans « {seg.text.strip()} » ({clock(seg.start)})",
                 seg.start)


def _quote(s: Seg) -> str:
    return f"« {s.text.strip()} » ({clock(s.start)})"


# --- the methods ------------------------------------------------------------------------------


def evaluate(method: str, c, call: Call, segs: list[Seg], irritants: list[tuple[str, Seg]]) -> Outcome:
    """Apply an ``acts*`` method of criterion ``c`` to the candidate segments of a prepared call."""
    if method == "acts":
        return _required(c, call, segs)
    if method == "acts_empathy":
        return _empathy(c, call, segs, irritants)
    if method == "acts_solution":
        return _solution(c, call, segs)
    if method == "acts_hold":
        return _hold(c, call)
    if method == "acts_forbidden":
        return _forbidden(c, call, segs)
    raise InvalidInput(f"Méthode de détection inconnue « {method} » pour le critère « {c.id} ».")


def _groups(c) -> dict[str, tuple[str, ...]]:
    return {g: act_names(a, f"Critère « {c.id} », groupe « {g} »") for g, a in c.params["require"].items()}


def _in_last_turns(call: Call, c, n: int) -> list[Seg]:
    return call.channel(c.speaker)[-n:]


def _required(c, call: Call, segs: list[Seg]) -> Outcome:
    p = c.params
    at_end = p.get("at_end") or {}
    found: dict[str, Hit] = {}
    closest: dict[str, Hit] = {}
    after_act = p.get("after_customer_act") or {}
    answered = {g: reply_names(r, f"Critère « {c.id} », answered_by « {g} »")
                for g, r in (p.get("answered_by") or {}).items()}
    replied: dict[str, tuple[Seg, str]] = {}  # groups found through the customer's reply: that reply, its kind
    reopened: dict[str, tuple[Seg, Hit | None]] = {}  # the customer's new request, and the act said before it
    unasked: dict[str, list[Hit]] = {}  # lines read as the act that the customer's answer shows asked nothing
    for gname, acts in _groups(c).items():
        where = _in_last_turns(call, c, int(at_end[gname])) if gname in at_end else segs
        where = [s for s in where if s in segs] if gname in at_end else where
        if gname in after_act:
            mark = _last_mark(call, p, act_names(after_act[gname], f"Critère « {c.id} »"))
            if mark is not None:
                earlier = hits(call, p, [s for s in where if s.start <= mark.start], acts)
                reopened[gname] = (mark, earlier[-1] if earlier else None)
                where = [s for s in where if s.start > mark.start]
        got = hits(call, p, where, acts)
        proving = [k for k in answered.get(gname, ()) if k in replies.PROVE_THE_QUESTION]
        if proving:
            unasked[gname] = [h for h in got if _unanswered(call, h, proving)]
            got = [h for h in got if h not in unasked[gname]]
        answer = None if got or gname not in answered else _answered(call, c, where, answered[gname], acts[0])
        if got:
            found[gname] = max(got, key=lambda h: h.p)
        elif answer is not None:
            found[gname], replied[gname] = answer[0], answer[1:]
        else:
            closest[gname] = max(unasked.get(gname) or [best(call, p, where, acts)], key=lambda h: h.p)
    confidences = [with_asr(found_confidence(p, h), h.seg) for g, h in found.items() if g not in replied]
    confidences += [with_asr(missing_confidence(p, h), h.seg) for h in closest.values()]
    confidences += [_replied_confidence(call, found[g], r, kind) for g, (r, kind) in replied.items()]
    conf, doubt = min(confidences, key=lambda x: x[0]) if confidences else (1.0, NO_DOUBT)
    if not doubt and closest:
        weakest = max(closest.values(), key=lambda h: h.p)
        doubt = _doubt_on(weakest.act, weakest.seg)
    elif not doubt and found:
        weakest = min(found.values(), key=lambda h: h.p)
        doubt = _doubt_on(weakest.act, weakest.seg)
    evidence = [h.seg for h in found.values() if h.seg is not None] + [r for r, _ in replied.values()]
    if not closest:
        quotes = ", ".join(_quote(s) for s in in_time_order(evidence))
        return Outcome("pass", evidence, f"{c.label} : trouvé dans {quotes}.", conf, doubt)
    missing = ", ".join(" ou ".join(ACT_LABELS[a] for a in _groups(c)[g]) for g in closest)
    where = (_where_fr(c, at_end, closest, call.answered)
             + _reopened_fr([reopened[g] for g in closest if g in reopened])
             + "".join(_unanswered_fr(unasked[g], answered[g]) for g in closest if unasked.get(g)))
    if evidence:
        text = (f"{c.label} : incomplet, aucune {missing} {where} ; seul "
                + ", ".join(_quote(s) for s in in_time_order(evidence)) + " a été trouvé.")
        return Outcome("fail", evidence, text, conf, doubt)
    return Outcome("fail", [], f"{c.label} : aucune {missing} {where}.", conf, doubt)


def _answered(call: Call, c, where: list[Seg], kinds: Sequence[str], act: str) -> tuple[Hit, Seg, str] | None:
    """The agent line of ``where`` that the customer answered with one of the replies ``kinds`` (« non, ce
    sera tout » answers a check for another need), that answer and its kind; the latest such pair, or None.

    Most replies vouch only for a line the recogniser heard: a typed line says what it says, and one the model
    cannot read there is not a question the customer answered. Those of ``replies.PROVE_THE_QUESTION`` vouch
    for a typed line too. The agent must speak again after the answer: what a customer says after the agent's
    last words answers the leave-taking (« merci, au revoir »)."""
    if not where:
        return None
    allowed = {s.idx for s in where}
    agent = call.channel(c.speaker)
    # An answer before the window's first line cannot follow one of its lines: those are not read at all.
    opens = min(s.start for s in where)
    for r in reversed([s for s in call.channel("customer") if s.start > opens]):
        said = max(kinds, key=lambda k: call.reply_probability(r, k))
        if call.reply_probability(r, said) < replies.THRESHOLD:
            continue
        before = [s for s in agent if s.start < r.start and s.idx != r.idx]
        spoke_again = any(s.start > r.start and s.idx != r.idx for s in agent)
        vouched = bool(before) and (before[-1].asr is not None or said in replies.PROVE_THE_QUESTION)
        if vouched and spoke_again and before[-1].idx in allowed and not _echoes(r, before[-1]):
            return Hit(before[-1], act, call.act_probability(before[-1], act)), r, said
    return None


def _unanswered(call: Call, hit: Hit, proving: Sequence[str]) -> bool:
    """Whether the agent's ``hit`` is a typed or clearly heard statement, not a question, after which none of the
    customer's next turns reads even faintly as one of the replies ``proving`` (those that prove their question)."""
    line = hit.seg
    if line is None or asks_back(line) or QUESTION_FORM.search(line.text) or heard_weight(line.asr):
        return False
    after = [r for r in call.channel("customer") if r.start > line.start][:UNANSWERED_TURNS]
    # Garbled answers, or none at all, tell nothing.
    if not after or any(heard_weight(r.asr) for r in after):
        return False
    return all(call.reply_probability(r, k) < FAINT_REPLY for r in after for k in proving)


def _unanswered_fr(unasked: list[Hit], kinds: Sequence[str]) -> str:
    """Why lines read as the act do not count: not questions, and the customer's answer gives nothing asked."""
    quotes = ", ".join(_quote(h.seg) for h in unasked)
    said = next(replies.REPLY_LABELS[k] for k in kinds if k in replies.PROVE_THE_QUESTION)
    return f" ; {quotes} n'est pas une question, et ne reçoit en réponse aucun {said}"


def _echoes(reply: Seg, line: Seg) -> bool:
    """True when most words of the customer's ``reply`` repeat the agent's ``line``: a reference the agent
    dictated, noted back (« je l'écris : S, T, quatre… »), answers nothing."""
    said, heard = reply.nf.split(), set(line.nf.split())
    return bool(said) and sum(w in heard for w in said) / len(said) >= ECHO_SHARE


def _replied_confidence(call: Call, hit: Hit, reply: Seg, kind: str) -> tuple[float, Doubt]:
    """How sure an act read from the customer's answer is, and why a human should hear it."""
    inferred = f"détection déduite ({ACT_LABELS[hit.act]}) de la réponse du client {_quote(reply)}"
    if kind in replies.PROVE_THE_QUESTION:
        # The answer itself is the proof: as sure as the reply is read, and as well as both lines were heard.
        conf = _above_bar(call.reply_probability(reply, kind), replies.THRESHOLD)
        heard = [x for x in (reply.asr, hit.seg.asr) if x is not None]
        return (min([conf, *heard]), Doubt(f"{inferred} à la ligne de l'agent {_quote(hit.seg)}", hit.seg.start,
                                          heard=bool(heard) and min(heard) < conf))
    # An act read from the customer's answer, not from the agent's words: a human confirms it.
    return DOUBTFUL, Doubt(f"{inferred} : la ligne de l'agent {_quote(hit.seg)} est mal transcrite", hit.seg.start,
                           heard=True)


def _last_mark(call: Call, params: dict, acts: Sequence[str]) -> Seg | None:
    """The customer's last line carrying one of ``acts``: a new request there reopens the call, so a check for
    another need said before it no longer closes it."""
    marks = hits(call, params, call.channel("customer"), acts)
    return marks[-1].seg if marks else None


def _reopened_fr(reopened: list[tuple[Seg, Hit | None]]) -> str:
    """Why a group said earlier no longer counts: the customer's new request came after it."""
    if not reopened:
        return ""
    mark, earlier = reopened[0]
    if earlier is None:
        return f" après la dernière demande du client {_quote(mark)}"
    return f" après la dernière demande du client {_quote(mark)}, {_quote(earlier.seg)} venant avant elle"


def _where_fr(c, at_end: dict, missing: dict, answered: float = 0.0) -> str:
    if any(g in at_end for g in missing):
        n = max(int(at_end[g]) for g in missing if g in at_end)
        return "dans le dernier tour de parole de l'agent" if n == 1 else f"dans les {n} derniers tours de l'agent"
    if c.window_end_s is not None:
        # After a recorded message and the queue the window counts from the answer, which the reader must know.
        since = f" après la prise d'appel ({clock(answered)})" if answered else ""
        return f"dans les {fr_number(c.window_end_s, trim=True)} premières secondes{since}"
    if c.params.get("last_fraction"):
        share = fr_number(float(c.params["last_fraction"]) * 100, 0, unit="%")
        return f"dans la dernière partie de l'appel ({share} finaux)"
    if c.params.get("after_customer"):
        return "après la première prise de parole du client"
    return "dans l'appel"


def _empathy(c, call: Call, segs: list[Seg], irritants: list[tuple[str, Seg]]) -> Outcome:
    p = c.params
    response = act_names(p.get("response", ["empathy"]), f"Critère « {c.id} », réponse")
    if not irritants:
        kinds = act_names(p.get("irritants", list(IRRITANT_ACTS)), f"Critère « {c.id} », irritants")
        near = best(call, p, call.channel("customer"), kinds)
        conf, doubt = with_asr(missing_confidence(p, near), near.seg)
        return Outcome("na", [], f"{c.label} : le client n'exprime aucun irritant, critère sans objet.", conf,
                       doubt or _doubt_on(near.act, near.seg))
    first = min(s.start for _, s in irritants)
    after = [s for s in segs if s.end >= first - 0.05]
    got = hits(call, p, after, response)
    irr = irritants[0][1]
    if got:
        h = got[0]
        conf, doubt = with_asr(found_confidence(p, h), h.seg)
        return Outcome("pass", [h.seg], f"{c.label} : l'agent reconnaît l'irritant du client ({_quote(irr)}) "
                       f"dans {_quote(h.seg)}.", conf, doubt or _doubt_on(h.act, h.seg))
    near = best(call, p, after, response)
    conf, doubt = with_asr(missing_confidence(p, near), near.seg)
    return Outcome("fail", [irr], f"{c.label} : le client exprime un irritant ({_quote(irr)}) sans excuse ni "
                   "marque de compréhension de l'agent ensuite.", conf, doubt or _doubt_on(near.act, near.seg))


def _solution(c, call: Call, segs: list[Seg]) -> Outcome:
    p = c.params
    solution = act_names(p.get("solution", ["solution"]), f"Critère « {c.id} », solution")
    refusal = act_names(p.get("refusal", ["refusal"]), f"Critère « {c.id} », refus")
    alternative = act_names(p.get("alternative", ["alternative", "solution"]), f"Critère « {c.id} », alternative")
    follow = int(p.get("alternative_turns", 2))
    bare: list[Hit] = []
    offered: list[Hit] = []  # alternatives offered: the next step the customer is given instead
    for h in hits(call, p, segs, refusal):
        pos = segs.index(h.seg)
        answer = hits(call, p, segs[pos:pos + 1 + follow], alternative)
        offered.extend(answer)
        if not answer:
            bare.append(h)
    # An alternative is a next step even where the refusal it answers went unread: « le groupe est complet pour
    # septembre ; par contre je peux l'inscrire sur la liste d'attente » reads 0.12 as a refusal, 0.67 as this.
    seen = {h.seg.idx for h in offered}
    offered.extend(h for h in hits(call, p, segs, [a for a in alternative if a not in solution])
                   if h.seg.idx not in seen)
    if bare:
        conf, doubt = with_asr(min(found_confidence(p, h) for h in bare), bare[0].seg)
        return Outcome("fail", [h.seg for h in bare], f"{c.label} : refus sans alternative, "
                       + ", ".join(_quote(h.seg) for h in bare) + ".", conf, doubt or _doubt_on("refusal", bare[0].seg))
    # A concrete solution is the better evidence; an alternative after a refusal also gives a next step.
    for found, says in ((hits(call, p, segs, solution), "propose une solution concrète"),
                        (offered, "ne peut pas accéder à la demande mais propose une alternative")):
        if found:
            h = max(found, key=lambda x: (x.p, x.seg.start))
            conf, doubt = with_asr(found_confidence(p, h), h.seg)
            return Outcome("pass", [h.seg], f"{c.label} : l'agent {says}, {_quote(h.seg)}.", conf,
                           doubt or _doubt_on(h.act, h.seg))
    near = best(call, p, segs, solution)
    conf, doubt = with_asr(missing_confidence(p, near), near.seg)
    return Outcome("fail", [], f"{c.label} : aucune solution ni étape suivante concrète n'a été proposée "
                   "après l'exposé du client.", conf, doubt or _doubt_on("solution", near.seg))


def _hold(c, call: Call) -> Outcome:
    p = c.params
    min_gap = float(p.get("min_gap_s", 10))
    longer_than = fr_number(min_gap, trim=True, unit="s")
    lookback = float(p.get("lookback_s", HOLD_LOOKBACK_S))
    announce = act_names(p.get("announce", ["hold_announce"]), f"Critère « {c.id} », annonce")
    thanks = act_names(p.get("thanks", ["hold_thanks"]), f"Critère « {c.id} », remerciement")
    gaps = call.gaps(min_gap)
    if not gaps:
        return Outcome("na", [], f"{c.label} : aucun silence de plus de {longer_than}, critère sans objet.")
    agent = call.channel(c.speaker)
    evidence: list[Seg] = []
    problems: list[str] = []
    confidences: list[tuple[float, str]] = []
    for g0, g1 in gaps:
        before = [s for s in agent if s.start < g0 and s.end >= g0 - lookback][-2:]
        after = [s for s in agent if s.start >= g1 - 0.05][:1]
        ann, thx = hits(call, p, before, announce), hits(call, p, after, thanks)
        for got, where, acts in ((ann, before, announce), (thx, after, thanks)):
            if got:
                confidences.append(with_asr(found_confidence(p, got[-1]), got[-1].seg))
            else:
                near = best(call, p, where, acts)
                conf, doubt = with_asr(missing_confidence(p, near), near.seg)
                confidences.append((conf, doubt or _doubt_on(near.act, near.seg)))
        evidence += [ann[-1].seg] if ann else before[-1:]
        evidence += after
        where = f"silence de {fr_number(g1 - g0, unit='s')} à {clock(g0)}"
        if not ann and not thx:
            problems.append(f"{where} ni annoncé ni suivi d'un remerciement")
        elif not ann:
            problems.append(f"{where} non annoncé")
        elif not thx:
            problems.append(f"{where} annoncé mais sans remerciement à la reprise")
    conf, doubt = min(confidences, key=lambda x: x[0])
    if problems:
        return Outcome("fail", evidence, f"{c.label} : " + " ; ".join(problems) + ".", conf, doubt)
    return Outcome("pass", evidence, f"{c.label} : chaque silence de plus de {longer_than} est annoncé puis le "
                   "client est remercié à la reprise.", conf, doubt)


def _forbidden(c, call: Call, segs: list[Seg]) -> Outcome:
    p = c.params
    acts = act_names(p.get("acts", list(RUDE_ACTS)), f"Critère « {c.id} », actes interdits")
    reaction = act_names(p.get("reaction", ["tone_reaction"]), f"Critère « {c.id} », réaction du client")
    flagged = {h.seg.idx: h for h in hits(call, p, segs, acts)}
    # A customer objecting to the tone points at the agent's line just before. Alone, or on a line the model
    # barely reads as impolite, it is a reason to listen to that line. On a line the model already reads as
    # more likely impolite than not (the review level), two independent readings agree: the line counts as
    # impolite, at the bar, so the call is zeroed and a human still confirms it. Only where both lines read as
    # typed text (typed, or heard clearly): two readings of garbled words agree by chance.
    floor = float(p.get("reaction_floor", REACTION_FLOOR))
    band = float(p.get("review_band", RUDE_REVIEW_BAND))
    objected: list[tuple[Hit, Seg]] = []
    confirmed: dict[int, Seg] = {}
    answered: dict[int, Seg] = {}  # lines the customer clearly objects to, so said by the other side: the agent
    for r in hits(call, p, call.channel("customer"), reaction):
        before = [s for s in segs if s.start < r.seg.start and s.idx != r.seg.idx]
        if before and call.likely_speaker(r.seg) == "customer":
            answered[before[-1].idx] = r.seg
        if before and before[-1].idx not in flagged:
            h = best(call, p, before[-1:], acts)
            bar = act_threshold(p, h.act, h.seg)
            if h.p >= bar - band and not heard_weight(h.seg.asr) and not heard_weight(r.seg.asr):
                flagged[h.seg.idx] = Hit(h.seg, h.act, bar)
                confirmed[h.seg.idx] = r.seg
            elif h.p >= floor:
                objected.append((h, r.seg))
    # The courtesy classifier (ccr.scoring.courtesy), trained on that one question over every impolite family,
    # ranks implicit rudeness far better than the act model, which reads the families one by one. A line the
    # act model reads at the review level and that classifier at the bar for a zero (as sure as the act model
    # alone must be) is read as impolite twice, by models asked different questions: the line counts as
    # impolite, at the bar, so the call is zeroed and a human still confirms it. Typed or clearly heard lines
    # only, as above.
    # A lower bar, 0.8, was measured first: two short polite lines of calls held out from tuning, read 0.80 and
    # 0.81, zeroed their calls (ccr/scoring/data/courtesy/README.md).
    # Each line's likeliest impolite act, read once for this second reading and for the lines to hear below.
    line_best = {s.idx: best(call, p, [s], acts) for s in segs}
    # Speaking to the customer as « tu » is over-familiar, unless the organisation has chosen it
    # (``familiar_address: false``): a grammatical fact that seconds the act model like the courtesy classifier.
    # Alone it proves nothing: speech recognition hears « patientez » as « passion t'es ». Read on typed or
    # clearly heard lines, and only on lines the recording gives the agent: on a mono line, the customer's « tu
    # peux aller chercher la facture ? » to someone in the room reads as an agent's to the act model.
    familiar_address = p.get("familiar_address", True) is not False
    # Each seconded line, with what seconded it, for the explanation.
    seconded: dict[int, str] = {}
    for s in segs:
        if s.idx in flagged or heard_weight(s.asr):
            continue
        h = line_best[s.idx]
        bar = act_threshold(p, h.act, s)
        if h.p < bar - band:
            continue
        if familiar_address and s.speaker == "agent" and addresses_as_tu(s.text):
            flagged[s.idx] = Hit(s, "rude_familiar", bar)
            seconded[s.idx] = "le client est tutoyé"
        elif courtesy.probability(s.text) >= float(p.get("courtesy_bar", bar)):
            flagged[s.idx] = Hit(s, h.act, bar)
            seconded[s.idx] = "ton discourtois confirmé par une seconde lecture"
    # Zeroing a call is a decision about a person: it never rests on words the recogniser itself barely heard.
    # Such a line is sent to a human to listen to, the call is not zeroed on it.
    misheard = sorted((h for h in flagged.values() if heard_badly(h.seg)), key=lambda h: h.seg.start)
    flagged = {i: h for i, h in flagged.items() if not heard_badly(h.seg)}
    # Nor on words nobody knows the agent said. On a mono recording not separated into voices, the impolite
    # reading would itself make a line the agent's: a customer's « encore bravo pour le suivi » reads as
    # sarcasm, an agent act. Such a line is the agent's when its other acts say so, or when the customer
    # clearly objects to it; else a human listens.
    unknown = {i for i, h in flagged.items() if i not in answered and unattributed(call, h.seg)}
    whose_unknown = sorted((flagged[i] for i in unknown), key=lambda h: h.seg.start)
    flagged = {i: h for i, h in flagged.items() if i not in unknown}
    if flagged:
        found = sorted(flagged.values(), key=lambda h: h.seg.start)
        conf, doubt = with_asr(max(found_confidence(p, h) for h in found), found[0].seg)
        # The customer's objection, where it made the line impolite or, on a mono line, the agent's.
        objections = {i: r for i, r in answered.items() if call.segs[i].speaker == "inconnu"} | confirmed
        reasons = [f"{ACT_LABELS[h.act]} dans {_quote(h.seg)}"
                   + (f", le client relève aussitôt le ton ({_quote(objections[h.seg.idx])})"
                      if h.seg.idx in objections else "")
                   + (f", {seconded[h.seg.idx]}" if h.seg.idx in seconded else "")
                   for h in found]
        return Outcome("fail", [h.seg for h in found], f"{c.label} : " + " ; ".join(reasons) + ".", conf,
                       doubt or _doubt_on(found[0].act, found[0].seg))
    near = best(call, p, segs, acts)
    conf, doubt = with_asr(missing_confidence(p, near), near.seg)
    text = f"{c.label} : aucune parole impolie, méprisante ou trop familière de l'agent relevée."
    if misheard:
        h = misheard[0]
        return Outcome("pass", [], text, DOUBTFUL, Doubt(
            f"ligne à écouter : {_quote(h.seg)}, {ACT_LABELS[h.act]} possible mais transcription peu fiable",
            h.seg.doubt_at if h.seg.doubt_at is not None else h.seg.start, heard=True), must_review=True)
    if whose_unknown:
        h = whose_unknown[0]
        return Outcome("pass", [], text, DOUBTFUL, Doubt(
            f"ligne à écouter : {_quote(h.seg)}, {ACT_LABELS[h.act]} possible, mais l'enregistrement mono ne dit pas "
            "si l'agent ou le client l'a prononcée", h.seg.start), must_review=True)
    # Zeroing a polite agent costs more than a late catch: a call with a doubtful line is heard by a human instead.
    doubtful = [h for h in (line_best[s.idx] for s in segs)
                if h.seg is not None and h.p >= act_threshold(p, h.act, h.seg) - band]
    to_hear = _to_hear(call, [h for h in line_best.values() if h.seg is not None]) if objected or doubtful else []
    if objected:
        h, reaction_seg = objected[0]
        others = [d for d in to_hear if d.seg.idx != h.seg.idx][:LINES_TO_HEAR - 1]
        return Outcome("pass", [], text, DOUBTFUL, Doubt(
            f"ligne à écouter : {_quote(h.seg)}, le client relève le ton juste après ({_quote(reaction_seg)})"
            + (" ; aussi " + _lines_fr(others) if others else ""), h.seg.start), must_review=True)
    if doubtful:
        shown = to_hear[:LINES_TO_HEAR]
        return Outcome("pass", [], text, min(conf, DOUBTFUL), Doubt(
            f"{'lignes' if len(shown) > 1 else 'ligne'} à écouter : {_lines_fr(shown)}", shown[0].seg.start),
                       must_review=True)
    return Outcome("pass", [], text, conf, doubt or _doubt_on(near.act, near.seg))


def _to_hear(call: Call, found: Sequence[Hit]) -> list[Hit]:
    """Agent lines in the order a reviewer should hear them: most suspect first, by both readings of rudeness,
    less the likeliest act of the call's work the line carries (a question, a solution, a hold...)."""
    def suspicion(h: Hit) -> float:
        probs = call.acts(h.seg).probs
        work = max((probs.get(a, 0.0) for a in AGENT_ACTS if a not in RUDE_ACTS), default=0.0)
        return h.p + courtesy.probability(h.seg.text) - work
    return sorted(found, key=suspicion, reverse=True)


def _lines_fr(found: Sequence[Hit]) -> str:
    """Lines for a reviewer, each with the impolite act it may carry, in the order given."""
    return " ; ".join(f"{_quote(h.seg)}, {ACT_LABELS[h.act]} possible" for h in found)
