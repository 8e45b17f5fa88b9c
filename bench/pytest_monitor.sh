#!/usr/bin/env bash
# pytest-monitor benchmark: the real monitor-server-api 1.1.0 (uWSGI, 4 workers,
# its launch script's default, fresh SQLite) and `verdict serve` (release, fresh
# SQLite) measured in the same run on this machine, with the harness's load
# generator (load_metrics.py) and query timer (time_queries.py), and with the
# native client (crates/verdict/benches/pytest_monitor.rs: same requests, same
# method), because the Python tools cap what they can measure (about 2,800
# req/s on one thread and 3,900 on eight against a server that does nothing).
# The native client's stub (a server that does nothing) gives the floor of a
# request on a new connection on this machine, measured in the same run.
#
#   bash bench/pytest_monitor.sh        (needs target/real-clients/msa-venv: run tests/pytest-monitor/run.sh once)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
VENV=${VERDICT_CLIENTS_DIR:-$ROOT/target/real-clients}/msa-venv
N=${N:-5000}
cargo build --release -p verdict --quiet
cargo bench -p verdict --bench pytest_monitor --no-run --quiet 2>/dev/null
VERDICT=$ROOT/target/release/verdict
CLIENT=$(ls -t "$ROOT"/target/release/deps/pytest_monitor-* | grep -v '\.d$' | head -1)
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
op=$(free_port); vp=$(free_port); sp=$(free_port)
(cd "$work" && "$VENV/bin/uwsgi" --master --need-app -w monitor_server.uwsgi --callable WSGI_SERVER --die-on-term \
  --http "127.0.0.1:$op" --buffer-size=32768 --workers 4 --env FLASK_ENV=prod \
  --env MONITOR_SERVER_DATABASE_URI="sqlite:///$work/original.db" --env MONITOR_SERVER_PAGINATION_COUNT=500 \
  --pidfile "$work/uwsgi.pid" --daemonize "$work/uwsgi.log")
"$VERDICT" --data-dir "$work/verdict" suite create bench >/dev/null 2>&1
"$VERDICT" --data-dir "$work/verdict" serve --listen "127.0.0.1:$vp" --pytest-monitor-suite bench >"$work/verdict.log" 2>&1 &
vpid=$!
# A server that does nothing: a request on a new connection to it is this machine's floor.
"$CLIENT" stub --base "http://127.0.0.1:$sp" &
spid=$!
trap 'kill -INT "$(cat "$work/uwsgi.pid")" 2>/dev/null; kill "$vpid" "$spid" 2>/dev/null; sleep 0.5; rm -rf "$work"' EXIT
for u in "http://127.0.0.1:$op/api/v1/metrics/count" "http://127.0.0.1:$vp/healthz"; do
  for _ in $(seq 150); do curl -s -o /dev/null "$u" && break; sleep 0.1; done
done
opid=$(cat "$work/uwsgi.pid")

load() { python3 "$HERE/load_metrics.py" --base "$1" --server-pid "$2" "${@:3}"; }
for side in original verdict; do
  if [ $side = original ]; then base="http://127.0.0.1:$op/api/v1"; pid=$opid; else base="http://127.0.0.1:$vp/api/v1"; pid=$vpid; fi
  for i in 1 2 3; do load "$base" "$pid" --n "$N" --concurrency 8 --tag-seed "$i" >>"$work/$side.post8.jsonl"; done
  load "$base" "$pid" --n 2000 --concurrency 1 --conn-mode new --tag-seed 9 >"$work/$side.post1.json"
  # uWSGI's router closes every connection (as load_metrics.py's "auto" mode finds): a new one per request there.
  conn=reuse; [ $side = verdict ] || conn=new
  for i in 1 2 3; do "$CLIENT" write --base "$base" --n "$N" --concurrency 8 --conn $conn --seed "$((20 + i))" >>"$work/$side.native8.jsonl"; done
  "$CLIENT" write --base "$base" --n 2000 --concurrency 1 --conn new --seed 29 >"$work/$side.native1.json"
  have=$(curl -s "$base/metrics/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
  load "$base" "$pid" --n $((50000 - have)) --concurrency 8 --sessions 50 --tag-seed 100 >"$work/$side.fill.json"
  python3 "$HERE/time_queries.py" --base "$base" --repeat 10 --runs 3 | tail -1 >"$work/$side.queries.json"
  if [ $side = verdict ]; then
    "$CLIENT" ping --base "http://127.0.0.1:$vp/healthz" --n 2000 >"$work/ping.json"
    "$CLIENT" ping --base "http://127.0.0.1:$sp/" --n 2000 >"$work/stub.json"
  fi
  "$CLIENT" queries --base "$base" --repeat 10 --runs 3 2>/dev/null >"$work/$side.native-queries.json"
  "$CLIENT" queries --base "$base" --repeat 10 --runs 3 --keep-alive 2>/dev/null >"$work/$side.keepalive-queries.json"
done
# The physical limit under a durable 201 sent one at a time: one fsync after a
# write, in this file system. Two patterns: one 4 KiB block rewritten (the
# cheapest), and 8 KiB appended at a time through a 4 MiB file that was written
# once, as SQLite's WAL is reused after a checkpoint (what a commit of one
# sample writes: two pages and their frame headers).
python3 - "$work/fsync.json" <<'PY'
import json, os, sys, time
path = sys.argv[1] + ".probe"
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"\1" * (4 << 20), 0); os.fsync(fd)
def median(write):
    ts = []
    for i in range(500):
        write(i)
        t = time.perf_counter(); os.fsync(fd); ts.append(time.perf_counter() - t)
    return sorted(ts)[250] * 1000
block = median(lambda i: os.pwrite(fd, b"x" * 4096, (i % 16) * 4096))
wal = median(lambda i: os.pwrite(fd, b"x" * 8240, (i * 8240) % ((4 << 20) - 8240)))
os.close(fd); os.unlink(path)
json.dump({"median_ms": wal, "block_ms": block}, open(sys.argv[1], "w"))
PY
python3 - "$work" <<'PY'
import json, statistics, sys
w = sys.argv[1]
def post(side):
    runs = [json.loads(l) for l in open(f"{w}/{side}.post8.jsonl")]
    return runs, json.load(open(f"{w}/{side}.post1.json"))
o8, o1 = post("original"); v8, v1 = post("verdict")
med = lambda rs: statistics.median(r["rps"] for r in rs)
print(f"POST /metrics/, {o8[0]['n']} metrics x 3 runs, 8 threads (keep-alive where the server allows it):")
print(f"  monitor-server-api {[r['rps'] for r in o8]} median {med(o8):.0f} req/s; verdict {[r['rps'] for r in v8]} median {med(v8):.0f} req/s")
print(f"  ratio verdict / original: {med(v8) / med(o8):.1f}x (target >= 30x); errors {sum(r['errors'] for r in o8)} / {sum(r['errors'] for r in v8)}")
print(f"POST /metrics/, 2000 metrics, 1 thread, a new connection per request (as the real client):")
print(f"  monitor-server-api {o1['rps']} req/s, verdict {v1['rps']} req/s: {v1['rps'] / o1['rps']:.1f}x (target >= 20x)")
for side, rs in (("monitor-server-api", o8), ("verdict", v8)):
    m = rs[-1]["server_rss_mib"]
    print(f"  server memory under the write benchmark, {side}: peak RSS {max(r['server_rss_mib']['peak'] for r in rs)} MiB "
          f"summed over {m['processes']} processes, PSS after {m['pss_after']} MiB")
n8 = lambda side: [json.loads(l) for l in open(f"{w}/{side}.native8.jsonl")]
no8, nv8 = n8("original"), n8("verdict")
no1, nv1 = (json.load(open(f"{w}/{side}.native1.json")) for side in ("original", "verdict"))
print("the same with the native client (one thread):")
print(f"  8 concurrent: monitor-server-api {[r['rps'] for r in no8]} median {med(no8):.0f} req/s; verdict {[r['rps'] for r in nv8]} "
      f"median {med(nv8):.0f} req/s: {med(nv8) / med(no8):.1f}x (target >= 30x); errors {sum(r['errors'] for r in no8)} / {sum(r['errors'] for r in nv8)}")
print(f"  until all are readable (a count right after the last write): monitor-server-api median "
      f"{statistics.median(r['readable_rps'] for r in no8):.0f} req/s; verdict {[r['readable_rps'] for r in nv8]} median "
      f"{statistics.median(r['readable_rps'] for r in nv8):.0f} req/s: "
      f"{statistics.median(r['readable_rps'] for r in nv8) / statistics.median(r['readable_rps'] for r in no8):.1f}x")
print(f"  1 at a time, a new connection each: monitor-server-api {no1['rps']} req/s, verdict {nv1['rps']} req/s: "
      f"{nv1['rps'] / no1['rps']:.1f}x (target >= 20x)")
fsync = json.load(open(f"{w}/fsync.json"))
fs = fsync["median_ms"]
print(f"  fsync here: {fs:.3f} ms after appending 8 KiB through a reused 4 MiB file (as a WAL commit), "
      f"{fsync['block_ms']:.3f} ms after rewriting one 4 KiB block")
for what, f in (("a GET /healthz of Verdict", "ping"), ("a request to a server that does nothing", "stub")):
    ping = json.load(open(f"{w}/{f}.json"))["median_ms"]
    floor = fs + ping
    print(f"  floor of one durable request at a time: fsync {fs:.3f} ms + {what} on a new connection {ping:.3f} ms "
          f"= {floor:.3f} ms: at most {1000 / floor:.0f} req/s = {1000 / floor / no1['rps']:.1f}x the original; Verdict reaches "
          f"{nv1['rps'] / (1000 / floor):.0%} of it")
for tool, suffix in (("time_queries.py", "queries"), ("native client", "native-queries"),
                     ("native client, one connection per route kept alive where the server allows it", "keepalive-queries")):
    oq = json.load(open(f"{w}/original.{suffix}.json")); vq = json.load(open(f"{w}/verdict.{suffix}.json"))
    print(f"queries with 50,000 metrics, {tool} (median of 3 rounds of 10 GETs):")
    ratios = []
    # Routes with hashes differ between the two data sets (random sessions): pair them by position.
    for (route, o), v in zip(oq.items(), vq.values()):
        if o["status"] == 200 and v["status"] == 200:
            r = o["median_ms"] / v["median_ms"]; ratios.append(r)
            print(f"  {route:58s} original {o['median_ms']:7.2f} ms  verdict {v['median_ms']:7.2f} ms  {r:5.1f}x")
        else:
            print(f"  {route:58s} original {o['status']} verdict {v['status']} (not compared)")
    print(f"  faster by {min(ratios):.1f}x to {max(ratios):.1f}x, median {statistics.median(ratios):.1f}x over {len(ratios)} routes "
          f"(target >= 10x; {sum(r >= 10 for r in ratios)} reach it)")
PY
