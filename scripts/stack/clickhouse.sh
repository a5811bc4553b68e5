# shellcheck shell=bash
# ClickHouse (the Debian package), data under .stack/clickhouse.
# Sourced by scripts/stack.sh.
# Defines <service>_start, <service>_stop, <service>_healthy and <service>_detail.

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

clickhouse_detail() { echo "http://$STACK_HOST:$CLICKHOUSE_HTTP_PORT tcp $CLICKHOUSE_TCP_PORT"; }
