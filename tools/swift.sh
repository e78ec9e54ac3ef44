#!/usr/bin/env bash
# Runs a throwaway OpenStack Swift (Debian's proxy, account, container and
# object servers, one replica, tempauth, memcached) on 127.0.0.1 for the Swift
# driver's tests and benchmarks. Everything it writes stays under DIR: rings
# and configs (DIR/etc, with SWIFT_CONF_FILE pointing at DIR/etc/swift.conf,
# else Swift reads /etc/swift), the device (DIR/srv/node/d1), logs and pid
# files, so several instances can run side by side and `stop` kills only the
# processes this script started.
#
#   tools/swift.sh install                  the Debian packages (tools/install.sh swift)
#   tools/swift.sh start DIR [CONTAINER]
#   tools/swift.sh keystone DIR [CONTAINER] a real Keystone and a proxy using it (see keystone())
#   tools/swift.sh stop DIR
#   tools/swift.sh kill DIR                 stop the proxy alone, at once (fault tests)
#   tools/swift.sh revive DIR               start the proxy again after kill
#
# start prints shell assignments (also saved in DIR/env) that tests read:
#   SWIFT_AUTH_URL=http://127.0.0.1:PORT/auth/v1.0 SWIFT_USER=test:tester
#   SWIFT_KEY=testing SWIFT_CONTAINER=… SWIFT_TEMPURL_KEY=… SWIFT_CONF_FILE=…
# The container (default $SWIFT_CONTAINER or "shadowreg") is created, and the
# account gets a TempURL key. With SWIFT_WATCH_PID=PID, the servers are
# stopped when process PID ends (a test binary killed by a timeout cannot run
# its cleanup). Swift's servers drop privileges to `user`, root here.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)

log() { printf '[swift] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

SERVERS=(account container object proxy)
COMMANDS=(swift-ring-builder swift-account-server swift-container-server swift-object-server swift-proxy-server memcached)

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: a free port below the ephemeral range (32768 and up), bounded.
free_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if port_free "$p" && ! grep -qx "$p" "$dir/ports" 2>/dev/null; then
      echo "$p" >>"$dir/ports"
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

install() {
  local c missing=0
  for c in "${COMMANDS[@]}"; do command -v "$c" >/dev/null || missing=1; done
  [ $missing = 0 ] && return 0
  [ "${SWIFT_NO_INSTALL:-}" = 1 ] && die "Swift is not installed: run tools/install.sh swift"
  "$repo/tools/install.sh" swift >/dev/null
}

# server_conf NAME PORT: the config of one storage server.
server_conf() {
  cat <<EOF
[DEFAULT]
user = root
bind_ip = 127.0.0.1
bind_port = $2
workers = 1
devices = $dir/srv/node
mount_check = false
swift_dir = $dir/etc
log_level = WARNING

[pipeline:main]
pipeline = $1-server

[app:$1-server]
use = egg:swift#$1
EOF
}

# proxy_conf PORT MEMCACHED_PORT [AUTH_FILTERS]: the proxy's config; the auth
# filters (default tempauth) sit between tempurl and the object middlewares.
proxy_conf() {
  cat <<EOF
[DEFAULT]
user = root
bind_ip = 127.0.0.1
bind_port = $1
workers = 1
swift_dir = $dir/etc
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache bulk tempurl ${3:-tempauth} copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
token_life = ${SWIFT_TOKEN_LIFE:-86400}

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$2

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOF
}

# running NAME: the pid in DIR/NAME.pid is alive and still that server.
running() {
  local pid
  [ -f "$dir/$1.pid" ] || return 1
  pid=$(cat "$dir/$1.pid")
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$1"
}

launch() { # NAME COMMAND...
  local name=$1
  shift
  SWIFT_CONF_FILE="$dir/etc/swift.conf" setsid "$@" >>"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
  if [ -n "${SWIFT_WATCH_PID:-}" ]; then
    local pid=$!
    (
      while kill -0 "$SWIFT_WATCH_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill -TERM "$pid" 2>/dev/null
    ) </dev/null >/dev/null 2>&1 &
  fi
}

# start_proxy [NAME CONF]: the tempauth proxy, or the proxy NAME (its port in
# DIR/NAME.port) with CONF, and waits for its healthcheck.
start_proxy() {
  local name=${1:-proxy} conf=${2:-$dir/etc/proxy-server.conf} i
  launch "$name" swift-proxy-server "$conf" -v
  for i in $(seq 1 300); do # up to 30 s; usually ready in about 4
    curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$dir/$name.port")/healthcheck" 2>/dev/null && return 0
    running "$name" || die "$name exited: $(tail -n 20 "$dir/$name.log")"
    sleep 0.1
  done
  die "$name not ready after 30 s: $(tail -n 20 "$dir/$name.log")"
}

# authenticate: a tempauth token and storage URL into $token, $storage.
authenticate() {
  local h
  h=$(curl -fsS -D - -o /dev/null -H "X-Storage-User: test:tester" -H "X-Storage-Pass: testing" "$auth_url") ||
    die "tempauth at $auth_url refused test:tester"
  token=$(printf '%s' "$h" | tr -d '\r' | sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')
  storage=$(printf '%s' "$h" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]torage-[Uu]rl: //p')
  [ -n "$token" ] && [ -n "$storage" ] || die "tempauth answered without a token: $h"
}

# swift_req METHOD URL [HEADER]: a PUT or POST with the token; retried while the
# storage servers come up (503).
swift_req() {
  local method=$1 url=$2 header=${3:-X-Shadowreg: 1} code i
  for i in $(seq 1 100); do # up to ~10 s
    code=$(curl -sS -o "$dir/req.out" -w '%{http_code}' -X "$method" -H "X-Auth-Token: $token" -H "$header" \
      -H "Content-Length: 0" "$url") || code=000
    case "$code" in
      2??) return 0 ;;
      503|000) sleep 0.1 ;;
      *) break ;;
    esac
  done
  die "$method $url: HTTP $code: $(cat "$dir/req.out" 2>/dev/null)"
}

start() {
  dir=${1:?usage: swift.sh start DIR [CONTAINER]}
  local container=${2:-${SWIFT_CONTAINER:-shadowreg}} s
  install
  mkdir -p "$dir/etc" "$dir/srv/node/d1" "$dir/cache"
  dir=$(cd "$dir" && pwd)
  for s in "${SERVERS[@]}" memcached; do
    running "$s" && die "already running in $dir: swift.sh stop $dir"
  done
  : >"$dir/ports"
  local mport aport cport oport pport
  mport=$(free_port) aport=$(free_port) cport=$(free_port) oport=$(free_port) pport=$(free_port)
  echo "$pport" >"$dir/proxy.port"
  echo "$mport" >"$dir/memcached.port"
  cat >"$dir/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = shadowreg-test
swift_hash_path_suffix = shadowreg-test

[storage-policy:0]
name = Policy-0
default = yes
EOF
  local ring port
  for ring in account:$aport container:$cport object:$oport; do
    port=${ring#*:} ring=${ring%%:*}
    (cd "$dir/etc" &&
      swift-ring-builder "$ring.builder" create 6 1 1 >/dev/null &&
      swift-ring-builder "$ring.builder" add "r1z1-127.0.0.1:$port/d1" 1 >/dev/null &&
      swift-ring-builder "$ring.builder" rebalance >/dev/null) || die "building the $ring ring failed"
    server_conf "$ring" "$port" >"$dir/etc/$ring-server.conf"
  done
  proxy_conf "$pport" "$mport" >"$dir/etc/proxy-server.conf"

  # memcached -d forks away from its pid; in the foreground $! is its own.
  launch memcached memcached -u root -l 127.0.0.1 -p "$mport" -U 0
  for s in account container object; do
    launch "$s" "swift-$s-server" "$dir/etc/$s-server.conf" -v
  done
  start_proxy
  auth_url="http://127.0.0.1:$pport/auth/v1.0"
  authenticate
  local tempurl_key=${SWIFT_TEMPURL_KEY:-shadowreg-tempurl-key}
  swift_req POST "$storage" "X-Account-Meta-Temp-URL-Key: $tempurl_key"
  swift_req PUT "$storage/$container"

  cat >"$dir/env" <<EOF
SWIFT_AUTH_URL=$auth_url
SWIFT_USER=test:tester
SWIFT_KEY=testing
SWIFT_CONTAINER=$container
SWIFT_STORAGE_URL=$storage
SWIFT_TEMPURL_KEY=$tempurl_key
SWIFT_CONF_FILE=$dir/etc/swift.conf
SWIFT_PROXY_PID=$(cat "$dir/proxy.pid")
EOF
  cat "$dir/env"
}

KEYSTONE_COMMANDS=(keystone-manage keystone-wsgi-public)
KEYSTONE_ADMIN_PASSWORD=shadowreg-admin

keystone_conf() { # KDIR
  cat <<EOF
[DEFAULT]
log_dir = $1
[database]
connection = sqlite:///$1/keystone.db
[token]
provider = fernet
expiration = ${KEYSTONE_TOKEN_EXPIRATION:-3600}
[fernet_tokens]
key_repository = $1/fernet-keys
[fernet_receipts]
key_repository = $1/fernet-keys
[credential]
key_repository = $1/credential-keys
[identity]
# bcrypt's cheapest: tests authenticate often, and wsgiref serves one at a time.
password_hash_rounds = 4
EOF
}

# authtoken validates Keystone tokens (as the bootstrap admin) and keystoneauth
# maps the member role on a project to its account AUTH_<project id>.
keystone_filters() { # KEYSTONE_PORT
  cat <<EOF

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = http://127.0.0.1:$1/v3
auth_url = http://127.0.0.1:$1/v3
auth_type = password
username = admin
password = $KEYSTONE_ADMIN_PASSWORD
user_domain_id = default
project_name = admin
project_domain_id = default
# Keystone's catalog has the public identity endpoint only (bootstrap).
interface = public
# TempURL requests carry no token: keystoneauth decides, not authtoken.
delay_auth_decision = true

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
EOF
}

# keystone DIR [CONTAINER]: a real Keystone (Debian's, sqlite, fernet tokens,
# served by keystone-wsgi-public) and a second proxy that authenticates
# through it, on the storage servers that `start DIR` runs. Prints KEYSTONE_*
# assignments (also in DIR/keystone.env); KEYSTONE_TOKEN_EXPIRATION sets the
# tokens' life in seconds (default 3600).
keystone() {
  dir=${1:?usage: swift.sh keystone DIR [CONTAINER]}
  dir=$(cd "$dir" && pwd)
  running proxy || die "no Swift runs in $dir: swift.sh start $dir first"
  local c kdir=$dir/keystone kport pport i
  for c in "${KEYSTONE_COMMANDS[@]}"; do
    command -v "$c" >/dev/null || die "Keystone is not installed: run tools/install.sh keystone"
  done
  running keystone && die "Keystone already runs in $dir"
  mkdir -p "$kdir"
  kport=$(free_port) pport=$(free_port)
  echo "$pport" >"$dir/proxy-keystone.port"
  keystone_conf "$kdir" >"$kdir/keystone.conf"
  # keystone-manage prints eventlet noise at exit; its log is keystone-manage.log.
  # Each run is a python start of several seconds: the key repositories are
  # made while the database is. WAL: Keystone 22 leaves a reading connection
  # open while it writes now and then; in sqlite's default journal mode the
  # write then fails after 5 s with "database is locked" (HTTP 500). In WAL
  # mode readers do not block a writer.
  local manage=(keystone-manage --config-file "$kdir/keystone.conf") pids=() p
  { "${manage[@]}" db_sync &&
    python3 -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' "$kdir/keystone.db" &&
    "${manage[@]}" bootstrap --bootstrap-password "$KEYSTONE_ADMIN_PASSWORD" \
      --bootstrap-region-id RegionOne --bootstrap-public-url "http://127.0.0.1:$kport/v3"; } >>"$kdir/manage.out" 2>&1 &
  pids+=($!)
  "${manage[@]}" fernet_setup --keystone-user root --keystone-group root >>"$kdir/manage.out" 2>&1 &
  pids+=($!)
  "${manage[@]}" credential_setup --keystone-user root --keystone-group root >>"$kdir/manage.out" 2>&1 &
  pids+=($!)
  for p in "${pids[@]}"; do
    wait "$p" || die "keystone-manage failed: $(grep -E 'ERROR|CRITICAL' "$kdir/keystone-manage.log" | tail -n 5)"
  done
  launch keystone keystone-wsgi-public --host 127.0.0.1 --port "$kport" -- --config-file "$kdir/keystone.conf"
  { proxy_conf "$pport" "$(cat "$dir/memcached.port")" "authtoken keystoneauth"
    keystone_filters "$kport"; } >"$dir/etc/proxy-keystone.conf"
  start_proxy proxy-keystone "$dir/etc/proxy-keystone.conf" # starts while Keystone does
  for i in $(seq 1 300); do # up to 60 s; usually ready in about 7
    curl -fsS -o /dev/null "http://127.0.0.1:$kport/v3" 2>/dev/null && break
    running keystone || die "keystone exited: $(tail -n 20 "$dir/keystone.log")"
    sleep 0.2
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$kport/v3" || die "keystone not ready after 60 s"
  KS_URL="http://127.0.0.1:$kport/v3" KS_ADMIN_PASSWORD=$KEYSTONE_ADMIN_PASSWORD \
    KS_PROXY="http://127.0.0.1:$pport" KS_CONTAINER=${2:-${SWIFT_CONTAINER:-shadowreg}} \
    KS_TEMPURL_KEY=${SWIFT_TEMPURL_KEY:-shadowreg-tempurl-key} \
    python3 "$repo/tools/keystone_setup.py" >"$dir/keystone.env" || die "setting up Keystone failed"
  echo "KEYSTONE_TOKEN_EXPIRATION=${KEYSTONE_TOKEN_EXPIRATION:-3600}" >>"$dir/keystone.env"
  cat "$dir/keystone.env"
}

# stop_one NAME: TERM, then KILL after 10 s, the process this script started.
stop_one() {
  local pid i
  running "$1" || { rm -f "$dir/$1.pid"; return 0; }
  pid=$(cat "$dir/$1.pid")
  # setsid made it a process group leader: the group holds its workers.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for i in $(seq 1 100); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 -- "-$pid" 2>/dev/null && kill -KILL -- "-$pid"
  rm -f "$dir/$1.pid"
}

stop() {
  dir=${1:?usage: swift.sh stop DIR}
  [ -d "$dir" ] || return 0
  local s
  for s in proxy-keystone keystone proxy object container account memcached; do stop_one "$s"; done
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  keystone) shift; keystone "$@" ;;
  kill) dir=${2:?usage: swift.sh kill DIR}; stop_one proxy ;;
  revive) dir=${2:?usage: swift.sh revive DIR}; start_proxy ;;
  *) die "usage: swift.sh install | start DIR [CONTAINER] | keystone DIR [CONTAINER] | stop DIR | kill DIR | revive DIR" ;;
esac
