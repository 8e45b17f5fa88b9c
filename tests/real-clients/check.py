"""Asserts, through Verdict's read API, what the real collectors uploaded.

Usage: check.py BASE_URL SUITE EXPECTATIONS_NAME
Prints one line per check and a closing 'N passed, N failed' line; exits 1 on any failure.
"""
import json
import sys
import urllib.request

BASE, SUITE, SCENARIO = sys.argv[1], sys.argv[2], sys.argv[3]
passed = failed = 0


def get(path):
    with urllib.request.urlopen(BASE + path) as r:
        return json.load(r)


def check(what, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print(f"ok   {SCENARIO}: {what}")
    else:
        failed += 1
        print(f"FAIL {SCENARIO}: {what}: got {got!r}, want {want!r}")


def run_by_key(key):
    runs = get(f"/api/v1/suites/{SUITE}/runs?per_page=500")
    matches = [r for r in runs if r["key"] == key]
    check(f"one run with key {key}", len(matches), 1)
    return get(f"/api/v1/runs/{matches[0]['id']}") if matches else None


def executions(run, result=None):
    q = f"?per_page=500" + (f"&result={result}" if result else "")
    return get(f"/api/v1/runs/{run['id']}/executions{q}")


def pytest_run():
    run = run_by_key("pytest-build-1")
    if not run:
        return
    check("pytest counts", run["counts"], {"passed": 9, "failed": 3, "skipped": 2, "pending": 0, "unknown": 0})
    check("pytest run result", run["result"], "failed")
    check("pytest run env", (run["ci"], run["branch"], run["commit_sha"], run["number"]), ("buildkite", "main", "c0ffee", "7"))
    check("pytest collector", run["env"].get("collector"), "python-buildkite-test-collector")
    reasons = sorted((e["name"], (e["failure_reason"] or "").splitlines()[0]) for e in executions(run, "failed"))
    check("pytest failure reasons", reasons, [
        ("test_failing_assertion", "AssertionError: assert {'a': 1, 'b': 2} == {'a': 1, 'b': 3}"),
        ("test_raises_error", "RuntimeError: boom from test body"),
        ("test_setup_error", "ValueError: setup failed"),
    ])
    by_name = {e["name"]: e for e in executions(run)}
    spans = by_name["test_with_spans"]["detail"]["spans"]
    check("pytest spans", [s["section"] for s in spans], ["sql", "http", "annotation", "sleep"])
    check("pytest execution tags", by_name["test_with_execution_tags"]["tags"], {"team": "backend", "feature": "billing"})
    check("pytest class scope", by_name["test_method_passes"]["scope"], "tests/test_sample.py::TestGrouped")
    tests = get(f"/api/v1/suites/{SUITE}/tests?per_page=500")
    t = [t for t in tests if t["name"] == "test_failing_assertion" and t["scope"] == "tests/test_sample.py"][0]
    history = get(f"/api/v1/tests/{t['id']}/history")
    # The curl upload of pytest's --json file (commit abc123) came later: newest first.
    check("pytest test history", [(h["result"], h["commit_sha"]) for h in history], [("failed", "abc123"), ("failed", "c0ffee")])


def pytest_batches():
    run = run_by_key("pytest-many-1")
    if run:
        check("250 tests in batches of 100 merge into one run", (run["uploads"], run["total"], run["counts"]["passed"]), (3, 250, 250))


def jest_run():
    run = run_by_key("jest-build-1")
    if not run:
        return
    check("jest counts", run["counts"], {"passed": 6, "failed": 2, "skipped": 1, "pending": 1, "unknown": 0})
    check("jest ci key spelling", run["ci"], "buildkite")
    reasons = sorted((e["scope"], e["name"], (e["failure_reason"] or "").splitlines()[0]) for e in executions(run, "failed"))
    check("jest failures", [r[:2] for r in reasons], [("Calculator", "fails on purpose"), ("Calculator nested group", "throws error")])
    check("jest error reason", reasons[1][2], "Error: boom from jest")
    check("jest location", sorted({e["location"].split(":")[0].split("/")[-1] for e in executions(run) if e["location"]}), ["other.test.js", "sample.test.js"])


def curl_runs():
    run = run_by_key("curl-build-1")
    if run:
        check("curl json + junit merged", (run["uploads"], run["total"]), (2, 28))
        check("curl run branch", run["branch"], "main")


{"pytest": pytest_run, "pytest-many": pytest_batches, "jest": jest_run, "curl": curl_runs}[SCENARIO]()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
