"""Browser journey of the Import page: two good recordings and a corrupt one, followed until processed."""

from __future__ import annotations

import pytest

from tests.audiodata import cut_wav, offline_model_dir
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import attached_to, login, screenshot, start_server, stop_server, wait_idle

pytestmark = pytest.mark.e2e

PROCESSING_TIMEOUT_MS = 300_000  # two short calls on 2 shared CPU cores, model loading included


@pytest.fixture(scope="module")
def import_server(tmp_path_factory):
    """A fresh server (no demo data) with one organisation, whose in-process worker uses the offline model."""
    from tests.conftest import make_tenant

    model = offline_model_dir(tmp_path_factory)
    server = start_server(tmp_path_factory.mktemp("e2e-import"),
                          extra_env={"CCR_ASR_MODEL": str(model), "CCR_WORKER_POLL_S": "0.5"})
    try:
        with attached_to(server):  # the test process writes into the server's database and audio store
            make_tenant("Alpha Conseil", "alpha")
            yield server
    finally:
        stop_server(server)


def test_supervisor_imports_two_calls_and_a_corrupt_file_and_watches_them_processed(page, import_server):
    server = import_server
    login(page, server, "alpha.supervisor", TEST_PASSWORD)
    page.get_by_test_id("stSidebarNav").get_by_text("Import", exact=True).click()
    page.get_by_text("Import d'appels").first.wait_for()
    wait_idle(page)

    files = [
        {"name": "20260315-143005_alpha-agent-1_entrant_Fibre.wav", "mimeType": "audio/wav",
         "buffer": cut_wav("a01-000.wav", 8)},
        {"name": "appel-2.wav", "mimeType": "audio/wav", "buffer": cut_wav("a01-002.wav", 8)},
        {"name": "corrompu.wav", "mimeType": "audio/wav", "buffer": cut_wav("a01-003.wav", 8)[:20_000]},
    ]
    # Buffers go straight from memory to the upload request: no test audio is written to disk.
    page.locator("input[type=file][multiple]").set_input_files(files)
    try:
        for name in ("appel-2.wav", "corrompu.wav"):  # long names are shortened in the uploader's list
            page.get_by_text(name).first.wait_for()
    except Exception:
        screenshot(page, "dbg-import")
        print(server.logs()[-3000:])
        raise
    page.get_by_role("button", name="Importer").click()

    page.get_by_text("Fichiers reçus").wait_for(timeout=60_000)
    page.get_by_text("2 accepté(s), 1 non importé(s).").wait_for()
    warning = page.get_by_test_id("stAlert").filter(has_text="corrompu.wav")
    warning.wait_for()
    assert "tronqué" in warning.inner_text()
    page.get_by_text("Traitement", exact=True).wait_for()
    screenshot(page, "import-en-cours")

    # The fragment refreshes the progress by itself: no click, no reload.
    done = page.get_by_text("2 terminé(s), 0 en échec sur 2")
    done.wait_for(timeout=PROCESSING_TIMEOUT_MS)
    wait_idle(page)
    # The fragment may redraw the line between finding it and scrolling to it: find and scroll in one step.
    page.wait_for_function(
        "t => { const el = [...document.querySelectorAll('p')].find(p => p.innerText.trim() === t);"
        " if (el) el.scrollIntoView({block: 'center'}); return Boolean(el); }",
        arg="2 terminé(s), 0 en échec sur 2")
    assert page.get_by_test_id("stProgress").count() == 1
    screenshot(page, "import-termine")

    from sqlmodel import select

    from ccr.core.db import session
    from ccr.core.models import Call, Evaluation

    with session() as s:
        calls = s.exec(select(Call).order_by(Call.id)).all()
        evaluations = s.exec(select(Evaluation).where(Evaluation.is_current == True)).all()  # noqa: E712
    assert [(c.source_name, c.status) for c in calls] == [(files[0]["name"], "done"), ("appel-2.wav", "done")]
    assert calls[0].campaign == "Fibre" and calls[0].agent_id is not None  # from the file name
    assert len(evaluations) == 2
    assert all(u.startswith(server.url) for u in page.ccr_requests if u.startswith("http"))
