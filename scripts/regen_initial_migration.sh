#!/usr/bin/env bash
# Regenerates migrations/versions/0001_initial.py from ccr/core/models.py (only while no release has shipped).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f migrations/versions/0001_initial.py
mkdir -p "$tmp/aside"; for f in migrations/versions/0*.py; do [ -e "$f" ] && mv "$f" "$tmp/aside/"; done
CCR_DATA_DIR="$tmp" .venv/bin/python - <<'PY'
from alembic import command
from ccr.core.db import alembic_config
cfg = alembic_config()
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001", head="base")
PY
f=$(ls migrations/versions/0001_*.py); [ "$f" = migrations/versions/0001_initial.py ] || mv "$f" migrations/versions/0001_initial.py
sed -i 's/^down_revision = .*/down_revision = None/' migrations/versions/0001_initial.py
mv "$tmp"/aside/*.py migrations/versions/ 2>/dev/null || true
rm -rf "$tmp"
echo "regenerated migrations/versions/0001_initial.py"
