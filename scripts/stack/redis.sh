# shellcheck shell=bash
# Redis (the Debian package), append-only file under .stack/redis.
# Sourced by scripts/stack.sh.
# Defines <service>_start, <service>_stop, <service>_healthy and <service>_detail.

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

redis_detail() { echo "$STACK_HOST:$REDIS_PORT"; }
