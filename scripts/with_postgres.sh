#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster: initdb into a temporary directory, start it on a
# free local port (socket in the same directory), export CCR_TEST_DATABASE_URL, run the command, then stop
# the cluster and delete it, whatever the command's outcome. Usage: scripts/with_postgres.sh CMD [ARGS...]
# The cluster is for tests only: trust authentication, fsync off.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage : scripts/with_postgres.sh COMMANDE [ARGUMENTS...]" >&2
  exit 2
fi

bindir="${PG_BINDIR:-}"
if [ -z "$bindir" ]; then
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    bindir="$(pg_config --bindir)"
  else
    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  fi
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "PostgreSQL introuvable (initdb) : installez le paquet Debian « postgresql »." >&2
  exit 1
fi

tmp="$(mktemp -d /tmp/ccr-pg.XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# initdb refuses to run as root: the cluster then belongs to the "postgres" system user.
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$tmp"
  as_owner=(runuser -u postgres --)
fi

cleanup() {
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"${as_owner[@]}" "$bindir/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
  --no-sync >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; exit 1; }
"${as_owner[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
  -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
      -c full_page_writes=off -c max_connections=200" start >/dev/null \
  || { cat "$tmp/server.log" >&2; exit 1; }

export CCR_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres"
echo "PostgreSQL de test : port $port" >&2
set +e
"$@"
status=$?
set -e
exit $status
