#!/usr/bin/env bash
# Installs the third-party tools that tests and benchmarks use, idempotently.
# Go tools are built once into $SHADOWREG_TOOLS (default: <repo>/.cache/bin, ignored
# by git) so every test run and CI step reuses the same binaries.
#
#   tools/install.sh [apt|swift|keystone|registry|crane|regctl|oras|minio|conformance|buildkit|hey|all|check]...
#
# all installs everything the tests use, then checks it is all there; check
# only checks, naming every missing command and how to install it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SHADOWREG_TOOLS:-$repo/.cache/bin}
mkdir -p "$BIN"
export PATH=/usr/local/go/bin:$PATH

log() { printf '[install] %s\n' "$*" >&2; }

# Pinned versions: the module proxy here serves only these (see shared notes).
REGISTRY_VERSION=v3.1.2
CRANE_VERSION=v0.22.1
REGCTL_VERSION=v0.11.7
ORAS_VERSION=v1.3.6
HEY_VERSION=v0.1.5
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111
BUILDKIT_VERSION=v0.16.0

go_tool() { # name module@version
  local name=$1 pkg=$2
  if [ -x "$BIN/$name" ]; then return 0; fi
  log "building $name ($pkg)"
  local tmp
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install "$pkg"
  mv "$tmp/$(basename "${pkg%@*}")" "$BIN/$name"
  rm -rf "$tmp"
}

# Debian packages the tests and benchmarks use, each named: apt-get runs
# with --no-install-recommends (a fresh machine gets only what is listed
# here), so nothing may come in as a mere Recommends of another package.
# OpenStack Swift for tools/swift.sh (the Swift driver's tests and benchmarks):
# the four servers, swift-ring-builder (package swift), memcached for tempauth.
SWIFT_PACKAGES=(swift swift-proxy swift-account swift-container swift-object memcached)
# A real Keystone for `tools/swift.sh keystone` (the Swift driver's Keystone v3
# tests): the library with keystone-manage and keystone-wsgi-public (served by
# python's wsgiref; Debian's `keystone` package would add dbconfig-common and a
# uwsgi service), and the proxy's authtoken middleware. keystoneauth is in swift.
KEYSTONE_PACKAGES=(python3-keystone python3-keystonemiddleware)
APT_PACKAGES=(
  skopeo podman buildah      # real clients (tests/e2e)
  docker.io containerd runc  # dockerd, ctr, and the runtime both start containers with
  busybox-static             # a static /bin/busybox for runnable test images
  ansible ansible-core       # TestPlaybooks (ansible-playbook); no passlib needed
  python3                    # ansible's interpreter; tomllib (3.11) parses TOML in TestPlaybooks
  curl ca-certificates       # tools/minio.sh (SigV4 bucket creation, health checks)
  git                        # go's VCS stamping; clean-clone checks
  bsdutils                   # script: a pseudo-terminal for the client's progress bars (tests/e2e)
  "${SWIFT_PACKAGES[@]}"
  "${KEYSTONE_PACKAGES[@]}"
)

# Commands the tests run, and the package each comes from: check says
# which is missing, by name, before any test runs.
APT_COMMANDS=(
  skopeo:skopeo podman:podman buildah:buildah dockerd:docker.io docker:docker.io
  containerd:containerd ctr:containerd runc:runc busybox:busybox-static
  ansible-playbook:ansible-core python3:python3 curl:curl git:git script:bsdutils
  swift-ring-builder:swift swift-proxy-server:swift-proxy swift-account-server:swift-account
  swift-container-server:swift-container swift-object-server:swift-object memcached:memcached
  keystone-manage:python3-keystone keystone-wsgi-public:python3-keystone
)

install_apt() { # [PACKAGE...], default APT_PACKAGES
  local missing=() p
  [ $# -gt 0 ] || set -- "${APT_PACKAGES[@]}"
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# check_tools: every command the tests need is there (apt's on PATH, the Go
# tools in $BIN); names each missing one and how to get it.
check_tools() {
  local missing=0 entry cmd
  for entry in "${APT_COMMANDS[@]}"; do
    cmd=${entry%%:*}
    if ! command -v "$cmd" >/dev/null 2>&1; then
      log "missing: $cmd (Debian package ${entry#*:}: tools/install.sh apt)"
      missing=1
    fi
  done
  for cmd in "${GO_TOOLS[@]}"; do
    if [ ! -x "$BIN/$cmd" ]; then
      log "missing: $BIN/$cmd (tools/install.sh ${GO_TOOL_ARG[$cmd]:-$cmd})"
      missing=1
    fi
  done
  return $missing
}

install_conformance() {
  [ -x "$BIN/oci-conformance" ] && return 0
  log "building oci-conformance"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && go mod init conformance-build >/dev/null 2>&1 &&
    go get "github.com/opencontainers/distribution-spec/conformance@$CONFORMANCE_VERSION" >/dev/null 2>&1 &&
    go build -o "$BIN/oci-conformance" github.com/opencontainers/distribution-spec/conformance)
  rm -rf "$tmp"
}

# Go tools built into $BIN, and the install.sh argument that builds each.
GO_TOOLS=(crane regctl oras oci-conformance registry minio buildkitd buildctl)
declare -A GO_TOOL_ARG=([oci-conformance]=conformance [buildkitd]=buildkit [buildctl]=buildkit)

one() {
  case "$1" in
    apt) install_apt ;;
    swift) install_apt "${SWIFT_PACKAGES[@]}" ;;
    keystone) install_apt "${KEYSTONE_PACKAGES[@]}" ;;
    registry) go_tool registry "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION" ;;
    crane) go_tool crane "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION" ;;
    regctl) go_tool regctl "github.com/regclient/regclient/cmd/regctl@$REGCTL_VERSION" ;;
    oras) go_tool oras "oras.land/oras/cmd/oras@$ORAS_VERSION" ;;
    hey) go_tool hey "github.com/rakyll/hey@$HEY_VERSION" ;;
    minio) go_tool minio "github.com/minio/minio@$MINIO_VERSION" ;;
    conformance) install_conformance ;;
    # BuildKit's daemon and client build the Dockerfile in tests/e2e (runc,
    # from apt, runs its steps).
    buildkit) go_tool buildkitd "github.com/moby/buildkit/cmd/buildkitd@$BUILDKIT_VERSION"
      go_tool buildctl "github.com/moby/buildkit/cmd/buildctl@$BUILDKIT_VERSION" ;;
    all) for t in apt crane regctl oras conformance registry minio buildkit; do one "$t"; done; check_tools ;;
    check) check_tools ;;
    *) log "unknown tool: $1"; return 2 ;;
  esac
}

[ $# -eq 0 ] && set -- all
for t in "$@"; do one "$t"; done
echo "$BIN"
