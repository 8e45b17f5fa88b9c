#!/usr/bin/env python3
"""What `verdict report run` stored, read back from a real `verdict serve`:
the twin GET /api/v1/reports/{id} (program_metrics as the page shows them),
ReSim's GET …/reports/{r}/metrics, and the report page itself, checked
against the seeded data and Verdict's native report of the same window.

Usage: stored.py BASE_URL REPORT_ID PROJECT_ID TOKEN EXPECT.json
Prints "ok …" / "FAIL …" lines; exits 1 when a check failed.
"""

import json
import re
import sys
import urllib.request

base, report, project, token, expect_path = sys.argv[1:6]
expect = json.load(open(expect_path))
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


twin = json.loads(get(f"/api/v1/reports/{report}"))
program = twin["program_metrics"]
names = [m["name"] for m in program["metrics"]]
want = ["test_status_over_time", "high_level_totals", "experience_status_counts", "job_metric_status_counts",
        "batch_metric_status_counts"]
check(names[:5] == want, f"the stored metrics in the program's order: {names[:5]}")
check("min_distance_distribution" in names and "pass_rate_over_time" in names, "a distribution and an over-time metric")
check(twin["metrics_status"] == program["status"] == "PASSED", f"status {twin['metrics_status']} / {program['status']}")
by = {m["name"]: m for m in program["metrics"]}

totals = by["high_level_totals"]["shown"]
check(totals["kind"] == "table", "high_level_totals is shown as a table")
got = {row[0]: int(row[1]) for row in totals["rows"]}
t = twin["report"]["totals"]
mine = {"Number of batches": t["batches"], "Number of tests": t["tests"], "Number of error batches": t["error_batches"],
        "Number of fail block batches": t["fail_block_batches"], "Number of fail warn batches": t["fail_warn_batches"],
        "Number of passed batches": t["passed_batches"]}
check(got == mine, f"the stored totals {got} equal the native report's")
check(got["Number of batches"] == len(expect["batches"]), "and the seeded batches")

exp = by["experience_status_counts"]["shown"]
header = exp["header"]
rows = {r[0]: {h: int(float(v)) for h, v in zip(header[1:], r[1:]) if float(v)} for r in exp["rows"]}
names_map = {"passed": "PASSED", "warning": "WARNING", "blocker": "BLOCKER", "error": "ERROR", "cancelled": "CANCELLED"}
native = {e["name"]: {names_map[k]: v for k, v in e["counts"].items() if v} for e in twin["report"]["experiences"]}
check(rows == native, "the stored per-experience counts equal the native report's")

bars = by["test_status_over_time"]["shown"]
check(bars["kind"] == "bars" and bars["stacked"], "test_status_over_time is a stacked batchwise bar chart")
per_batch = [sum(c["points"][i][1] for c in bars["categories"]) for i in range(len(bars["categories"][0]["points"]))]
check(len(per_batch) == len(expect["batches"]) and sum(per_batch) == expect["tests"], "its bars count each batch's tests")
dist = by["min_distance_distribution"]["shown"]
check(dist["kind"] == "chart" and dist["traces"][0]["kind"] == "box" and dist["x_title"] == "Time",
      "min_distance_distribution is a box chart over time")

resim_rows = json.loads(get(f"/resim/v1/projects/{project}/reports/{report}/metrics"))
check([m["name"] for m in resim_rows["reportMetrics"]] == names, "ReSim's reportMetrics list the same metrics")
check(all(m["type"] == "COMPOSITE" and m["status"] == "NOT_APPLICABLE" and m["reportID"] == report
          for m in resim_rows["reportMetrics"]), "as COMPOSITE, NOT_APPLICABLE rows of the report")

page = get(twin["page"])
check(all(f'<h3 class="metric">{n} ' in page for n in names), "the report page shows every stored metric")
check(page.count("<svg") >= 8, f"with its figures drawn ({page.count('<svg')} SVGs)")
check("Number of fail block batches" in page, "and its tables")
check("Resource use per run" in page and "MB</td>" in page, "Verdict's own report shows the sampled runs' memory")
sampled = [b for b in twin["report"]["batches"] if b["p50_memory_mb"] is not None]
check(sorted(b["p50_memory_mb"] for b in sampled) == sorted(expect["memory_mb"].values()),
      f"p50 memory per sampled run: {len(sampled)} runs, the session's latest sample")

if failures:
    print(f"{len(failures)} checks failed", file=sys.stderr)
    sys.exit(1)
