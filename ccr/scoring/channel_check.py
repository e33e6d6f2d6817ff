"""Channel check of a stereo call: is the agent really on the agent's channel?

A stereo recording is transcribed channel by channel, the agent on the configured side. When a
recorder wrote the channels the other way round, the customer is scored as if they were the agent:
a greeting, an introduction or an identification request is then « missing », and the call's score
is meaningless. The dialogue acts (``ccr.scoring.acts``) tell the two sides apart without any new
word list: each line is read for every act, whoever said it, and the two sides are compared.

- **Agent acts** that only an agent performs in practice (:data:`AGENT_MARKERS`: introduction,
  identification request, open question, empathy, solution, alternative, another need) are counted on
  each side, once per act. Greetings, closings and thanks are left out: a customer says « bonjour »,
  « merci » and « au revoir » as often as the agent does.
- **Customer acts** (:data:`CUSTOMER_MARKERS`: the reason for calling, irritants, confirmations, a
  reproach on the tone) are counted on each side the same way.
- The call is ``suspect`` when the customer's channel carries at least :data:`MIN_AGENT_ACTS` agent
  acts, more than the agent's channel, and the two differences together (agent acts heard on the
  customer's side rather than the agent's, customer acts heard on the agent's side rather than the
  customer's) reach :data:`MIN_EVIDENCE`. Otherwise it is ``ok``. A mono call, or a channel with
  almost no speech, gets no verdict.

A false alarm costs a supervisor's time, a missed swap costs one wrong evaluation that a reviewer
would still see, so the bar is set one step above the highest measured false alarm. Measured on the
labelled evaluation sets (``tests/fixtures/eval/<set>/transcripts``), each call read as recorded (a
false alarm when flagged) and with its agent and customer lines swapped (a detection when flagged):

============  ================  ==================  ==============================
set           false alarms      swaps detected      no verdict (a channel silent)
============  ================  ==================  ==============================
public        0 / 40            39 / 40             0
public-d      0 / 120           84 / 120            0
heldout       0 / 22            20 / 22             0
public-asr    0 / 40            29 / 40             0
public-d-asr  0 / 120           48 / 120            3
heldout-asr   0 / 22            12 / 22             3
all           **0 / 364**       **232 / 364**       6
============  ================  ==================  ==============================

public-d is built to mislead (customers saying the agent's words), and on the speech-recognised copies an
agent's turns often lose the words that carry an act, hence the lower detection there. With the bar one
step lower (:data:`MIN_EVIDENCE` = 2) about 268 swaps were found, but 2 normal calls were flagged.
The four stereo recordings of ``tests/fixtures/audio`` (agent on the left), transcribed whole by CCR's offline
Whisper: 4 of 4 ``ok`` as recorded, 3 of 4 ``suspect`` read the other way round. a01-001 is missed: in its
``public-asr`` transcript the agent's side also restates the reason for calling and the customer's short lines
carry no customer act, so the evidence stops at 1, short of the bar.
``tests/pipeline/test_channel_swap.py`` runs the first 40 s of a01-000 swapped through the worker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ccr.scoring.actrules import ACT_LABELS, clock
from ccr.scoring.acts import line_acts, words_heard_weight
from ccr.scoring.transcript import is_recognition_loop

AGENT, CUSTOMER = "agent", "customer"
AGENT_MARKERS = ("self_intro", "ident_request", "open_question", "empathy", "solution", "alternative",
                 "other_need")
CUSTOMER_MARKERS = ("reason", "irritant_wait", "irritant_repeat", "irritant_billing_error", "irritant_churn",
                    "irritant_discontent", "confirm", "tone_reaction")
MIN_AGENT_ACTS = 2  # one agent-like line on the customer's side is a customer quoting the agent, not a swap
# Agent acts on the wrong side plus customer acts on the wrong side, net of those on the right side: a bar of 2
# flagged 2 of the 364 normal calls measured, 3 flagged none (module docstring).
MIN_EVIDENCE = 3
MIN_SIDE_WORDS = 5  # a channel with fewer words (silent, or lost to recognition loops) cannot be compared
MAX_EVIDENCE_LINES = 5  # the warning quotes the first line of each act, no more than this


@dataclass(frozen=True)
class Evidence:
    """One line heard on the unexpected side: when, the acts it carries, on which channel, and its text."""

    start: float
    acts: tuple[str, ...]
    speaker: str
    text: str


@dataclass(frozen=True)
class ChannelCheck:
    """The verdict (``ok``, ``suspect``, or None when it cannot be told), its French reason, the lines behind it
    and the acts counted on each side."""

    verdict: str | None
    reason: str
    evidence: tuple[Evidence, ...] = ()
    agent_side: frozenset[str] = frozenset()
    customer_side: frozenset[str] = frozenset()

    @property
    def times(self) -> list[float]:
        """The call times of the evidence lines, in order."""
        return [e.start for e in self.evidence]


def check_channels(segments: Iterable[dict[str, Any]]) -> ChannelCheck:
    """Whether the agent of a stereo transcript seems to be on the customer's channel (see the module doc)."""
    sides: dict[str, list[tuple[dict[str, Any], frozenset[str]]]] = {AGENT: [], CUSTOMER: []}
    words = dict.fromkeys(sides, 0)
    for seg in sorted(segments, key=lambda s: float(s.get("start") or 0.0)):
        speaker, text = seg.get("speaker"), str(seg.get("text") or "")
        if speaker not in sides or not text.strip() or is_recognition_loop(text):
            continue
        words[speaker] += len(text.split())
        # Read for every act whoever spoke ("inconnu" keeps both sides' acts): the point is to find them astray.
        sides[speaker].append((seg, line_acts(text, "inconnu", heard=words_heard_weight(seg.get("words"))).acts))
    if not sides[AGENT] and not sides[CUSTOMER]:
        return ChannelCheck(None, "Enregistrement mono ou sans parole : pas de canaux à comparer.")
    if min(words.values()) < MIN_SIDE_WORDS:
        return ChannelCheck(None, "Trop peu de parole sur l'un des canaux pour les comparer.")
    agent_side = _found(sides[AGENT])
    customer_side = _found(sides[CUSTOMER])
    astray = [a for a in AGENT_MARKERS if a in customer_side]  # agent acts on the customer's channel
    kept = [a for a in AGENT_MARKERS if a in agent_side]
    voiced = [a for a in CUSTOMER_MARKERS if a in agent_side]  # customer acts on the agent's channel
    own = [a for a in CUSTOMER_MARKERS if a in customer_side]
    evidence = (len(astray) - len(kept)) + (len(voiced) - len(own))
    if len(astray) >= MIN_AGENT_ACTS and len(astray) > len(kept) and evidence >= MIN_EVIDENCE:
        lines = _first_lines(sides[CUSTOMER], astray, CUSTOMER)
        said = ", ".join(f"{' et '.join(ACT_LABELS[a] for a in e.acts)} ({clock(e.start)})" for e in lines)
        reason = f"actes de l'agent entendus sur le canal du client : {said}"
        if voiced:
            reason += f" ; actes du client sur le canal de l'agent : {', '.join(ACT_LABELS[a] for a in voiced)}"
        return ChannelCheck("suspect", reason + ".", tuple(lines), agent_side, customer_side)
    return ChannelCheck("ok", "Les actes de l'agent sont entendus sur le canal de l'agent.", (),
                        agent_side, customer_side)


def _found(lines: Sequence[tuple[dict[str, Any], frozenset[str]]]) -> frozenset[str]:
    return frozenset().union(*(acts for _, acts in lines)) if lines else frozenset()


def _first_lines(lines: Sequence[tuple[dict[str, Any], frozenset[str]]], acts: Sequence[str],
                 speaker: str) -> list[Evidence]:
    """The first line carrying each of ``acts``, in time order, at most :data:`MAX_EVIDENCE_LINES`."""
    first: dict[int, list[str]] = {}
    for act in acts:
        i = next(i for i, (_, found) in enumerate(lines) if act in found)
        first.setdefault(i, []).append(act)
    out = []
    for i in sorted(first)[:MAX_EVIDENCE_LINES]:
        seg = lines[i][0]
        text = str(seg.get("text") or "").strip()
        out.append(Evidence(float(seg.get("start") or 0.0), tuple(first[i]), speaker, text))
    return out
