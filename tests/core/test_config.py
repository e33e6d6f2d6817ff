"""Settings: data directory, database URL, and the secret key policy."""

import stat

import pytest

from ccr.core.config import Settings
from ccr.core.errors import ConfigError


def test_secret_is_generated_once_with_mode_0600(tmp_path):
    settings = Settings(data_dir=tmp_path)
    first = settings.secret()
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert Settings(data_dir=tmp_path).secret() == first


@pytest.mark.parametrize("value", ["changeme", "secret", "", "short-key"])
def test_default_or_short_secrets_are_refused(tmp_path, value):
    with pytest.raises(ConfigError, match="clé secrète"):
        Settings(data_dir=tmp_path, secret_key=value).secret()


def test_a_default_secret_in_the_key_file_is_refused(tmp_path):
    (tmp_path / "secret.key").write_text("changeme\n")
    with pytest.raises(ConfigError):
        Settings(data_dir=tmp_path).secret()


def test_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path):
    assert Settings(data_dir=tmp_path).db_url == f"sqlite:///{tmp_path.resolve()}/ccr.db"


def test_database_url_env_selects_postgresql(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://ccr:pw@127.0.0.1:5432/ccr")
    settings = Settings(data_dir=tmp_path)
    assert settings.db_url == "postgresql+psycopg://ccr:pw@127.0.0.1:5432/ccr"
    assert not settings.is_sqlite


def test_ccr_prefixed_environment_is_read(monkeypatch, tmp_path):
    monkeypatch.setenv("CCR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CCR_TIMEZONE", "Europe/Brussels")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.timezone == "Europe/Brussels"
    assert Settings().language == "fr"


def test_consent_lifetime_cannot_exceed_six_months(tmp_path):
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path, consent_max_days=200)


def test_a_child_process_gets_exactly_these_settings(tmp_path, monkeypatch):
    """The worker process reads its settings from the variables the server hands it."""
    from pydantic import SecretStr

    from ccr.core.config import Settings

    settings = Settings(data_dir=tmp_path, worker_threads=3, worker_nice=5, demo_mode=True,
                        secret_key=SecretStr("a" * 64), timezone="America/New_York")
    env = settings.to_env()
    assert env["CCR_WORKER_THREADS"] == "3" and env["CCR_SECRET_KEY"] == "a" * 64
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().model_dump() == settings.model_dump()
