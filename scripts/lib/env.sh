# Shared settings of the local stack, sourced by the stack, test and demo scripts.
# Every value can be overridden from the environment; the platform's own connection variables
# (DATABASE_URL, REDIS_URL, KAFKA_BROKERS, CLICKHOUSE_URL) default to the stack's addresses.

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${STACK_DIR:-$ROOT_DIR/.stack}"
STACK_HOST="${STACK_HOST:-127.0.0.1}"

POSTGRES_PORT="${POSTGRES_PORT:-5432}"
POSTGRES_DB="${POSTGRES_DB:-hookline}"
POSTGRES_USER="${POSTGRES_USER:-hookline}"
POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-hookline}"
REDIS_PORT="${REDIS_PORT:-6379}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"

export DATABASE_URL="${DATABASE_URL:-postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@$STACK_HOST:$POSTGRES_PORT/$POSTGRES_DB}"
export REDIS_URL="${REDIS_URL:-redis://$STACK_HOST:$REDIS_PORT}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-$STACK_HOST:$KAFKA_PORT}"
export CLICKHOUSE_URL="${CLICKHOUSE_URL:-http://$STACK_HOST:$CLICKHOUSE_HTTP_PORT}"
export PROMETHEUS_URL="${PROMETHEUS_URL:-http://$STACK_HOST:$PROMETHEUS_PORT}"

log() { printf '\033[1;34m[stack]\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33m[stack]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[stack]\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@";
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@";
  else die "need root to run: $* (no sudo available)"; fi
}

APT_UPDATED=0
# apt_install PKG...: installs the Debian packages that are not installed yet.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get to install them"
  log "installing Debian packages: ${missing[*]}"
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  # The packages' own system services must not start: the stack runs its own instances on their ports.
  # A policy-rc.d that answers 101 stops invoke-rc.d from starting them, as in container images.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null && as_root chmod 755 "$policy" && added_policy=1
  fi
  local rc=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >"${STACK_DIR}/logs/apt.log" 2>&1 || rc=$?
  [ $added_policy -eq 1 ] && as_root rm -f "$policy"
  [ $rc -eq 0 ] || die "apt-get install ${missing[*]} failed; see ${STACK_DIR}/logs/apt.log"
  # With systemd, packages may still enable their units for the next boot: keep them off.
  if [ -d /run/systemd/system ]; then
    for unit in postgresql redis-server clickhouse-server prometheus; do
      as_root systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
}

# ensure_node_deps: installs the npm dependencies when node_modules is missing or older than the lock file.
ensure_node_deps() {
  if [ ! -f "$ROOT_DIR/node_modules/.package-lock.json" ] ||
    [ "$ROOT_DIR/package-lock.json" -nt "$ROOT_DIR/node_modules/.package-lock.json" ]; then
    log "installing npm dependencies (npm ci)"
    (cd "$ROOT_DIR" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  fi
}

# pip_install PKG...: installs Python packages (from PyPI) into the stack's own virtualenv,
# $STACK_DIR/venv, when they are not there yet; tests find the tools in $STACK_DIR/venv/bin.
PYTHON_VENV="$STACK_DIR/venv"
export PYTHON_VENV
pip_install() {
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  if [ ! -x "$PYTHON_VENV/bin/pip" ]; then
    log "creating a Python virtualenv in $PYTHON_VENV"
    python3 -m venv "$PYTHON_VENV" >/dev/null 2>&1 || { apt_install python3-venv && python3 -m venv "$PYTHON_VENV"; } ||
      die "cannot create a Python virtualenv in $PYTHON_VENV"
  fi
  local missing=()
  for spec in "$@"; do
    "$PYTHON_VENV/bin/pip" show "${spec%%[=<>]*}" >/dev/null 2>&1 || missing+=("$spec")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Python packages: ${missing[*]}"
  "$PYTHON_VENV/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}" \
    >"${STACK_DIR}/logs/pip.log" 2>&1 || die "pip install ${missing[*]} failed; see ${STACK_DIR}/logs/pip.log"
}
