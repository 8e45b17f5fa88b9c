#!/usr/bin/env python3
"""Seed a Verdict suite through the Buildkite upload API for the ReSim
real-client test, and write what a report over the middle window must hold
(derived here from what was uploaded, by the mapping in the README).

Usage: seed.py BASE_URL UPLOAD_TOKEN OUT.json
Runs: 2 on main before the window, then (window) 104 runs on main with four
experiences, one run on main with 154 tests, 3 runs on dev, then 2 on main
after it. Every 13th window run also has a pytest-monitor session of the
same CI build (its commit and build number, in pytest-monitor's wire format
at /t/TOKEN/api/v1) with samples of `sim left-turn`, which become that job's
memory_mb, cpu_percent, user_time and kernel_time. Prints nothing; OUT.json
has the window and the expectations.
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


def monitor(path, body):
    req = urllib.request.Request(f"{BASE}/t/{TOKEN}/api/v1/{path}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 201, r.status


def monitor_session(key, commit, i):
    """A pytest-monitor session of run `key`'s CI build (no branch: the session's own run is not on main)."""
    h = f"session-{key}"
    monitor("sessions/", {"session_h": h, "run_date": "2026-12-01T00:00:00", "scm_ref": commit,
                          "description": {"pipeline_build_no": key}})
    for mem in (10.0, 40.0 + i):  # the later sample of a test is the one that counts
        monitor("metrics/", {"session_h": h, "context_h": "ctx", "item_start_time": "2026-12-01T00:00:00",
                             "item_path": "sim", "item": "left-turn", "item_variant": "left-turn",
                             "item_fs_loc": "sim.py", "kind": "function", "component": "", "total_time": 2.0,
                             "user_time": 1.5, "kernel_time": 0.25, "cpu_usage": 0.875, "mem_usage": mem})
    return 40.0 + i


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
    monitor("contexts/", {"cpu_count": 2, "cpu_frequency": 2445.4, "cpu_type": "", "cpu_vendor": "AMD", "ram_total": 24105,
                          "machine_node": "ci", "machine_type": "x86_64", "machine_arch": "64bit", "system_info": "Linux",
                          "python_info": "3.11.7", "h": "ctx"})
    memory = {}
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
        if i % 13 == 0:
            memory[key] = monitor_session(key, f"c-{i // 2}", i)
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
        "memory_mb": memory,
    }, open(OUT, "w"), indent=1)


main()
