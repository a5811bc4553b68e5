#!/usr/bin/env bash
# The local stack of real services: PostgreSQL, Redis, Apache Kafka (KRaft, jars from Maven Central),
# ClickHouse and Prometheus, on loopback, with every byte of data under .stack/ (git-ignored).
#
#   scripts/stack.sh up [service...]      install what is missing, start, wait until healthy
#   scripts/stack.sh down [service...]    stop (data is kept)
#   scripts/stack.sh status [service...]  print each service's state
#   scripts/stack.sh reset                stop everything and delete .stack/
#
# Services: postgres redis kafka clickhouse prometheus. `up` is idempotent: a running, healthy
# service is left alone. A failure names the service, the reason and its log file.
set -euo pipefail
umask 022
HERE="$(dirname "${BASH_SOURCE[0]}")"
source "$HERE/lib/env.sh"

ALL_SERVICES=(postgres redis kafka clickhouse prometheus)
RUN_DIR="$STACK_DIR/run"
LOG_DIR="$STACK_DIR/logs"
mkdir -p "$RUN_DIR" "$LOG_DIR"
chmod 755 "$STACK_DIR"

# One file per service under scripts/stack/, each defining <service>_start, _stop, _healthy, _detail.
source "$HERE/stack/lib.sh"
for service in "${ALL_SERVICES[@]}"; do source "$HERE/stack/$service.sh"; done
# Not a service of `up`/`down`: a three-node KRaft cluster for replication and failover tests, on demand.
source "$HERE/stack/kafka-cluster.sh"

# ---------- commands ----------

status_of() {
  local svc="$1" state="stopped" detail=""
  if alive "$svc"; then
    if "${svc}_healthy" >/dev/null 2>&1; then state="healthy"; else state="running (not healthy)"; fi
    detail="pid $(pid_of "$svc")"
  fi
  detail="$detail $("${svc}_detail")"
  printf '%-11s %-22s %s   log: %s\n' "$svc" "$state" "$detail" "$(log_of "$svc")"
  [ "$state" = "healthy" ]
}

cmd="${1:-status}"; shift || true
if [ "$cmd" = kafka-cluster ]; then
  sub="${1:-status}"; shift || true
  case "$sub" in
    up) kafka_cluster_up; kafka_cluster_status ;;
    down) kafka_cluster_down ;;
    status) kafka_cluster_status ;;
    bootstrap) kafka_cluster_bootstrap ;;
    start | stop | kill) "kafka_cluster_broker_$sub" "${1:-}" ;;
    reset) kafka_cluster_reset; log "removed $KAFKA_CLUSTER_DIR" ;;
    *) die "usage: stack.sh kafka-cluster up|down|status|bootstrap|reset|start N|stop N|kill N" ;;
  esac
  exit
fi
services=("$@"); [ ${#services[@]} -eq 0 ] && services=("${ALL_SERVICES[@]}")
for s in "${services[@]}"; do
  [[ " ${ALL_SERVICES[*]} " == *" $s "* ]] || die "unknown service '$s' (known: ${ALL_SERVICES[*]})"
done

case "$cmd" in
  up)
    for s in "${services[@]}"; do log "$s: starting"; "${s}_start"; done
    echo
    ok=0; for s in "${services[@]}"; do status_of "$s" || ok=1; done
    [ $ok -eq 0 ] || die "some services are not healthy"
    log "all healthy"
    ;;
  down)
    for ((i = ${#services[@]} - 1; i >= 0; i--)); do s="${services[$i]}"; log "$s: stopping"; "${s}_stop"; done
    ;;
  status)
    ok=0; for s in "${services[@]}"; do status_of "$s" || ok=1; done
    exit $ok
    ;;
  reset)
    kafka_cluster_down
    for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do "${ALL_SERVICES[$i]}_stop"; done
    rm -rf "$STACK_DIR"
    log "removed $STACK_DIR"
    ;;
  *) die "usage: stack.sh up|down|status|reset [service...]" ;;
esac
