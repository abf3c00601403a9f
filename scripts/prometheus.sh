#!/usr/bin/env bash
# The local Prometheus: scrapes every service (deploy/prometheus/prometheus.yml) and evaluates the
# alert rules. Debian's `prometheus` package provides `prometheus` and `promtool`; a `prometheus`
# binary already on PATH is used as it is.
#   scripts/prometheus.sh install   install Debian's package when prometheus or promtool is missing
#   scripts/prometheus.sh up        start it (data under var/prometheus/), wait until it is ready
#   scripts/prometheus.sh down      stop the Prometheus this script started (by its recorded pid)
#   scripts/prometheus.sh status    say whether it runs
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR="${FLAGSTREAM_PROMETHEUS_DIR:-$ROOT/var/prometheus}"
PORT="${PROMETHEUS_PORT:-9090}"
CONFIG="${PROMETHEUS_CONFIG:-$ROOT/deploy/prometheus/prometheus.yml}"
PIDFILE="$VAR/prometheus.pid"
LOG="$VAR/prometheus.log"

say() { echo "prometheus: $*" >&2; }
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

running() { pid_running "$PIDFILE"; }

# Whether Prometheus answers /-/ready (plain bash: no curl on a minimal machine).
ready() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET /-/ready HTTP/1.0\r\n\r\n' >&3 \
    && head -n 1 <&3 | grep -c " 200 " >/dev/null) 2>/dev/null
}

install() {
  if command -v prometheus >/dev/null && command -v promtool >/dev/null; then return 0; fi
  if ! command -v apt-get >/dev/null; then
    say "prometheus and promtool are missing and there is no apt-get; put both on PATH"; return 1
  fi
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  say "installing Debian's prometheus package (prometheus, promtool)"
  $sudo apt-get update -qq
  # The package's service is not wanted: the local one runs from this script, with its own data.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    say "stopping the package's own prometheus service (it would hold port 9090)"
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  command -v promtool >/dev/null
}

up() {
  if running; then say "already running (pid $(cat "$PIDFILE")) on http://127.0.0.1:$PORT"; return 0; fi
  if port_open "$PORT"; then
    say "port $PORT is taken by a process this script did not start; set PROMETHEUS_PORT"; return 1
  fi
  mkdir -p "$VAR/data"
  promtool check config "$CONFIG" >/dev/null
  start_bg "$PIDFILE" "$LOG" prometheus --config.file="$CONFIG" --storage.tsdb.path="$VAR/data" \
    --web.listen-address="127.0.0.1:$PORT" --web.enable-lifecycle
  wait_ready "$PIDFILE" "$LOG" 30 0.5 ready
  say "ready on http://127.0.0.1:$PORT (pid $(cat "$PIDFILE"); log $LOG)"
}

down() {
  if ! running; then say "not running"; rm -f "$PIDFILE"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  stop_pid "$PIDFILE" 10
  say "stopped (pid $pid)"
}

status() { say "$(pid_status "$PIDFILE" "on http://127.0.0.1:$PORT")"; }

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 install|up|down|status" >&2; exit 2 ;;
esac
