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

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

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
  command -v promtool >/dev/null
}

up() {
  if running; then say "already running (pid $(cat "$PIDFILE")) on http://127.0.0.1:$PORT"; return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    say "port $PORT is taken by a process this script did not start; set PROMETHEUS_PORT"; return 1
  fi
  mkdir -p "$VAR/data"
  promtool check config "$CONFIG" >/dev/null
  nohup prometheus --config.file="$CONFIG" --storage.tsdb.path="$VAR/data" \
    --web.listen-address="127.0.0.1:$PORT" --web.enable-lifecycle > "$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 60); do
    if ready; then
      say "ready on http://127.0.0.1:$PORT (pid $(cat "$PIDFILE"); log $LOG)"; return 0
    fi
    if ! running; then say "exited at start:"; tail -n 20 "$LOG" >&2; return 1; fi
    sleep 0.5
  done
  say "not ready after 30 s; see $LOG"; return 1
}

down() {
  if ! running; then say "not running"; rm -f "$PIDFILE"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  kill "$pid"
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
  rm -f "$PIDFILE"
  say "stopped (pid $pid)"
}

status() {
  if running; then say "running (pid $(cat "$PIDFILE")) on http://127.0.0.1:$PORT"; else say "not running"; fi
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 install|up|down|status" >&2; exit 2 ;;
esac
