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
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

ALL_SERVICES=(postgres redis kafka clickhouse prometheus)
RUN_DIR="$STACK_DIR/run"
LOG_DIR="$STACK_DIR/logs"
mkdir -p "$RUN_DIR" "$LOG_DIR"
chmod 755 "$STACK_DIR"

# ---------- helpers ----------

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
    if [ -f "$RUN_DIR/$svc.pid" ] && ! alive "$svc"; then fail "$svc" "the process exited during start-up"; fi
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

# ---------- PostgreSQL ----------

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
# The server refuses to run as root: as root it runs as the Debian package's `postgres` user.
pg_run() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PG_DIR="$STACK_DIR/postgres"

postgres_install() {
  [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/postgres" ] || apt_install postgresql
  [ -x "$(pg_bin)/postgres" ] || fail postgres "no PostgreSQL server binary after installing the postgresql package"
}

postgres_init() {
  [ -f "$PG_DIR/data/PG_VERSION" ] && return 0
  mkdir -p "$PG_DIR/data" "$PG_DIR/run"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$PG_DIR"
    runuser -u postgres -- test -w "$PG_DIR/data" ||
      fail postgres "user postgres cannot reach $PG_DIR (a parent folder is not searchable by others: chmod o+x it)"
  fi
  log "postgres: initialising a cluster in $PG_DIR/data"
  pg_run "$(pg_bin)/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >>"$(log_of postgres)" 2>&1 || fail postgres "initdb failed"
  cat >>"$PG_DIR/data/postgresql.conf" <<EOF
# hookline local stack
listen_addresses = '$STACK_HOST'
port = $POSTGRES_PORT
unix_socket_directories = '$PG_DIR/run'
max_connections = 300
shared_buffers = 256MB
EOF
}

postgres_healthy() {
  pg_run "$(pg_bin)/pg_isready" -q -h "$STACK_HOST" -p "$POSTGRES_PORT" -d postgres
}

postgres_start() {
  postgres_install
  postgres_init
  if alive postgres; then log "postgres: already running"; wait_until postgres 60 postgres_healthy; else
    refuse_foreign_port postgres "$POSTGRES_PORT"
    touch "$(log_of postgres)"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$(log_of postgres)"
    pg_run "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -l "$(log_of postgres)" -w -t 60 \
      -o "-p $POSTGRES_PORT -h $STACK_HOST -k $PG_DIR/run" start >/dev/null ||
      fail postgres "pg_ctl start failed"
    head -n 1 "$PG_DIR/data/postmaster.pid" >"$RUN_DIR/postgres.pid"
    wait_until postgres 60 postgres_healthy
  fi
  # Role and database for the platform (idempotent).
  local psql=("$(pg_bin)/psql" -v ON_ERROR_STOP=1 -q -h "$PG_DIR/run" -p "$POSTGRES_PORT" -U postgres -d postgres)
  pg_run "${psql[@]}" >>"$(log_of postgres)" 2>&1 <<SQL || fail postgres "creating role and database failed"
SELECT 'CREATE ROLE "$POSTGRES_USER" LOGIN CREATEDB PASSWORD ''$POSTGRES_PASSWORD'''
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$POSTGRES_USER')\gexec
SELECT 'CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER"'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$POSTGRES_DB')\gexec
ALTER ROLE "$POSTGRES_USER" PASSWORD '$POSTGRES_PASSWORD';
SQL
}

postgres_stop() {
  [ -f "$PG_DIR/data/postmaster.pid" ] && pg_run "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -f "$RUN_DIR/postgres.pid"
}

# ---------- Redis ----------

redis_healthy() { [ "$(redis-cli -h "$STACK_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

redis_start() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  if alive redis; then log "redis: already running"; wait_until redis 30 redis_healthy; return 0; fi
  refuse_foreign_port redis "$REDIS_PORT"
  mkdir -p "$STACK_DIR/redis"
  # BullMQ's production requirements: no eviction, and AOF persistence.
  cat >"$STACK_DIR/redis/redis.conf" <<EOF
bind $STACK_HOST
port $REDIS_PORT
protected-mode yes
dir $STACK_DIR/redis
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
save ""
daemonize no
EOF
  start_detached redis redis-server "$STACK_DIR/redis/redis.conf"
  wait_until redis 30 redis_healthy
}

redis_stop() { stop_pid redis 30; }

# ---------- Apache Kafka (KRaft, single node) ----------

KAFKA_DIR="$STACK_DIR/kafka"
kafka_libs() { echo "$KAFKA_DIR/libs-$KAFKA_VERSION"; }

kafka_install() {
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
  local java_major
  java_major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = //p')"
  [ "${java_major%%.*}" -ge 17 ] 2>/dev/null || fail kafka "Kafka $KAFKA_VERSION needs Java 17 or newer (found ${java_major:-none})"
  [ -f "$(kafka_libs)/.complete" ] && return 0
  command -v mvn >/dev/null 2>&1 || apt_install maven
  log "kafka: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its dependencies from Maven Central"
  rm -rf "$(kafka_libs)"
  mvn -B -q -f "$ROOT_DIR/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    -Dmaven.repo.local="$STACK_DIR/m2" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$(kafka_libs)" >>"$(log_of kafka)" 2>&1 || fail kafka "resolving the broker's jars with Maven failed"
  touch "$(kafka_libs)/.complete"
}

kafka_java() { java -cp "$(kafka_libs)/*" -Dlog4j2.configurationFile="$ROOT_DIR/scripts/kafka/log4j2.properties" "$@"; }

kafka_init() {
  mkdir -p "$KAFKA_DIR/data"
  cat >"$KAFKA_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$STACK_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$STACK_HOST:$KAFKA_PORT,CONTROLLER://$STACK_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$STACK_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=6
auto.create.topics.enable=false
# One node: every internal topic has a single replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
default.replication.factor=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
EOF
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    log "kafka: formatting the KRaft storage"
    local cluster_id
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$(log_of kafka)")" || fail kafka "random-uuid failed"
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DIR/server.properties" \
      >>"$(log_of kafka)" 2>&1 || fail kafka "formatting the storage failed"
  fi
}

KAFKA_LOG_OFFSET=0
kafka_healthy() {
  # grep -c reads to the end: `grep -q` would close the pipe early and fail it under pipefail.
  port_open "$KAFKA_PORT" &&
    [ "$(tail -c "+$((KAFKA_LOG_OFFSET + 1))" "$(log_of kafka)" | grep -c "Kafka Server started")" -gt 0 ]
}

kafka_start() {
  kafka_install
  if alive kafka; then log "kafka: already running"; wait_until kafka 90 port_open "$KAFKA_PORT"; else
    refuse_foreign_port kafka "$KAFKA_PORT"
    kafka_init
    KAFKA_LOG_OFFSET="$(wc -c <"$(log_of kafka)" 2>/dev/null || echo 0)"
    # shellcheck disable=SC2086
    start_detached kafka java $KAFKA_HEAP_OPTS -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$ROOT_DIR/scripts/kafka/log4j2.properties" \
      -cp "$(kafka_libs)/*" kafka.Kafka "$KAFKA_DIR/server.properties"
    wait_until kafka 90 kafka_healthy
  fi
  # Topics are the platform's own (src/events/topics.ts): it creates them, idempotently.
  ensure_node_deps
  (cd "$ROOT_DIR" && npx --no-install tsx scripts/kafka-topics.ts) >>"$(log_of kafka)" 2>&1 ||
    fail kafka "creating the platform's topics failed"
}

kafka_stop() { stop_pid kafka 60; }

# ---------- ClickHouse ----------

CH_DIR="$STACK_DIR/clickhouse"
clickhouse_healthy() { [ "$(curl -fsS -m 2 "http://$STACK_HOST:$CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" = "Ok." ]; }

clickhouse_start() {
  command -v clickhouse-server >/dev/null 2>&1 || apt_install clickhouse-server
  command -v curl >/dev/null 2>&1 || apt_install curl
  if alive clickhouse; then log "clickhouse: already running"; wait_until clickhouse 60 clickhouse_healthy; return 0; fi
  refuse_foreign_port clickhouse "$CLICKHOUSE_HTTP_PORT"
  refuse_foreign_port clickhouse "$CLICKHOUSE_TCP_PORT"
  mkdir -p "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/user_files" "$CH_DIR/format_schemas"
  cp "$ROOT_DIR/scripts/clickhouse/users.xml" "$CH_DIR/users.xml"
  cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>$LOG_DIR/clickhouse.log</log>
    <errorlog>$LOG_DIR/clickhouse.err.log</errorlog>
    <size>100M</size>
    <count>3</count>
  </logger>
  <listen_host>$STACK_HOST</listen_host>
  <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
  <tcp_port>$CLICKHOUSE_TCP_PORT</tcp_port>
  <max_connections>1024</max_connections>
  <keep_alive_timeout>10</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>536870912</mark_cache_size>
  <path>$CH_DIR/data/</path>
  <tmp_path>$CH_DIR/tmp/</tmp_path>
  <user_files_path>$CH_DIR/user_files/</user_files_path>
  <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
  <users_config>$CH_DIR/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
EOF
  start_detached clickhouse clickhouse-server --config-file="$CH_DIR/config.xml"
  wait_until clickhouse 60 clickhouse_healthy
}

clickhouse_stop() { stop_pid clickhouse 60; }

# ---------- Prometheus ----------

prometheus_healthy() { curl -fsS -m 2 "http://$STACK_HOST:$PROMETHEUS_PORT/-/ready" >/dev/null 2>&1; }

prometheus_start() {
  command -v prometheus >/dev/null 2>&1 || apt_install prometheus
  command -v curl >/dev/null 2>&1 || apt_install curl
  if alive prometheus; then log "prometheus: already running"; wait_until prometheus 60 prometheus_healthy; return 0; fi
  refuse_foreign_port prometheus "$PROMETHEUS_PORT"
  mkdir -p "$STACK_DIR/prometheus"
  start_detached prometheus prometheus \
    --config.file="$ROOT_DIR/prometheus/prometheus.yml" \
    --storage.tsdb.path="$STACK_DIR/prometheus" \
    --storage.tsdb.retention.time=7d \
    --web.listen-address="$STACK_HOST:$PROMETHEUS_PORT" \
    --web.enable-lifecycle
  wait_until prometheus 60 prometheus_healthy
}

prometheus_stop() { stop_pid prometheus 30; }

# ---------- commands ----------

status_of() {
  local svc="$1" state="stopped" detail=""
  if alive "$svc"; then
    if "${svc}_healthy" >/dev/null 2>&1; then state="healthy"; else state="running (not healthy)"; fi
    detail="pid $(pid_of "$svc")"
  fi
  case "$svc" in
    postgres) detail="$detail $STACK_HOST:$POSTGRES_PORT" ;;
    redis) detail="$detail $STACK_HOST:$REDIS_PORT" ;;
    kafka) detail="$detail $STACK_HOST:$KAFKA_PORT (Kafka $KAFKA_VERSION)" ;;
    clickhouse) detail="$detail http://$STACK_HOST:$CLICKHOUSE_HTTP_PORT tcp $CLICKHOUSE_TCP_PORT" ;;
    prometheus) detail="$detail http://$STACK_HOST:$PROMETHEUS_PORT" ;;
  esac
  printf '%-11s %-22s %s   log: %s\n' "$svc" "$state" "$detail" "$(log_of "$svc")"
  [ "$state" = "healthy" ]
}

cmd="${1:-status}"; shift || true
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
    for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do "${ALL_SERVICES[$i]}_stop"; done
    rm -rf "$STACK_DIR"
    log "removed $STACK_DIR"
    ;;
  *) die "usage: stack.sh up|down|status|reset [service...]" ;;
esac
