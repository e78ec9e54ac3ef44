#!/usr/bin/env bash
# The project's test command: bash tools/test.sh [go test flags...]
#
# Installs the real tools the tests use (tools/install.sh all: apt packages and
# Go tools into .cache/bin, each built once), builds shadowreg once into
# .cache/shadowreg, checks formatting and vet, runs the unit tests with -race
# and the end-to-end tests (tests/e2e: real clients, the OCI conformance suite,
# crash tests) against that binary, and closes with "N passed, N failed".
# Extra arguments go to both go test runs (e.g. -run TestConformance).
#
# Environment:
#   SKIP_INSTALL=1       do not install; only check that every tool is there
#                        (tools/install.sh check names each missing one)
#   SHADOWREG_TOOLS      where the Go tools are (default .cache/bin)
#   FUZZTIME             how long each fuzz target runs (default 15s; 0 skips
#                        the phase, and says so: a failed check, not a pass)
#   E2E_RACE=1           run the e2e tests against a second, -race build of
#                        shadowreg (.cache/shadowreg-race; a data race in the
#                        server fails the test that triggered it): ~+30s
# Full logs: .cache/test-logs/{unit,e2e}.log; conformance reports:
# .cache/conformance/shadowreg/.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH=/usr/local/go/bin:$PATH
export SHADOWREG_TOOLS=${SHADOWREG_TOOLS:-$repo/.cache/bin}
export SHADOWREG_BIN=$repo/.cache/shadowreg
logs=$repo/.cache/test-logs
mkdir -p "$logs"
counts=$logs/counts.txt
: >"$counts"

failed_checks=0
declare -a timings=()
phase_start=0
total_start=$(date +%s)

phase() {
  phase_name=$1
  phase_start=$(date +%s)
  printf '\n===== %s =====\n' "$phase_name"
}

phase_end() { # status
  local secs=$(($(date +%s) - phase_start))
  local st=ok
  if [ "$1" -ne 0 ]; then st=FAILED; fi
  timings+=("$(printf '%-28s %5ss  %s' "$phase_name" "$secs" "$st")")
  printf -- '----- %s: %s in %ss\n' "$phase_name" "$st" "$secs"
}

# go_test_done RC: a go test that failed although no failing test was
# counted (it should not happen: the summarizer counts package failures)
# still counts as one failure.
go_test_done() {
  local a b c
  read -r a b c < <(tail -n 1 "$counts")
  if [ "$1" -ne 0 ] && [ "${b:-0}" -eq 0 ]; then
    check_failed "go test exited with status $1"
  fi
  phase_end "$1"
}

check_failed() { # what
  failed_checks=$((failed_checks + 1))
  printf 'FAILED: %s\n' "$1"
}

summary() {
  local p=0 f=0 s=0 a b c
  while read -r a b c; do
    p=$((p + a)); f=$((f + b)); s=$((s + c))
  done <"$counts"
  f=$((f + failed_checks))
  printf '\n===== timings =====\n'
  printf '%s\n' "${timings[@]}"
  printf '%-28s %5ss\n' total "$(($(date +%s) - total_start))"
  printf '\n'
  if [ "$s" -gt 0 ]; then
    # A check that did not run is not a pass: the gate fails on skips
    # (see "SKIP" in the logs for which and why).
    printf 'FAILED: %d tests skipped (grep -- "--- SKIP" %s/*.log)\n' "$s" "$logs"
    f=$((f + 1))
  fi
  printf '%d passed, %d failed, %d skipped\n' "$p" "$f" "$s"
  [ "$f" -eq 0 ]
}

# 1. Tools (idempotent: each is built once into .cache/bin).
phase "install tools"
if [ "${SKIP_INSTALL:-}" = 1 ]; then
  echo "SKIP_INSTALL=1: not installing, only checking that every tool is there"
  bash tools/install.sh check >/dev/null
  rc=$?
  [ $rc -ne 0 ] && check_failed "tools missing (the [install] lines above name them; run tools/install.sh all)"
else
  bash tools/install.sh all >"$logs/install.log" 2>&1
  rc=$?
  grep '^\[install\]' "$logs/install.log" || true
  [ $rc -ne 0 ] && { tail -50 "$logs/install.log"; check_failed "tools/install.sh all (see $logs/install.log)"; }
fi
phase_end $rc

# 2. Build shadowreg once, and the test summarizer.
phase "build"
go version
rc=0
rm -f "$SHADOWREG_BIN" # never test a stale binary
go build -o "$SHADOWREG_BIN" ./cmd/shadowreg || { rc=1; check_failed "go build ./cmd/shadowreg"; }
if [ "${E2E_RACE:-}" = 1 ]; then
  rm -f "$SHADOWREG_BIN-race"
  go build -race -o "$SHADOWREG_BIN-race" ./cmd/shadowreg || { rc=1; check_failed "go build -race ./cmd/shadowreg"; }
fi
go build -o "$repo/.cache/testsummary" ./tests/testsummary || { rc=1; check_failed "go build ./tests/testsummary"; }
phase_end $rc
if [ ! -x "$repo/.cache/testsummary" ]; then
  summary
  exit 1
fi

# 3. Formatting and vet.
phase "gofmt + go vet"
rc=0
mapfile -t gofiles < <(find . -name '*.go' -not -path './.cache/*' -not -path './.git/*' -not -path '*/testdata/*')
unformatted=$(gofmt -l "${gofiles[@]}")
if [ -n "$unformatted" ]; then
  printf 'gofmt -l:\n%s\n' "$unformatted"
  rc=1
  check_failed "gofmt (run gofmt -w on the files above)"
fi
if ! go vet ./...; then
  rc=1
  check_failed "go vet ./..."
fi
phase_end $rc

# 4. Unit tests, with the race detector.
mapfile -t unit < <(go list ./... | grep -v "^github.com/shadowreg/shadowreg/tests")
phase "unit tests (-race)"
go test -race -count=1 -timeout 15m -json "$@" "${unit[@]}" 2>&1 |
  "$repo/.cache/testsummary" -log "$logs/unit.log" -counts "$counts"
go_test_done "${PIPESTATUS[0]}"

# 5. End-to-end tests against the binary built above.
phase "e2e tests"
# Without -race: the race detector would only instrument the harness (the
# server is a separate process); it doubles the time for nothing. E2E_RACE=1
# races the server instead.
[ "${E2E_RACE:-}" = 1 ] && export SHADOWREG_BIN=$SHADOWREG_BIN-race
go test -count=1 -timeout 20m -json "$@" ./tests/... 2>&1 |
  "$repo/.cache/testsummary" -tests -log "$logs/e2e.log" -counts "$counts"
go_test_done "${PIPESTATUS[0]}"
grep -h '^OCI conformance' "$logs/e2e.log" | sort -u || true

# 6. Fuzzing: every fuzz target for a bounded time (tools/fuzz.sh); a
# crash fails the run. Only on a full run: with extra go test arguments (a
# -run selection) it is left out.
if [ $# -eq 0 ]; then
  phase "fuzz (${FUZZTIME:-15s} per target)"
  bash tools/fuzz.sh "${FUZZTIME:-15s}" | tee "$logs/fuzz.log"
  rc=${PIPESTATUS[0]}
  ok=$(grep -c ' ok ' "$logs/fuzz.log")
  echo "$ok 0 0" >>"$counts"
  [ $rc -ne 0 ] && check_failed "fuzzing (see $logs/fuzz.log)"
  phase_end $rc
fi

summary
