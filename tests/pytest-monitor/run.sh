#!/usr/bin/env bash
# Differential test of Verdict's pytest-monitor API against the real
# monitor-server-api 1.1.0 (uWSGI, SQLite, page size 500, bound to loopback):
# the same data into both, every implemented query route compared
# (differential.py). Run once with Verdict on SQLite and once on PostgreSQL.
#
# Needs: a built verdict (VERDICT_BIN, default target/debug/verdict), python3 with
# venv and a C compiler (uWSGI builds from source), psql, and PostgreSQL at
# VERDICT_TEST_DATABASE_URL.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERDICT=${VERDICT_BIN:-$ROOT/target/debug/verdict}
CLIENTS=${VERDICT_CLIENTS_DIR:-$ROOT/target/real-clients}
PG_URL=${VERDICT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export PGOPTIONS="--client-min-messages=warning"
# monitor-server-api 1.1.0 only runs with the packages of its era (see the spec, "Versions").
ORIGINAL=(monitor-server-api==1.1.0 markupsafe==2.0.1 jinja2==2.11.3 itsdangerous==1.1.0 flask==1.1.4 werkzeug==1.0.1
  flask-sqlalchemy==2.5.1 sqlalchemy==1.4.54 flask-restx==0.5.1)

[ -x "$VERDICT" ] || { echo "pytest-monitor: $VERDICT is missing: run cargo build first" >&2; exit 1; }
if [ ! -x "$CLIENTS/msa-venv/bin/uwsgi" ] || ! "$CLIENTS/msa-venv/bin/python" -c "import monitor_server.app" 2>/dev/null; then
  python3 -m venv "$CLIENTS/msa-venv"
  "$CLIENTS/msa-venv/bin/pip" install -q "${ORIGINAL[@]}"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "pytest-monitor: nothing answers at $1" >&2; return 1; }

run_against() {
  local backend=$1 work schema="" op vp vpid
  work=$(mktemp -d)
  op=$(free_port)
  (cd "$work" && FLASK_ENV=prod MONITOR_SERVER_DATABASE_URI="sqlite:///$work/original.db" MONITOR_SERVER_PAGINATION_COUNT=500 \
    "$CLIENTS/msa-venv/bin/uwsgi" --master --need-app -w monitor_server.uwsgi --callable WSGI_SERVER --die-on-term \
    --http "127.0.0.1:$op" --buffer-size=32768 --workers 2 --env FLASK_ENV=prod \
    --env MONITOR_SERVER_DATABASE_URI="sqlite:///$work/original.db" --env MONITOR_SERVER_PAGINATION_COUNT=500 \
    --pidfile "$work/uwsgi.pid" --daemonize "$work/uwsgi.log")
  local args=(--data-dir "$work/data")
  if [ "$backend" = postgres ]; then
    schema="pm_$$_$RANDOM"
    psql -q "$PG_URL" -c "CREATE SCHEMA $schema" || { echo "pytest-monitor: PostgreSQL is required at $PG_URL" >&2; exit 1; }
    args+=(--database-url "$PG_URL?options=-c%20search_path%3D$schema")
  fi
  "$VERDICT" "${args[@]}" suite create web >/dev/null 2>&1
  vp=$(free_port)
  "$VERDICT" "${args[@]}" serve --listen "127.0.0.1:$vp" --pytest-monitor-suite web >"$work/verdict.log" 2>&1 &
  vpid=$!
  wait_for "http://127.0.0.1:$op/api/v1/metrics/count"
  wait_for "http://127.0.0.1:$vp/healthz"
  local rc=0
  python3 "$HERE/differential.py" "http://127.0.0.1:$op/api/v1" "http://127.0.0.1:$vp/api/v1" "$backend" || rc=$?
  kill -INT "$(cat "$work/uwsgi.pid")" 2>/dev/null || true
  kill "$vpid"; wait "$vpid" || true
  [ -z "$schema" ] || psql -q "$PG_URL" -c "DROP SCHEMA $schema CASCADE"
  sleep 0.5; rm -rf "$work"
  return "$rc"
}

run_against sqlite
run_against postgres
echo "pytest-monitor differential: passed on SQLite and PostgreSQL"
