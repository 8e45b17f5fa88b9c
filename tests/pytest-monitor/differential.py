"""Differential test: the same data into the real monitor-server-api and into
Verdict, then every query route on both, answers compared.

Usage: differential.py ORIGINAL_BASE VERDICT_BASE LABEL   (bases end in /api/v1)

Data: the real pytest-monitor 1.6.6 client's requests captured from three runs of
the sample suite (pytest_client_capture.jsonl), replayed to both servers, plus a
generated set (seeded) of a few thousand metrics over many sessions, components and
pipelines. Allowed differences are the documented ones (README, "pytest-monitor"):
they are listed in ALLOWED and reported, never silently skipped.
"""
import hashlib
import json
import os
import random
import sys
import urllib.error
import urllib.parse
import urllib.request

ORIGINAL, VERDICT, LABEL = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/"), sys.argv[3]
HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = urllib.parse.urlsplit(ORIGINAL).path  # /api/v1 on both


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    # No content type on a GET: the original would try to read a page number from a JSON body.
    headers = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw.strip() else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, None


def post_both(path, body):
    a, b = call(ORIGINAL, "POST", path, body), call(VERDICT, "POST", path, body)
    if a[0] != 201 or b[0] != 201:
        sys.exit(f"{LABEL}: loading {path} failed: original {a}, verdict {b}")


# 1. The real client's requests.
replayed = 0
with open(os.path.join(HERE, "pytest_client_capture.jsonl")) as f:
    for line in f:
        r = json.loads(line)["request"]
        if r["method"] == "POST":
            post_both(r["path"][len(PREFIX):], json.loads(r["body"]))
            replayed += 1

# 2. A generated set: 2 more machines, 40 sessions over 5 pipelines, 3000 metrics.
rng = random.Random(20261122)
contexts = []
for i in range(2):
    ctx = {"cpu_count": 4 + i, "cpu_frequency": 2100.5 + i, "cpu_type": "", "cpu_vendor": f"Vendor {i}", "ram_total": 16000 * (i + 1),
           "machine_node": f"ci-node-{i}", "machine_type": "x86_64", "machine_arch": "64bit", "system_info": "Linux - 6.1",
           "python_info": "3.11.7", "h": hashlib.md5(f"machine{i}".encode()).hexdigest()}
    post_both("/contexts/", ctx)
    contexts.append(ctx["h"])
pipelines = ["main", "release-1.x", "feature-a", "nightly", "Main-Legacy"]
sessions = []
for i in range(40):
    desc = {}
    if i % 8:
        desc = {"pipeline_branch": pipelines[i % 5], "pipeline_build_no": str(100 + i // 5), "__ci__": "gitlabci"}
    if i % 3 == 0:
        desc["owner"] = "team-%d" % (i % 4)
    run_date = "2026-10-%02dT%02d:%02d:%02d.%06d" % (1 + i % 28, i % 24, i % 60, (i * 7) % 60, i * 1001)
    scm = None if i % 13 == 12 else ("%040x" % rng.getrandbits(160) if i % 4 else "abc%02d%s" % (i % 5, "0" * 30))
    s = {"session_h": hashlib.md5(f"session{i}".encode()).hexdigest(), "run_date": run_date, "scm_ref": scm, "description": desc}
    post_both("/sessions/", s)
    sessions.append(s["session_h"])
components = ["", "compA", "CompA", "compB.sub", "ui_web", "core%x"]
modules = ["test_api", "pkg.test_db", "pkg.sub.test_cache", "test_ui"]
for i in range(3000):
    module = rng.choice(modules)
    item = "test_%s_%d" % (rng.choice(["get", "put", "scan", "comp"]), rng.randrange(30))
    variant = item if rng.random() < 0.7 else "%s[%d, %s]" % (item, rng.randrange(5), rng.choice(["a", "b b", "c-d"]))
    kind = "module" if rng.random() < 0.05 else "function"
    m = {"session_h": rng.choice(sessions), "context_h": rng.choice(contexts),
         "item_start_time": "2026-10-01T00:%02d:%02d.%06d" % (i // 60 % 60, i % 60, i), "item_path": module,
         "item": item if kind == "function" else module.split(".")[-1], "item_variant": variant if kind == "function" else "",
         "item_fs_loc": module.replace(".", "/") + ".py", "kind": kind, "component": rng.choice(components),
         "total_time": round(rng.expovariate(2), 6), "user_time": round(rng.random(), 6), "kernel_time": rng.randrange(3) / 10,
         "cpu_usage": rng.random() * 1.5, "mem_usage": round(rng.gauss(3, 2), 4)}
    post_both("/metrics/", m)

# 3. Every implemented query route, with real and missing keys, and pages.
h_ctx, h_sess = contexts[0], sessions[5]
captured_ctx = "3e865845a72a7351583b194fdcc83e71"
q = lambda s: urllib.parse.quote(s, safe="")
paths = [
    "/contexts/", f"/contexts/{captured_ctx}", f"/contexts/{h_ctx[:4]}", "/contexts/zzz", "/contexts/count",
    f"/contexts/{h_ctx}/metrics", f"/contexts/{h_ctx}/metrics?page=2", f"/contexts/{h_ctx}/metrics/count", "/contexts/nope/metrics",
    "/sessions/?with_flags=owner", "/sessions/?with_flags=owner&restrict_flags=team-1", "/sessions/?with_flags=pipeline_branch,owner",
    "/sessions/?with_flags=pipeline_branch,owner&restrict_flags=main,team-0&method=match_all",
    "/sessions/?with_flags=env,owner&restrict_flags=ci", "/sessions/?with_flags=nothing", f"/sessions/{h_sess[:2]}?with_flags=__ci__",
    "/sessions/?with_flags=owner&page=2",
    "/sessions/", f"/sessions/{h_sess}", f"/sessions/{h_sess[:3]}", "/sessions/count", f"/sessions/{h_sess}/metrics",
    f"/sessions/{h_sess}/metrics/count", "/sessions/nope/metrics/count",
    "/metrics/", "/metrics/?page=2", "/metrics/?page=-1", "/metrics/?page=-2&foo=bar", "/metrics/?page=2&foo=bar&foo=baz",
    "/metrics/?page=abc", "/metrics/?page=0", "/metrics/?page=99", "/metrics/?page=-99", "/metrics/count",
    "/items/test_get_3/metrics", "/items/test_get_3/metrics/count", "/items/like/COMP/metrics", "/items/like/scan_1/metrics",
    "/items/like/_1/metrics", f"/variants/{q('test_sum[1, 2, 3]')}/metrics", f"/variants/{q('test_sum[1, 2, 3]')}/metrics/count",
    "/variants/like/b%20b/metrics", "/variants/like/c-d/metrics?page=2",
    "/filters/scope/module/metrics", "/filters/scope/module/metrics/count", "/filters/scope/class/metrics",
    "/filters/scm/abc0/metrics", "/filters/scm/abc0/metrics/count", "/filters/scm/ABC/metrics/count", "/filters/scm/none/metrics",
    "/filters/scm/none/metrics/count", "/filters/scm/deadbeef/sessions", "/filters/scm/abc/sessions",
    "/components/", "/components/count", "/components/comp", "/components/ui", "/components/zz", "/components/metrics",
    "/components/compa/metrics", "/components/core%25x/metrics", "/components/compA/items/test_get_3/metrics",
    f"/components/compB.sub/variants/{q('test_nested_ok')}/metrics", "/components/items/test_put_1/metrics",
    "/components/variants/test_put_1/metrics",
    "/pipelines/", "/pipelines/main/builds", "/pipelines/nightly/builds", "/pipelines/build-linux/builds", "/pipelines/none/builds",
    "/pipelines/main/builds/100/sessions", "/pipelines/build-linux/builds/42/sessions", "/pipelines/main/builds/999/sessions",
    "/pipelines/main/builds?page=2", "/components/compA/pipelines", "/components/CompA/pipelines", "/components/myproj/pipelines",
    "/components/zz/pipelines", "/components/compA/pipelines/main/builds", "/components/ui_web/pipelines/nightly/builds",
    "/components/compA/pipelines/main/builds/100/sessions", "/components/myproj.compB.sub/pipelines/build-linux/builds/42/sessions",
]
# The resource routes, with ties (kernel_time has 3 values), caps and every scope.
for resource in ["memory", "cpu", "kernel_time", "user_time", "total_time"]:
    for end in ["head", "tail"]:
        paths += [f"/resources/{resource}/{end}/metrics", f"/resources/{resource}/{end}/37/metrics"]
paths += [
    "/resources/kernel_time/head/600/metrics", "/resources/memory/tail/0/metrics", "/resources/cpu/head/007/metrics",
    "/resources/memory/head/-1/metrics", "/resources/memory/head/x/metrics", "/resources/memory/sideways/metrics",
    "/resources/memory/pipelines/main/head/metrics", "/resources/kernel_time/pipelines/nightly/tail/50/metrics",
    "/resources/memory/pipelines/main-legacy/head/metrics", "/resources/memory/pipelines/none/tail/metrics",
    "/resources/memory/pipelines/build-linux/head/metrics", "/resources/cpu/pipelines/main/builds/100/head/20/metrics",
    "/resources/total_time/pipelines/main/builds/100/tail/metrics", "/resources/memory/pipelines/main/builds/999/head/metrics",
    "/resources/user_time/components/compA/head/metrics", "/resources/kernel_time/components/CompA/tail/200/metrics",
    "/resources/memory/components/compa/head/metrics", "/resources/cpu/components/core%25x/head/5/metrics",
    "/resources/memory/components/myproj.compB.sub/head/metrics",
]
# Documented differences: (path, why). Everything else must be equal.
ALLOWED = {
    "/filters/scm/deadbeef/sessions": "the original answers tags: null on this route (it marshals raw rows); Verdict gives the tags",
    "/filters/scm/abc/sessions": "same: tags",
}
# Documented differences in status: (original's, Verdict's, why).
STATUS = {
    "/resources/disk/head/metrics": (500, 404, "an unknown resource is a KeyError in the original; Verdict answers 404 naming the five"),
}
paths += list(STATUS)

def first_difference(a, b, where=""):
    if type(a) is not type(b):
        return f"{where}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{where}: keys {list(a)} vs {list(b)}"
        return next((d for k in a if (d := first_difference(a[k], b[k], f"{where}.{k}"))), None)
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items vs {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{where}[{i}]"))), None)
    return None if a == b else f"{where}: {a!r} vs {b!r}"


same = differ = allowed = 0
for path in paths:
    a, b = call(ORIGINAL, "GET", path), call(VERDICT, "GET", path)
    # Error bodies are Flask's and Verdict's own texts: the status is what must match.
    equal = a[0] == b[0] and (a[0] >= 400 or a[1] == b[1])
    if path in STATUS and (a[0], b[0]) == STATUS[path][:2]:
        allowed += 1
        print(f"[{LABEL}] allowed {path}: {STATUS[path][2]}")
    elif path in ALLOWED and a[0] == b[0]:
        allowed += 1
        print(f"[{LABEL}] allowed {path}: {ALLOWED[path]}")
    elif equal:
        same += 1
    else:
        differ += 1
        print(f"[{LABEL}] DIFFERS {path}: original {a[0]}, verdict {b[0]}; first difference {first_difference(a[1], b[1])}")
print(f"[{LABEL}] replayed {replayed} captured client requests and 3042 generated records into both servers")
print(f"[{LABEL}] differential: {same} routes answer the same, {allowed} with a documented difference, {differ} differ")
sys.exit(1 if differ or same == 0 else 0)
