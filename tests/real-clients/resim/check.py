#!/usr/bin/env python3
"""The real resim-open-core report code against a real `verdict serve`:
`fetch_batches_for_report` + `fetch_jobs_for_batches` and
`resim.metrics.default_report_metrics`, checked against what seed.py
uploaded. On open-core 1.x, the generated JobMetric/BatchMetric lack the
`type` attribute default_report_metrics reads (the ReSim spec, §8.1): the one
documented alias `type` -> `type_` is added, nothing else is patched.

Usage: check.py REPORT_CONFIG EXPECT.json OUT_DIR [--revision-report REPORT_CONFIG]
       check.py --program REPORT_CONFIG OUTPUT  (only default_report_metrics, with the
       1.x alias: the program `verdict report run` runs)
"""

import asyncio
import logging
import base64
import json
import sys
import uuid

import numpy as np
from google.protobuf.json_format import MessageToDict

try:
    from resim.sdk.client import AuthenticatedClient  # open-core 1.x
    from resim.sdk.client.models.batch_metric import BatchMetric
    from resim.sdk.client.models.job_metric import JobMetric
except ImportError:  # open-core 0.x
    from resim_python_client.client import AuthenticatedClient
    from resim_python_client.models.batch_metric import BatchMetric
    from resim_python_client.models.job_metric import JobMetric
import resim.metrics.fetch_report_metrics as frm
import resim.metrics.proto.metrics_pb2 as mp
from resim.metrics.proto.validate_metrics_proto import validate_job_metrics

failures = []
logging.getLogger("resim").setLevel(logging.WARNING)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


async def fetch(cfg):
    client = AuthenticatedClient(base_url=cfg["apiURL"], token=cfg["authToken"])
    batches = await frm.fetch_batches_for_report(client=client, report_id=uuid.UUID(cfg["reportID"]),
                                                 project_id=uuid.UUID(cfg["projectID"]))
    jobs = await frm.fetch_jobs_for_batches(client=client, batch_ids=[b.batch_id for b in batches],
                                            project_id=uuid.UUID(cfg["projectID"]))
    return batches, jobs


def check_fetch(cfg, expect, label):
    batches, jobs = asyncio.run(fetch(cfg))
    names = [b.friendly_name for b in batches]
    check(sorted(names) == sorted(expect["batches"]), f"{label}: the {len(expect['batches'])} runs of main inside the window, no other (got {len(names)})")
    times = [b.creation_timestamp for b in batches]
    check(times == sorted(times), f"{label}: oldest first")
    check(len(batches) > 100, f"{label}: more batches than one page ({len(batches)})")
    by_name = {b.friendly_name: b for b in batches}
    big = jobs[str(by_name["w-big"].batch_id)] if "w-big" in by_name else []
    check(len(big) == expect["big_jobs"], f"{label}: every job of the 154-test run across pages (got {len(big)})")
    check(sum(len(v) for v in jobs.values()) == expect["tests"], f"{label}: {expect['tests']} jobs in all")
    first = by_name.get("w-000")
    if first:
        statuses = {j.experience_name: str(j.conflated_status) for j in jobs[str(first.batch_id)]}
        check(statuses.get("sim merge", "").endswith("BLOCKER") and statuses.get("sim pedestrian", "").endswith("WARNING"),
              f"{label}: run w-000's failed test is BLOCKER, its flaked one WARNING ({statuses})")


def column(values):
    """A plotly table column: a list, or plotly 6+'s typed array."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).tolist()
    return list(values)


def table(metric):
    fig = MessageToDict(metric.metric_values.plotly_metric_values.json)
    trace = fig["data"][0]
    header = trace["header"]["values"]
    cols = [column(c) for c in trace["cells"]["values"]]
    return header, cols


def run_report_metrics(config_path, out_path):
    for cls in (JobMetric, BatchMetric):
        if not hasattr(cls, "type"):
            cls.type = property(lambda self: self.type_)
            print(f"note: aliased {cls.__name__}.type -> type_ (open-core 1.x, the ReSim spec 8.1)")
    import resim.metrics.default_report_metrics as drm
    sys.argv = ["default_report_metrics", "--report-config", config_path, "--output-path", out_path]
    asyncio.run(drm.main())


def native_report(cfg):
    """Verdict's own report of the same ID (GET /api/v1/reports/{id})."""
    import urllib.request
    base = cfg["apiURL"].rstrip("/").removesuffix("/resim/v1")
    req = urllib.request.Request(f"{base}/api/v1/reports/{cfg['reportID']}", headers={"Authorization": f"Bearer {cfg['authToken']}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["report"]


def check_metrics(path, expect, native):
    msg = mp.JobMetrics()
    with open(path, "rb") as f:
        msg.ParseFromString(f.read())
    validate_job_metrics(msg)
    check(True, "metrics.binproto validates")
    metrics = {m.name: m for m in msg.job_level_metrics.metrics}
    for name in ("test_status_over_time", "high_level_totals", "experience_status_counts", "job_metric_status_counts",
                 "batch_metric_status_counts", "duration_distribution", "min_distance_distribution", "pass_rate_over_time",
                 "memory_mb_distribution", "cpu_percent_distribution"):
        check(name in metrics, f"metric {name}")
    if "high_level_totals" in metrics:
        header, cols = table(metrics["high_level_totals"])
        totals = dict(zip(cols[0], [int(v) for v in cols[1]]))
        want = {"Number of batches": len(expect["batches"]), "Number of tests": expect["tests"], "Number of error batches": 0,
                "Number of fail block batches": expect["fail_block_batches"],
                "Number of fail warn batches": expect["fail_warn_batches"],
                "Number of passed batches": expect["passed_batches"]}
        check(totals == want, f"high-level totals {totals} == {want}")
        t = native["totals"]
        mine = {"Number of batches": t["batches"], "Number of tests": t["tests"], "Number of error batches": t["error_batches"],
                "Number of fail block batches": t["fail_block_batches"], "Number of fail warn batches": t["fail_warn_batches"],
                "Number of passed batches": t["passed_batches"]}
        check(totals == mine, f"high-level totals equal Verdict's native report {mine}")
    if "job_metric_status_counts" in metrics:
        header, cols = table(metrics["job_metric_status_counts"])
        names = list(cols[0])
        native_names = [m["name"] for m in native["job_metric_status_counts"]]
        want = ["cpu_percent", "duration", "kernel_time", "memory_mb", "min_distance", "user_time"]
        check(sorted(names) == sorted(native_names) == want, f"job metrics {names} == the native report's {native_names}")
    if "memory_mb_distribution" in metrics:
        fig = MessageToDict(metrics["memory_mb_distribution"].metric_values.plotly_metric_values.json)
        ys = sorted(column(fig["data"][0]["y"]))
        check(ys == sorted(expect["memory_mb"].values()), f"memory_mb: each sampled job's latest sample ({ys[:3]}...)")
    if "experience_status_counts" in metrics:
        header, cols = table(metrics["experience_status_counts"])
        rows = {}
        for i, exp in enumerate(cols[0]):
            rows[exp] = {h: int(cols[k][i]) for k, h in enumerate(header) if k > 0 and int(cols[k][i])}
        for exp, counts in expect["experience_counts"].items():
            check(rows.get(exp) == counts, f"experience {exp}: {rows.get(exp)} == {counts}")
        check(list(cols[0])[0] == "sim merge", f"the most failing experience first ({list(cols[0])[:2]})")
        names = {"passed": "PASSED", "warning": "WARNING", "blocker": "BLOCKER", "error": "ERROR", "cancelled": "CANCELLED"}
        mine = {e["name"]: {names[k]: v for k, v in e["counts"].items() if v} for e in native["experiences"]}
        diff = {k: (mine.get(k), rows.get(k)) for k in set(mine) | set(rows) if mine.get(k) != rows.get(k)}
        check(mine == rows, f"per-experience counts equal Verdict's native report {dict(list(diff.items())[:3])}")
        check([e["name"] for e in native["experiences"]][0] == list(cols[0])[0], "the native report lists the same test first")


def check_resources(cfg, expect):
    """A sampled job's metrics through the ReSim API: pytest-monitor's sample of the same CI build."""
    import urllib.parse
    import urllib.request
    api, p = cfg["apiURL"].rstrip("/"), cfg["projectID"]
    get = lambda path: json.load(urllib.request.urlopen(urllib.request.Request(
        f"{api}/projects/{p}/{path}", headers={"Authorization": f"Bearer {cfg['authToken']}"})))
    batches, _ = asyncio.run(fetch(cfg))
    key, mem = next(iter(expect["memory_mb"].items()))
    batch = next(b for b in batches if b.friendly_name == key)
    jobs = get(f"batches/{batch.batch_id}/jobs")["jobs"]
    job = next(j for j in jobs if j["experienceName"] == "sim left-turn")
    got = {m["name"]: (m["value"], m["unit"]) for m in get(f"batches/{batch.batch_id}/jobs/{job['jobID']}/metrics")["metrics"]}
    want = {"memory_mb": (mem, "MB"), "cpu_percent": (87.5, "%"), "user_time": (1.5, "s"), "kernel_time": (0.25, "s")}
    check(all(got.get(k) == v for k, v in want.items()), f"job {key}/left-turn has its session's resources {want}: {got}")
    other = next(j for j in jobs if j["experienceName"] == "sim merge")
    names = [m["name"] for m in get(f"batches/{batch.batch_id}/jobs/{other['jobID']}/metrics")["metrics"]]
    check("memory_mb" not in names, "a job without samples has no resource metrics")


def main():
    if sys.argv[1] == "--program":
        run_report_metrics(sys.argv[2], sys.argv[3])
        return
    config_path, expect_path, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg, expect = json.load(open(config_path)), json.load(open(expect_path))
    check_fetch(cfg, expect, "fetch_batches_for_report")
    if "--revision-report" in sys.argv:
        rev = json.load(open(sys.argv[sys.argv.index("--revision-report") + 1]))
        check_fetch(rev, expect, "respectRevisionBoundary")
    check_resources(cfg, expect)
    out = f"{out_dir}/metrics.binproto"
    run_report_metrics(config_path, out)
    check_metrics(out, expect, native_report(cfg))
    if failures:
        print(f"{len(failures)} checks failed", file=sys.stderr)
        sys.exit(1)


main()
