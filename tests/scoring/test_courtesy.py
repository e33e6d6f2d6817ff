"""The courtesy classifier of agent lines: trained on our banks, measured on lines other writers wrote apart, and
the second reading it gives the politeness criterion in a call."""

from __future__ import annotations

import json

import pytest

from ccr.scoring import actrules, acts, courtesy
from ccr.scoring.acts import ActModelError
from ccr.scoring.grid import default_grid
from ccr.scoring.score import score_transcript
from ccr.scoring.transcript import Call, validate_transcript
from scripts.train_courtesy import FIXTURES, HELDOUT, figures, read_lines
from tests.scoring.bankdata import in_bank
from tests.scoring.test_actrules import GOOD, call, item
from tests.scoring.test_actrules import with_politeness as with_params

# Held-out floors, a little under what the shipped model measured (AUC of the act model -> this classifier;
# impolite lines counted by the act model's bar alone -> by it or the two readings together, as the scorer counts
# them; polite lines counted, a ceiling):
#   the act bank's sixth pass        0.912 -> 0.921 ; 12.3 -> 20.8 % ; 0.3 -> 0.3 %
#   a writer who read nothing        0.852 -> 0.885 ; 13.5 -> 21.7 % ; 0.4 -> 0.7 %
#   written for this classifier      0.842 -> 0.930 ;  9.1 -> 18.8 % ; 0.0 -> 0.5 %
#   implicit, by a third writer      0.872 -> 0.906 ; 12.0 -> 21.7 % ; 0.4 -> 0.4 %
FLOORS = {"sixth pass": (0.90, 0.19, 0.01),
          "other writer": (0.87, 0.20, 0.01),
          "written for courtesy": (0.91, 0.17, 0.01),
          "implicit, third writer": (0.89, 0.19, 0.01)}


def test_the_shipped_model_was_trained_on_the_current_banks():
    model = courtesy.default_model()
    assert model is not None
    assert model.bank_sha256 == courtesy.training_hash(), "retrain: python -m scripts.train_courtesy"
    assert model.acts == (courtesy.DISCOURTEOUS,) and model.head is not None


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_held_out_discourtesy_is_ranked_above_polite_lookalikes_and_counted_far_more_often(name):
    lines = read_lines(HELDOUT[name])
    texts = {t for t, _ in lines}
    assert not in_bank(texts) and not texts & {e.text for e in courtesy.read_bank()}  # never trained on
    assert sum(t for _, t in lines) >= 200 and sum(not t for _, t in lines) >= 200
    auc, caught, polite = FLOORS[name]
    f = figures(courtesy.default_model(), lines)
    assert f["auc"] >= auc and f["auc"] > f["act_auc"], f
    assert f["both_rude"] >= caught and f["both_rude"] >= 1.5 * f["bar_rude"], f
    assert f["both_polite"] <= polite, f


@pytest.mark.parametrize(("text", "discourteous"), [
    ("Ah, parce que vous pensiez que le colis allait se livrer tout seul ?", True),
    ("Bon, abrégez, j'ai d'autres clients qui attendent, moi.", True),
    ("Félicitations, vous avez réussi à bloquer votre carte trois fois en une heure.", True),
    ("Oui bon, si vous lisiez les courriers qu'on vous envoie, vous le sauriez.", True),
    ("Écoute, ma grande, tu rappelles demain et on verra.", True),
    ("Je vous le répète bien volontiers : le rendez-vous est jeudi à quatorze heures.", False),
    ("Je ne peux pas annuler ces frais, en revanche je vous propose un geste sur la prochaine facture.", False),
    ("Notre agence ferme à dix-huit heures, je vous laisse noter l'adresse.", False),
    ("C'est une erreur toute bête de notre côté, je la corrige tout de suite.", False),
    ("Ce service dépend de notre partenaire ; je vous transfère et je reste en ligne le temps qu'ils décrochent.",
     False),
])
def test_lines_of_our_own(text, discourteous):
    assert (courtesy.probability(text) >= 0.5) is discourteous


# Implicit rudeness the act model reads only at its review level, and this classifier at the bar for a zero.
SECONDED = ["Vous savez, il y a des gens qui ont de vrais problèmes, hein."]


def _readings(line: str) -> tuple[float, float, float]:
    """The act model's impolite reading of ``line`` in the good call, its bar for a zero, and courtesy's."""
    c = Call.from_transcript(validate_transcript(call(*GOOD[:6], ("agent", line), *GOOD[6:])))
    params = next(x for x in default_grid().criteria if x.id == "politesse").params
    h = actrules.best(c, params, [c.segs[6]], list(acts.RUDE_ACTS))
    return h.p, actrules.act_threshold(params, h.act, c.segs[6]), courtesy.probability(line)


@pytest.mark.parametrize("line", SECONDED)
def test_two_readings_that_agree_zero_the_call_for_a_human_to_confirm(line):
    p, bar, c = _readings(line)
    assert bar - actrules.RUDE_REVIEW_BAND <= p < bar <= c, f"pick another line: {p, bar, c}"
    ev = score_transcript(call(*GOOD[:6], ("agent", line), *GOOD[6:]))
    pol = item(ev, "politesse")
    assert pol["verdict"] == "fail" and ev["score"] == 0 and ev["critical_failed"]
    assert [e["text"] for e in pol["evidence"]] == [line] and "seconde lecture" in pol["explanation"]
    assert pol["needs_review"] and ev["needs_review"]  # zeroed, and a human still confirms it
    # An organisation that wants the act model alone to decide raises the second reading's bar out of reach.
    alone = item(score_transcript(call(*GOOD[:6], ("agent", line), *GOOD[6:]),
                                  grid=with_params(default_grid(), courtesy_bar=1.01)), "politesse")
    assert alone["verdict"] == "pass" and alone["needs_review"] and line in alone["review_reason"]


@pytest.mark.parametrize(("heard", "zeroed"), [(0.95, True), (0.75, False)])
def test_the_second_reading_of_garbled_speech_does_not_zero_a_call(heard, zeroed):
    tr = call(*GOOD[:6], ("agent", SECONDED[0]), *GOOD[6:], words={6: heard})
    ev = score_transcript(tr)
    pol = item(ev, "politesse")
    assert (pol["verdict"] == "fail", ev["critical_failed"]) == (zeroed, zeroed)
    assert pol["needs_review"]  # zeroed for a human to confirm, or sent to one with the line to hear


def test_a_bank_line_without_its_verdict_is_refused(tmp_path):
    bank = tmp_path / "bank.jsonl"
    bank.write_text('{"text": "Bon, abrégez.", "impolite": "oui"}\n', encoding="utf-8")
    with pytest.raises(ActModelError, match="impolite"):
        courtesy.read_bank(bank)


CALLS = FIXTURES / "courtesy" / "calls"


def test_whole_calls_written_apart_rude_agents_are_zeroed_or_heard_and_polite_ones_never_zeroed():
    # 24 calls by a helper who read nothing of the project, scored once as they came: 12 agents rude in one or
    # two lines, mostly implicitly, and 12 polite agents who refuse, give bad news or explain something simple.
    # Measured then: 7 rude agents zeroed on their rude line (6 before « tu » seconded the act model), 2 more
    # sent to review with that line named, 3 missed; no polite agent zeroed, 3 sent to review.
    labels = [json.loads(line) for line in (CALLS / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sum(lab["rude"] for lab in labels) == 12 and len(labels) == 24
    zeroed = heard = polite_zeroed = 0
    for lab in labels:
        tr = json.loads((CALLS / "transcripts" / f"{lab['call_id']}.json").read_text(encoding="utf-8"))
        pol = item(score_transcript(tr), "politesse")
        rude_lines = [tr["segments"][i]["text"].strip() for i in lab["rude_lines"]]
        if not lab["rude"]:
            polite_zeroed += pol["verdict"] == "fail"
        elif pol["verdict"] == "fail":
            zeroed += any(e["text"].strip() in rude_lines for e in pol["evidence"])
        else:
            heard += pol["needs_review"] and any(t in pol["review_reason"] for t in rude_lines)
    assert polite_zeroed == 0
    assert zeroed >= 6 and zeroed + heard >= 8, (zeroed, heard)
