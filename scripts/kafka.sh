#!/usr/bin/env bash
# The local Apache Kafka broker (KRaft, single node, loopback), from Maven Central jars.
#   scripts/kafka.sh up       fetch jars (cached), format storage on first use, start, wait until ready
#   scripts/kafka.sh down     stop the broker this script started (by its recorded pid)
#   scripts/kafka.sh status   say whether it runs
#   scripts/kafka.sh with CMD...  run CMD with a broker: use a configured or running one (even another
#                                 checkout's), else start one for CMD and stop it afterwards
# With KAFKA_BOOTSTRAP_SERVERS set, nothing is started or stopped: that cluster is used.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR="${FLAGSTREAM_KAFKA_DIR:-$ROOT/var/kafka}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
PIDFILE="$VAR/broker.pid"
LOG="$VAR/broker.log"
LIBS="$VAR/libs"

say() { echo "kafka: $*" >&2; }
# shellcheck source=scripts/kafka_lib.sh
source "$ROOT/scripts/kafka_lib.sh"

running() { pid_running "$PIDFILE"; }

up() {
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
    say "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS is set: using that cluster, starting nothing"
    return 0
  fi
  if running; then say "already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"; return 0; fi
  if port_open "$PORT"; then
    say "port $PORT is taken by a process this script did not start; set KAFKA_PORT or KAFKA_BOOTSTRAP_SERVERS"
    return 1
  fi
  mkdir -p "$VAR"
  fetch_jars "$LIBS" "$VAR/maven.log"
  sed -e "s#@DATA_DIR@#$VAR/data#" -e "s#@PORT@#$PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
    "$ROOT/deploy/kafka/server.properties" > "$VAR/server.properties"
  if [[ ! -f "$VAR/data/meta.properties" ]]; then
    say "formatting storage in $VAR/data"
    format_storage "$LIBS" "$VAR/server.properties" "$(new_cluster_id "$LIBS")" "$LOG"
  fi
  say "starting on 127.0.0.1:$PORT (log: $LOG)"
  start_node "$LIBS" "$VAR/server.properties" "$LOG" "$PIDFILE" "$PORT"
  say "ready (pid $(cat "$PIDFILE"))"
}

down() {
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then say "external cluster configured: nothing to stop"; return 0; fi
  if ! running; then say "not running"; rm -f "$PIDFILE"; return 0; fi
  stop_node "$PIDFILE"
}

with() {
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]] || running; then "$@"; return; fi
  if port_open "$PORT"; then  # another checkout's broker: tests isolate themselves by topic prefix
    say "a broker this checkout did not start answers on 127.0.0.1:$PORT: using it"
    "$@"; return
  fi
  up
  local rc=0
  "$@" || rc=$?
  down
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) pid_status "$PIDFILE" "on 127.0.0.1:$PORT" ;;
  with) shift; with "$@" ;;
  *) echo "usage: $0 up|down|status|with CMD..." >&2; exit 2 ;;
esac
