#!/usr/bin/env bash
# The dashboard benchmark (dashboard spec, section 7): seed a store with the
# history of 5,000 runs over 90 days (~10.3M executions, 50k tests) through
# the store API, serve it with a release build, time every page and its JSON
# twin (bench/ui.py), then the largest contentful paint of the suite, run and
# test pages in headless Chromium (bench/ui_lcp.mjs).
#
#   bench/ui.sh [sqlite|postgres] [--scale 1.0] [--repeat 20]
#
# The seeded store is kept under target/ui-bench/ and reused (delete it to
# reseed). PostgreSQL uses VERDICT_TEST_DATABASE_URL (default
# postgres://postgres@127.0.0.1:5432/test), schema ui_bench.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
backend=${1:-sqlite}
scale=1.0; repeat=20
shift || true
while [ $# -gt 0 ]; do case $1 in --scale) scale=$2; shift 2;; --repeat) repeat=$2; shift 2;; *) echo "unknown $1" >&2; exit 2;; esac; done
PG_URL=${VERDICT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
cd "$ROOT"
cargo build --release -p verdict
VERDICT=$ROOT/target/release/verdict
dir=$ROOT/target/ui-bench/$backend-$scale
mkdir -p "$dir"
if [ "$backend" = postgres ]; then
  schema="ui_bench_${scale//./_}"
  store=(--database-url "$PG_URL?options=-c%20search_path%3D$schema")
  seeded=$(psql -tAq "$PG_URL" -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = '$schema' AND table_name = 'runs'")
  if [ "$seeded" = 0 ]; then
    psql -q "$PG_URL" -c "CREATE SCHEMA $schema"
    cargo bench -p verdict --bench ui_seed -- "${store[@]}" --scale "$scale" > "$dir/seed.json"
  fi
  # Statistics as autovacuum would have them after a bulk import: without,
  # the planner takes `runs` for 3 rows and picks nested loops over it.
  psql -q "$PG_URL?options=-c%20search_path%3D$schema" -c "ANALYZE"

else
  store=(--data-dir "$dir/data")
  [ -f "$dir/seed.json" ] || cargo bench -p verdict --bench ui_seed -- "${store[@]}" --scale "$scale" > "$dir/seed.json"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VERDICT" "${store[@]}" serve --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "ui bench: $backend, scale $scale, $(cat "$dir/seed.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["runs"], "runs,", d["executions"], "executions")'), commit $(git rev-parse --short HEAD)"
rc=0
python3 "$ROOT/bench/ui.py" "http://127.0.0.1:$port" "$pid" --repeat "$repeat" || rc=$?
if [ -d "$ROOT/target/browser/npm/node_modules/playwright-core" ]; then
  PLAYWRIGHT_MODULES="$ROOT/target/browser/npm/node_modules" node "$ROOT/bench/ui_lcp.mjs" "http://127.0.0.1:$port" || rc=$?
else
  echo "ui bench: LCP skipped: run tests/browser/run.sh once to install playwright-core" >&2; rc=1
fi
exit $rc
