# shellcheck shell=bash
# A three-node Apache Kafka cluster in KRaft mode on loopback, for replication and failover tests.
# It runs from the same jars as the single broker (scripts/stack/kafka.sh, .stack/kafka/libs-<version>)
# and never touches that broker, its data or its ports. Sourced after lib.sh (and kafka.sh, which it
# sources itself when missing), like the other files under scripts/stack/.
#
# Each node is broker and controller (node ids 1..N), with a static quorum of all of them
# (controller.quorum.voters), so the storages are formatted with a shared cluster id and no
# --standalone / --initial-controllers flag. Data under .stack/kafka-cluster/<n>; pid and log files
# are the stack's usual ones, named after the services kafka-1, kafka-2, kafka-3:
# .stack/run/kafka-<n>.pid, .stack/logs/kafka-<n>.log.
#
#   kafka_cluster_up               start the nodes that are not running, wait until all are healthy
#   kafka_cluster_down             SIGTERM all nodes at once, SIGKILL what is left after a grace
#   kafka_cluster_broker_stop N    stop node N (SIGTERM, SIGKILL after a grace)
#   kafka_cluster_broker_kill N    SIGKILL node N (a crash)
#   kafka_cluster_broker_start N   start node N again and wait until it is healthy
#   kafka_cluster_status           one line per node; fails unless all are healthy
#   kafka_cluster_bootstrap        prints the bootstrap servers (host:port,host:port,...)
#   kafka_cluster_reset            stop and delete .stack/kafka-cluster (pid, offset and log files too)

KAFKA_CLUSTER_PORTS="${KAFKA_CLUSTER_PORTS:-19092 19093 19094}"
KAFKA_CLUSTER_CONTROLLER_PORTS="${KAFKA_CLUSTER_CONTROLLER_PORTS:-19192 19193 19194}"
KAFKA_CLUSTER_HEAP_OPTS="${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx384m}"
# How long a node may miss heartbeats before the active controller fences it and moves its partition
# leaderships. The default (9 s, heartbeats every 2 s) is made for real networks; on loopback 3 s with
# heartbeats every 0.5 s is safe and makes a crashed leader's partitions fail over in a few seconds.
KAFKA_CLUSTER_SESSION_TIMEOUT_MS="${KAFKA_CLUSTER_SESSION_TIMEOUT_MS:-3000}"
KAFKA_CLUSTER_HEARTBEAT_MS="${KAFKA_CLUSTER_HEARTBEAT_MS:-500}"
KAFKA_CLUSTER_START_TIMEOUT="${KAFKA_CLUSTER_START_TIMEOUT:-120}"
KAFKA_CLUSTER_STOP_GRACE="${KAFKA_CLUSTER_STOP_GRACE:-30}"
KAFKA_CLUSTER_DIR="$STACK_DIR/kafka-cluster"
# The single broker's log4j2 config by default; point it elsewhere to see e.g. org.apache.kafka.controller
# (fencing, leader moves) and org.apache.kafka.raft (quorum elections) at INFO.
KAFKA_CLUSTER_LOG4J="${KAFKA_CLUSTER_LOG4J:-$ROOT_DIR/scripts/kafka/log4j2.properties}"

declare -F kafka_install >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/kafka.sh"

read -r -a KAFKA_CLUSTER_CLIENT_PORT_LIST <<<"$KAFKA_CLUSTER_PORTS"
read -r -a KAFKA_CLUSTER_CONTROLLER_PORT_LIST <<<"$KAFKA_CLUSTER_CONTROLLER_PORTS"
KAFKA_CLUSTER_SIZE=${#KAFKA_CLUSTER_CLIENT_PORT_LIST[@]}

# alive (lib.sh) checks that a pid belongs to the service's program: every node is a java process.
declare -p COMM >/dev/null 2>&1 || { echo "kafka-cluster.sh: source scripts/stack/lib.sh first" >&2; return 1; }
for ((_n = 1; _n <= KAFKA_CLUSTER_SIZE; _n++)); do COMM["kafka-$_n"]=java; done
unset _n

kafka_cluster_nodes() { seq 1 "$KAFKA_CLUSTER_SIZE"; }
kafka_cluster_client_port() { echo "${KAFKA_CLUSTER_CLIENT_PORT_LIST[$(($1 - 1))]}"; }
kafka_cluster_controller_port() { echo "${KAFKA_CLUSTER_CONTROLLER_PORT_LIST[$(($1 - 1))]}"; }
kafka_cluster_bootstrap() {
  local n out=()
  for n in $(kafka_cluster_nodes); do out+=("$STACK_HOST:$(kafka_cluster_client_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
kafka_cluster_voters() {
  local n out=()
  for n in $(kafka_cluster_nodes); do out+=("$n@$STACK_HOST:$(kafka_cluster_controller_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
kafka_cluster_node_arg() { # validates a node number; prints it
  local n="${1:-}"
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt "$KAFKA_CLUSTER_SIZE" ]; then
    die "kafka-cluster: node must be 1..$KAFKA_CLUSTER_SIZE (got '${n}')"
  fi
  echo "$n"
}
kafka_cluster_check_config() {
  [ "$KAFKA_CLUSTER_SIZE" -ge 3 ] ||
    die "kafka-cluster: needs at least 3 nodes (replication factor 3, min.insync.replicas 2); KAFKA_CLUSTER_PORTS='$KAFKA_CLUSTER_PORTS'"
  [ "${#KAFKA_CLUSTER_CONTROLLER_PORT_LIST[@]}" -eq "$KAFKA_CLUSTER_SIZE" ] ||
    die "kafka-cluster: KAFKA_CLUSTER_PORTS and KAFKA_CLUSTER_CONTROLLER_PORTS must list as many ports"
}

kafka_cluster_write_config() { # writes node N's server.properties
  local n="$1" dir="$KAFKA_CLUSTER_DIR/$1"
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(kafka_cluster_voters)
listeners=PLAINTEXT://$STACK_HOST:$(kafka_cluster_client_port "$n"),CONTROLLER://$STACK_HOST:$(kafka_cluster_controller_port "$n")
advertised.listeners=PLAINTEXT://$STACK_HOST:$(kafka_cluster_client_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=6
auto.create.topics.enable=false
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
# Quick failover on loopback: a crashed node is fenced (its leaderships moved, it leaves every ISR)
# after the session timeout; a follower that is alive but stalled leaves the ISR after 10 s.
broker.session.timeout.ms=$KAFKA_CLUSTER_SESSION_TIMEOUT_MS
broker.heartbeat.interval.ms=$KAFKA_CLUSTER_HEARTBEAT_MS
replica.lag.time.max.ms=10000
# Three JVMs on one machine: fewer threads than the defaults.
num.network.threads=2
num.io.threads=4
num.replica.fetchers=1
background.threads=4
log.retention.hours=24
EOF
}

kafka_cluster_id() { # the cluster's id, made once and kept in .stack/kafka-cluster/cluster.id
  local f="$KAFKA_CLUSTER_DIR/cluster.id"
  if [ ! -s "$f" ]; then
    mkdir -p "$KAFKA_CLUSTER_DIR"
    kafka_java kafka.tools.StorageTool random-uuid >"$f" 2>>"$(log_of kafka-1)" || fail kafka-1 "random-uuid failed"
  fi
  cat "$f"
}

# kafka_cluster_format N...: formats, in parallel and with the shared cluster id, the storages of the
# nodes given that are not formatted yet. The quorum is static (controller.quorum.voters), so no
# --standalone / --initial-controllers: those are for a dynamic quorum and refuse a configuration
# that sets controller.quorum.voters.
kafka_cluster_format() {
  local n cluster_id pids=() nodes=() i rc=0
  for n in "$@"; do [ -f "$KAFKA_CLUSTER_DIR/$n/data/meta.properties" ] || nodes+=("$n"); done
  [ ${#nodes[@]} -eq 0 ] && return 0
  cluster_id="$(kafka_cluster_id)" || return 1
  log "kafka-cluster: formatting the KRaft storage of node(s) ${nodes[*]} (cluster $cluster_id)"
  for n in "${nodes[@]}"; do
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_CLUSTER_DIR/$n/server.properties" \
      >>"$(log_of "kafka-$n")" 2>&1 &
    pids+=($!)
  done
  for i in "${!nodes[@]}"; do
    wait "${pids[$i]}" || { rc=1; warn "kafka-${nodes[$i]}: formatting the storage failed"; }
  done
  [ $rc -eq 0 ] || fail "kafka-${nodes[0]}" "formatting the storage failed"
}

kafka_cluster_log_offset() { local f="$RUN_DIR/kafka-$1.logoffset"; [ -f "$f" ] && cat "$f" || echo 0; }
# Healthy: the client port accepts connections and the log says "Kafka Server started" since the
# last start (in KRaft that is after the node has joined the quorum and been unfenced).
kafka_cluster_broker_healthy() {
  local n="$1"
  port_open "$(kafka_cluster_client_port "$n")" &&
    [ "$(tail -c "+$(($(kafka_cluster_log_offset "$n") + 1))" "$(log_of "kafka-$n")" 2>/dev/null |
      grep -c "Kafka Server started")" -gt 0 ]
}

kafka_cluster_launch() { # starts node N unless it runs; does not wait
  local n="$1" svc="kafka-$1"
  if alive "$svc"; then log "$svc: already running"; return 0; fi
  refuse_foreign_port "$svc" "$(kafka_cluster_client_port "$n")"
  refuse_foreign_port "$svc" "$(kafka_cluster_controller_port "$n")"
  kafka_cluster_write_config "$n"
  kafka_cluster_format "$n" || return 1
  # The health check reads the log from here on: earlier runs' "Kafka Server started" lines do not count.
  if [ -f "$(log_of "$svc")" ]; then wc -c <"$(log_of "$svc")"; else echo 0; fi >"$RUN_DIR/$svc.logoffset"
  # shellcheck disable=SC2086
  start_detached "$svc" java $KAFKA_CLUSTER_HEAP_OPTS -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$KAFKA_CLUSTER_LOG4J" \
    -cp "$(kafka_libs)/*" kafka.Kafka "$KAFKA_CLUSTER_DIR/$n/server.properties"
}

kafka_cluster_up() {
  kafka_cluster_check_config
  kafka_install
  mkdir -p "$KAFKA_CLUSTER_DIR"
  local n t0
  t0="$(date +%s%3N)"
  # Format the new storages first (together), then start every node at once: a node finishes
  # starting only when a majority of the quorum is up, and a formatting JVM would compete for the CPU
  # with the nodes already starting.
  local todo=()
  for n in $(kafka_cluster_nodes); do
    alive "kafka-$n" && continue
    refuse_foreign_port "kafka-$n" "$(kafka_cluster_client_port "$n")"
    refuse_foreign_port "kafka-$n" "$(kafka_cluster_controller_port "$n")"
    kafka_cluster_write_config "$n"
    todo+=("$n")
  done
  kafka_cluster_format "${todo[@]}" || return 1
  for n in $(kafka_cluster_nodes); do kafka_cluster_launch "$n"; done
  for n in $(kafka_cluster_nodes); do
    wait_until "kafka-$n" "$KAFKA_CLUSTER_START_TIMEOUT" kafka_cluster_broker_healthy "$n"
  done
  log "kafka-cluster: $KAFKA_CLUSTER_SIZE nodes healthy in $(($(date +%s%3N) - t0)) ms at $(kafka_cluster_bootstrap)"
}

kafka_cluster_broker_start() {
  local n t0
  n="$(kafka_cluster_node_arg "${1:-}")" || return 1
  kafka_cluster_check_config
  kafka_install
  t0="$(date +%s%3N)"
  kafka_cluster_launch "$n"
  wait_until "kafka-$n" "$KAFKA_CLUSTER_START_TIMEOUT" kafka_cluster_broker_healthy "$n"
  log "kafka-$n: healthy in $(($(date +%s%3N) - t0)) ms"
}

kafka_cluster_broker_stop() {
  local n
  n="$(kafka_cluster_node_arg "${1:-}")" || return 1
  stop_pid "kafka-$n" "$KAFKA_CLUSTER_STOP_GRACE"
  rm -f "$RUN_DIR/kafka-$n.logoffset"
}

# A process is gone once it no longer exists or is a zombie: a node's parent is whatever adopted it
# (start_detached runs it in its own session), and PID 1 may take a while to reap it.
kafka_cluster_gone() { ! kill -0 "$1" 2>/dev/null || [[ "$(ps -p "$1" -o stat= 2>/dev/null)" == Z* ]]; }

kafka_cluster_broker_kill() {
  local n pid
  n="$(kafka_cluster_node_arg "${1:-}")" || return 1
  if alive "kafka-$n"; then
    pid="$(pid_of "kafka-$n")"
    kill -KILL "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    until kafka_cluster_gone "$pid"; do
      [ $SECONDS -ge $deadline ] && { warn "kafka-$n: pid $pid still there 10s after SIGKILL"; break; }
      sleep 0.05
    done
    log "kafka-$n: killed (SIGKILL, pid $pid)"
  fi
  rm -f "$RUN_DIR/kafka-$n.pid" "$RUN_DIR/kafka-$n.logoffset"
}

kafka_cluster_down() {
  # SIGTERM to every node at once: each one's controlled shutdown needs a controller quorum, which
  # stopping them one after the other would take away from the last ones.
  local n pid pids=() deadline
  for n in $(kafka_cluster_nodes); do
    if alive "kafka-$n"; then
      pid="$(pid_of "kafka-$n")"; pids+=("$pid")
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  deadline=$((SECONDS + KAFKA_CLUSTER_STOP_GRACE))
  for pid in "${pids[@]}"; do
    until kafka_cluster_gone "$pid"; do
      if [ $SECONDS -ge $deadline ]; then
        warn "kafka-cluster: pid $pid did not stop in ${KAFKA_CLUSTER_STOP_GRACE}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      sleep 0.2
    done
  done
  for n in $(kafka_cluster_nodes); do rm -f "$RUN_DIR/kafka-$n.pid" "$RUN_DIR/kafka-$n.logoffset"; done
}

kafka_cluster_status() {
  local n svc state detail ok=0
  for n in $(kafka_cluster_nodes); do
    svc="kafka-$n"; state="stopped"; detail=""
    if alive "$svc"; then
      if kafka_cluster_broker_healthy "$n"; then state="healthy"; else state="running (not healthy)"; fi
      detail="pid $(pid_of "$svc")"
    fi
    [ "$state" = "healthy" ] || ok=1
    printf '%-11s %-22s %-10s %s:%s (controller %s)   log: %s\n' "$svc" "$state" "$detail" "$STACK_HOST" \
      "$(kafka_cluster_client_port "$n")" "$(kafka_cluster_controller_port "$n")" "$(log_of "$svc")"
  done
  return $ok
}

kafka_cluster_reset() {
  kafka_cluster_down
  local n
  for n in $(kafka_cluster_nodes); do rm -f "$(log_of "kafka-$n")"; done
  rm -rf "$KAFKA_CLUSTER_DIR"
}
