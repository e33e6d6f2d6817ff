"""Fixtures of the pipeline tests."""

from __future__ import annotations

import pytest

from tests.audiodata import offline_model_dir


@pytest.fixture
def asr_env(tenants, tmp_path_factory, monkeypatch):
    """Tenants, plus the offline Whisper model assembled once for the session (not per data dir)."""
    from ccr.core.config import get_settings

    monkeypatch.setenv("CCR_ASR_MODEL", str(offline_model_dir(tmp_path_factory)))
    get_settings.cache_clear()
    return tenants
