#!/usr/bin/env python3
"""Peak memory (VmHWM) of a `verdict serve` process under the JSON expansion
and read amplification payloads of issue 11, against the body sizes that
caused it. Run it on two builds to compare them:

    python3 bench/amplification.py target/release/verdict [OLD_BINARY ...]

Each scenario gets a fresh SQLite data directory and server, and is
reported as the growth of the process's peak RSS over its idle peak:

1. JSON expansion: a gzip body (about 100 KB) inflating to 100 MiB of
   `"failure_expanded":[{"expanded":["x","x",...]}]`.
2. Large outputs: 12 results with 10 MiB of `system_out` each (gzip).
3. Read amplification: three concurrent `GET /api/v1/runs/{id}/executions?per_page=500`
   of that run, on the same data after a restart.
"""

import gzip
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def request(url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception as e:  # the server died
        return None, str(e).encode()


def serve(binary):
    data = tempfile.mkdtemp()
    created = subprocess.run([binary, "--data-dir", data, "suite", "create", "amp"], capture_output=True, text=True, check=True)
    token = re.search(r"vdt_[0-9a-f]+", created.stdout).group(0)
    port = free_port()
    server = subprocess.Popen([binary, "--data-dir", data, "serve", "--listen", f"127.0.0.1:{port}"],
                              env={**os.environ, "VERDICT_LOG": "warn"}, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if request(f"{base}/healthz")[0] == 200:
            break
        time.sleep(0.05)
    auth = {"Authorization": f'Token token="{token}"', "Content-Type": "application/json", "Content-Encoding": "gzip"}
    return server, base, auth


def measure(binary):
    """Each scenario on a fresh server, so that one's peak does not hide the next's."""
    rows = []
    server, base, auth = serve(binary)
    try:
        idle = vm_hwm_mb(server.pid)
        lines = 100 * 1024 * 1024 // 4
        expansion = ('{"format":"json","run_env":{"key":"a"},"data":[{"name":"t","failure_expanded":[{"expanded":['
                     + '"x",' * lines + '"x"]}]}]}').encode()
        body = gzip.compress(expansion, 9)
        status, _ = request(f"{base}/v1/uploads", body, auth)
        rows.append(("JSON expansion", len(body), len(expansion), status, vm_hwm_mb(server.pid) - idle))
    finally:
        server.kill()
        server.wait()

    server, base, auth = serve(binary)
    try:
        idle = vm_hwm_mb(server.pid)
        out = "o" * (10 * 1024 * 1024)
        big = json.dumps({"format": "json", "run_env": {"key": "b"},
                          "data": [{"name": f"t{i}", "result": "failed", "system_out": out} for i in range(12)]}).encode()
        body = gzip.compress(big, 6)
        status, reply = request(f"{base}/v1/uploads", body, auth)
        rows.append(("12 x 10 MiB system_out", len(body), len(big), status, vm_hwm_mb(server.pid) - idle))
        run_id = json.loads(reply).get("run_id") if status == 202 else None
        # A restart, so that the reads' peak is theirs and not the upload's.
        server.kill()
        server.wait()
        server = subprocess.Popen(server.args, env={**os.environ, "VERDICT_LOG": "warn"}, stdout=subprocess.DEVNULL)
        for _ in range(300):
            if request(f"{base}/healthz")[0] == 200:
                break
            time.sleep(0.05)
        idle = vm_hwm_mb(server.pid)
        statuses = []
        if run_id:
            def get():
                statuses.append(request(f"{base}/api/v1/runs/{run_id}/executions?per_page=500")[0])
            threads = [threading.Thread(target=get) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        alive = server.poll() is None
        rows.append(("3 concurrent pages of that run", 0, 0, statuses, vm_hwm_mb(server.pid) - idle if alive else float("nan")))
    finally:
        server.kill()
        server.wait()
    return rows


def main():
    for binary in sys.argv[1:] or ["target/release/verdict"]:
        rows = measure(binary)
        print(f"{binary}: each scenario on a fresh server; growth of its peak RSS over its idle peak")
        for what, sent, inflated, status, growth in rows:
            size = f"{sent / 1e6:.2f} MB sent, {inflated / 1e6:.1f} MB inflated" if sent else ""
            print(f"  {what:<34} {size:<36} answered {status}, peak RSS +{growth:.1f} MiB")


if __name__ == "__main__":
    main()
