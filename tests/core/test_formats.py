"""French display formats: decimal comma, narrow no-break thousands, no-break space before units, labels."""

import pytest

from ccr.core.formats import fr_number, fr_percent, fr_score, label_of

NNBSP, NBSP = "\u202f", "\u00a0"


@pytest.mark.parametrize(
    ("value", "digits", "kw", "shown"),
    [
        (77.8, 1, {}, "77,8"),
        (77.75, 1, {}, "77,8"),
        (80, 1, {}, "80,0"),
        (80, 1, {"trim": True}, "80"),
        (12345.678, 1, {}, f"12{NNBSP}345,7"),
        (1234567, 0, {}, f"1{NNBSP}234{NNBSP}567"),
        (-0.04, 1, {}, "0,0"),  # never « -0,0 »
        (-3.25, 2, {}, "-3,25"),
        (12.5, 1, {"unit": "s"}, f"12,5{NBSP}s"),
        (None, 1, {}, "—"),
    ],
)
def test_fr_number(value, digits, kw, shown):
    assert fr_number(value, digits, **kw) == shown


@pytest.mark.parametrize(
    ("value", "kw", "shown"),
    [
        (77.8, {}, f"77,8{NBSP}%"),
        (0.778, {"ratio": True}, f"77,8{NBSP}%"),
        (0.99, {"ratio": True, "digits": 2, "trim": True}, f"99{NBSP}%"),
        (0.995, {"ratio": True, "digits": 2, "trim": True}, f"99,5{NBSP}%"),
        (None, {}, "—"),
    ],
)
def test_fr_percent(value, kw, shown):
    assert fr_percent(value, **kw) == shown


@pytest.mark.parametrize(("value", "shown"), [(77.8, "77,8"), (75.0, "75"), (87.5, "87,5"), (66.666, "66,7"),
                                              (100, "100"), (None, "—")])
def test_fr_score(value, shown):
    assert fr_score(value) == shown


@pytest.mark.parametrize(
    ("key", "kw", "shown"),
    [("facturation", {}, "Facturation"), ("inconnu", {}, "inconnu"), (None, {}, "—"), ("", {"missing": ""}, "")],
)
def test_label_of_shows_the_french_label_and_the_id_only_as_a_last_resort(key, kw, shown):
    assert label_of({"facturation": "Facturation"}, key, **kw) == shown
