# `verdict run` with a real pytest writing real JUnit, against the real
# server of run.sh (sourced by it): a muted test's failure is forgiven, an
# unmuted one is not; tests are muted through the CLI (on the store) and
# through the Buildkite-compatible API (with the suite's manage token); the
# skip list deselects a skipped test; Verdict down keeps the exit code.
# Uses run.sh's VERDICT, CLIENTS, HERE, total_pass and total_fail.

check_verdict_run() {
  local backend=$1 base=$2 token=$3 work=$4; shift 4
  local store_args=("$@") q rc out manage id
  q=$(mktemp -d); cp -r "$HERE/sample-quarantine/." "$q/"
  local pytest=("$CLIENTS/venv/bin/python" -m pytest -q -p no:cacheprovider)
  expect() { # name, wanted exit code, actual, log
    if [ "$2" = "$3" ]; then echo "[$backend] ok verdict run: $1"; total_pass=$((total_pass + 1));
    else echo "[$backend] FAIL verdict run: $1: exit $3, wanted $2"; cat "$4"; total_fail=$((total_fail + 1)); fi
  }
  grep_ok() { # name, pattern, file
    if grep -q -- "$2" "$3"; then echo "[$backend] ok verdict run: $1"; total_pass=$((total_pass + 1));
    else echo "[$backend] FAIL verdict run: $1: no $2 in"; cat "$3"; total_fail=$((total_fail + 1)); fi
  }
  vrun() { # log, extra env..., then -- command
    local log=$1; shift
    (cd "$q" && env -i PATH="$PATH" HOME="$work" VERDICT_URL="$base" VERDICT_TOKEN="$token" BUILDKITE_BUILD_ID="vr-$RANDOM$RANDOM" \
       BUILDKITE_BRANCH=main "$@") >"$log" 2>&1
  }

  rc=0; vrun "$work/vr1.log" "$VERDICT" run --results junit.xml -- "${pytest[@]}" --junit-xml=junit.xml || rc=$?
  expect "an unmuted failure keeps pytest's exit 1" 1 "$rc" "$work/vr1.log"
  grep_ok "names the failure it did not forgive" "failed and not muted: tests.test_q › test_wobbly" "$work/vr1.log"

  # Mute on the store, as a person at a terminal would.
  "$VERDICT" "${store_args[@]}" test mute web --scope tests.test_q --name test_wobbly --reason "flaky in CI" --by qa >"$work/mute.out" 2>&1 \
    || { echo "[$backend] FAIL verdict test mute"; cat "$work/mute.out"; total_fail=$((total_fail + 1)); }
  rc=0; vrun "$work/vr2.log" "$VERDICT" run --results junit.xml -- "${pytest[@]}" --junit-xml=junit.xml || rc=$?
  expect "every failure muted: exit 0" 0 "$rc" "$work/vr2.log"
  grep_ok "says which failures it forgave" "muted or skipped, not counted: tests.test_q › test_wobbly" "$work/vr2.log"
  rc=0; vrun "$work/vr3.log" FAIL_OTHER=1 "$VERDICT" run --results junit.xml -- "${pytest[@]}" --junit-xml=junit.xml || rc=$?
  expect "a muted and an unmuted failure: exit 1" 1 "$rc" "$work/vr3.log"

  # Skip test_other through Buildkite's path with the manage token; an upload token is refused.
  manage=$("$VERDICT" "${store_args[@]}" suite token manage web 2>/dev/null)
  id=$(curl -sf "$base/api/v1/suites/web/tests/search?q=test_other" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0]["test"]["id"])')
  rc=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" "$base/buildkite/v2/analytics/organizations/any/suites/web/tests/$id/skip")
  expect "an upload token cannot skip a test (403)" 403 "$rc" /dev/null
  curl -sf -X PUT -H "Authorization: Bearer $manage" -d '{"reason": "too slow"}' \
    "$base/buildkite/v2/analytics/organizations/any/suites/web/tests/$id/skip" >"$work/skip.json" || true
  grep_ok "the manage token skips it" '"state":"skipped"' "$work/skip.json"
  rc=0; vrun "$work/vr4.log" FAIL_OTHER=1 "$VERDICT" run --results junit.xml -- "${pytest[@]}" --junit-xml=junit.xml || rc=$?
  expect "a muted and a skipped failure: exit 0" 0 "$rc" "$work/vr4.log"

  # The skip list deselects test_other: pytest never runs it.
  rc=0; vrun "$work/vr5.log" FAIL_OTHER=1 "$VERDICT" run --skip-list skip.txt --skip-format pytest --results junit.xml \
    -- sh -c 'exec "$@" $(sed "s/^/--deselect=/" skip.txt)' sh "${pytest[@]}" --junit-xml=junit.xml || rc=$?
  expect "the skip list's run: exit 0" 0 "$rc" "$work/vr5.log"
  grep_ok "the skip list holds pytest's node id" "^tests/test_q.py::test_other$" "$q/skip.txt"
  grep_ok "pytest deselected it" "1 deselected" "$work/vr5.log"

  # Verdict down: pytest's status stands, with a warning.
  rc=0; vrun "$work/vr6.log" "$VERDICT" run --url http://127.0.0.1:9 --results junit.xml -- "${pytest[@]}" --junit-xml=junit.xml || rc=$?
  expect "Verdict unreachable keeps exit 1" 1 "$rc" "$work/vr6.log"
  grep_ok "warns that it could not ask" "cannot ask Verdict which tests are muted" "$work/vr6.log"
  # A usage error (exit 4) is never forgiven, muted or not.
  rc=0; vrun "$work/vr7.log" "$VERDICT" run --results junit.xml -- "${pytest[@]}" --junit-xml=junit.xml --no-such-flag || rc=$?
  expect "pytest's usage error (4) stands" 4 "$rc" "$work/vr7.log"

  "$VERDICT" "${store_args[@]}" test enable web --name tests.test_q/test_wobbly >/dev/null 2>&1 || true
  rc=0; vrun "$work/vr8.log" "$VERDICT" run --results junit.xml -- "${pytest[@]}" --junit-xml=junit.xml || rc=$?
  expect "enabled again: exit 1" 1 "$rc" "$work/vr8.log"
  rm -rf "$q"
}
