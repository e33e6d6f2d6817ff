# CallCenterRate — two commands: `make run` (app with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export HF_HUB_OFFLINE := 1
APT_PACKAGES := chromium espeak-ng postgresql redis-server
# The main run uses two pytest-xdist workers, one test file each at a time (a file's module fixtures, such as
# a browser journey's server, are built once): much of the suite waits on servers, browsers and Whisper.
# The database-heavy tests, run a second time on a throwaway PostgreSQL cluster (no Whisper, no browser).
PG_TESTS := tests/core/test_db.py tests/security/test_tenancy.py tests/core/test_audit.py \
	tests/core/test_audit_concurrency.py tests/dashboards/test_filters.py tests/dashboards/test_scope.py tests/quality/test_scope.py \
	tests/dashboards/test_buckets.py tests/dashboards/test_labels.py tests/dashboards/test_figures.py \
	tests/dashboards/test_agents.py tests/dashboards/test_call_list.py tests/scoring/test_triage.py \
	tests/quality/test_reviews.py tests/quality/test_evaluations.py tests/scoring/test_grid_store.py \
	tests/privacy/test_retention.py tests/privacy/test_history.py tests/privacy/test_locks.py \
	tests/privacy/test_subjects.py tests/privacy/test_exports.py tests/pipeline/test_lease.py \
	tests/pipeline/test_steps.py tests/pipeline/test_queue.py tests/pipeline/test_worker.py \
	tests/pipeline/test_ingest.py tests/pipeline/test_maintenance.py tests/pipeline/test_celery_app.py \
	tests/ops/test_incidents.py tests/ops/test_refresher.py tests/dashboards/test_rollups.py \
	tests/test_disputes.py tests/quality/test_calibration.py tests/core/test_api_tokens.py tests/core/test_outbox.py \
	tests/api/test_records.py tests/pipeline/test_intake.py

.PHONY: run test test-postgres venv deps dev-deps system-deps lint migrate demo bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

deps: $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt

# The speaker separation of mono calls (requirements-diarization.txt) is a fully pinned closure installed without
# dependencies (Resemblyzer declares the obsolete `typing` backport); webrtcvad is built from its sdist with the
# setuptools it still needs at run time (pkg_resources), pinned for its build too.
dev-deps: deps
	$(PIP) install --quiet -r requirements-dev.txt
	$(PIP) install --quiet -r requirements-asr-extra.txt
	$(PIP) install --quiet --no-deps --build-constraint requirements-diarization.txt -r requirements-diarization.txt

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installation des paquets Debian :$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

migrate: deps
	$(PY) -m ccr migrate

demo: migrate
	CCR_DEMO_MODE=1 $(PY) -m ccr seed-demo --if-empty

run: demo
	@echo ""
	@echo "CallCenterRate : http://127.0.0.1:8501"
	@echo "Comptes de démonstration (mode démo uniquement, à ne jamais utiliser en production) :"
	@CCR_DEMO_MODE=1 $(PY) -c "from ccr.demo import print_demo_logins; print_demo_logins()"
	CCR_DEMO_MODE=1 $(PY) -m ccr serve --server.address 127.0.0.1 --server.port 8501

test: dev-deps system-deps
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=25
	$(MAKE) --no-print-directory test-postgres

test-postgres: dev-deps system-deps
	scripts/with_postgres.sh $(PY) -m pytest -q -p no:cacheprovider -m "not slow and not e2e" $(PG_TESTS)

lint: dev-deps
	$(VENV)/bin/ruff check .

bench: deps
	$(PY) benchmarks/bench_scoring.py tests/fixtures/eval/public
	$(PY) benchmarks/bench_scoring.py tests/fixtures/eval/public-asr

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
