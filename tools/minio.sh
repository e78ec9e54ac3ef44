#!/usr/bin/env bash
# Runs a throwaway MinIO (a real S3 server) on 127.0.0.1 for the S3 driver's
# tests and benchmarks. Everything it writes stays under DIR: the data, its
# config and certs folders (MinIO otherwise writes ~/.minio), the log and the
# pid file, so several instances can run side by side and `stop` kills only
# the process this script started.
#
#   tools/minio.sh install                 build the binary (tools/install.sh minio)
#   tools/minio.sh start DIR [PORT] [BUCKET]
#   tools/minio.sh stop DIR
#
# start prints shell assignments (also saved in DIR/env) that tests read:
#   MINIO_ENDPOINT=127.0.0.1:PORT MINIO_ACCESS_KEY=… MINIO_SECRET_KEY=… MINIO_BUCKET=…
# PORT defaults to a free port; BUCKET to $MINIO_BUCKET or "shadowreg";
# credentials to $MINIO_ROOT_USER / $MINIO_ROOT_PASSWORD or minioadmin/minioadmin.
# The binary is $SHADOWREG_TOOLS/minio (default <repo>/.cache/bin/minio); start
# builds it when missing unless MINIO_NO_INSTALL=1. With MINIO_WATCH_PID=PID,
# MinIO is stopped when process PID ends (a test binary killed by a timeout
# cannot run its cleanup).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SHADOWREG_TOOLS:-$repo/.cache/bin}
MINIO=$BIN/minio

log() { printf '[minio] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# port_free PORT: nothing accepts connections on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port [AVOID]: a free port other than AVOID (bounded: gives up after
# 100 tries), below the kernel's ephemeral range (32768 and up), where the
# outgoing connections of a busy test run and servers listening on :0 take
# theirs: a port picked there can be taken before MinIO binds it.
free_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if [ "$p" != "${1:-}" ] && port_free "$p"; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

install() {
  [ -x "$MINIO" ] && return 0
  [ "${MINIO_NO_INSTALL:-}" = 1 ] && die "$MINIO missing: run tools/install.sh minio"
  "$repo/tools/install.sh" minio >/dev/null
}

# create_bucket URL BUCKET: a SigV4-signed PUT /BUCKET (curl >= 7.75 signs it);
# 409 means it exists already, which is fine. MinIO answers 503 for a moment
# after /minio/health/live turns green, while it initializes: retried.
create_bucket() {
  local code i
  for i in $(seq 1 100); do # up to ~10 s
    code=$(curl -sS -o "$dir/bucket.out" -w '%{http_code}' -X PUT \
      --aws-sigv4 "aws:amz:us-east-1:s3" --user "$user:$pass" "$1/$2") || code=000
    case "$code" in
      200|409) return 0 ;;
      503|000) sleep 0.1 ;;
      *) break ;;
    esac
  done
  stop "$dir"
  die "creating bucket $2: HTTP $code: $(cat "$dir/bucket.out" 2>/dev/null)"
}

# launch DIR PORT CONSOLE: runs MinIO and waits until it is ready. Returns
# 1 when MinIO exited because a port was in use; dies on other failures.
launch() {
  local dir=$1 port=$2 console=$3
  # MINIO_BROWSER=off: no web console; MINIO_CI_CD=1: no prompts or update checks.
  HOME="$dir/home" MINIO_ROOT_USER="$user" MINIO_ROOT_PASSWORD="$pass" \
    MINIO_BROWSER=off MINIO_CI_CD=1 MINIO_UPDATE=off \
    setsid "$MINIO" server "$dir/data" --quiet --certs-dir "$dir/certs" \
    --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" \
    >"$dir/minio.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/minio.pid"
  if [ -n "${MINIO_WATCH_PID:-}" ]; then
    # Detached from our stdout, or whoever reads it would wait for the watchdog.
    (
      while kill -0 "$MINIO_WATCH_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill -TERM "$pid" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
  fi
  local url="http://127.0.0.1:$port" i
  for i in $(seq 1 300); do # up to 30 s; it is usually ready in about 2
    if curl -fsS -o /dev/null "$url/minio/health/live" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$dir/minio.pid"
      grep -q "already in use" "$dir/minio.log" && return 1
      die "minio exited: $(tail -n 20 "$dir/minio.log")"
    fi
    [ "$i" = 300 ] && { stop "$dir"; die "minio not ready after 30 s: $(tail -n 20 "$dir/minio.log")"; }
    sleep 0.1
  done
}

start() {
  dir=${1:?usage: minio.sh start DIR [PORT] [BUCKET]}
  local port=${2:-} bucket=${3:-${MINIO_BUCKET:-shadowreg}}
  user=${MINIO_ROOT_USER:-minioadmin}
  pass=${MINIO_ROOT_PASSWORD:-minioadmin}
  install
  mkdir -p "$dir/data" "$dir/home" "$dir/certs"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/minio.pid" ] && kill -0 "$(cat "$dir/minio.pid")" 2>/dev/null; then
    die "already running in $dir (pid $(cat "$dir/minio.pid")): minio.sh stop $dir"
  fi
  # A picked port can still be taken by someone else before MinIO binds
  # it: pick again (a port given by the caller is tried once).
  local fixed=$port attempt
  for attempt in 1 2 3 4 5; do
    [ -n "$fixed" ] || port=$(free_port)
    port_free "$port" || die "port $port is in use"
    if launch "$dir" "$port" "$(free_port "$port")"; then break; fi
    [ -z "$fixed" ] && [ "$attempt" != 5 ] || die "minio exited: $(tail -n 20 "$dir/minio.log")"
    echo "[minio] port $port taken before MinIO bound it; trying another" >&2
  done
  local url="http://127.0.0.1:$port" pid
  pid=$(cat "$dir/minio.pid")
  create_bucket "$url" "$bucket"

  cat >"$dir/env" <<EOF
MINIO_ENDPOINT=127.0.0.1:$port
MINIO_ACCESS_KEY=$user
MINIO_SECRET_KEY=$pass
MINIO_BUCKET=$bucket
MINIO_PID=$pid
EOF
  cat "$dir/env"
}

stop() {
  local dir=${1:?usage: minio.sh stop DIR}
  local pidfile="$dir/minio.pid" pid i
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  # Only signal the process this script started: the pid must still be a minio.
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "minio server"; then
    kill -TERM "$pid"
    for i in $(seq 1 100); do # up to 10 s
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  install) install; echo "$MINIO" ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) die "usage: minio.sh install | start DIR [PORT] [BUCKET] | stop DIR" ;;
esac
