#!/usr/bin/env python3
"""Upload a realistic history through the Buildkite API of a running
`verdict serve` (RUNS runs of TESTS tests, 5% failed with a reason, 1%
skipped, durations, a commit per run), then print how many bytes of upload
JSON that was per result. bench/store_size.sh measures the store it made.

Usage: store_size.py BASE_URL TOKEN RUNS TESTS
"""
import json
import random
import sys
import urllib.request

base, token, runs, tests = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(7)
sent = 0
for r in range(runs):
    data = []
    for t in range(tests):
        roll = rng.random()
        result = {"scope": f"pkg.module_{t // 50}", "name": f"test_case_{t}", "file_name": f"tests/module_{t // 50}.py",
                  "history": {"duration": round(rng.uniform(0.001, 2.0), 4)}}
        if roll < 0.05:
            result["result"] = "failed"
            result["failure_reason"] = f"AssertionError: expected {rng.randint(0, 99)} but got {rng.randint(100, 999)} (attempt {r})"
        elif roll < 0.06:
            result["result"] = "skipped"
        else:
            result["result"] = "passed"
        data.append(result)
    body = json.dumps({"format": "json", "run_env": {"key": f"run-{r}", "branch": "main", "commit_sha": f"{r:040x}",
                                                      "number": str(r)}, "data": data}).encode()
    sent += len(body)
    req = urllib.request.Request(f"{base}/v1/uploads", data=body, method="POST",
                                 headers={"Authorization": f'Token token="{token}"', "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 202, resp.status
print(f"{runs * tests} results, {sent} bytes of upload JSON, {sent / (runs * tests):.0f} bytes per result")
