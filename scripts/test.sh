#!/usr/bin/env bash
# `npm test`: setup (scripts/setup/ensure.sh), then every test runner in order, each one's summary
# line printed, services started before the integration tests and stopped at the end. The last line
# is the plain total `N passed, N failed`; the exit status is non-zero when anything failed.
#
# Runners (name, command, required). A required runner whose npm script is missing is a failure;
# an optional one is reported as not present. Per-runner time limit: CLUSTER_BRIDGE_TEST_TIMEOUT
# seconds (default 1500), so a hang fails the run instead of eating CI's time.
# CLUSTER_BRIDGE_TEST_ONLY="lint test:unit" runs only those steps (for development; CI runs all).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOGS="$ROOT/.cache/test-logs"
mkdir -p "$LOGS"
LIMIT="${CLUSTER_BRIDGE_TEST_TIMEOUT:-1500}"

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()

say() { echo "[test] $*"; }

ONLY="${CLUSTER_BRIDGE_TEST_ONLY:-}"
# selected STEP: whether STEP runs in this invocation.
selected() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

# record NAME PASSED FAILED DETAIL
record() {
  TOTAL_PASSED=$((TOTAL_PASSED + $2))
  TOTAL_FAILED=$((TOTAL_FAILED + $3))
  SUMMARY+=("$(printf '%-18s %5s passed, %3s failed  %s' "$1" "$2" "$3" "$4")")
  say "$1: $2 passed, $3 failed ($4)"
}

finish() {
  echo
  say "summary"
  for line in "${SUMMARY[@]}"; do
    echo "  $line"
  done
  echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
  if [ "$TOTAL_FAILED" -gt 0 ]; then
    exit 1
  fi
  exit 0
}

# Counts from a runner's log: jest `Tests: ...`, Playwright's `N passed` / `N failed`, unittest's
# `Ran N tests` + `FAILED (failures=.., errors=..)`, or a plain `N passed, N failed` line.
# Prints "PASSED FAILED SUMMARY-LINE", or nothing when no runner summary was found.
parse_counts() {
  node - "$1" <<'JS'
const text = require('fs').readFileSync(process.argv[2], 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
const lines = text.split('\n');
const num = (re, s) => { const m = re.exec(s); return m ? Number(m[1]) : 0; };
let out = null;
const jest = lines.filter(l => /^Tests:\s/.test(l));
if (jest.length) {
  let p = 0, f = 0;
  for (const l of jest) { p += num(/(\d+) passed/, l); f += num(/(\d+) failed/, l); }
  out = [p, f, jest.join(' | ').trim()];
}
const pw = lines.filter(l => /^\s+\d+ (passed|failed|flaky|interrupted|did not run)\b/.test(l));
if (!out && pw.length) {
  let p = 0, f = 0;
  for (const l of pw) {
    const n = num(/(\d+)/, l);
    if (/ (passed|flaky)/.test(l)) p += n; else f += n;
  }
  out = [p, f, pw.map(l => l.trim()).join(', ')];
}
const ran = lines.filter(l => /^Ran \d+ tests? in /.test(l));
if (!out && ran.length) {
  let total = 0, f = 0, s = 0;
  for (const l of ran) total += num(/^Ran (\d+)/, l);
  for (const l of lines.filter(l => /^(FAILED|OK)\b/.test(l))) {
    f += num(/failures=(\d+)/, l) + num(/errors=(\d+)/, l);
    s += num(/skipped=(\d+)/, l);
  }
  out = [total - f - s, f, ran.concat(lines.filter(l => /^(FAILED|OK)\b/.test(l))).join(' | ')];
}
const plain = lines.filter(l => /^(\w+:\s*)?\d+ passed, \d+ failed/.test(l.trim()));
if (!out && plain.length) {
  const l = plain[plain.length - 1].trim();
  out = [num(/(\d+) passed/, l), num(/(\d+) failed/, l), l];
}
if (out) console.log(`${out[0]} ${out[1]} ${out[2]}`);
JS
}

has_script() {
  node -e 'process.exit(require("./package.json").scripts[process.argv[1]] ? 0 : 1)' "$1"
}

# run_step NAME KIND COMMAND...   KIND: lint (pass/fail counts as one) or tests (parse counts)
run_step() {
  local name="$1" kind="$2"
  shift 2
  selected "$name" || return 0
  local log="$LOGS/$name.log" start rc
  echo
  say "===== $name: $* ====="
  start=$(date +%s)
  # The runner gets its own process group: on timeout the whole group goes (jest workers, browsers,
  # servers), and whatever it leaves behind is cleaned up after it exits.
  : >"$log"
  setsid "$@" </dev/null >"$log" 2>&1 &
  local pid=$!
  CURRENT_GROUP=$pid
  tail -n +1 -f --pid="$pid" "$log" &
  local tail_pid=$! timed_out=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ $(($(date +%s) - start)) -ge "$LIMIT" ]; then
      timed_out=1
      kill -TERM -- "-$pid" 2>/dev/null
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
      kill -KILL -- "-$pid" 2>/dev/null
      break
    fi
    sleep 1
  done
  wait "$pid"
  rc=$?
  wait "$tail_pid" 2>/dev/null
  kill -TERM -- "-$pid" 2>/dev/null
  CURRENT_GROUP=""
  if [ "$timed_out" = 1 ]; then
    rc=124
  fi
  local secs=$(($(date +%s) - start))
  if [ "$rc" -eq 124 ]; then
    echo "[test] $name: TIMED OUT after $LIMIT s" | tee -a "$log"
  fi
  if [ "$kind" = lint ]; then
    if [ "$rc" -eq 0 ]; then record "$name" 1 0 "exit 0, ${secs} s"; else record "$name" 0 1 "exit $rc, ${secs} s"; fi
    return
  fi
  local counts passed=0 failed=0 line="no runner summary found"
  counts="$(parse_counts "$log")"
  if [ -n "$counts" ]; then
    read -r passed failed line <<<"$counts"
  fi
  say "$name summary: $line"
  # A runner that failed without counting a failed test (crash, suite that did not load, timeout)
  # still fails the run; one that counted nothing at all ran no test, which is a failure too.
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
  fi
  if [ "$rc" -eq 0 ] && [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
    say "$name: exit 0 but no test ran"
    failed=1
  fi
  record "$name" "$passed" "$failed" "exit $rc, ${secs} s"
}

# run_script NAME REQUIRED: `npm run NAME` if package.json has it.
run_script() {
  local script="$1" required="$2"
  selected "$script" || return 0
  if has_script "$script"; then
    run_step "$script" tests npm run --silent "$script"
  elif [ "$required" = required ]; then
    say "$script: npm script missing"
    record "$script" 0 1 "npm script missing"
  else
    say "$script: not present in package.json (optional runner)"
  fi
}

SERVICES_STARTED=()
CURRENT_GROUP=""
stop_services() {
  local s
  if [ -n "$CURRENT_GROUP" ]; then
    kill -TERM -- "-$CURRENT_GROUP" 2>/dev/null
  fi
  for s in "${SERVICES_STARTED[@]}"; do
    bash "$s" stop >"$LOGS/$(basename "$s" .sh).stop.log" 2>&1 ||
      say "stopping $s failed (see $LOGS/$(basename "$s" .sh).stop.log)"
  done
}
trap stop_services EXIT
trap 'say "interrupted"; exit 130' INT TERM

# --- setup --------------------------------------------------------------------------------------
say "===== setup: scripts/setup/ensure.sh ====="
if ! bash scripts/setup/ensure.sh </dev/null; then
  record setup 0 1 "scripts/setup/ensure.sh failed"
  finish
fi
# shellcheck disable=SC1091
source .cache/env.sh

# --- static checks and unit tests ---------------------------------------------------------------
run_step lint lint npm run --silent lint
run_script test:unit required
run_script test:runtime required

# --- services for the integration and ui tests --------------------------------------------------
# A service that was already running (`<script> status` exits 0: someone else started it) is left
# running at the end; the ones this run starts are stopped again.
for s in scripts/services/*.sh; do
  [ -e "$s" ] || continue
  selected test:integration || selected test:kernel || selected test:ui || break
  svc="$(basename "$s" .sh)"
  say "starting $s"
  if bash "$s" status </dev/null >/dev/null 2>&1; then
    say "$svc: already running; it stays running after the tests"
  else
    SERVICES_STARTED+=("$s")
  fi
  if bash "$s" start </dev/null >"$LOGS/$svc.start.log" 2>&1; then
    say "$s started"
  else
    cat "$LOGS/$svc.start.log"
    record "service:$svc" 0 1 "start failed, see $LOGS/$svc.start.log"
  fi
done

# --- integration, kernel and ui tests -----------------------------------------------------------
run_script test:integration required
run_script test:kernel optional
run_script test:ui required

finish
