# shellcheck shell=bash
# Prometheus (the Debian package), scraping the platform, data under .stack/prometheus.
# Sourced by scripts/stack.sh.
# Defines <service>_start, <service>_stop, <service>_healthy and <service>_detail.

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

prometheus_detail() { echo "http://$STACK_HOST:$PROMETHEUS_PORT"; }
