"""Accuracy and speed of the scorer on a labelled set.

Usage: python benchmarks/bench_scoring.py DIR [DIR ...] [--engine rules|llm] [--heldout] [--details] [--unpunctuated]
       [--mono] [--cut] [--listener] [--digits] [--announcement] [--grid FILE [--upgraded]]

DIR holds transcripts/*.json and labels.jsonl. ``--heldout`` adds tests/fixtures/eval/heldout (calls
written by us in other wordings and never used to tune the lexicons) and prints its figures apart.
A set whose labels carry ``hard_cases`` (public-d) is reported in two parts, the part we may tune on and
the part held out (calls from ``HOLDOUT_FROM`` on, in call-id order), with the agreement per hard case.
``--unpunctuated`` also scores every set as a transcriber who neither punctuates nor capitalises writes it
(``ccr.core.textnorm.unpunctuated``): the same calls and labels, so any difference is the punctuation's.
``--mono`` also scores every set as a mono recording not separated into voices: every speaker « inconnu », so
who said each line is read from its acts, as CCR does when the speaker-separation extra is not installed.
``--cut`` also scores every set as a recogniser that cuts speech at every pause writes it: each line in pieces,
after each comma and every ``CUT_WORDS`` words, with a short silence between pieces (``cut_at_pauses``).
``--listener`` also scores every set as a stereo recording of two people who acknowledge each other gives it:
on every second long line the other voice says « oui », « d'accord »…, alternately over the line left whole and
in a pause where the recogniser cut it (``with_listener``).
``--digits`` also scores every set with its numbers in digits (« 3 semaines », « 30 euros »), as Whisper writes
them where typists spell them out (``in_digits``).
``--announcement`` also scores every set as a recording started when the customer dialled gives it: a recorded
welcome, notice or menu on the agent's channel, then 8, 20 or 45 s of queue before the call (``with_announcement``).
The time per call of a variant reads lines the sentence model has mostly embedded already (it keeps recent
lines): quote the first figure of each set for speed.
``--grid FILE`` scores with a grid as an organisation stored it (YAML) instead of the standard one, and
``--upgraded`` with the successor CCR stores for it when it is read (``ccr.scoring.grid_upgrade``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

# The per-call figure is for one core: the embedding engine would otherwise spread over every core it sees.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccr.core.textnorm import unpunctuated
from ccr.scoring.encoder import default_encoder
from ccr.scoring.grid import Grid, load_grid_yaml
from ccr.scoring.grid_upgrade import upgrade_grid
from ccr.scoring.score import score_transcript

HELDOUT_DIR = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "eval" / "heldout"
# public-d: tune on the first 80 calls, hold out the last 40 (its README: categories are interleaved,
# so both parts are balanced). Never move this line to fit a result.
HOLDOUT_FROM = 80
SAMPLE = Path(__file__).resolve().parents[1] / "ccr" / "scoring" / "data" / "sample-call-fr.json"
CRITICAL = "politesse"  # the critical criterion: a fail zeroes the call


def load_labels(directory: Path) -> dict[str, dict]:
    """Labels keyed by call id."""
    out = {}
    for line in (directory / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["call_id"]] = row
    return out


def load_hard_cases(directory: Path) -> dict[str, str]:
    """Hard-case tag -> the criterion it concerns (empty when the set has no ``hard_cases.json``)."""
    path = directory / "hard_cases.json"
    if not path.exists():
        return {}
    return {tag: v["criterion"] for tag, v in json.loads(path.read_text(encoding="utf-8")).items()}


CUT_WORDS = 8  # Whisper's pieces of conversational speech cut at 0.6 s pauses run to a few words each
CUT_PAUSE_S = 0.8  # the silence between two pieces of one line: longer than the transcriber's cut (0.6 s)


def cut_at_pauses(seg: dict) -> list[dict]:
    """One line as a recogniser cutting at pauses gives it: pieces after each comma and every ``CUT_WORDS``
    words, timed in proportion to their words within the line's span, ``CUT_PAUSE_S`` apart."""
    pieces: list[list[str]] = [[]]
    for word in seg["text"].split():
        if len(pieces[-1]) == CUT_WORDS:
            pieces.append([])
        pieces[-1].append(word)
        if word.endswith(","):
            pieces.append([])
    pieces = [p for p in pieces if p]
    if len(pieces) < 2:
        return [seg]
    pause = min(CUT_PAUSE_S, (seg["end"] - seg["start"]) / (4 * len(pieces)))
    per_word = (seg["end"] - seg["start"] - pause * (len(pieces) - 1)) / sum(len(p) for p in pieces)
    out, t = [], seg["start"]
    for p in pieces:
        out.append({"speaker": seg["speaker"], "start": round(t, 3), "end": round(t + per_word * len(p), 3),
                    "text": " ".join(p), **({"line": seg["line"]} if "line" in seg else {})})
        t += per_word * len(p) + pause
    out[-1]["end"] = seg["end"]
    return out


# What a listener slips in while the other speaks, by who listens.
LISTENER_SAYS = {"customer": ("Oui.", "D'accord.", "Hm hm.", "Oui oui.", "Ah, d'accord."),
                 "agent": ("Oui.", "D'accord.", "Hm.", "Je vois.", "Oui, oui.")}
LISTENER_MIN_WORDS = 10  # a line this long leaves the listener time to acknowledge it
LISTENER_SAY_S = 0.4


def with_listener(segments: list[dict]) -> list[dict]:
    """The segments with the other voice acknowledging every second line of ``LISTENER_MIN_WORDS`` words or more:
    alternately over the middle of the line, left whole, and in the first pause where the recogniser cut it."""
    other = {"agent": "customer", "customer": "agent"}
    out: list[dict] = []
    long_lines = 0
    for seg in segments:
        if seg["speaker"] not in other or len(seg["text"].split()) < LISTENER_MIN_WORDS:
            out.append(seg)
            continue
        long_lines += 1
        if long_lines % 2:
            out.append(seg)
            continue
        listener = other[seg["speaker"]]
        pieces = cut_at_pauses(seg) if long_lines % 4 == 0 else [seg]
        if len(pieces) > 1:
            at = (pieces[0]["end"] + pieces[1]["start"] - LISTENER_SAY_S) / 2
        else:
            at = (seg["start"] + seg["end"]) / 2
        says = LISTENER_SAYS[listener][long_lines // 2 % len(LISTENER_SAYS[listener])]
        out.extend(pieces)
        out.append({"speaker": listener, "start": round(at, 3), "end": round(at + LISTENER_SAY_S, 3), "text": says})
    return sorted(out, key=lambda s: s["start"])


# What a recording may hold before the agent answers, on the agent's channel: a welcome, the notice that the call
# is recorded, a menu or the queue's message; then the queue itself, silent or music that the recogniser drops.
ANNOUNCEMENTS = (
    ("Bienvenue au service clients.",
     "Afin d'améliorer la qualité de nos services, cette conversation peut être enregistrée.",
     "Pour une question sur votre facture, tapez 1. Pour un problème technique, tapez 2. Pour toute autre "
     "demande, tapez 3.",
     "Votre appel va être transmis à un conseiller, merci de patienter."),
    ("Bonjour et bienvenue.",
     "Tous nos conseillers sont actuellement en ligne. Votre temps d'attente est estimé à moins de deux minutes.",
     "Nous vous remercions de bien vouloir rester en ligne."),
    ("Vous êtes en relation avec notre centre de contact.",
     "Les appels sont susceptibles d'être enregistrés, vous pouvez vous y opposer auprès de votre conseiller.",
     "Appuyez sur la touche étoile pour réécouter ce message."),
)
QUEUE_S = (8.0, 20.0, 45.0)  # from the message's end to the agent's answer
ANNOUNCED_WORD_S = 0.4  # a recorded voice's pace


def with_announcement(segments: list[dict], which: int) -> list[dict]:
    """The segments after a recorded message (``ANNOUNCEMENTS``) and a queue (``QUEUE_S``), both chosen by
    ``which``: every line comes that much later, as in a recording started when the customer dialled."""
    out: list[dict] = []
    at = 0.5
    for text in ANNOUNCEMENTS[which % len(ANNOUNCEMENTS)]:
        said = ANNOUNCED_WORD_S * len(text.split())
        out.append({"speaker": "agent", "start": round(at, 3), "end": round(at + said, 3), "text": text})
        at += said + 0.8
    shift = at + QUEUE_S[which // len(ANNOUNCEMENTS) % len(QUEUE_S)]
    return out + [dict(seg, start=round(seg["start"] + shift, 3), end=round(seg["end"] + shift, 3))
                  for seg in segments]


# Number words as a speech recogniser writes them in digits: « trois semaines » -> « 3 semaines ». Written apart
# from ccr.core.textnorm.spoken_numbers (the reverse), so the variant does not test that code against itself.
_SMALL = {"deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8, "neuf": 9, "dix": 10,
          "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16}
_TENS = {"vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60}
_NUMBER_WORD = (r"(?:deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|"
                r"vingts?|trente|quarante|cinquante|soixante|cents?|mille|un|une)")
# Starts on a word that can only be a number (never on « un », « une »: articles more often than numbers).
_NUMBER_RUN = re.compile(rf"\b(?!une?\b){_NUMBER_WORD}(?:(?:-|-et-|\s+et\s+|\s+){_NUMBER_WORD})*\b", re.I)


def _run_value(run: str) -> list[int]:
    """The numbers a run of number words says: « quatre cinq sept » is three, « quatre-vingt-dix-sept » one."""
    out: list[int] = []
    total = cur = 0
    last = ""
    for w, word in enumerate(re.split(r"\s+(?:et\s+)?", run.lower())):
        for i, part in enumerate(p for p in word.split("-") if p != "et"):
            alone = i == 0 and w > 0
            if part in ("cent", "cents"):
                cur, last = (cur or 1) * 100, "hundred"
            elif part == "mille":
                total, cur, last = total + (cur or 1) * 1000, 0, "thousand"
            elif part in ("vingt", "vingts") and last == "unit" and cur % 100 == 4 and not alone:
                cur, last = cur + 76, "tens"
            elif part in _TENS:
                if alone and last in ("tens", "unit"):
                    out.append(total + cur)
                    total = cur = 0
                cur, last = cur + _TENS[part], "tens"
            else:
                if alone and last == "unit":
                    out.append(total + cur)
                    total = cur = 0
                cur, last = cur + (1 if part in ("un", "une") else _SMALL[part]), "unit"
    return [*out, total + cur]


def in_digits(text: str) -> str:
    """``text`` with its number words (other than « un », « une » alone) in digits, as Whisper writes them."""
    def digits(m: re.Match) -> str:
        return " ".join(str(n) for n in _run_value(m.group(0)))

    return _NUMBER_RUN.sub(digits, text)


def evaluate_dir(directory: Path, engine: str = "rules", part: str = "all", flat: bool = False,
                 names: bool = True, grid: Grid | None = None, mono: bool = False, cut: bool = False,
                 listener: bool = False, numbers_in_digits: bool = False, announced: bool = False) -> dict:
    """Score the transcripts of ``directory`` (``part``: all, tuned or heldout) against their labels; ``flat``:
    each line without punctuation or capitals first; ``names``: with the agent's name, as the app knows it;
    ``mono``: every speaker unknown, as a mono recording not separated into voices; ``cut``: each line in the
    pieces a recogniser cutting at pauses gives; ``listener``: with the other voice's acknowledgements
    (``with_listener``); ``numbers_in_digits``: numbers as Whisper writes them (``in_digits``); ``announced``:
    after a recorded message and a queue (``with_announcement``). Labelled lines are found by their place in the
    file as written."""
    labels = load_labels(directory)
    tags = load_hard_cases(directory)
    ids = sorted(labels)
    if part == "tuned":
        labels = {k: labels[k] for k in ids[:HOLDOUT_FROM]}
    elif part == "heldout":
        labels = {k: labels[k] for k in ids[HOLDOUT_FROM:]}
    per_tag: dict[str, list[int]] = {}
    rude = [0, 0]  # rude agents caught, rude agents in the set
    rude_heard = 0  # rude agents caught or sent to a human with the line to hear
    rude_lines = load_rude_lines(directory)
    rude_on_line = [0, 0, 0]  # (zeroed on the rude line, sent to review with it named, annotated rude calls)
    false_zero = [0, 0]  # polite calls zeroed, polite calls
    polite_heard = 0  # polite calls sent to a human for their politeness: what « never silent » costs
    crit_total = crit_ok = 0
    per_crit: dict[str, list[int]] = {}
    confusions: dict[str, Counter] = {}
    cat_ok = pass_ok = 0
    cat_doubted = [0, 0]  # (right, total) categories the scorer sent to a human
    tp = fp = fn = 0
    abs_err = 0.0
    times = []
    mistakes = []
    flagged = [0, 0]  # (right, total) of criteria flagged needs_review
    unflagged = [0, 0]
    calls_flagged = 0
    # Calls with a wrong criterion and calls with a wrong pass/fail: (held by a flagged call, in all)
    wrong_calls, wrong_results = [0, 0], [0, 0]
    risks: list[tuple[float, bool]] = []  # (result_risk, pass/fail wrong) per call
    evidence_truth = load_evidence(directory)
    ev_ok = ev_total = 0
    n = 0
    paths = sorted((directory / "transcripts").glob("*.json"))
    for path in paths:
        tr = json.loads(path.read_text(encoding="utf-8"))
        for i, seg in enumerate(tr["segments"]):
            seg["line"] = i  # the line as written, which evidence and rude-line labels name
            if flat:
                seg["text"] = unpunctuated(seg["text"])
            if mono:
                seg["speaker"] = "inconnu"
            if numbers_in_digits:
                seg["text"] = in_digits(seg["text"])
        written = [seg["text"].strip() for seg in tr["segments"]]
        if cut:
            tr["segments"] = [piece for seg in tr["segments"] for piece in cut_at_pauses(seg)]
        if listener:
            tr["segments"] = with_listener(tr["segments"])
        if announced:
            tr["segments"] = with_announcement(tr["segments"], n)
        label = labels.get(tr.get("call_id") or path.stem)
        if label is None:
            continue
        if names and label.get("agent_name"):
            tr["agent_name"] = label["agent_name"]  # metadata of the call, as an upload records it
        t0 = time.perf_counter()
        ev = score_transcript(tr, engine=engine, grid=grid)
        times.append((time.perf_counter() - t0) * 1000)
        n += 1
        got = {c["id"]: c["verdict"] for c in ev["criteria"]}
        calls_flagged += bool(ev.get("needs_review"))
        for c in ev["criteria"]:
            side = flagged if c.get("needs_review") else unflagged
            side[0] += c["verdict"] == label["criteria"].get(c["id"])
            side[1] += 1
            truth = evidence_truth.get((tr.get("call_id") or path.stem, c["id"]))
            if truth is not None and c["verdict"] == "pass" and c["evidence"]:
                ev_total += 1
                ev_ok += _segment_index(tr, c["evidence"][0]) in truth
        wrong_criterion = False
        for cid, want in label["criteria"].items():
            have = got.get(cid, "na")
            crit_total += 1
            stats = per_crit.setdefault(cid, [0, 0])
            stats[1] += 1
            if have == want:
                crit_ok += 1
                stats[0] += 1
            else:
                wrong_criterion = True
                confusions.setdefault(cid, Counter())[f"{want}->{have}"] += 1
                mistakes.append(f"{path.stem} {cid}: attendu {want}, obtenu {have}")
        for tag in label.get("hard_cases", []):
            cid = tags.get(tag)
            if cid and cid != "*":
                stats = per_tag.setdefault(tag, [0, 0])
                stats[0] += got.get(cid, "na") == label["criteria"][cid]
                stats[1] += 1
        if CRITICAL in label["criteria"]:
            crit = next((c for c in ev["criteria"] if c["id"] == CRITICAL), {})
            if label["criteria"][CRITICAL] == "fail":
                rude[0] += got.get(CRITICAL) == "fail"
                rude[1] += 1
                rude_heard += crit.get("verdict") == "fail" or bool(crit.get("needs_review"))
                marked = rude_lines.get(tr.get("call_id") or path.stem)
                if marked is not None:
                    rude_on_line[2] += 1
                    if crit.get("verdict") == "fail":
                        rude_on_line[0] += any(_segment_index(tr, e) in marked for e in crit.get("evidence", []))
                    elif crit.get("needs_review"):
                        reason = crit.get("review_reason", "")
                        rude_on_line[1] += any(written[i] in reason for i in marked)
            else:
                false_zero[0] += got.get(CRITICAL) == "fail"
                false_zero[1] += 1
                polite_heard += crit.get("verdict") != "fail" and bool(crit.get("needs_review"))
        cat_ok += ev["category"] == label["category"]
        if ev.get("category_needs_review"):
            cat_doubted[0] += ev["category"] == label["category"]
            cat_doubted[1] += 1
        if ev["category"] != label["category"]:
            mistakes.append(f"{path.stem} category: attendu {label['category']}, obtenu {ev['category']}")
        pass_ok += ev["passed"] == label["passed"]
        risks.append((float(ev.get("result_risk") or 0.0), ev["passed"] != label["passed"]))
        for tally, wrong in ((wrong_calls, wrong_criterion), (wrong_results, ev["passed"] != label["passed"])):
            tally[0] += wrong and bool(ev.get("needs_review"))
            tally[1] += wrong
        want_irr = set(label["irritants"])
        have_irr = {i["label"] for i in ev["irritants"]}
        tp += len(want_irr & have_irr)
        fp += len(have_irr - want_irr)
        fn += len(want_irr - have_irr)
        if want_irr != have_irr:
            mistakes.append(f"{path.stem} irritants: attendu {sorted(want_irr)}, obtenu {sorted(have_irr)}")
        abs_err += abs(ev["score"] - label["score"])
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "calls": n,
        "criterion_agreement": crit_ok / crit_total if crit_total else 0.0,
        "per_criterion": {k: v[0] / v[1] for k, v in per_crit.items()},
        "confusions": {k: v.most_common(3) for k, v in confusions.items()},
        "category_accuracy": cat_ok / n if n else 0.0,
        "category_doubted": tuple(cat_doubted),
        "category_sure": (cat_ok - cat_doubted[0], n - cat_doubted[1]),
        "irritant_precision": precision,
        "irritant_recall": recall,
        "irritant_f1": f1,
        "score_mae": abs_err / n if n else 0.0,
        "pass_fail_agreement": pass_ok / n if n else 0.0,
        "ms_per_call": sum(times) / len(times) if times else 0.0,
        "ms_max": max(times, default=0.0),
        "rude_caught": tuple(rude),
        "rude_heard": rude_heard,
        "rude_on_line": tuple(rude_on_line),
        "polite_zeroed": tuple(false_zero),
        "polite_heard": polite_heard,
        "per_tag": {k: (v[0], v[1]) for k, v in sorted(per_tag.items())},
        "mistakes": mistakes,
        "flagged": tuple(flagged),
        "unflagged": tuple(unflagged),
        "calls_flagged": calls_flagged,
        "wrong_calls": tuple(wrong_calls),
        "wrong_results": tuple(wrong_results),
        "evidence": (ev_ok, ev_total),
        "risk": risk_ranking(risks),
    }


def risk_ranking(risks: list[tuple[float, bool]]) -> dict:
    """How well ``result_risk`` orders calls by a wrong pass/fail: the errors among the riskiest quarter and
    half, the errors expected (sum of the risks) against those made, and the chance that a call with a wrong
    result is ranked above one with a right result (ties count half)."""
    ranked = sorted(risks, key=lambda x: -x[0])
    wrong = [r for r, bad in risks if bad]
    right = [r for r, bad in risks if not bad]
    above = sum((a > b) + 0.5 * (a == b) for a in wrong for b in right)
    return {
        "quarter": sum(bad for _, bad in ranked[:len(ranked) // 4]),
        "half": sum(bad for _, bad in ranked[:len(ranked) // 2]),
        "wrong": len(wrong),
        "expected": sum(r for r, _ in risks),
        "auc": above / (len(wrong) * len(right)) if wrong and right else None,
    }


def load_evidence(directory: Path) -> dict[tuple[str, str], set[int]]:
    """Hand-annotated lines carrying each passing criterion: (call id, criterion) -> segment indices."""
    path = directory / "evidence.jsonl"
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[(row["call_id"], row["criterion"])] = {i for idx in row["lines"].values() for i in idx}
    return out


def load_rude_lines(directory: Path) -> dict[str, set[int]]:
    """Hand-marked impolite agent lines of the rude calls: call id -> segment indices (empty without a file)."""
    path = directory / "rude_lines.jsonl"
    if not path.exists():
        return {}
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["call_id"]: set(row["lines"]) for row in rows}


def _segment_index(tr: dict, evidence: dict) -> int:
    """Index, in the file as written, of the line an evidence item quotes (-1 when none matches)."""
    for seg in tr["segments"]:
        # A sentence cut at a pause is quoted whole, from its first piece's start.
        if evidence["text"].startswith(seg["text"]) and abs(float(seg["start"]) - float(evidence["start"])) < 0.01:
            return seg.get("line", -1)
    return -1


def print_report(name: str, r: dict, details: bool) -> None:
    """Human-readable figures."""
    print(f"== {name} ({r['calls']} appels)")
    print(f"  accord par critère      : {100 * r['criterion_agreement']:.1f} %")
    for cid, acc in r["per_criterion"].items():
        conf = ", ".join(f"{k} x{v}" for k, v in r["confusions"].get(cid, []))
        print(f"    {cid:15s} {100 * acc:5.1f} %  {conf}")
    print(f"  catégorie               : {100 * r['category_accuracy']:.1f} %")
    (dr, dn), (sr, sn) = r["category_doubted"], r["category_sure"]
    print(f"    signalée incertaine   : {dr}/{dn} juste(s) ; les autres : {sr}/{sn} ; erreurs signalées : "
          f"{dn - dr}/{dn - dr + sn - sr}")
    print(f"  irritants P / R / F1    : {r['irritant_precision']:.2f} / {r['irritant_recall']:.2f} / "
          f"{r['irritant_f1']:.2f}")
    print(f"  erreur absolue moyenne  : {r['score_mae']:.1f} points")
    print(f"  accord réussi/échoué    : {100 * r['pass_fail_agreement']:.1f} %")
    caught, rude = r["rude_caught"]
    zeroed, polite = r["polite_zeroed"]
    if rude:
        print(f"  agents impolis repérés  : {caught}/{rude} ({100 * caught / rude:.0f} %) ; repérés ou envoyés "
              f"en revue : {r['rude_heard']}/{rude}")
    zeroed_on, named, marked = r["rude_on_line"]
    if marked:
        print(f"  ligne impolie annotée   : mise à zéro sur elle {zeroed_on}/{marked} ; envoyée en revue en la "
              f"citant {named}/{marked} ; ni l'un ni l'autre {marked - zeroed_on - named}/{marked}")
    if polite:
        print(f"  appels polis mis à zéro : {zeroed}/{polite} ({100 * zeroed / polite:.1f} pour 100) ; envoyés en "
              f"revue pour leur politesse : {r['polite_heard']}/{polite}")
    for name, (ok, total) in (("signalés « à vérifier »", r["flagged"]), ("non signalés", r["unflagged"])):
        if total:
            print(f"  accord, critères {name:23s}: {100 * ok / total:.1f} % ({ok}/{total})")
    print(f"  appels signalés à revoir: {r['calls_flagged']}/{r['calls']} ; parmi eux, appels à un critère faux "
          f"{r['wrong_calls'][0]}/{r['wrong_calls'][1]}, à réussi/échoué faux {r['wrong_results'][0]}/"
          f"{r['wrong_results'][1]}")
    risk = r["risk"]
    if risk["wrong"]:
        auc = "" if risk["auc"] is None else f" ; rang d'un appel faux au-dessus d'un juste {risk['auc']:.2f}"
        print(f"  risque réussi/échoué    : appels faux parmi le quart le plus risqué {risk['quarter']}/"
              f"{risk['wrong']}, la moitié {risk['half']}/{risk['wrong']} ; attendus {risk['expected']:.1f}, "
              f"faits {risk['wrong']}{auc}")
    ok, total = r["evidence"]
    if total:
        print(f"  précision des preuves   : {100 * ok / total:.1f} % ({ok}/{total} verdicts « pass » annotés)")
    print(f"  temps                   : {r['ms_per_call']:.1f} ms/appel (max {r['ms_max']:.1f} ms)")
    if r["per_tag"]:
        print("  accord par cas difficile (sur le critère concerné) :")
        for tag, (ok, n) in r["per_tag"].items():
            print(f"    {tag:28s} {ok:3d}/{n:<3d} {100 * ok / n:5.1f} %")
    if details:
        for m in r["mistakes"]:
            print("   -", m)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="*", type=Path)
    ap.add_argument("--engine", default="rules", choices=["rules", "llm"])
    ap.add_argument("--heldout", action="store_true", help="also report the held-out calls apart")
    ap.add_argument("--details", action="store_true", help="list every disagreement")
    ap.add_argument("--unpunctuated", action="store_true",
                    help="also score each set without punctuation or capitals")
    ap.add_argument("--mono", action="store_true",
                    help="also score each set as a mono recording not separated into voices")
    ap.add_argument("--cut", action="store_true",
                    help="also score each set with every line cut into pieces at its pauses, as a recogniser gives it")
    ap.add_argument("--announcement", action="store_true",
                    help="also score every set as recorded from the dialling: a recorded message, then the queue")
    ap.add_argument("--digits", action="store_true",
                    help="also score every set with its numbers written in digits, as speech recognisers write them")
    ap.add_argument("--listener", action="store_true",
                    help="also score each set with the other voice's « oui », « d'accord » while one speaks")
    ap.add_argument("--without-agent-names", action="store_true",
                    help="score without the agent's name (calls whose metadata names no agent)")
    ap.add_argument("--grid", type=Path, help="score with this grid (YAML) instead of the standard one")
    ap.add_argument("--upgraded", action="store_true",
                    help="with --grid: score with the successor CCR stores for it (ccr.scoring.grid_upgrade)")
    args = ap.parse_args(argv)
    dirs = list(args.dirs)
    if args.heldout:
        dirs.append(HELDOUT_DIR)
    if not dirs:
        ap.error("indiquez au moins un dossier, ou --heldout")
    names = not args.without_agent_names
    grid = load_grid_yaml(args.grid.read_text(encoding="utf-8")) if args.grid else None
    if grid is not None and args.upgraded:
        grid = upgrade_grid(grid) or grid
    if grid is not None:
        print(f"grille : {args.grid} ({'mise à niveau, ' if args.upgraded else ''}version {grid.version})")
    t0 = time.perf_counter()
    default_encoder()
    t1 = time.perf_counter()
    score_transcript(json.loads(SAMPLE.read_text(encoding="utf-8")))  # loads the grid and both act models
    print(f"chargement : modèle de phrases {1000 * (t1 - t0):.0f} ms ; grille, modèles d'actes et de catégories "
          f"et premier appel {1000 * (time.perf_counter() - t1):.0f} ms ; "
          f"{os.environ['OMP_NUM_THREADS']} fil(s) de calcul")
    variants = [("", {})]
    if args.unpunctuated:
        variants.append((" [sans ponctuation]", {"flat": True}))
    if args.mono:
        variants.append((" [mono, voix non séparées]", {"mono": True}))
    if args.cut:
        variants.append((" [phrases coupées aux pauses]", {"cut": True}))
    if args.listener:
        variants.append((" [« oui » de l'autre voix]", {"listener": True}))
    if args.digits:
        variants.append((" [nombres en chiffres]", {"numbers_in_digits": True}))
    if args.announcement:
        variants.append((" [message enregistré et file d'attente avant l'agent]", {"announced": True}))
    for d in dirs:
        for suffix, how in variants:
            if load_hard_cases(d):
                for part, name in (("tuned", "partie de réglage"), ("heldout", "partie tenue à l'écart")):
                    print_report(f"{d} [{name}]{suffix}",
                                 evaluate_dir(d, args.engine, part, names=names, grid=grid, **how), args.details)
                continue
            label = f"{d} [held-out]" if d.resolve() == HELDOUT_DIR else str(d)
            print_report(label + suffix, evaluate_dir(d, args.engine, names=names, grid=grid, **how), args.details)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
