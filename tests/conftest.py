"""Shared fixtures: a temporary data directory with a migrated database, and two tenants."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CCR_BCRYPT_ROUNDS", "4")  # the minimum cost keeps fixtures fast; production uses 12
# AppTest runs app.py in this process: its boot() must not leave a worker pool and a scheduler running
# against a temporary database that the next test deletes. Browser-test servers turn them back on.
os.environ.setdefault("CCR_BACKGROUND_SERVICES", "0")
REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
TEST_PASSWORD = "Motdepasse-Test-2026"


@pytest.fixture
def settings_env(tmp_path, monkeypatch):
    """Point CCR at a fresh temporary data directory and return its Settings."""
    from ccr.core import config, db

    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CCR_DATA_DIR", str(data))
    for var in ("CCR_SECRET_KEY", "DATABASE_URL", "CCR_DATABASE_URL", "CCR_BROKER_URL"):
        monkeypatch.delenv(var, raising=False)
    server_url, test_url = os.environ.get("CCR_TEST_DATABASE_URL"), None
    if server_url:
        from tests import pg

        # PostgreSQL: an empty database per test, as fresh as a new SQLite data directory.
        test_url = pg.fresh_database(server_url) if pg.is_postgres(server_url) else server_url
        monkeypatch.setenv("DATABASE_URL", test_url)
    config.get_settings.cache_clear()
    db.dispose_engines()
    settings = config.get_settings()
    yield settings
    db.dispose_engines()
    config.get_settings.cache_clear()
    if test_url and test_url != server_url:
        pg.drop_database(server_url, test_url)


@pytest.fixture
def migrated(settings_env):
    """A migrated, empty database in the temporary data directory."""
    from ccr.core.db import migrate
    from tests import pg

    if pg.is_postgres(settings_env.database_url):  # a copy of a migrated database: 10x faster than migrating
        pg.replace_with_migrated(os.environ["CCR_TEST_DATABASE_URL"], settings_env.database_url, settings_env)
    migrate(settings_env)
    return settings_env


@dataclass
class Tenant:
    """One organisation with two teams, agents and one user per role."""

    org_id: int
    team_ids: list[int]
    agent_ids: list[int]
    users: dict[str, int]  # role -> user id (team_lead attached to the first team only; agent = agent_ids[0])

    def actor(self, role: str):
        """The Actor of this tenant's user with ``role``."""
        from ccr.core.db import session
        from ccr.core.users import load_actor

        with session() as s:
            return load_actor(session=s, user_id=self.users[role])


def make_tenant(name: str, prefix: str) -> Tenant:
    """Create an organisation with teams, agents and one user per role."""
    from ccr.core.db import session
    from ccr.core.models import Agent, Team
    from ccr.core.orgs import create_organisation
    from ccr.core.users import create_user

    with session() as s:
        org = create_organisation(session=s, name=name)
        teams = [Team(org_id=org.id, name=f"{name} équipe {i}") for i in (1, 2)]
        s.add_all(teams)
        s.flush()
        agents = [Agent(org_id=org.id, team_id=teams[i % 2].id, name=f"{prefix} agent {i}") for i in range(4)]
        s.add_all(agents)
        s.flush()
        users = {}
        for role in ("admin", "dpo", "supervisor", "team_lead", "agent"):
            # The agent login is the first agent's (first team): it reads only that agent's evaluations.
            u = create_user(session=s, org_id=org.id, username=f"{prefix}.{role.replace('_', '')}",
                            display_name=f"{prefix} {role}", password=TEST_PASSWORD, role=role,
                            team_ids=[teams[0].id] if role == "team_lead" else [],
                            agent_id=agents[0].id if role == "agent" else None)
            users[role] = u.id
        return Tenant(org.id, [t.id for t in teams], [a.id for a in agents], users)


@pytest.fixture
def tenants(migrated):
    """Two organisations, A and B, each with teams, agents and users of every role."""
    return make_tenant("Alpha Conseil", "alpha"), make_tenant("Beta Services", "beta")


@pytest.fixture(autouse=True)
def _fresh_streamlit_data_cache():
    """Every test starts with empty ``st.cache_data``: ids restart at 1 in each fresh database, so a
    dashboard result cached by an earlier test would otherwise be served for the same (org, filters) key."""
    import streamlit as st

    st.cache_data.clear()
    yield


# --- browser (one Playwright for the whole session: a second sync Playwright in the same thread fails) ---

CHROMIUM = "/usr/bin/chromium"


def count_rows(model, **where) -> int:
    """Rows of ``model`` whose columns equal the given values, read in a fresh session."""
    from sqlmodel import func, select

    from ccr.core.db import session

    with session() as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return s.exec(stmt).one()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; missing is a failure in CI (``make test`` installs it), a skip elsewhere."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail("Chromium absent : `make test` doit installer le paquet Debian chromium.")
        pytest.skip("Chromium absent (installé par `make test`).")
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


@pytest.fixture(scope="session")
def browser(chromium_path):
    """One headless Chromium (Debian's, never ``playwright install``) shared by every browser test."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page; every request URL is recorded on ``page.ccr_requests``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    pg = context.new_page()
    pg.ccr_requests = []
    pg.on("request", lambda req: pg.ccr_requests.append(req.url))
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
