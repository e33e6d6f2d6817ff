"""The URL codec's guard on shared links: a custom period stays between EARLIEST and today."""

from datetime import date

import pytest

from ccr.ui.filters import EARLIEST, sane_query

TODAY = date(2026, 3, 15)


@pytest.mark.parametrize(
    ("du", "au", "kept", "notice"),
    [
        ("2026-03-01", "2026-03-15", ("2026-03-01", "2026-03-15"), None),  # a sane link is left alone
        ("2026-03-15", "2026-03-01", ("2026-03-15", "2026-03-01"), None),  # swapped dates: filters_from_query orders them
        ("2026-03-01", "2999-12-31", ("2026-03-01", "2026-03-15"), "du 01/03/2026 au 15/03/2026"),
        ("2999-12-31", "2026-03-01", ("2026-03-01", "2026-03-15"), "du 01/03/2026 au 15/03/2026"),
        ("1900-01-01", "2026-03-10", (EARLIEST.isoformat(), "2026-03-10"), "du 01/01/2000 au 10/03/2026"),
        ("2999-01-01", "2999-02-01", None, "période par défaut"),  # entirely in the future
        ("0001-01-01", "0002-01-01", None, "période par défaut"),  # entirely before any call
    ],
)
def test_a_shared_period_is_kept_between_earliest_and_today(du, au, kept, notice):
    params, shown = sane_query({"periode": "perso", "du": du, "au": au, "equipe": "3"}, TODAY)
    assert params["equipe"] == "3"  # the other filters of the link stay
    if kept is None:
        assert params["periode"] == "30j" and "du" not in params and "au" not in params
    else:
        assert (params["du"], params["au"]) == kept
    if notice is None:
        assert shown is None
    else:
        assert shown.startswith("La période du lien") and notice in shown


@pytest.mark.parametrize("params", [{"periode": "7j"}, {"periode": "perso", "du": "demain", "au": "2999-01-01"}, {}])
def test_links_without_a_full_custom_period_are_left_to_the_url_codec(params):
    assert sane_query(params, TODAY) == (params, None)
