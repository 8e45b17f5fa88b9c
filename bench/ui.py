"""Time the dashboard's pages and their JSON twins on a running server.

    python3 bench/ui.py BASE_URL SERVER_PID [--repeat N]

Each page variant is warmed 3 times, then requested N times (default 20),
with its twin (the same query on /api/v1) right after. Prints per page the
p50/p95 server time (Server-Timing: query + render), the client wall time,
the HTML bytes and the twin's server time, then the server's peak RSS, and
exits 1 when a target of the dashboard spec (section 7.2) is missed.
"""
import json
import statistics
import sys
import time
import urllib.request

base, pid = sys.argv[1], sys.argv[2]
repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 20
V14, V90 = "branch=main&window=14d", "branch=main&window=90d"


def get(path):
    started = time.perf_counter()
    with urllib.request.urlopen(base + path) as r:
        body = r.read()
        timing = r.headers.get("Server-Timing", "")
    wall = (time.perf_counter() - started) * 1000
    parts = dict(p.strip().split(";dur=") for p in timing.split(",") if ";dur=" in p)
    return wall, {k: float(v) for k, v in parts.items()}, body


def twin_time(path):
    started = time.perf_counter()
    with urllib.request.urlopen(base + path) as r:
        r.read()
    return (time.perf_counter() - started) * 1000


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


runs = json.loads(get(f"/api/v1/suites/bench/runs?{V14}&per_page=5")[2])
run_ids = [r["id"] for r in runs[:3]]
tests = json.loads(get(f"/api/v1/suites/bench/tests/search?{V14}&sort=name&q=test_heavy")[2])["rows"]
heavy = [t["test"]["id"] for t in tests][:1]
normal = json.loads(get(f"/api/v1/suites/bench/tests/search?{V14}&sort=failing")[2])["rows"][0]["test"]["id"]
last_page = max(1, (json.loads(get(f"/api/v1/suites/bench/tests/search?{V14}&sort=name&page=1")[2])["total"] + 99) // 100)

sorts = ["reliability", "failing", "flaky", "p50", "p95", "total", "new", "last", "name"]
pages = [
    ("overview", "/", "/api/v1/overview?window=14d", 100),
    ("suite 14d", f"/s/bench?{V14}", f"/api/v1/suites/bench/summary?{V14}", 100),
    ("suite 90d", f"/s/bench?{V90}", f"/api/v1/suites/bench/summary?{V90}", 100),
    ("runs p1", f"/s/bench/runs?{V14}", f"/api/v1/suites/bench/runs?{V14}", 100),
    ("runs p5", f"/s/bench/runs?{V14}&page=5", f"/api/v1/suites/bench/runs?{V14}&page=5", 100),
]
for i, r in enumerate(run_ids):
    pages.append((f"run {i}", f"/s/bench/runs/{r}?{V14}", f"/api/v1/runs/{r}/summary?{V14}", 100))
for s in sorts:
    pages.append((f"tests sort={s}", f"/s/bench/tests?{V14}&sort={s}", f"/api/v1/suites/bench/tests/search?{V14}&sort={s}", 150))
for p in [50, last_page]:
    pages.append((f"tests page {p}", f"/s/bench/tests?{V14}&page={p}", f"/api/v1/suites/bench/tests/search?{V14}&page={p}", 150))
pages.append(("tests q=*heavy*", f"/s/bench/tests?{V14}&q=*heavy*", f"/api/v1/suites/bench/tests/search?{V14}&q=*heavy*", 150))
pages.append(("test", f"/s/bench/tests/{normal}?{V14}", f"/api/v1/tests/{normal}/summary?{V14}", 100))
for h in heavy:
    pages.append(("test heavy 90d", f"/s/bench/tests/{h}?{V90}", f"/api/v1/tests/{h}/summary?{V90}", 100))
    pages.append(("test heavy strip=500", f"/s/bench/tests/{h}?{V14}&strip=500", f"/api/v1/tests/{h}/summary?{V14}&strip=500", 100))

# Flaky tests and failure clusters (the flaky spec's targets: lists p95 < 100 ms, a test's state < 10 ms).
pages.append(("flaky 14d", f"/s/bench/flaky?{V14}", "/api/v1/suites/bench/flaky?branch=main&window=14d", 100))
pages.append(("flaky 90d", f"/s/bench/flaky?{V90}", "/api/v1/suites/bench/flaky?branch=main&window=90d", 100))
pages.append(("failures 14d", f"/s/bench/failures?{V14}", "/api/v1/suites/bench/clusters?window=14d", 100))
clusters = json.loads(get("/api/v1/suites/bench/clusters?window=14d")[2])["clusters"]
if clusters:
    cid = clusters[0]["id"]
    pages.append(("cluster", f"/s/bench/failures/{cid}?{V14}", f"/api/v1/suites/bench/clusters/{cid}?days=14", 100))
pages.append(("test state (twin)", f"/api/v1/tests/{normal}/state", f"/api/v1/tests/{normal}/state", 10))

print(f"{'page':<22} {'server p50':>10} {'p95':>8} {'query p50':>9} {'render p50':>10} {'client p95':>10} {'KB':>6} {'twin p50':>8} {'p95':>8}  target")
missed = []
for name, path, twin, target in pages:
    for _ in range(3):
        get(path)
    server, query, render, client, twins, size = [], [], [], [], [], 0
    for _ in range(repeat):
        wall, t, body = get(path)
        server.append(t.get("total", wall))
        query.append(t.get("query", 0))
        render.append(t.get("render", 0))
        client.append(wall)
        size = len(body)
        twins.append(twin_time(twin))
    ok = pct(server, 0.95) <= target and size <= 200 * 1024
    if not ok:
        missed.append(name)
    print(f"{name:<22} {pct(server, .5):>10.1f} {pct(server, .95):>8.1f} {pct(query, .5):>9.1f} {pct(render, .5):>10.1f} {pct(client, .95):>10.1f} "
          f"{size / 1024:>6.1f} {pct(twins, .5):>8.1f} {pct(twins, .95):>8.1f}  p95 ≤ {target} ms, ≤ 200 KB: {'met' if ok else 'MISSED'}")

with open(f"/proc/{pid}/status") as f:
    status = dict(line.split(":", 1) for line in f if ":" in line)
rss, peak = status["VmRSS"].strip(), status["VmHWM"].strip()
print(f"server RSS {rss}, peak {peak} (target < 150 MB)")
if int(peak.split()[0]) >= 150 * 1024:
    missed.append("server RSS")
if missed:
    print("missed: " + ", ".join(missed))
    sys.exit(1)
