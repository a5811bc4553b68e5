# shellcheck shell=bash
# Apache Kafka in KRaft mode, its jars from Maven Central, data under .stack/kafka.
# Sourced by scripts/stack.sh.
# Defines <service>_start, <service>_stop, <service>_healthy and <service>_detail.

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

# Kafka's command-line tools, logging to stderr (their stdout is their answer: a cluster id).
kafka_java() { java -cp "$(kafka_libs)/*" -Dlog4j2.configurationFile="$ROOT_DIR/scripts/kafka/log4j2-tools.properties" "$@"; }

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

kafka_detail() { echo "$STACK_HOST:$KAFKA_PORT (Kafka $KAFKA_VERSION)"; }
