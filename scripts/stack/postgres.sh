# shellcheck shell=bash
# PostgreSQL (the Debian package), its cluster under .stack/postgres.
# Sourced by scripts/stack.sh.
# Defines <service>_start, <service>_stop, <service>_healthy and <service>_detail.

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

postgres_detail() { echo "$STACK_HOST:$POSTGRES_PORT"; }
