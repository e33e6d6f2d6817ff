"""Browser journey of a team lead: the dashboard, a shorter period, an agent, then that agent's calls."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ccr.demo import DEMO_PASSWORD
from tests.e2e.conftest import login, run_async, screenshot, wait_idle, ws_tab

pytestmark = pytest.mark.e2e





def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_team_lead_goes_from_the_dashboard_to_an_agents_calls(page, demo_server):
    login(page, demo_server, "chef.equipe", DEMO_PASSWORD)
    page.get_by_test_id("stSidebarNav").get_by_text("Tableau de bord", exact=True).click()
    page.get_by_test_id("stMetric").filter(has_text="Appels analysés").first.wait_for()
    wait_idle(page)
    assert re.search(r"/dashboard\?", page.url) and _query(page)["periode"] == ["30j"]

    # Change the period: the URL follows, so the view can be shared.
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name="7 jours", exact=True).click()
    wait_idle(page)
    page.wait_for_function("() => location.search.includes('periode=7j')", timeout=30_000)
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    refuse = page.get_by_role("button", name="Tout refuser")
    if refuse.count():  # the cookie banner would hide the top of the picture
        refuse.first.click()
        wait_idle(page)
    page.set_viewport_size({"width": 1400, "height": 2400})  # Streamlit scrolls inside: a tall window shows all
    page.wait_for_timeout(2000)  # let plotly finish drawing before the picture
    screenshot(page, "dashboard")
    page.set_viewport_size({"width": 1400, "height": 1000})

    # Pick the first agent of the ranking (the row selector sits left of the first column).
    grid = page.get_by_test_id("stDataFrame").first
    for _attempt in range(3):  # the grid's canvas may still be laying out on a loaded machine
        grid.scroll_into_view_if_needed()
        wait_idle(page)
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
        try:
            page.wait_for_url(re.compile(r"/calls\?"), timeout=10_000)
            break
        except PlaywrightTimeout:
            continue
    else:
        screenshot(page, "dashboard-agent-click-failed")
        raise AssertionError("La sélection d'un agent n'a pas ouvert la liste de ses appels.")
    wait_idle(page)
    query = _query(page)
    assert query["periode"] == ["7j"] and query["agent"][0].isdigit()
    page.get_by_role("heading", name="📞 Appels").wait_for()
    page.get_by_text(re.compile(r"appel\(s\) du")).wait_for()
    # every request stayed on the server (no CDN, no font host)
    assert all(u.startswith((demo_server.url, "data:", "blob:")) for u in page.ccr_requests)


@pytest.mark.parametrize("username", ["admin", "chef.equipe"])
def test_coming_back_to_a_page_draws_it_again_without_error(demo_server, username):
    """Calls list, dashboard, calls list again…: a page opened a second time works as the first time.

    Streamlit forgets the filters' widget values while another page is shown; the calls list used to
    crash on its second opening (its score range came back as a single value).
    """
    async def journey():
        seen = []
        async with ws_tab(demo_server) as tab:
            first = await tab.run()
            await tab.run(widgets=tab.login_states(first, username, DEMO_PASSWORD))
            for page in ("calls", "dashboard", "calls", "review", "dashboard", "calls"):
                result = await tab.run(page=page)
                seen.append((page, result.exceptions, result.page_not_found))
        return seen

    for page, exceptions, not_found in run_async(journey()):
        assert not exceptions and not not_found, page
