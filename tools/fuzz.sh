#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a bounded time each:
#
#   tools/fuzz.sh [DURATION]     (default 15s per target)
#
# Prints one line per target (name, package, ok/FAILED, executions) and exits
# non-zero when a target crashes or fewer targets than expected are found.
# A crashing input is written under the package's testdata/fuzz/<target>;
# committed, it becomes a seed that every plain `go test` run replays.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export PATH=/usr/local/go/bin:$PATH
time=${1:-15s}
min_targets=9
if [ "$time" = 0 ]; then
  echo "FAILED: a fuzz time of 0 runs nothing" >&2
  exit 1
fi
rc=0 targets=0
while read -r file; do
  pkg=./$(dirname "$file")
  for fn in $(sed -nE 's/^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\).*/\1/p' "$file"); do
    targets=$((targets + 1))
    if out=$(go test -run '^$' -fuzz "^$fn\$" -fuzztime "$time" "$pkg" 2>&1); then
      printf '%-24s %-22s ok %s in %s\n' "$fn" "$pkg" "$(grep -oE 'execs: [0-9]+' <<<"$out" | tail -1)" "$time"
    else
      printf '%s\n' "$out" | tail -30
      printf '%-24s %-22s FAILED\n' "$fn" "$pkg"
      rc=1
    fi
  done
done < <(grep -rlE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --include='*_test.go' . | grep -v '^\./\.cache/' | sed 's|^\./||' | sort)
if [ "$targets" -lt "$min_targets" ]; then
  echo "FAILED: $targets fuzz targets found, expected at least $min_targets"
  rc=1
fi
exit $rc
