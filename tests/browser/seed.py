"""Seed a running `verdict serve` through its real upload API, as CI would:
two suites; ~60 runs of `web` on two branches with ~200 tests, among them a
flaky, a broken and a hostile-named test; run metrics; pytest-monitor
samples for one test. Prints the JSON facts the browser check needs."""
import hashlib
import json
import random
import sys
import urllib.request

base, web_token, api_token = sys.argv[1], sys.argv[2], sys.argv[3]
rng = random.Random(20261201)


def post(path, body, token, method="POST"):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json", "Authorization": f'Token token="{token}"'})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


# Runs are analysed for flakiness once their last upload is a second old (the retried uploads below join their run).
post("/api/v1/suites/web/settings", {"settle_secs": 1}, web_token, method="PATCH")

HOSTILE = "<script>alert(1)</script>"
modules = ["tests/api", "tests/db", "tests/ui", "tests/auth"]
names = [(modules[i % 4].replace("/", "."), f"test_case_{i:03d}") for i in range(196)]
run_ids = []
for i in range(60):
    branch = "release" if i % 5 == 4 else "main"
    data = []
    for scope, name in names:
        slow = 0.05 + (hash(name) % 100) / 200
        data.append({"scope": scope, "name": name, "file_name": scope.replace(".", "/") + ".py",
                     "location": scope.replace(".", "/") + f".py:{10 + len(name)}", "result": "passed",
                     "history": {"duration": round(rng.lognormvariate(0, 0.3) * slow, 4)}})
    sometimes = "failed" if rng.random() < 0.2 else "passed"
    data += [
        {"scope": "tests.core", "name": "test_broken", "file_name": "tests/core.py", "result": "failed", "failure_reason": f"AssertionError: expected 200 but got {500 + i % 3}",
         "history": {"duration": 0.8}},
        {"scope": "tests.core", "name": "test_sometimes", "result": sometimes, "failure_reason": f"Connection refused (os error 111) to 10.0.0.{i}:5432",
         "history": {"duration": round(rng.uniform(1.5, 3.0), 3)}},
        {"scope": "tests.core", "name": "test_flaky", "result": "passed", "history": {"duration": 0.3}},
        {"scope": "tests.core", "name": "test_resources", "result": "passed", "history": {"duration": round(rng.uniform(0.4, 0.6), 3)}},
        {"scope": "\"'&<>", "name": HOSTILE, "result": "failed" if i % 3 == 0 else "passed",
         "failure_reason": "</svg><img src=x onerror=alert(1)>", "history": {"duration": 0.1}},
    ]
    env = {"key": f"build-{i}", "branch": branch, "commit_sha": "%040x" % rng.getrandbits(160), "number": str(1000 + i),
           "url": f"https://ci.example/builds/{1000 + i}", "message": f"Change {i}: tune the cache", "ci": "buildkite"}
    if i % 10 == 0:
        env.update({"job": "e2e", "payload": "4.16.0"})
    reply = post("/v1/uploads", {"format": "json", "run_env": env, "data": data}, web_token)
    run_ids.append(int(reply["run_id"]))
    if branch == "main":
        last_main_build = (env["commit_sha"], env["number"])
    if i % 7 == 3:
        # A retried job: test_flaky failed in a second upload to the same run.
        post("/v1/uploads", {"format": "json", "run_env": {"key": f"build-{i}"},
                             "data": [{"scope": "tests.core", "name": "test_flaky", "result": "failed", "failure_reason": "Timeout after 30s"}]}, web_token)
    post(f"/api/v1/runs/{reply['run_id']}/metrics", {"metrics": {"disruption_seconds": round(rng.uniform(0, 5), 2)}}, web_token)

for i in range(5):
    post("/v1/uploads", {"format": "json", "run_env": {"key": f"api-{i}", "branch": "main"},
                         "data": [{"scope": "api", "name": f"t{j}", "result": "passed"} for j in range(10)]}, api_token)

# pytest-monitor samples of tests.core › test_resources.
pm = f"/t/{web_token}/api/v1"
ctx = {"cpu_count": 4, "cpu_frequency": 2100.5, "cpu_type": "", "cpu_vendor": "Vendor", "ram_total": 16000, "machine_node": "ci-node-1",
       "machine_type": "x86_64", "machine_arch": "64bit", "system_info": "Linux - 6.1", "python_info": "3.11.7",
       "h": hashlib.md5(b"machine").hexdigest()}
post(pm + "/contexts/", ctx, web_token)
# The session of the last main build (its commit and build number): the report page shows that run's resources.
session = {"session_h": hashlib.md5(b"session").hexdigest(), "run_date": "2026-12-01T10:00:00.000000", "scm_ref": last_main_build[0],
           "description": {"pipeline_branch": "main", "pipeline_build_no": last_main_build[1]}}
post(pm + "/sessions/", session, web_token)
for i in range(40):
    m = {"session_h": session["session_h"], "context_h": ctx["h"], "item_start_time": "2026-12-01T10:%02d:00.000000" % i,
         "item_path": "tests.core", "item": "test_resources", "item_variant": "test_resources", "item_fs_loc": "tests/core.py",
         "kind": "function", "component": "", "total_time": 0.5, "user_time": 0.3 + i / 100, "kernel_time": 0.05,
         "cpu_usage": 0.8 + (i % 5) / 10, "mem_usage": 40 + i * (2 if i > 25 else 0.2)}
    post(pm + "/metrics/", m, web_token)

# Wait for the flaky analysis of every run.
import time
for _ in range(300):
    with urllib.request.urlopen(base + "/api/v1/suites/web/flaky") as r:
        if json.loads(r.read())["pending_uploads"] == 0:
            break
    time.sleep(0.1)
else:
    sys.exit("seed: the flaky analysis did not finish")

print(json.dumps({"runs": run_ids}))
