# shellcheck shell=bash
# Shared by the stack scripts: pid files, health waits, starting and stopping detached services.
# Sourced by scripts/stack.sh.

pid_of() { local f="$RUN_DIR/$1.pid"; [ -f "$f" ] && cat "$f" || true; }
# The program each service's pid must belong to: after a reboot a stale pid file may name another process.
declare -A COMM=([postgres]=postgres [redis]=redis-server [kafka]=java [clickhouse]=clickhouse [prometheus]=prometheus)
alive() {
  local pid comm
  pid="$(pid_of "$1")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  comm="$(ps -p "$pid" -o comm= 2>/dev/null || true)"
  if [[ "$comm" != "${COMM[$1]}"* ]]; then rm -f "$RUN_DIR/$1.pid"; return 1; fi
}
port_open() { (exec 3<>"/dev/tcp/$STACK_HOST/$1") 2>/dev/null; }
log_of() { echo "$LOG_DIR/$1.log"; }

fail() { # fail SERVICE REASON
  printf '\033[1;31m[stack] %s failed: %s\033[0m\n' "$1" "$2" >&2
  printf '[stack] its log: %s\n' "$(log_of "$1")" >&2
  if [ -f "$(log_of "$1")" ]; then
    printf '[stack] last lines:\n' >&2
    tail -n 15 "$(log_of "$1")" | sed 's/^/    /' >&2
  fi
  exit 1
}

# wait_until SERVICE SECONDS CHECK...: polls CHECK until it succeeds, the process dies, or time runs out.
wait_until() {
  local svc="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    # Only whether the pid still exists: `alive` also checks the program's name, which during the
    # first milliseconds is still setsid's or nohup's (start_detached execs through them), and a
    # check that fell in that window failed a start that went on fine (seen on a loaded machine).
    if [ -f "$RUN_DIR/$svc.pid" ] && ! kill -0 "$(pid_of "$svc")" 2>/dev/null; then
      fail "$svc" "the process exited during start-up"
    fi
    [ $SECONDS -ge $deadline ] && fail "$svc" "not healthy after ${secs}s"
    sleep 0.5
  done
}

# refuse_foreign_port SERVICE PORT: a port held by a process that is not ours is a clear error.
refuse_foreign_port() {
  if port_open "$2"; then
    fail "$1" "port $2 on $STACK_HOST is already taken by another process; stop it or set the port variable (see README)"
  fi
}

# start_detached SERVICE CMD...: runs CMD in its own session, output to the service's log, pid recorded.
start_detached() {
  local svc="$1"; shift
  setsid nohup "$@" >>"$(log_of "$svc")" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/$svc.pid"
}

stop_pid() { # stop_pid SERVICE [SECONDS]
  local svc="$1" secs="${2:-30}" pid
  pid="$(pid_of "$svc")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then warn "$svc did not stop in ${secs}s; killing it"; kill -KILL "$pid" 2>/dev/null || true; fi
      sleep 0.3
    done
  fi
  rm -f "$RUN_DIR/$svc.pid"
}
