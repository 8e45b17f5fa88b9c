"""Asserts, through the pytest-monitor query API and Verdict's own API, what
three runs of the real pytest-monitor client sent (see run.sh).

Usage: check_monitor.py BASE_URL TOKEN SUITE
Prints one line per check and a closing 'N passed, N failed' line; exits 1 on any failure.
"""
import json
import sys
import urllib.parse
import urllib.request

BASE, TOKEN, SUITE = sys.argv[1], sys.argv[2], sys.argv[3]
PM = f"{BASE}/t/{TOKEN}/api/v1"
passed = failed = 0


def get(url):
    with urllib.request.urlopen(url) as r:
        return r.status, (json.loads(r.read()) if r.status != 204 else None)


def pm(path):
    return get(PM + path)


def check(what, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print(f"ok   pytest-monitor: {what}")
    else:
        failed += 1
        print(f"FAIL pytest-monitor: {what}: got {got!r}, want {want!r}")


def q(s):
    return urllib.parse.quote(s, safe="")


status, page = pm("/metrics/")
metrics = page["metrics"]
check("every metric of the three runs is stored", pm("/metrics/count")[1]["count"], 46)
check("one page holds them (page size 500)", (status, len(metrics), page["total_page"], "next_url" in page), (200, 46, 1, False))
check("module metrics from --restrict-scope-to function,module", pm("/filters/scope/module/metrics/count")[1]["count"], 3)
check("the same count through the token-less base (--pytest-monitor-suite)", get(f"{BASE}/api/v1/metrics/count")[1]["count"], 46)

status, sessions = pm("/sessions/")
check("three sessions", len(sessions["sessions"]), 3)
tagged = [s for s in sessions["sessions"] if s["scm_ref"] == "deadbeefcafe0001"]
check("the CI session keeps its tags in the order sent", [(t["name"], t["value"]) for t in tagged[0]["tags"]] if tagged else None, [
    ("pipeline_branch", "build-linux"), ("pipeline_build_no", "42"), ("__ci__", "circleci"),
    ("description", "nightly run"), ("env", "ci"), ("owner", "qa=team")])
check("sessions/count counts sessions with an scm_ref", pm("/sessions/count")[1]["count"], 3)
h = tagged[0]["session_h"] if tagged else ""
check("a session by hash prefix", [s["session_h"] for s in pm(f"/sessions/{h[:6]}")[1]["sessions"]], [h])
check("metrics of that session", pm(f"/sessions/{h}/metrics/count")[1]["count"], 22)
check("metrics by scm prefix", pm("/filters/scm/deadbeef/metrics/count")[1]["count"], 22)

status, contexts = pm("/contexts/")
check("one machine, created once and then found by GET", (pm("/contexts/count")[1]["count"], len(contexts["contexts"])), (1, 1))
ctx = contexts["contexts"][0]
check("context fields", (type(ctx["cpu_frequency"]).__name__, ctx["machine_arch"]), ("int", "64bit"))
check("a context by hash prefix", pm(f"/contexts/{ctx['h'][:5]}")[1]["contexts"][0]["h"], ctx["h"])
check("metrics of the context", pm(f"/contexts/{ctx['h']}/metrics/count")[1]["count"], 46)

# Each filter route agrees with the full listing.
def expect(pred):
    return sum(1 for m in metrics if pred(m))

for variant in ["test_sum[1, 2, 3]", "test_sum[a=1, b=2, expected=3]", "test_comp_param[a, b]"]:
    check(f"variant {variant!r}", pm(f"/variants/{q(variant)}/metrics/count")[1]["count"], expect(lambda m: m["item_variant"] == variant))
check("item test_add", pm("/items/test_add/metrics/count")[1]["count"], expect(lambda m: m["item"] == "test_add"))
check("items like 'comp'", len(pm("/items/like/comp/metrics")[1]["metrics"]), expect(lambda m: "comp" in m["item"].lower()))
status, comps = pm("/components/")
check("components in order of first appearance", comps["components"],
      ["compB.sub", "", "compA", "myproj.compB.sub", "myproj", "myproj.compA", "forced"])
check("components/count", pm("/components/count")[1]["count"], 7)
check("components with a prefix", pm("/components/myproj")[1]["components"], ["myproj.compB.sub", "myproj", "myproj.compA"])
check("metrics of component compA", len(pm("/components/compA/metrics")[1]["metrics"]), expect(lambda m: m["component"].lower() == "compa"))
check("metrics of the empty component", len(pm("/components/metrics")[1]["metrics"]), expect(lambda m: m["component"] == ""))
check("an empty list is 204", pm("/items/nothing-like-this/metrics")[0], 204)

# The sessions are runs of the suite, and the samples belong to its tests.
runs = get(f"{BASE}/api/v1/suites/{SUITE}/runs?per_page=500")[1]
ci = [r for r in runs if r.get("commit_sha") == "deadbeefcafe0001"]
check("the CI session is a run with its commit, branch and build", [(r["branch"], r["number"]) for r in ci], [("build-linux", "42")])
tests = get(f"{BASE}/api/v1/suites/{SUITE}/tests?days=0&per_page=500")[1]
nested = [t for t in tests if t["scope"] == "pkg.test_nested" and t["name"] == "test_nested_ok"]
check("a monitored test is a Verdict test (scope = module, name = variant)", len(nested), 1)
if nested:
    samples = get(f"{BASE}/api/v1/tests/{nested[0]['id']}/resources")[1]
    check("its resource samples, newest first", [s["session_h"] for s in samples],
          [m["session_h"] for m in reversed(metrics) if m["item_path"] == "pkg.test_nested" and m["item_variant"] == "test_nested_ok"])

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
