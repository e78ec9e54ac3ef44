#!/usr/bin/env bash
# Benchmarks shadowreg against the reference registry (distribution v3) and the
# machine's own limits. Installs the reference registry if needed, builds shadowreg
# and the bench once, then runs the bench with the arguments given, e.g.
#
#   tools/bench/bench.sh                        # every case; 512 MiB blob, 500 MiB image; 3 reps
#   tools/bench/bench.sh --cases fs             # push, pull, manifest only (also: pt, s3, or case keys)
#   tools/bench/bench.sh --json out.json --profile prof/
#   tools/bench/bench.sh --ours reference       # without shadowreg: two reference registries
#
# All flags: tools/bench/bench.sh -h. Not a test: it prints numbers (exit 1 only
# when a case failed outright on some target).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export PATH=/usr/local/go/bin:$PATH

bin=$(tools/install.sh registry | tail -n 1)
export REGISTRY_BIN=${REGISTRY_BIN:-$bin/registry}

# --ours reference needs no shadowreg; otherwise build it (once per run of this script).
# The S3 cases (in the default "all") need MinIO.
ours=shadowreg
cases=all
prev=
for a in "$@"; do
  case "$a" in
    --ours=*|-ours=*) ours=${a#*=} ;;
    --cases=*|-cases=*) cases=${a#*=} ;;
  esac
  case "$prev" in
    --ours|-ours) ours=$a ;;
    --cases|-cases) cases=$a ;;
  esac
  prev=$a
done
case ",$cases," in
  *,all,*|*,s3,*|*,s3-*|*,swift,*|*,swift-*) tools/minio.sh install >/dev/null ;;
esac
case ",$cases," in # the Swift cases also run shadowreg on S3 (MinIO) as their reference
  *,all,*|*,swift,*|*,swift-*) tools/swift.sh install ;;
esac
if [ "$ours" = shadowreg ] && [ -z "${SHADOWREG_BIN:-}" ]; then
  echo "[bench] go build -o .cache/shadowreg ./cmd/shadowreg" >&2
  go build -o .cache/shadowreg ./cmd/shadowreg
  export SHADOWREG_BIN=$repo/.cache/shadowreg
fi

# A built binary rather than `go run`: the bench re-executes itself as the
# machine-limit server, and a stable path keeps that simple.
go build -o .cache/bench ./tools/bench
exec .cache/bench "$@"
