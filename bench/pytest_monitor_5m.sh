#!/usr/bin/env bash
# pytest-monitor at scale: Verdict alone (release, SQLite) with 5,000,000 samples
# in one suite (50 sessions, 6 components, 280 items), then the latency of the
# query routes, with the native client (benches/pytest_monitor.rs): median and
# p95 of 3 rounds of 20 GETs each, a new connection per GET. The target is a p95
# under 50 ms for a filtered 500-row page.
#
# The first 5,000 samples go through the HTTP API (contexts, sessions and their
# runs are made the real way); the other 4,995,000 are copies of them written
# straight into the SQLite file with varied figures, because 5M POSTs would take
# about 15 minutes and the ingest path is measured by bench/pytest_monitor.sh.
#
#   bash bench/pytest_monitor_5m.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cargo build --release -p verdict --quiet
cargo bench -p verdict --bench pytest_monitor --no-run --quiet 2>/dev/null
VERDICT=$ROOT/target/release/verdict
CLIENT=$(ls -t "$ROOT"/target/release/deps/pytest_monitor-* | grep -v '\.d$' | head -1)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
serve() {
  "$VERDICT" --data-dir "$work/data" serve --listen "127.0.0.1:$port" --pytest-monitor-suite bench >>"$work/verdict.log" 2>&1 &
  vpid=$!
  for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
}
trap 'kill "$vpid" 2>/dev/null; sleep 0.3; rm -rf "$work"' EXIT
"$VERDICT" --data-dir "$work/data" suite create bench >/dev/null 2>&1
serve
base="http://127.0.0.1:$port/api/v1"
for seed in $(seq 1 50); do "$CLIENT" write --base "$base" --n 100 --concurrency 8 --seed "$seed" >/dev/null; done
kill "$vpid"; wait "$vpid" 2>/dev/null || true
start=$(date +%s)
sqlite3 "$work/data/verdict.db" <<'SQL'
INSERT INTO monitor_metrics (suite_id, run_id, test_id, session_h, context_h, item_start_time, item_path, item, item_variant,
  item_fs_loc, kind, component, total_time, user_time, kernel_time, cpu_usage, mem_usage, created_at)
SELECT suite_id, run_id, test_id, session_h, context_h, item_start_time, item_path, item, item_variant, item_fs_loc, kind, component,
  total_time * (1 + value % 97 / 50.0), user_time * (1 + value % 89 / 50.0), kernel_time * (1 + value % 83 / 50.0),
  cpu_usage * (1 + value % 79 / 100.0), mem_usage + value % 1013 / 16.0, created_at
FROM monitor_metrics, generate_series(1, 999) ORDER BY value, monitor_metrics.id;
SQL
echo "copied to $(sqlite3 "$work/data/verdict.db" 'SELECT count(*) FROM monitor_metrics') samples in $(( $(date +%s) - start )) s;" \
  "database $(du -sh "$work/data" | cut -f1)"
serve
"$CLIENT" queries --base "$base" --repeat 20 --runs 3 >"$work/queries.json"
python3 - "$work/queries.json" <<'PY'
import json, sys
q = json.load(open(sys.argv[1]))
print("5,000,000 samples, Verdict on SQLite (ms: the first GET, then median and p95 of 60 GETs, each on a new connection):")
for route, r in q.items():
    page = " (a filtered 500-row page)" if r["bytes"] > 100_000 and route != "/metrics/" and "page=" not in route else ""
    print(f"  {route:58s} {r['status']}  {r['first_ms']:8.2f}  {r['median_ms']:8.2f} / {r['p95_ms']:8.2f}{page}")
PY
