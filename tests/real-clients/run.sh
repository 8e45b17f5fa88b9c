#!/usr/bin/env bash
# The real Buildkite collectors (PyPI buildkite-test-collector with pytest 8,
# npm buildkite-test-collector with jest), the documented curl uploads and the
# real pytest-monitor client (`pytest --remote-server`), against a real
# `verdict serve` on SQLite and on PostgreSQL; what arrived is then checked
# through the read APIs (check.py, check_monitor.py).
#
# Needs: a built verdict (VERDICT_BIN, default target/debug/verdict), python3,
# npm, curl, psql, and PostgreSQL at VERDICT_TEST_DATABASE_URL.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERDICT=${VERDICT_BIN:-$ROOT/target/debug/verdict}
CLIENTS=${VERDICT_CLIENTS_DIR:-$ROOT/target/real-clients}
PG_URL=${VERDICT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export PGOPTIONS="--client-min-messages=warning"
PY_COLLECTOR=buildkite-test-collector==1.9.0
NPM_COLLECTOR=buildkite-test-collector@1.12.0
# pytest-monitor 1.6.6 reads a pytest internal that pytest 9 removed.
PYTEST_MONITOR=(pytest-monitor==1.6.6 pytest==8.4.2)

[ -x "$VERDICT" ] || { echo "real-clients: $VERDICT is missing: run cargo build first" >&2; exit 1; }
mkdir -p "$CLIENTS"
if [ ! -x "$CLIENTS/venv/bin/pytest" ] || ! "$CLIENTS/venv/bin/pip" show buildkite-test-collector >/dev/null 2>&1; then
  python3 -m venv "$CLIENTS/venv"
  "$CLIENTS/venv/bin/pip" install -q 'pytest>=8,<9' "$PY_COLLECTOR"
fi
if [ ! -d "$CLIENTS/npm/node_modules/buildkite-test-collector" ] || [ ! -x "$CLIENTS/npm/node_modules/.bin/jest" ]; then
  mkdir -p "$CLIENTS/npm"
  (cd "$CLIENTS/npm" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --no-audit --no-fund --loglevel=error "$NPM_COLLECTOR" jest@29 >/dev/null)
fi
if [ ! -x "$CLIENTS/pm-venv/bin/pytest" ] || ! "$CLIENTS/pm-venv/bin/pip" show pytest-monitor >/dev/null 2>&1; then
  python3 -m venv "$CLIENTS/pm-venv"
  "$CLIENTS/pm-venv/bin/pip" install -q "${PYTEST_MONITOR[@]}"
fi
echo "real-clients: ${PYTEST_MONITOR[*]}"
echo "real-clients: pytest $("$CLIENTS/venv/bin/pytest" --version 2>&1 | awk '{print $2}'), $PY_COLLECTOR, $NPM_COLLECTOR, jest $("$CLIENTS/npm/node_modules/.bin/jest" --version)"

source "$HERE/verdict_run.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
total_pass=0; total_fail=0

run_backend() {
  local backend=$1 work schema="" port pid token rc
  work=$(mktemp -d)
  local args=(--data-dir "$work/data")
  if [ "$backend" = postgres ]; then
    schema="rc_$$_$RANDOM"
    psql -q "$PG_URL" -c "CREATE SCHEMA $schema" || { echo "real-clients: PostgreSQL is required at $PG_URL" >&2; exit 1; }
    args+=(--database-url "$PG_URL?options=-c%20search_path%3D$schema")
  fi
  token=$("$VERDICT" "${args[@]}" suite create web 2>/dev/null)
  port=$(free_port)
  "$VERDICT" "${args[@]}" serve --listen "127.0.0.1:$port" --pytest-monitor-suite web >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  local base="http://127.0.0.1:$port"
  local clean=(env -i PATH="$PATH" HOME="$work" BUILDKITE_ANALYTICS_TOKEN="$token")

  # pytest: the plugin loads itself; 3 tests fail by design, so pytest exits 1.
  rc=0; (cd "$HERE/sample-pytest" && "${clean[@]}" BUILDKITE_ANALYTICS_API_URL="$base/v1" BUILDKITE_BUILD_ID=pytest-build-1 \
     BUILDKITE_BRANCH=main BUILDKITE_COMMIT=c0ffee BUILDKITE_BUILD_NUMBER=7 BUILDKITE_BUILD_URL=https://ci.example/7 \
     "$CLIENTS/venv/bin/python" -m pytest -q -p no:cacheprovider tests) >"$work/pytest.log" 2>&1 || rc=$?
  [ "$rc" = 1 ] || { echo "pytest exited $rc"; cat "$work/pytest.log"; exit 1; }
  grep -qi "warning.*buildkite\|error.*upload" "$work/pytest.log" && { echo "the pytest collector reported a problem:"; cat "$work/pytest.log"; exit 1; }
  # 250 tests: the collector sends batches of 100 under one key.
  (cd "$HERE/sample-pytest" && "${clean[@]}" BUILDKITE_ANALYTICS_API_URL="$base/v1" BUILDKITE_BUILD_ID=pytest-many-1 \
     "$CLIENTS/venv/bin/python" -m pytest -q -p no:cacheprovider tests_many) >"$work/pytest-many.log" 2>&1

  # jest reporter
  rc=0; (cd "$HERE/sample-jest" && "${clean[@]}" BK_NPM_DIR="$CLIENTS/npm/node_modules" BUILDKITE_ANALYTICS_BASE_URL="$base/v1/uploads" \
     BUILDKITE_BUILD_ID=jest-build-1 BUILDKITE_BRANCH=main BUILDKITE_COMMIT=c0ffee \
     "$CLIENTS/npm/node_modules/.bin/jest" --config jest.config.js --ci) >"$work/jest.log" 2>&1 || rc=$?
  [ "$rc" = 1 ] || { echo "jest exited $rc"; cat "$work/jest.log"; exit 1; }
  grep -q "Test Engine error" "$work/jest.log" && { echo "the jest collector reported a problem:"; cat "$work/jest.log"; exit 1; }

  # The documented curl multipart uploads of pytest's --json and --junit-xml files.
  (cd "$HERE/sample-pytest" && env -i PATH="$PATH" HOME="$work" "$CLIENTS/venv/bin/python" -m pytest -q -p no:cacheprovider tests \
     --json="$work/results.json" --junit-xml="$work/junit.xml") >/dev/null 2>&1 || true
  for pair in "json:$work/results.json" "junit:$work/junit.xml"; do
    curl -sS --fail-with-body -o "$work/curl.out" -X POST -H "Authorization: Token token=\"$token\"" -F "data=@${pair#*:}" \
      -F "format=${pair%%:*}" -F "run_env[CI]=buildkite" -F "run_env[key]=curl-build-1" -F "run_env[branch]=main" \
      -F "run_env[commit_sha]=abc123" -F "tags[team]=frontend" "$base/v1/uploads" || { cat "$work/curl.out"; exit 1; }
  done

  # pytest-monitor, three runs as in the harness: defaults over the token base; CI variables, a git sha,
  # tags, a description, module metrics and a component prefix over the token-less base; a forced
  # component and explicit parametrize ids. One test fails by design in the first two runs.
  local pm_work pytest_pm=("$CLIENTS/pm-venv/bin/pytest" -p no:cacheprovider -q) pm=(env -i PATH="$PATH" HOME="$work" "$CLIENTS/pm-venv/bin/pytest" -p no:cacheprovider -q)
  pm_work=$(mktemp -d); cp -r "$HERE/sample-pytest-monitor/." "$pm_work/"
  rc=0; (cd "$pm_work" && "${pm[@]}" --remote-server "$base/t/$token/api/v1") >"$work/pm1.log" 2>&1 || rc=$?
  [ "$rc" = 1 ] || { echo "pytest-monitor run 1 exited $rc"; cat "$work/pm1.log"; exit 1; }
  rc=0; (cd "$pm_work" && env -i PATH="$HERE/fakescm:$PATH" HOME="$work" FAKE_SCM_REF=deadbeefcafe0001 CIRCLE_JOB=build-linux CIRCLE_BUILD_NUM=42 \
     "${pytest_pm[@]}" --remote-server "$base/api/v1" --tag env=ci --tag owner=qa=team --description "nightly run" \
     --restrict-scope-to function,module --component-prefix myproj) >"$work/pm2.log" 2>&1 || rc=$?
  [ "$rc" = 1 ] || { echo "pytest-monitor run 2 exited $rc"; cat "$work/pm2.log"; exit 1; }
  (cd "$pm_work" && "${pm[@]}" --remote-server "$base/t/$token/api/v1" --no-db --force-component forced \
     --parametrization-explicit -k "sum or comp_param") >"$work/pm3.log" 2>&1 || { echo "pytest-monitor run 3 failed"; cat "$work/pm3.log"; exit 1; }
  if grep -q "Deactivating\|remote server" "$work"/pm?.log; then echo "pytest-monitor reported a problem:"; cat "$work"/pm?.log; exit 1; fi
  rm -rf "$pm_work"

  for scenario in pytest pytest-many jest curl; do
    out=$(python3 "$HERE/check.py" "$base" web "$scenario" | sed "s/^/[$backend] /") || true
    echo "$out" | grep -v ' passed, .* failed$'
    total_pass=$((total_pass + $(echo "$out" | grep -c '\] ok ' || true)))
    total_fail=$((total_fail + $(echo "$out" | grep -c '\] FAIL ' || true)))
  done
  out=$(python3 "$HERE/check_monitor.py" "$base" "$token" web | sed "s/^/[$backend] /") || true
  echo "$out" | grep -v ' passed, .* failed$'
  total_pass=$((total_pass + $(echo "$out" | grep -c '\] ok ' || true)))
  total_fail=$((total_fail + $(echo "$out" | grep -c '\] FAIL ' || true)))
  # Last: its runs and tests would change what the checks above count.
  check_verdict_run "$backend" "$base" "$token" "$work" "${args[@]}"
  kill "$pid"; wait "$pid" || true
  [ -z "$schema" ] || psql -q "$PG_URL" -c "DROP SCHEMA $schema CASCADE"
  rm -rf "$work"
}

run_backend sqlite
run_backend postgres
echo "real-clients: $total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ] && [ "$total_pass" -gt 0 ]
