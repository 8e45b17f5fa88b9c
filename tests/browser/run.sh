#!/usr/bin/env bash
# The dashboard in a real headless Chromium: Debian's chromium and
# chromium-driver (installed here with apt-get when missing; the two must be
# the same version), driven by playwright-core from npm with the system
# browser (never a downloaded one). Seeds a fresh `verdict serve` through the
# real upload API (seed.py), runs check.mjs, and keeps the screenshots and
# timings under target/browser/.
#
# Needs: a built verdict (VERDICT_BIN, default target/debug/verdict), python3,
# npm, curl, and root or passwordless sudo when the browser is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERDICT=${VERDICT_BIN:-$ROOT/target/debug/verdict}
OUT=${VERDICT_BROWSER_OUT:-$ROOT/target/browser}
PLAYWRIGHT=playwright-core@1.65.1

[ -x "$VERDICT" ] || { echo "browser: $VERDICT is missing: run cargo build first" >&2; exit 1; }
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "browser: installing Debian's chromium and chromium-driver"
  as_root=(); [ "$(id -u)" = 0 ] || as_root=(sudo -n)
  if ! "${as_root[@]}" apt-get install -y chromium chromium-driver >/dev/null 2>&1; then
    "${as_root[@]}" apt-get update >/dev/null 2>&1 || true
    "${as_root[@]}" apt-get install -y chromium chromium-driver >/dev/null \
      || { echo "browser: cannot install the Debian packages chromium and chromium-driver (as root: apt-get install -y chromium chromium-driver)" >&2; exit 1; }
  fi
fi
browser_version=$(/usr/bin/chromium --version 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+){3}' | head -n 1)
driver_version=$(/usr/bin/chromedriver --version | grep -oE '[0-9]+(\.[0-9]+){3}' | head -n 1)
if [ -z "$browser_version" ] || [ "$browser_version" != "$driver_version" ]; then
  echo "browser: chromium ($browser_version) and chromium-driver ($driver_version) must be the same version: apt-get install -y chromium chromium-driver" >&2
  exit 1
fi
if [ ! -d "$OUT/npm/node_modules/playwright-core" ]; then
  mkdir -p "$OUT/npm"
  (cd "$OUT/npm" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-audit --no-fund --loglevel=error "$PLAYWRIGHT" >/dev/null) \
    || { echo "browser: npm install $PLAYWRIGHT failed" >&2; exit 1; }
fi
echo "browser: chromium $browser_version, $PLAYWRIGHT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

web=$("$VERDICT" --data-dir "$work/data" suite create web --name "Web app" 2>/dev/null)
api=$("$VERDICT" --data-dir "$work/data" suite create api --name "API" 2>/dev/null)
"$VERDICT" --data-dir "$work/data" suite update web --commit-url 'https://git.example/web/commit/{commit}' \
  --file-url 'https://git.example/web/blob/{commit}/{file}#L{line}' 2>/dev/null
port=$(free_port)
"$VERDICT" --data-dir "$work/data" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
# A webhook endpoint nobody listens on: the webhooks page shows its failed attempts.
"$VERDICT" --data-dir "$work/data" webhook add web --url "http://127.0.0.1:9/hook" --event run.failed --event cluster.created >/dev/null 2>&1
# An owners file: every test is @web-team's, so the test page names its owners.
printf '* @web-team\n' >"$work/TESTOWNERS"
"$VERDICT" --data-dir "$work/data" owners upload --suite web "$work/TESTOWNERS" >/dev/null 2>&1
python3 "$HERE/seed.py" "http://127.0.0.1:$port" "$web" "$api" >/dev/null
# A stored report with a report-metrics program's output: the file ReSim's
# default program wrote in the harness capture, "written" by a program that copies it.
report_id=$("$VERDICT" --data-dir "$work/data" report create --suite web --branch main --length 14d 2>/dev/null | sed -n 's/^report  //p')
"$VERDICT" --data-dir "$work/data" report run "$report_id" -- \
  cp "$ROOT/crates/verdict-formats/tests/fixtures/resim/E2_metrics.binproto" {output} >"$work/report-run.log" 2>&1 \
  || { echo "browser: verdict report run failed:" >&2; cat "$work/report-run.log" >&2; exit 1; }
# The same data behind a read token, for the sign-in check.
signed=$(free_port)
"$VERDICT" --data-dir "$work/data" serve --listen "127.0.0.1:$signed" --read-token reader-secret >"$work/signed.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$signed/healthz" >/dev/null && break; sleep 0.1; done

rm -rf "$OUT/screenshots"
rc=0
PLAYWRIGHT_MODULES="$OUT/npm/node_modules" node "$HERE/check.mjs" "http://127.0.0.1:$port" "http://127.0.0.1:$signed" reader-secret "$OUT" "$report_id" || rc=$?
if grep -qiE "panicked|ERROR" "$work/server.log" "$work/signed.log"; then
  echo "browser: the server logged errors:" >&2; grep -iE "panicked|ERROR" "$work/server.log" "$work/signed.log" >&2; rc=1
fi
exit $rc
