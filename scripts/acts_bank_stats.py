"""Validate the dialogue-act utterance bank and the held-out set, and print their counts.

    python -m scripts.acts_bank_stats              # validate both files, print plain tables
    python -m scripts.acts_bank_stats --markdown   # the same tables in Markdown (for ccr/scoring/data/acts/README.md)

Checks: every line is a JSON object with exactly ``text``, ``speaker``, ``acts`` and ``register``; known
speakers, acts and registers; agent acts only on agent lines and customer acts only on customer lines; no
exact duplicate inside a file; no held-out line equal to a bank line once lowercased and stripped of
punctuation. Exits 1 when a check fails.

A *near-miss* is a line holding a cue word of an act it is not labelled with (a negated hold, the customer
saying « je comprends » or « au revoir », a lookalike word...). The cues below are a rough lexicon used only
for this count; they are not the recogniser.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

from ccr.scoring.acts import ACTS, BANK_PATH, SPEAKER_OF

ROOT = Path(__file__).resolve().parent.parent
BANK = BANK_PATH
HELDOUT = ROOT / "tests" / "fixtures" / "acts" / "heldout.jsonl"
SPEAKERS = ("agent", "customer")
REGISTERS = ("formal", "relaxed", "hesitant", "regional")
KEYS = {"text", "speaker", "acts", "register"}

# Rough cue lexicon (on lowercased text without accents), only to count near-misses.
CUES = {
    "greeting": r"\b(bonjour|bonsoir|allo|salut|adieu)\b",
    "self_intro": r"(je m ?appelle|a l ?appareil|service client|vous etes (bien )?chez|mon nom est)",
    "ident_request": r"(numero (client|de contrat|de dossier|d ?adherent)|date de naissance|code postal"
                     r"|adresse (e-?)?mail|titulaire|reference)",
    "open_question": r"(qu ?est-ce qui se passe|que se passe|racontez|depuis quand|expliquez-moi"
                     r"|qu ?est-ce que vous voyez)",
    "reformulation": r"(si je (vous )?(comprends|resume|suis)|en gros|autrement dit|en resume|si j ?ai bien compris)",
    "empathy": r"(je comprends|desole|navre|excuse|pardon|agacant|embetant|penible)",
    "solution": r"(rembours|je vous (envoie|renvoie|rappelle)|technicien|transf[eè]r|geste commercial|un avoir)",
    "refusal": r"(je ne (peux|pourrai|vais) pas|pas possible|impossible|pas prevu|je peux pas)",
    "alternative": r"(par contre|en revanche|je peux vous proposer|ce que je peux faire)",
    "hold_announce": r"(attente|patient|ne quittez pas|un (petit )?(moment|instant)|je reviens vers vous)",
    "hold_thanks": r"(merci (de votre patience|d ?avoir (patiente|attendu))|me revoila|de retour)",
    "other_need": r"(autre chose|autre question|encore quelque chose)",
    "closing": r"(au revoir|bonne (journee|soiree|fin de journee|semaine|continuation)|a bientot)",
    "readback": r"(c ?est bien ca|c ?est correct|je (vous )?(repete|relis))",
    "rude_insult": r"\b(idiot|imbecile|abruti|con|cretin|debile|andouille|merde|putain|bete)\b",
    "rude_dismissal": r"(pas mon probleme|debrouillez|voyez (ca )?avec|pas que ca a faire|regarder)",
    "rude_condescension": r"(lentement|simple|savez lire|deja dit)",
    "rude_sarcasm": r"\b(bravo|genial|super|felicitations|chapeau)\b",
    "rude_familiar": r"(\btu\b|\bt ?inquiete|\btoi\b|mon grand|ma petite|ma belle|mon vieux|ensemble)",
    "reason": r"(j ?appelle (pour|parce|au sujet)|je vous appelle|c ?est (pour|au sujet))",
    "irritant_wait": r"(attend|long|delai|toujours rien)",
    "irritant_repeat": r"(deja (appele|ecrit|envoye)|fois que j ?appelle|premiere fois|relance)",
    "irritant_billing_error": r"(factur|preleve|prelevement|debite|montant)",
    "irritant_churn": r"(resili|concurren|partir|changer d ?operateur|ailleurs)",
    "irritant_discontent": r"(mecontent|inadmissible|scandal|n ?importe quoi|marre|furieux)",
    "confirm": r"\b(exactement|tout a fait|c ?est ca|voila)\b",
    "tone_reaction": r"(\bton\b|desagreable|\bpoli\b|permets)",
}
_CUE_RE = {act: re.compile(rx) for act, rx in CUES.items()}
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def fold(text: str) -> str:
    """Lowercase, drop accents and turn apostrophes into spaces (for cue matching)."""
    text = unicodedata.normalize("NFD", text.lower().replace("’", "'"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return text.replace("'", " ")


def loose(text: str) -> str:
    """Lowercase and strip punctuation, for comparing lines across files."""
    return " ".join(_PUNCT.sub(" ", text.lower().replace("’", "'")).split())


def is_asr_style(text: str) -> bool:
    """True for a line written as speech recognition does: lowercase, no punctuation but apostrophes."""
    return text == text.lower() and not re.search(r"[.,;:!?«»…]", text)


def read_rows(path: Path, errors: list[str]) -> list[dict]:
    """The valid rows of one file; every problem is appended to ``errors``."""
    rows: list[dict] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name}:{n}"
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: invalid JSON ({exc})")
            continue
        if not isinstance(row, dict) or set(row) != KEYS:
            errors.append(f"{where}: expected exactly the keys {sorted(KEYS)}")
            continue
        text, speaker, acts, register = row["text"], row["speaker"], row["acts"], row["register"]
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{where}: empty text")
            continue
        if speaker not in SPEAKERS:
            errors.append(f"{where}: unknown speaker {speaker!r}")
        if register not in REGISTERS:
            errors.append(f"{where}: unknown register {register!r}")
        if not isinstance(acts, list) or len(set(acts)) != len(acts):
            errors.append(f"{where}: acts must be a list without repeats")
            continue
        for act in acts:
            if act not in SPEAKER_OF:
                errors.append(f"{where}: unknown act {act!r}")
            elif SPEAKER_OF[act] != speaker:
                errors.append(f"{where}: {SPEAKER_OF[act]} act {act!r} on a {speaker} line")
        if text in seen:
            errors.append(f"{where}: exact duplicate of line {seen[text]}")
        seen.setdefault(text, n)
        rows.append(row)
    return rows


def near_misses(row: dict) -> list[str]:
    """The acts whose cue the line holds although it is not labelled with them."""
    folded = fold(row["text"])
    return [act for act, rx in _CUE_RE.items() if act not in row["acts"] and rx.search(folded)]


def summary(rows: list[dict]) -> dict[str, Counter]:
    """Counts per act, register, speaker and near-miss kind."""
    acts: Counter = Counter()
    registers: Counter = Counter()
    kinds: Counter = Counter()
    for row in rows:
        acts.update(row["acts"])
        registers[row["register"]] += 1
        kinds[f"lines ({row['speaker']})"] += 1
        missed = near_misses(row)
        if not row["acts"]:
            kinds["no act: near-miss (holds a cue)" if missed else "no act: neutral (no cue)"] += 1
        elif missed:
            kinds["with acts, also a cue of another act"] += 1
        if any(SPEAKER_OF[a] != row["speaker"] for a in missed):
            kinds["cue of the other speaker's act"] += 1
        if is_asr_style(row["text"]):
            kinds["ASR style (lowercase, unpunctuated)"] += 1
    return {"acts": acts, "registers": registers, "kinds": kinds}


def print_table(title: str, keys: list[str], columns: dict[str, Counter], markdown: bool) -> None:
    """Print one table with a row per key and a column per file."""
    names = list(columns)
    if markdown:
        print(f"\n| {title} | " + " | ".join(names) + " |")
        print("|---|" + "---:|" * len(names))
        for key in keys:
            print(f"| {key} | " + " | ".join(str(columns[c][key]) for c in names) + " |")
    else:
        print(f"\n{title:40}" + "".join(f"{c:>10}" for c in names))
        for key in keys:
            print(f"{key:40}" + "".join(f"{columns[c][key]:>10}" for c in names))


def main(argv: list[str] | None = None) -> int:
    """Validate both files, print the tables and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bank", type=Path, default=BANK)
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = parser.parse_args(argv)
    errors: list[str] = []
    files = {"bank": args.bank, "heldout": args.heldout}
    rows = {name: read_rows(path, errors) if path.exists() else [] for name, path in files.items()}
    for name, path in files.items():
        if not path.exists():
            errors.append(f"{path}: missing")
        elif not rows[name]:
            errors.append(f"{path}: no lines")
    bank_loose = {loose(r["text"]) for r in rows["bank"]}
    for row in rows["heldout"]:
        if loose(row["text"]) in bank_loose:
            errors.append(f"heldout line also in the bank: {row['text']!r}")
    stats = {name: summary(r) for name, r in rows.items()}
    for name, r in rows.items():
        stats[name]["kinds"]["lines"] = len(r)
    print_table("act", list(ACTS), {n: s["acts"] for n, s in stats.items()}, args.markdown)
    print_table("register", list(REGISTERS), {n: s["registers"] for n, s in stats.items()}, args.markdown)
    kinds = ["lines", "lines (agent)", "lines (customer)", "no act: near-miss (holds a cue)",
             "no act: neutral (no cue)", "with acts, also a cue of another act", "cue of the other speaker's act",
             "ASR style (lowercase, unpunctuated)"]
    print_table("lines", kinds, {n: s["kinds"] for n, s in stats.items()}, args.markdown)
    for err in errors[:50]:
        print("ERROR", err, file=sys.stderr)
    if len(errors) > 50:
        print(f"ERROR ... and {len(errors) - 50} more", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
