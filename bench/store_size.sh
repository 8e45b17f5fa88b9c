#!/usr/bin/env bash
# Bytes per execution on each store (docs/scaling.md): a fresh store, RUNS
# runs × TESTS tests uploaded over HTTP (bench/store_size.py), then the store's
# size on disk, per table and index, against the upload JSON it came from.
#
#   bash bench/store_size.sh [RUNS] [TESTS]      (default 100 × 2,000: 200,000 executions)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-100}; TESTS=${2:-2000}
PG_URL=${VERDICT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export PGOPTIONS="--client-min-messages=warning"
cd "$ROOT"
cargo build --release -p verdict >/dev/null 2>&1
VERDICT=$ROOT/target/release/verdict
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

measure() {
  local backend=$1 work args=() schema=""
  work=$(mktemp -d); args=(--data-dir "$work/data")
  if [ "$backend" = postgres ]; then
    schema="size_$$"; psql -q "$PG_URL" -c "CREATE SCHEMA $schema"
    args+=(--database-url "$PG_URL?options=-c%20search_path%3D$schema")
  fi
  local token port pid
  token=$("$VERDICT" "${args[@]}" suite create size 2>/dev/null)
  port=$(free_port)
  "$VERDICT" "${args[@]}" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 & pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  echo "== $backend"
  python3 bench/store_size.py "http://127.0.0.1:$port" "$token" "$RUNS" "$TESTS"
  sleep 3  # the analysis step catches up
  kill "$pid"; wait "$pid" || true
  local n=$((RUNS * TESTS))
  if [ "$backend" = sqlite ]; then
    python3 - "$work/data/verdict.db" "$n" <<'PY'
import sqlite3, sys
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
page = c.execute("PRAGMA page_size").fetchone()[0]
total = c.execute("PRAGMA page_count").fetchone()[0] * page
print(f"store {total} bytes: {total / n:.0f} bytes per execution")
try:
    rows = c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8").fetchall()
    for name, size in rows:
        print(f"  {name:<40} {size / n:7.1f} bytes per execution")
except sqlite3.OperationalError:
    print("  (no dbstat in this sqlite3 module: no per-table split)")
PY
  else
    psql -tAq "$PG_URL" -c "VACUUM ANALYZE" >/dev/null 2>&1 || true
    psql -tAq "$PG_URL" -F ' ' -c "
      SELECT 'store', sum(pg_total_relation_size(c.oid)), round(sum(pg_total_relation_size(c.oid))::numeric / $n)
      FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = '$schema' AND c.relkind = 'r'" |
      awk '{printf "store %s bytes: %s bytes per execution\n", $2, $3}'
    psql -tAq "$PG_URL" -F ' ' -c "
      SELECT c.relname, round(pg_total_relation_size(c.oid)::numeric / $n, 1)
      FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = '$schema' AND c.relkind = 'r'
      ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 8" | awk '{printf "  %-40s %7s bytes per execution (with its indexes)\n", $1, $2}'
    psql -q "$PG_URL" -c "DROP SCHEMA $schema CASCADE"
  fi
  rm -rf "$work"
}
measure sqlite
measure postgres
