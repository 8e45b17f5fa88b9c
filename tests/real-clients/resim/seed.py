#!/usr/bin/env python3
"""Seed a Verdict suite through the Buildkite upload API for the ReSim
real-client test, and write what a report over the middle window must hold
(derived here from what was uploaded, by the mapping in the README).

Usage: seed.py BASE_URL UPLOAD_TOKEN OUT.json
Runs: 2 on main before the window, then (window) 104 runs on main with four
experiences, one run on main with 154 tests, 3 runs on dev, then 2 on main
after it. Prints nothing; OUT.json has the window and the expectations.
"""

import json
import sys
import time
import urllib.request

BASE, TOKEN, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
IN_WINDOW = 104


def post(key, branch, commit, results):
    body = json.dumps({"format": "json", "run_env": {"key": key, "branch": branch, "commit_sha": commit, "number": key},
                       "data": results}).encode()
    req = urllib.request.Request(f"{BASE}/v1/uploads", data=body, method="POST", headers={
        "Authorization": f'Token token="{TOKEN}"', "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 202, r.status


def result(name, outcome, duration=1.0, attempt=None):
    r = {"scope": "sim", "name": name, "result": outcome, "history": {"duration": duration}}
    if outcome != "skipped":  # Verdict's `metrics` extension: named numbers of this result
        r["metrics"] = {"min_distance": round(duration / 2, 3)}
    if attempt is not None:
        r["attempt"] = attempt
    return r


def experiences(i):
    """The four experiences of window run i, and each one's conflated status."""
    rs, status = [result("left-turn", "passed", 1.0 + i / 100)], {"sim left-turn": "PASSED"}
    if i % 5 == 0:
        rs.append(result("merge", "failed", 2.0)); status["sim merge"] = "BLOCKER"
    else:
        rs.append(result("merge", "passed", 2.0)); status["sim merge"] = "PASSED"
    if i % 7 == 0:  # failed, then passed on retry: flaked
        rs += [result("pedestrian", "failed", 0.5, attempt=0), result("pedestrian", "passed", 0.5, attempt=1)]
        status["sim pedestrian"] = "WARNING"
    else:
        rs.append(result("pedestrian", "passed", 0.5)); status["sim pedestrian"] = "PASSED"
    if i % 10 == 3:
        rs.append(result("night-rain", "skipped", 0)); status["sim night-rain"] = "CANCELLED"
    else:
        rs.append(result("night-rain", "passed", 3.0)); status["sim night-rain"] = "PASSED"
    return rs, status


def batch_status(statuses):
    values = set(statuses.values())
    return "BLOCKER" if "BLOCKER" in values else "WARNING" if "WARNING" in values else "PASSED"


def main():
    for k in ("pre-1", "pre-2"):
        post(k, "main", "c-pre", experiences(1)[0])
    time.sleep(1.1)
    start = time.time()
    time.sleep(0.01)
    names, counts, batches = [], {}, []
    for i in range(IN_WINDOW):
        rs, statuses = experiences(i)
        key = f"w-{i:03d}"
        post(key, "main", f"c-{i // 2}", rs)
        names.append(key)
        batches.append(batch_status(statuses))
        for exp, st in statuses.items():
            counts.setdefault(exp, {}).setdefault(st, 0)
            counts[exp][st] += 1
        if i % 35 == 0:
            post(f"dev-{i}", "dev", f"d-{i}", rs)
    rs, statuses = experiences(1)
    rs += [result(f"bulk-{j:03d}", "passed", 0.1) for j in range(150)]
    post("w-big", "main", "c-big", rs)
    names.append("w-big")
    batches.append(batch_status(statuses))
    for exp, st in statuses.items():
        counts.setdefault(exp, {}).setdefault(st, 0)
        counts[exp][st] += 1
    time.sleep(0.01)
    end = time.time()
    time.sleep(1.1)
    for k in ("post-1", "post-2"):
        post(k, "main", "c-post", experiences(1)[0])
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
    json.dump({
        "from": fmt(start), "to": fmt(end), "batches": names,
        "tests": IN_WINDOW * 4 + 154,
        "big_jobs": 154,
        "fail_block_batches": batches.count("BLOCKER"),
        "fail_warn_batches": batches.count("WARNING"),
        "passed_batches": batches.count("PASSED"),
        "experience_counts": counts,
    }, open(OUT, "w"), indent=1)


main()
