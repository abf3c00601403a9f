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
POM="$ROOT/deploy/kafka/pom.xml"

say() { echo "kafka: $*" >&2; }

running() {
  [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

fetch_jars() {
  if [[ -f "$LIBS/.stamp" && "$LIBS/.stamp" -nt "$POM" ]]; then return; fi
  say "fetching Apache Kafka jars with Maven (cached in ~/.m2 after the first run)"
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS" \
      -DincludeScope=runtime > "$VAR/maven.log" 2>&1; then
    say "Maven could not fetch the jars:"; tail -n 40 "$VAR/maven.log" >&2; return 1
  fi
  touch "$LIBS/.stamp"
}

# Whether the broker logged its start after byte offset $1 of the log. (No `grep -q`: it exits at
# the first match, tail dies of SIGPIPE, and pipefail turns the match into a failure.)
started_since() { tail -c +$(($1 + 1)) "$LOG" 2>/dev/null | grep -c "Kafka Server started" >/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

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
  fetch_jars
  sed -e "s#@DATA_DIR@#$VAR/data#" -e "s#@PORT@#$PORT#g" -e "s#@CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
    "$ROOT/deploy/kafka/server.properties" > "$VAR/server.properties"
  local cp="$LIBS/*"
  if [[ ! -f "$VAR/data/meta.properties" ]]; then
    say "formatting storage in $VAR/data"
    local cluster_id
    cluster_id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    java -cp "$cp" kafka.tools.StorageTool format -t "$cluster_id" -c "$VAR/server.properties" \
      --ignore-formatted >> "$LOG" 2>&1
  fi
  say "starting on 127.0.0.1:$PORT (log: $LOG)"
  local log_start=0  # the log is appended to: only lines written by this start count as "started"
  [[ -f "$LOG" ]] && log_start=$(wc -c < "$LOG")
  nohup java -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$ROOT/deploy/kafka/log4j2.yaml" \
    -cp "$cp" kafka.Kafka "$VAR/server.properties" >> "$LOG" 2>&1 &
  echo $! > "$PIDFILE"
  local deadline=$((SECONDS + 90))
  until started_since "$log_start" && port_open "$PORT"; do
    if ! running; then say "broker exited during start; last log lines:"; tail -n 30 "$LOG" >&2; rm -f "$PIDFILE"; return 1; fi
    if (( SECONDS > deadline )); then say "not ready after 90 s"; down; return 1; fi
    sleep 0.5
  done
  say "ready (pid $(cat "$PIDFILE"))"
}

down() {
  if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then say "external cluster configured: nothing to stop"; return 0; fi
  if ! running; then say "not running"; rm -f "$PIDFILE"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  say "stopping pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then say "still up after 30 s: SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$PIDFILE"
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
  status) if running; then echo "running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"; else echo "not running"; fi ;;
  with) shift; with "$@" ;;
  *) echo "usage: $0 up|down|status|with CMD..." >&2; exit 2 ;;
esac
