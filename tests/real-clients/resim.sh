#!/usr/bin/env bash
# ReSim's report code (PyPI resim-open-core 1.6.0 and 0.16.0: the real
# fetch_batches_for_report, fetch_jobs_for_batches and
# `default_report_metrics`) against a real `verdict serve` on SQLite and on
# PostgreSQL, over runs uploaded through the Buildkite API (resim/seed.py);
# then the API's answers to bad input. PostgreSQL runs with a read token.
#
# Needs: a built verdict (VERDICT_BIN), python3, curl, psql, and PostgreSQL
# at VERDICT_TEST_DATABASE_URL.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERDICT=${VERDICT_BIN:-$ROOT/target/debug/verdict}
CLIENTS=${VERDICT_CLIENTS_DIR:-$ROOT/target/real-clients}
PG_URL=${VERDICT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export PGOPTIONS="--client-min-messages=warning"
VERSIONS=(1.6.0 0.16.0)

[ -x "$VERDICT" ] || { echo "resim: $VERDICT is missing: run cargo build first" >&2; exit 1; }
mkdir -p "$CLIENTS"
for v in "${VERSIONS[@]}"; do
  venv="$CLIENTS/resim-${v%.0}"
  installed=$("$venv/bin/pip" show resim-open-core 2>/dev/null || true)
  if ! grep -qx "Version: $v" <<<"$installed"; then
    rm -rf "$venv"; python3 -m venv "$venv"
    "$venv/bin/pip" install -q "resim-open-core==$v" || { echo "resim: cannot install resim-open-core==$v from PyPI" >&2; exit 1; }
  fi
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
fails=0

run_backend() {
  local backend=$1 work schema="" port pid token read_token="" auth=()
  work=$(mktemp -d)
  local args=(--data-dir "$work/data")
  if [ "$backend" = postgres ]; then
    schema="resim_$$_$RANDOM"
    psql -q "$PG_URL" -c "CREATE SCHEMA $schema" || { echo "resim: PostgreSQL is required at $PG_URL" >&2; exit 1; }
    args+=(--database-url "$PG_URL?options=-c%20search_path%3D$schema")
    read_token="resim-read-$RANDOM"; auth=(-H "Authorization: Bearer $read_token")
  fi
  token=$("$VERDICT" "${args[@]}" suite create sim 2>/dev/null)
  port=$(free_port)
  "$VERDICT" "${args[@]}" serve --listen "127.0.0.1:$port" ${read_token:+--read-token "$read_token"} >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  local base="http://127.0.0.1:$port" api="http://127.0.0.1:$port/resim/v1"
  local t0=$SECONDS
  python3 "$HERE/resim/seed.py" "$base" "$token" "$work/expect.json"
  echo "[$backend] seeded in $((SECONDS - t0)) s"
  local from to
  from=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["from"])' "$work/expect.json")
  to=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["to"])' "$work/expect.json")
  local report=("$VERDICT" "${args[@]}" report create --suite sim --branch main --from "$from" --to "$to" --api-url "$api" --token "${read_token:-any}")
  "${report[@]}" --config-out "$work/report_config.json" >/dev/null 2>&1
  "${report[@]}" --respect-revision-boundary --config-out "$work/revision_config.json" >/dev/null 2>&1
  "$VERDICT" "${args[@]}" report show "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reportID"])' "$work/report_config.json")" >"$work/show.txt"
  grep -qx '105 runs' "$work/show.txt" || { echo "[$backend] FAIL verdict report show counts the 105 runs:"; head -5 "$work/show.txt"; fails=$((fails + 1)); }

  for v in "${VERSIONS[@]}"; do
    mkdir -p "$work/out-$v"
    if "$CLIENTS/resim-${v%.0}/bin/python" -W ignore "$HERE/resim/check.py" "$work/report_config.json" "$work/expect.json" "$work/out-$v" \
         --revision-report "$work/revision_config.json" >"$work/check-$v.log" 2>&1; then
      echo "[$backend] ok   resim-open-core $v: $(grep -c '^ok ' "$work/check-$v.log") checks ($((SECONDS - t0)) s since the seed began)"
    else
      echo "[$backend] FAIL resim-open-core $v:"; sed "s/^/[$backend]   /" "$work/check-$v.log"; fails=$((fails + 1))
    fi
  done

  local project rid
  project=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["projectID"])' "$work/report_config.json")
  rid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reportID"])' "$work/report_config.json")

  # verdict report run: the real program writes metrics.binproto, Verdict
  # validates and stores it; the twin, ReSim's reportMetrics and the page show it.
  local run=("$VERDICT" "${args[@]}" report run "$rid" --api-url "$api" --token "${read_token:-any}")
  for v in "${VERSIONS[@]}"; do
    local program=("$CLIENTS/resim-0.16/bin/python" -W ignore -m resim.metrics.default_report_metrics --report-config {config} --output-path {output})
    # 1.x needs the documented alias (the spec, 8.1): check.py --program adds it and runs the same module.
    [ "$v" = 0.16.0 ] || program=("$CLIENTS/resim-${v%.0}/bin/python" -W ignore "$HERE/resim/check.py" --program {config} {output})
    if "${run[@]}" -- "${program[@]}" >"$work/run-$v.log" 2>&1 && grep -q '^stored 15 metrics for report' "$work/run-$v.log" \
       && python3 "$HERE/resim/stored.py" "$base" "$rid" "$project" "${read_token:-any}" "$work/expect.json" >"$work/stored-$v.log" 2>&1; then
      echo "[$backend] ok   verdict report run with resim-open-core $v: stored, $(grep -c '^ok ' "$work/stored-$v.log") checks of the twin, reportMetrics and the page"
    else
      echo "[$backend] FAIL verdict report run with resim-open-core $v:"; tail -5 "$work/run-$v.log" | sed "s/^/[$backend]   /"
      sed "s/^/[$backend]   /" "$work/stored-$v.log" 2>/dev/null; fails=$((fails + 1))
    fi
  done
  if [ "$backend" = sqlite ]; then
    # No placeholders: ReSim's own fixed paths under /tmp/resim, as the program defaults to them.
    if "${run[@]}" -- "$CLIENTS/resim-0.16/bin/python" -W ignore -m resim.metrics.default_report_metrics >"$work/run-fixed.log" 2>&1 \
       && grep -q '^stored 15 metrics' "$work/run-fixed.log" && [ ! -e /tmp/resim/inputs/report_config.json ]; then
      echo "[$backend] ok   verdict report run on ReSim's fixed paths (the config, which holds the token, removed after)"
    else echo "[$backend] FAIL verdict report run on ReSim's fixed paths:"; tail -5 "$work/run-fixed.log"; fails=$((fails + 1)); fi
  fi
  # A program that fails, writes nothing or writes garbage: exit 1, a message, nothing changed.
  local before
  before=$(curl -sf "${auth[@]}" "$base/api/v1/reports/$rid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics_stored"])')
  local empty
  empty=$("$VERDICT" "${args[@]}" report create --suite sim --branch main --from 2001-01-01 --to 2001-01-02 | sed -n 's/^report  //p')
  refused_run() {  # what, words the message must hold, report, command...
    local what=$1 words=$2 report=$3 code=0; shift 3
    "$VERDICT" "${args[@]}" report run "$report" --api-url "$api" --token "${read_token:-any}" -- "$@" >"$work/refused.log" 2>&1 || code=$?
    if [ "$code" = 1 ] && grep -q "$words" "$work/refused.log"; then echo "[$backend] ok   verdict report run refuses $what"
    else echo "[$backend] FAIL verdict report run and $what: exit $code"; tail -3 "$work/refused.log"; fails=$((fails + 1)); fi
  }
  refused_run "a program that fails" "exited with status 3" "$rid" sh -c 'exit 3'
  refused_run "a program that writes no file" "wrote no .*metrics.binproto" "$rid" sh -c ': {output}'
  refused_run "a file that is not metrics" "not a resim.metrics.proto.JobMetrics" "$rid" sh -c 'printf "\377\377junk" > {output}'
  refused_run "a report of no batches (the program writes nothing)" "covers no batches" "$empty" \
    "$CLIENTS/resim-0.16/bin/python" -W ignore -m resim.metrics.default_report_metrics --report-config {config} --output-path {output}
  local after
  after=$(curl -sf "${auth[@]}" "$base/api/v1/reports/$rid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics_stored"])')
  if [ "$before" = "$after" ] && [ "$before" != None ]; then echo "[$backend] ok   the refused runs left the stored metrics as they were"
  else echo "[$backend] FAIL the stored metrics changed: $before -> $after"; fails=$((fails + 1)); fi

  # Bad input: 4xx with a message, never a 5xx.
  expect_status() {  # status, what, curl args...
    local want=$1 what=$2; shift 2
    local got
    got=$(curl -s -o "$work/body" -w '%{http_code}' "$@")
    if [ "$got" = "$want" ] && grep -q '"message"' "$work/body"; then echo "[$backend] ok   $what: $got"
    else echo "[$backend] FAIL $what: $got $(head -c 300 "$work/body")"; fails=$((fails + 1)); fi
  }
  local p="$api/projects/$project"
  expect_status 400 "a search clause on an unknown field" "${auth[@]}" "$p/batches" --get --data-urlencode 'search=status = "ERROR"'
  expect_status 400 "a search without the suite" "${auth[@]}" "$p/batches" --get --data-urlencode 'search=created_at > "2024-01-01 00:00:00"'
  expect_status 400 "a bad page token" "${auth[@]}" "$p/reports?pageToken=nope"
  expect_status 400 "a batch id that is not a UUID" "${auth[@]}" "$p/batches/42/jobs"
  expect_status 404 "an unknown batch" "${auth[@]}" "$p/batches/00000000-0000-4000-8000-000000000000/jobs"
  expect_status 404 "another project" "${auth[@]}" "$api/projects/00000000-0000-4000-8000-000000000000/reports"
  local upload_auth=(-H "Authorization: Bearer $token")
  expect_status 400 "a ReportInput with an unknown key" "${upload_auth[@]}" -X POST -H 'Content-Type: application/json' "$p/reports" \
    -d '{"testSuiteID":"00000000-0000-4000-8000-000000000000","branchID":"x","startTimestamp":"2024-01-01T00:00:00Z","colour":"red"}'
  expect_status 401 "a ReportInput without a token" -X POST -H 'Content-Type: application/json' "$p/reports" -d '{}'
  # A report made through the API covers what the CLI's does.
  local input
  input=$(curl -sf "${auth[@]}" "$p/reports/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["reportID"])' "$work/report_config.json")" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({k: r[k] for k in ("testSuiteID","branchID","startTimestamp","endTimestamp")} | {"name": "api", "metricsBuildID": r["metricsBuildID"]}))')
  if curl -sf "${upload_auth[@]}" -X POST -H 'Content-Type: application/json' "$p/reports" -d "$input" -o "$work/made.json" \
     && python3 - "$work/made.json" "$work/report_config.json" "$api" "${read_token:-any}" "$project" <<'PY'
import json, sys
made = json.load(open(sys.argv[1]))
json.dump({"authToken": sys.argv[4], "apiURL": sys.argv[3], "projectID": sys.argv[5], "reportID": made["reportID"]}, open(sys.argv[2] + ".api", "w"))
assert made["name"] == "api" and made["status"] == "SUCCEEDED", made
PY
  then
    if "$CLIENTS/resim-1.6/bin/python" -W ignore -c '
import asyncio, json, sys, uuid
import resim.metrics.fetch_report_metrics as frm
from resim.sdk.client import AuthenticatedClient
cfg = json.load(open(sys.argv[1]))
client = AuthenticatedClient(base_url=cfg["apiURL"], token=cfg["authToken"])
b = asyncio.run(frm.fetch_batches_for_report(client=client, report_id=uuid.UUID(cfg["reportID"]), project_id=uuid.UUID(cfg["projectID"])))
assert len(b) == 105, len(b)' "$work/report_config.json.api"; then echo "[$backend] ok   POST /reports: a report the client reads, with the same 105 batches"
    else echo "[$backend] FAIL POST /reports: the client read another set of batches"; fails=$((fails + 1)); fi
  else echo "[$backend] FAIL POST /reports: $(cat "$work/made.json" 2>/dev/null)"; fails=$((fails + 1)); fi
  if [ -n "$read_token" ]; then
    expect_status 401 "a read without the read token" "$p/reports"
  fi
  kill "$pid"; wait "$pid" || true
  if grep -q ' ERROR \|panicked' "$work/server.log"; then echo "[$backend] FAIL the server logged errors:"; grep ' ERROR \|panicked' "$work/server.log" | head; fails=$((fails + 1)); fi
  [ -z "$schema" ] || psql -q "$PG_URL" -c "DROP SCHEMA $schema CASCADE"
  rm -rf "$work"
}

run_backend sqlite
run_backend postgres
echo "resim: $fails failed"
[ "$fails" = 0 ]
