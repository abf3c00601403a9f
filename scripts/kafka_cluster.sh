#!/usr/bin/env bash
# A local three-node Apache Kafka cluster (KRaft, each node broker and controller, loopback), from
# the same Maven Central jars as scripts/kafka.sh, with replication factor 3, min.insync.replicas=2
# and no unclean leader election (deploy/kafka/cluster.properties).
#   scripts/kafka_cluster.sh up          fetch jars (cached), format storage on first use, start the
#                                        three nodes, wait until each is ready
#   scripts/kafka_cluster.sh down        stop the nodes this script started (by their recorded pids)
#   scripts/kafka_cluster.sh status      each node: running or not, its ports
#   scripts/kafka_cluster.sh bootstrap   the bootstrap servers (for KAFKA_BOOTSTRAP_SERVERS)
#   scripts/kafka_cluster.sh start N | stop N | kill N   one node (1-3): start and wait; clean stop; SIGKILL
# Ports: clients KAFKA_CLUSTER_PORT+0..2 (21092-21094), controllers KAFKA_CLUSTER_CONTROLLER_PORT+0..2
# (21192-21194); data, logs and pids under FLAGSTREAM_KAFKA_CLUSTER_DIR (var/kafka-cluster).
# Heap per node: KAFKA_HEAP_OPTS (default -Xms128m -Xmx512m).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR="${FLAGSTREAM_KAFKA_CLUSTER_DIR:-$ROOT/var/kafka-cluster}"
PORT="${KAFKA_CLUSTER_PORT:-21092}"
CONTROLLER_PORT="${KAFKA_CLUSTER_CONTROLLER_PORT:-21192}"
LIBS="$VAR/libs"
NODES=(1 2 3)
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"

say() { echo "kafka-cluster: $*" >&2; }
# shellcheck source=scripts/kafka_lib.sh
source "$ROOT/scripts/kafka_lib.sh"

port_of() { echo $((PORT + $1 - 1)); }
controller_port_of() { echo $((CONTROLLER_PORT + $1 - 1)); }
dir_of() { echo "$VAR/node-$1"; }
pidfile_of() { echo "$VAR/node-$1/broker.pid"; }
log_of() { echo "$VAR/node-$1/broker.log"; }
running() { pid_running "$(pidfile_of "$1")"; }

bootstrap() {
  local servers=() n
  for n in "${NODES[@]}"; do servers+=("127.0.0.1:$(port_of "$n")"); done
  (IFS=,; echo "${servers[*]}")
}

check_node() {
  if [[ ! " ${NODES[*]} " == *" ${1:-} "* ]]; then echo "node must be one of ${NODES[*]}" >&2; exit 2; fi
}

# Write every node's properties and format storage that is not formatted yet (one cluster id, kept
# in $VAR/cluster.id, so a node whose data was deleted rejoins the same cluster).
prepare() {
  mkdir -p "$VAR"
  fetch_jars "$LIBS" "$VAR/maven.log"
  [[ -s "$VAR/cluster.id" ]] || new_cluster_id "$LIBS" > "$VAR/cluster.id"
  local voters=() n
  for n in "${NODES[@]}"; do voters+=("$n@127.0.0.1:$(controller_port_of "$n")"); done
  local voter_list; voter_list="$(IFS=,; echo "${voters[*]}")"
  for n in "${NODES[@]}"; do
    local dir; dir="$(dir_of "$n")"
    mkdir -p "$dir"
    sed -e "s#@DATA_DIR@#$dir/data#" -e "s#@NODE_ID@#$n#" -e "s#@PORT@#$(port_of "$n")#g" \
      -e "s#@CONTROLLER_PORT@#$(controller_port_of "$n")#g" -e "s#@VOTERS@#$voter_list#" \
      "$ROOT/deploy/kafka/cluster.properties" > "$dir/server.properties"
    if [[ ! -f "$dir/data/meta.properties" ]]; then
      say "formatting storage of node $n in $dir/data"
      format_storage "$LIBS" "$dir/server.properties" "$(cat "$VAR/cluster.id")" "$(log_of "$n")"
    fi
  done
}

free_ports() {
  local n
  for n in "$@"; do
    if ! running "$n" && { port_open "$(port_of "$n")" || port_open "$(controller_port_of "$n")"; }; then
      say "port $(port_of "$n") or $(controller_port_of "$n") is taken by a process this script did not start;" \
        "set KAFKA_CLUSTER_PORT / KAFKA_CLUSTER_CONTROLLER_PORT"
      return 1
    fi
  done
}

# Launch the given nodes that do not run, then wait for all of them: a node finishes starting only
# once a majority of the controllers runs, so the first start launches all three before waiting.
start() {
  free_ports "$@"
  prepare
  local n launched=() offsets=()
  for n in "$@"; do
    if running "$n"; then say "node $n already running (pid $(cat "$(pidfile_of "$n")"))"; continue; fi
    say "starting node $n on 127.0.0.1:$(port_of "$n") (log: $(log_of "$n"))"
    launch_node "$LIBS" "$(dir_of "$n")/server.properties" "$(log_of "$n")" "$(pidfile_of "$n")"
    launched+=("$n"); offsets+=("$LAUNCHED_AT")
  done
  local i
  for i in "${!launched[@]}"; do
    n="${launched[$i]}"
    if ! wait_node "$(pidfile_of "$n")" "$(log_of "$n")" "${offsets[$i]}" "$(port_of "$n")" 120; then
      say "node $n did not start"; return 1
    fi
    say "node $n ready (pid $(cat "$(pidfile_of "$n")"))"
  done
}

up() {
  start "${NODES[@]}" || { down; return 1; }
  say "ready: $(bootstrap)"
}

stop() { stop_node "$(pidfile_of "$1")" "node $1"; }

# All nodes at once: a node's controlled shutdown needs a controller quorum, so stopping them one by
# one leaves the last one waiting for a quorum that is gone (and SIGKILLed after 30 s).
down() {
  local n
  for n in "${NODES[@]}"; do stop "$n" & done
  wait
}

kill_node() {
  local pidfile; pidfile="$(pidfile_of "$1")"
  if ! running "$1"; then say "node $1 not running"; return 0; fi
  say "node $1: SIGKILL pid $(cat "$pidfile")"
  kill -KILL "$(cat "$pidfile")"
  rm -f "$pidfile"
}

status() {
  local n
  for n in "${NODES[@]}"; do
    echo "node $n: $(pid_status "$(pidfile_of "$n")" "on 127.0.0.1:$(port_of "$n"), controller $(controller_port_of "$n")")"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  bootstrap) bootstrap ;;
  start) check_node "${2:-}"; start "$2" ;;
  stop) check_node "${2:-}"; stop "$2" ;;
  kill) check_node "${2:-}"; kill_node "$2" ;;
  *) echo "usage: $0 up|down|status|bootstrap|start N|stop N|kill N" >&2; exit 2 ;;
esac
