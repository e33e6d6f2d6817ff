"""A call's transcript as the scorers read it: the input contract, and its segments prepared once.

Segments carry a speaker (``agent``, ``customer`` or ``inconnu`` on mono recordings), start and end in
seconds, the text and, when they come from speech recognition, the recogniser's ``words`` with their
probabilities. The prepared :class:`Call` computes each segment's matching forms, its dialogue acts
(``ccr.scoring.acts``) and how far speech recognition can be trusted on it.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ccr.core.errors import InvalidInput
from ccr.core.textnorm import content_stems, match_form, normalize, stems
from ccr.scoring import replies
from ccr.scoring.acts import SPEAKER_OF, LineActs, heard_weight, line_acts
from ccr.scoring.agent_name import first_name

SPEAKER_VALUES = ("agent", "customer", "inconnu")
LOW_WORD_PROBABILITY = 0.5  # below this a recognised word is as likely wrong as right
MAX_WORDS_PER_SEGMENT = 2000  # a segment is one turn; more words than this is a malformed file
MONO_SIDE_FLOOR = 0.5  # on mono lines, an act this likely tells which side spoke...
MONO_SIDE_MARGIN = 0.15  # ...when the other side's most likely act is clearly less likely
# A mono call whose two voices were separated automatically (ccr.speech.diarization) carries how clearly they
# stood apart. Measured on the public calls: 0.90-0.94 for two voices, 0.32-0.53 for one voice cut in two;
# below this floor who said each line is a guess, and speaker-dependent verdicts go to a human.
SPEAKER_CONFIDENCE_FLOOR = 0.7
SPEAKER_DOUBT = "locuteurs séparés automatiquement, attribution incertaine"
# Speech recognition cuts a segment wherever the voice pauses (CCR's own transcriber at 0.6 s), so one sentence
# may arrive in several pieces. A piece with no closing mark, in a transcript that has marks, is such a cut when
# the same voice goes on within this pause; the scorer reads it joined to what follows (a longer silence is a
# turn of its own, and a hold is far longer).
FRAGMENT_PAUSE_S = 2.0
SENTENCE_CLOSERS = ".?!…"
# Punctuated transcripts of spoken French run to 6-13 words per closing mark (the labelled sets' medians, typed
# or recognised; 43 at most), transcripts that leave whole turns unpunctuated to 75 and more. In those, a line
# left open says nothing about a cut.
WORDS_PER_SENTENCE_MARK = 50
QUOTE_CLOSERS = "»\"')”’"  # a sentence may end inside a quotation or brackets: « … fausse. »
# The listener's acknowledgements (« oui », « d'accord », « hm hm », « ah oui, d'accord ») run to a few words; a
# line this short that the other voice begins while one is still speaking is not a turn taken from them.
INTERJECTION_WORDS = 3
# Recognisers time words to a few tenths of a second: a reply timed to start just before the question's end
# was not said over it.
SAID_OVER_MARGIN_S = 0.5

# A recording may start before the agent answers: a welcome message, the notice that calls are recorded, a
# menu, then the queue. In a live call nobody greets and then stays silent this long while the customer has
# said nothing; a hold comes later, once the customer has spoken.
PICKUP_SILENCE_S = 6.0
# What a customer waiting in the queue says (« allô ? », « oui, allô ? ») before anyone answers.
WAITING_WORDS = 3
# Once answered, the customer speaks within this time: without them, the silence says nothing (a recording whose
# customer channel is lost is silent on that side from start to end).
PICKUP_REPLY_S = 30.0
# A live greeting the customer did not hear is a sentence or two; a welcome, a notice and a menu run longer. After
# that many words the agent's next words answer the call even when they open nothing (cut short, misheard).
RECORDED_WORDS = 20
# A message says at least a sentence: an agent's « allô ? » or « bonjour ? » before a silence is a live pickup,
# and the call starts there however late the greeting comes.
MESSAGE_WORDS = 6


# Whisper's loop test: speech compresses to about 1.2-2, a phrase repeated over and over far better. CCR's
# transcriber drops such segments (transcription.MAX_COMPRESSION_RATIO); transcripts made elsewhere may keep
# them, and a loop of garbled syllables must not be read as words the agent said.
LOOP_COMPRESSION_RATIO = 2.4
NO_ACTS = LineActs(frozenset(), {})


# Vocal fillers and interjections. A line made of nothing else (« Hm. », « Ah bon. », « Bon. ») holds the
# floor or reacts; it greets, asks, closes or answers nothing. The classifiers learnt from lines with words
# in them and still lean one way or the other on two letters (« Hm. » read as a name given, « Bon. » as a
# leave-taking), so such a line carries no agent act and is no customer reply. The customer's own acts keep
# reading it: « hm hm » may well confirm a reformulation.
FILLERS = frozenset({"hm", "hmm", "hum", "mm", "mmh", "mmm", "euh", "heu", "hein", "ah", "oh", "eh", "bah", "ben",
                     "bon", "ouf", "tiens", "bref"})


# The words a listener follows with (« oui », « d'accord » read « de accord », « ok », « entendu », « très bien »,
# « je vois ») besides the fillers. « Non » is not one of them: it answers.
ACKNOWLEDGEMENT_WORDS = FILLERS | {"oui", "ouais", "ok", "okay", "de", "accord", "entendu", "voila", "tres", "bien",
                                   "je", "vois"}


def only_fillers(text: str) -> bool:
    """True when ``text`` has words and every one is a vocal filler or interjection (:data:`FILLERS`)."""
    words = normalize(text).split()
    return bool(words) and all(w in FILLERS for w in words)


def is_recognition_loop(text: str) -> bool:
    """True when ``text`` compresses like a speech recogniser stuck repeating itself, not like speech."""
    raw = text.encode("utf-8")
    return bool(raw) and len(raw) / len(zlib.compress(raw)) > LOOP_COMPRESSION_RATIO


def validate_transcript(obj: Any) -> dict:
    """Check the transcript format and return it with segments sorted by start; raise InvalidInput (French)."""
    if not isinstance(obj, dict):
        raise InvalidInput("La transcription doit être un objet JSON (call_id, duration_s, language, segments).")
    segments = obj.get("segments")
    if not isinstance(segments, list):
        raise InvalidInput("La transcription doit contenir une liste « segments ».")
    duration = obj.get("duration_s", 0.0)
    if duration is not None and (not isinstance(duration, (int, float)) or isinstance(duration, bool) or duration < 0):
        raise InvalidInput("« duration_s » doit être un nombre de secondes positif.")
    confidence = obj.get("speaker_confidence")
    if confidence is not None and (not isinstance(confidence, (int, float)) or isinstance(confidence, bool)
                                   or not 0 <= confidence <= 1):
        raise InvalidInput("« speaker_confidence » doit être un nombre entre 0 et 1.")
    if not isinstance(obj.get("agent_name") or "", str):
        raise InvalidInput("« agent_name » doit être le nom de l'agent, en texte.")
    clean = [_valid_segment(seg, i) for i, seg in enumerate(segments, 1)]
    clean.sort(key=lambda s: (s["start"], s["end"]))
    out = dict(obj)
    out["segments"] = clean
    out["duration_s"] = float(duration or (max((s["end"] for s in clean), default=0.0)))
    out.setdefault("call_id", "")
    out.setdefault("language", "fr")
    return out


def _is_seconds(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def _valid_segment(seg: Any, i: int) -> dict:
    if not isinstance(seg, dict):
        raise InvalidInput(f"Le segment n°{i} n'est pas un objet (speaker, start, end, text).")
    speaker = seg.get("speaker")
    if speaker not in SPEAKER_VALUES:
        raise InvalidInput(f"Segment n°{i} : locuteur « {speaker} » inconnu (attendu : agent, customer ou inconnu).")
    start, end = seg.get("start"), seg.get("end")
    for name, v in (("start", start), ("end", end)):
        if not _is_seconds(v):
            raise InvalidInput(f"Segment n°{i} : « {name} » doit être un nombre de secondes positif.")
    if end < start:
        raise InvalidInput(f"Segment n°{i} : la fin ({end} s) précède le début ({start} s).")
    text = seg.get("text")
    if not isinstance(text, str):
        raise InvalidInput(f"Segment n°{i} : « text » doit être du texte.")
    out = {"speaker": speaker, "start": float(start), "end": float(end), "text": text}
    words = seg.get("words")
    if words is not None:
        out["words"] = _valid_words(words, i)
    return out


def _valid_words(words: Any, i: int) -> list[dict]:
    if not isinstance(words, list) or len(words) > MAX_WORDS_PER_SEGMENT:
        raise InvalidInput(f"Segment n°{i} : « words » doit être une liste de mots (word, start, end, probability).")
    out = []
    for w in words:
        p = w.get("probability") if isinstance(w, dict) else None
        if not (isinstance(w, dict) and _is_seconds(w.get("start")) and _is_seconds(w.get("end"))
                and isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1):
            raise InvalidInput(f"Segment n°{i} : chaque mot de « words » doit avoir start, end et une "
                               "probabilité entre 0 et 1.")
        out.append({"word": str(w.get("word") or ""), "start": float(w["start"]), "end": float(w["end"]),
                    "probability": float(p)})
    return out


@dataclass(frozen=True)
class Seg:
    """A transcript segment with its matching forms and speech-recognition confidence."""

    idx: int  # position among the call's lines, a sentence cut at a pause counting once
    speaker: str
    start: float
    end: float
    text: str
    mf: str
    st: str
    ntok: int
    nf: str = ""
    asr: float | None = None  # mean word probability; None for text that did not come from speech recognition
    doubt_at: float | None = None  # start of the least probable word when it is below LOW_WORD_PROBABILITY

    def evidence(self) -> dict:
        """The contract's evidence item for this segment."""
        return {"start": round(self.start, 2), "speaker": self.speaker, "text": self.text}


def _asr_confidence(words: list[dict] | None) -> tuple[float | None, float | None]:
    if not words:
        return None, None
    probs = [w["probability"] for w in words]
    worst = min(words, key=lambda w: w["probability"])
    doubt = worst["start"] if worst["probability"] < LOW_WORD_PROBABILITY else None
    return sum(probs) / len(probs), doubt


@dataclass
class Call:
    """A validated transcript prepared for scoring (forms computed once, acts on demand)."""

    call_id: str
    duration: float
    segs: list[Seg]
    first_customer_start: float
    speaker_confidence: float | None = None  # set on mono calls whose voices were separated automatically
    agent_first_name: str = ""  # the scored agent's first name when the call's metadata names them
    # When the agent answered (:func:`answered_at`): the opening's window counts from here, 0 when the
    # recording starts with the conversation.
    answered: float = 0.0
    # (speaker, start, end) of every piece of speech as transcribed, before cut sentences were joined
    spans: list[tuple[str, float, float]] = field(default_factory=list)
    _acts: dict[int, LineActs] = field(default_factory=dict, repr=False)
    _replies: dict[tuple[int, str], float] = field(default_factory=dict, repr=False)
    _subjects: dict[int, frozenset[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_transcript(cls, tr: dict) -> Call:
        """Prepare a transcript already checked by :func:`validate_transcript`; a sentence recognised in pieces
        becomes one line (:func:`rejoined`), while timings keep every piece."""
        lines = rejoined(tr["segments"])
        # What the recording holds before the agent answers was said by no one in the conversation.
        pickup = answered_at(lines)
        answered = lines[pickup]["start"] if pickup else 0.0
        segs = []
        for i, s in enumerate(lines[pickup:]):
            nf = normalize(s["text"])
            asr, doubt = _asr_confidence(s.get("words"))
            segs.append(Seg(i, s["speaker"], s["start"], s["end"], s["text"], match_form(s["text"]),
                            stems(s["text"]), len(nf.split()), nf, asr, doubt))
        duration = float(tr["duration_s"])
        if segs:
            duration = max(duration, segs[-1].end)
        # A « oui » the customer slips in while the agent greets is not their first turn.
        cust = [s for s in segs if s.speaker == "customer" and not said_over(segs, s)]
        if cust:
            first_customer = cust[0].start
        else:
            first_customer = segs[1].start if len(segs) > 1 else 0.0
        confidence = tr.get("speaker_confidence")
        return cls(tr.get("call_id", ""), duration, segs, first_customer,
                   float(confidence) if confidence is not None else None, first_name(tr.get("agent_name")),
                   answered, [(s["speaker"], s["start"], s["end"]) for s in tr["segments"]
                              if s["start"] >= answered])

    @cached_property
    def asr_quality(self) -> float:
        """The mean word probability of the recognised lines; 1 for text that did not come from speech."""
        known = [s.asr for s in self.segs if s.asr is not None]
        return sum(known) / len(known) if known else 1.0

    @property
    def speakers_uncertain(self) -> bool:
        """True when the speakers were separated automatically with a confidence below the floor."""
        return self.speaker_confidence is not None and self.speaker_confidence < SPEAKER_CONFIDENCE_FLOOR

    @property
    def mono(self) -> bool:
        """True when no segment has a known speaker (a mono recording not yet separated)."""
        return bool(self.segs) and all(s.speaker == "inconnu" for s in self.segs)

    def acts(self, seg: Seg) -> LineActs:
        """The dialogue acts of one segment, for its speaker (computed once)."""
        if seg.idx not in self._acts:
            speaker = seg.speaker
            if speaker == "inconnu" and seg.idx == 0:
                speaker = "agent"  # the agent picks up and speaks first
            empty = is_recognition_loop(seg.text) or (speaker == "agent" and only_fillers(seg.text))
            self._acts[seg.idx] = NO_ACTS if empty else line_acts(seg.text, speaker, heard=heard_weight(seg.asr))
        return self._acts[seg.idx]

    def act_probability(self, seg: Seg, act: str) -> float:
        """Probability that ``seg`` carries ``act`` for the speaker who said it (0 for the other side's acts)."""
        speaker = self.likely_speaker(seg)
        if speaker != "inconnu" and SPEAKER_OF[act] != speaker:
            return 0.0
        return self.acts(seg).probs.get(act, 0.0)

    def reply_probability(self, seg: Seg, reply: str) -> float:
        """Probability that ``seg`` is the customer's ``reply`` (:mod:`ccr.scoring.replies`); 0 on agent lines."""
        if self.likely_speaker(seg) == "agent" or is_recognition_loop(seg.text):
            return 0.0
        key = (seg.idx, reply)
        if key not in self._replies:
            self._replies[key] = 0.0 if only_fillers(seg.text) else replies.probability(seg.text, reply)
        return self._replies[key]

    def subject_words(self, seg: Seg) -> frozenset[str]:
        """The subject words of one segment (:func:`ccr.core.textnorm.content_stems`), computed once per call."""
        if seg.idx not in self._subjects:
            self._subjects[seg.idx] = frozenset(content_stems(seg.text))
        return self._subjects[seg.idx]

    def said_before(self, seg: Seg, role: str) -> set[str]:
        """Every subject word ``role`` said in the lines before ``seg``."""
        out: set[str] = set()
        for s in self.segs[:seg.idx]:
            if self.likely_speaker(s) == role:
                out |= self.subject_words(s)
        return out

    def likely_speaker(self, seg: Seg, ignoring: Collection[str] = ()) -> str:
        """The segment's speaker; on mono lines, the side whose acts (other than ``ignoring``) the line most
        clearly performs.

        The first line is the agent's (the agent picks up); a line that performs no act clearly enough
        stays ``inconnu`` and may count for either side."""
        if seg.speaker != "inconnu":
            return seg.speaker
        if seg.idx == 0:
            return "agent"
        probs = self.acts(seg).probs
        side = {"agent": 0.0, "customer": 0.0}
        for act, p in probs.items():
            if act not in ignoring:
                side[SPEAKER_OF[act]] = max(side[SPEAKER_OF[act]], p)
        top = max(side, key=side.get)
        return top if side[top] >= MONO_SIDE_FLOOR and side[top] - min(side.values()) >= MONO_SIDE_MARGIN else "inconnu"

    def channel(self, role: str) -> list[Seg]:
        """Segments a role may have spoken: its own, plus mono lines not clearly said by the other side."""
        if role == "any":
            return list(self.segs)
        return [s for s in self.segs
                if s.speaker == role or (s.speaker == "inconnu" and self.likely_speaker(s) in (role, "inconnu"))]

    def said_over(self, seg: Seg) -> bool:
        """True when ``seg`` is a listener's acknowledgement said over the other voice (:func:`said_over`)."""
        return said_over(self.segs, seg)

    def gaps(self, min_gap: float) -> list[tuple[float, float]]:
        """Silences longer than ``min_gap`` between consecutive speech, as (start, end)."""
        out = []
        reach = None
        for _, start, end in self.spans:
            if reach is not None and start - reach > min_gap:
                out.append((reach, start))
            reach = end if reach is None else max(reach, end)
        return out


def answered_at(lines: list[dict]) -> int:
    """Where the call is answered: the place of the line after the agent's channel first falls silent for
    ``PICKUP_SILENCE_S`` or more, when the customer said no more than « allô ? » before it. An agent line there
    answers when a message of ``MESSAGE_WORDS`` or more came before it, it opens a conversation (a greeting or an
    introduction; any line after ``RECORDED_WORDS`` words of message) and the customer speaks soon after; a
    customer line, when the message was ``RECORDED_WORDS`` long and the agent speaks soon after. What comes before
    is the recording's announcements and queue. 0 when there is no such line, or when who speaks is not known (a
    mono recording)."""
    agent_end: float | None = None
    said = 0  # words on the agent's channel so far
    for i, line in enumerate(lines):
        if line["speaker"] not in ("agent", "customer"):
            return 0
        waiting = line["speaker"] == "customer" and len(line["text"].split()) <= WAITING_WORDS
        if waiting:
            continue
        if agent_end is None or line["start"] - agent_end < PICKUP_SILENCE_S:
            if line["speaker"] == "customer":
                return 0  # the customer is talking to someone: the conversation has begun
            agent_end = line["end"] if agent_end is None else max(agent_end, line["end"])
            said += len(line["text"].split())
            continue
        # A recording holds one queue: the first long silence is it, or there is none.
        if line["speaker"] == "agent":
            answers = (said >= MESSAGE_WORDS and (said >= RECORDED_WORDS or _opens(line))
                       and _replied(lines, i, "customer"))
        else:
            answers = said >= RECORDED_WORDS and _replied(lines, i, "agent")
        return i if answers else 0
    return 0


def _replied(lines: list[dict], at: int, by: str) -> bool:
    """Whether ``by`` says more than a few words within ``PICKUP_REPLY_S`` of line ``at``."""
    reply = next((x for x in lines[at + 1:] if x["speaker"] == by and len(x["text"].split()) > WAITING_WORDS), None)
    return reply is not None and reply["start"] - lines[at]["start"] <= PICKUP_REPLY_S


def _opens(line: dict) -> bool:
    found = line_acts(line["text"], "agent", heard=heard_weight(_asr_confidence(line.get("words"))[0]))
    return found.has("greeting") or found.has("self_intro")


def rejoined(segments: list[dict]) -> list[dict]:
    """The segments with each sentence cut at a short pause put back together: a piece that ends with no closing
    mark is joined to the same speaker's next piece when it follows within ``FRAGMENT_PAUSE_S``, even when the
    other voice acknowledged in the pause (:func:`only_acknowledges`); that then follows the joined line. A
    « non », a question or any other words from the other voice answer the piece: it stays as it is.

    Only in a transcript that marks its sentences' ends (:func:`marks_sentence_ends`: in one that does not,
    every line would look cut) and only for a known speaker (two mono pieces may be two voices). Joined pieces
    keep their words, so their confidence holds."""
    if not marks_sentence_ends(segments):
        return segments
    out: list[dict] = []
    open_piece: dict[str, int] = {}  # each known voice's piece left unfinished: its place in ``out``
    for seg in segments:
        at = open_piece.get(seg["speaker"])
        if (at is not None and seg["start"] - out[at]["end"] < FRAGMENT_PAUSE_S
                and all(only_acknowledges(said["text"]) for said in out[at + 1:])):
            prev = out[at]
            joined = dict(prev, text=f"{prev['text'].rstrip()} {seg['text'].lstrip()}",
                          end=max(prev["end"], seg["end"]))
            if prev.get("words") or seg.get("words"):
                joined["words"] = (prev.get("words") or []) + (seg.get("words") or [])
            out[at] = joined
            if not _unfinished(joined):
                del open_piece[seg["speaker"]]
            continue
        out.append(seg)
        if seg["speaker"] != "inconnu" and _unfinished(seg):
            open_piece[seg["speaker"]] = len(out) - 1
        else:
            open_piece.pop(seg["speaker"], None)
    return out


def said_over(segs: list[Seg], seg: Seg) -> bool:
    """True when ``seg`` (one of ``segs``, in time order) is a few words of a known voice begun before the other
    voice's last line ended: a listener's « oui » or « hm hm », not a turn that answers or opens anything."""
    if seg.speaker == "inconnu" or len(seg.text.split()) > INTERJECTION_WORDS:
        return False
    other = next((s for s in reversed(segs[:seg.idx]) if s.speaker not in ("inconnu", seg.speaker)), None)
    return other is not None and seg.start < other.end - SAID_OVER_MARGIN_S


def marks_sentence_ends(segments: list[dict]) -> bool:
    """True when the transcript closes its sentences (. ? ! …) often enough that a line left open was cut."""
    words = sum(len(s["text"].split()) for s in segments)
    marks = sum(s["text"].count(mark) for s in segments for mark in SENTENCE_CLOSERS)
    return marks > 0 and words / marks <= WORDS_PER_SENTENCE_MARK


def _unfinished(seg: dict) -> bool:
    """True when the segment's text ends with no closing mark (a closing quote or bracket aside)."""
    return not seg["text"].rstrip().rstrip(QUOTE_CLOSERS).rstrip().endswith(tuple(SENTENCE_CLOSERS))


def only_acknowledges(text: str) -> bool:
    """True when ``text`` is a listener's few words that follow without taking the floor: « oui », « d'accord »,
    « hm hm », « très bien », « je vois » (:data:`ACKNOWLEDGEMENT_WORDS`)."""
    words = normalize(text).split()
    return bool(words) and len(text.split()) <= INTERJECTION_WORDS and all(w in ACKNOWLEDGEMENT_WORDS for w in words)


def in_time_order(segs: Iterable[Seg]) -> list[Seg]:
    """Segments sorted by start, each once (evidence lists gather the same line from several acts)."""
    seen, out = set(), []
    for s in sorted(segs, key=lambda x: x.start):
        if s.idx not in seen:
            seen.add(s.idx)
            out.append(s)
    return out


@dataclass(frozen=True)
class Doubt:
    """Why a verdict is unsure (French) and the call time to listen to; empty when the verdict is sure."""

    text: str = ""
    at: float | None = None
    heard: bool = False  # the doubt is about what was heard (speech recognition), not about what it means

    def __bool__(self) -> bool:
        return bool(self.text)


NO_DOUBT = Doubt()


@dataclass
class Outcome:
    """A criterion's verdict, evidence segments, French explanation and how sure the scorer is."""

    verdict: str
    evidence: list[Seg]
    explanation: str
    confidence: float = 1.0
    doubt: Doubt = NO_DOUBT
    must_review: bool = False  # a human must hear the doubt's line whatever the statistics say
