"""The DPO's journey in a real browser: set a retention duration, run the purge now and see the run,
export the organisation, download the ZIP and check it against its manifest."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ccr.demo import DEMO_PASSWORD
from tests.e2e.conftest import login, screenshot, wait_idle

pytestmark = pytest.mark.e2e





def test_dpo_sets_retention_purges_and_downloads_the_organisation_export(demo_server, page, tmp_path):
    login(page, demo_server, "dpo", DEMO_PASSWORD)
    page.goto(f"{demo_server.url}/data_protection")
    wait_idle(page)
    page.get_by_role("heading", name="Protection des données").wait_for()

    # 1. Shorten the recordings' duration.
    days = page.get_by_label("Durée (jours)").first
    days.fill("90")
    days.press("Tab")
    page.get_by_role("button", name="Enregistrer les durées").click()
    page.get_by_text("durée(s) enregistrée(s)").wait_for()
    assert days.input_value() == "90"

    # 2. Run the purge now and see the run in the history.
    page.get_by_role("button", name="Lancer maintenant").click()
    page.get_by_text("Purge terminée").wait_for(timeout=60_000)
    wait_idle(page)
    assert page.get_by_text("Prochaine purge planifiée").count() == 1
    history = page.locator('[data-testid="stDataFrame"]').first
    history.wait_for()
    screenshot(page, "dpo-purge")

    # 3. Export the organisation; the progress fragment turns into a download button.
    page.get_by_role("tab", name="Exports").click()
    page.get_by_role("button", name="Exporter toute l'organisation").click()
    download_button = page.get_by_role("button", name="Télécharger l'archive").first
    download_button.wait_for(timeout=90_000)
    wait_idle(page)
    screenshot(page, "dpo-export")
    path = tmp_path / "export.zip"
    # A rerun landing between drawing the button and the click voids its deferred file: click again.
    for _ in range(3):
        try:
            with page.expect_download(timeout=20_000) as info:
                page.get_by_role("button", name="Télécharger l'archive").first.click()
            info.value.save_as(path)
            break
        except PlaywrightTimeout:
            wait_idle(page)
    assert path.exists(), "le téléchargement n'a pas eu lieu"

    # 4. The archive matches its manifest.
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert {"calls.csv", "transcripts.jsonl", "evaluations.csv", "reviews.csv", "audit_log.csv"} <= set(
            manifest["files"])
        for name, meta in manifest["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == meta["sha256"], name
        assert manifest["counts"]["calls"] > 0
        assert manifest["counts"]["calls"] == len(zf.read("calls.csv").decode("utf-8-sig").splitlines()) - 1
        log = zf.read("audit_log.csv").decode("utf-8-sig")
        assert "retention_set" in log and "purge_requested" in log
