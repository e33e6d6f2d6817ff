"""The share of doubtful words: what a reviewer reads of a transcript's quality."""

from __future__ import annotations

import pytest

from ccr.speech.quality import WARN_SHARE, is_poor, low_confidence_share


def _seg(*probabilities) -> dict:
    return {"speaker": "agent", "start": 0.0, "end": 1.0, "text": "…",
            "words": [{"start": 0.0, "end": 0.1, "probability": p} for p in probabilities]}


@pytest.mark.parametrize(("segments", "share"), [
    ([_seg(0.9, 0.8), _seg(0.3, 0.95)], 0.25),
    ([_seg(0.49), _seg(0.5)], 0.5),  # 0.5 is not doubtful: as likely right as wrong is the limit
    ([_seg(0.1), {"speaker": "customer", "start": 1.0, "end": 2.0, "text": "texte importé"}], 1.0),
    ([{"speaker": "agent", "start": 0.0, "end": 1.0, "text": "texte importé"}], None),  # no figure without words
    ([_seg()], None),
    ([], None),
])
def test_low_confidence_share(segments, share):
    assert low_confidence_share(segments) == share


def test_a_share_above_a_quarter_warns_the_reviewer():
    assert WARN_SHARE == 0.25
    assert [is_poor(x) for x in (None, 0.1, 0.25, 0.26, 0.4)] == [False, False, False, True, True]
