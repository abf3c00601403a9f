# Shell helpers shared by scripts/kafka.sh (one broker) and scripts/kafka_cluster.sh (three):
# the Maven jars, storage formatting, starting a KRaft node from a properties file, and stopping it
# by its recorded pid (the process helpers are scripts/lib.sh's). Sourced, not run; the caller sets
# `set -euo pipefail` and defines `say`.

KAFKA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_POM="$KAFKA_ROOT/deploy/kafka/pom.xml"
KAFKA_LOG4J="$KAFKA_ROOT/deploy/kafka/log4j2.yaml"
# shellcheck source=scripts/lib.sh
source "$KAFKA_ROOT/scripts/lib.sh"

# Fetch the Apache Kafka jars of deploy/kafka/pom.xml into folder $1 (Maven log in $2), once per
# change of the pom; ~/.m2 caches them across folders and checkouts.
fetch_jars() {
  local libs="$1" maven_log="$2"
  if [[ -f "$libs/.stamp" && "$libs/.stamp" -nt "$KAFKA_POM" ]]; then return; fi
  say "fetching Apache Kafka jars with Maven (cached in ~/.m2 after the first run)"
  rm -rf "$libs"; mkdir -p "$libs"
  if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies -DoutputDirectory="$libs" \
      -DincludeScope=runtime > "$maven_log" 2>&1; then
    say "Maven could not fetch the jars:"; tail -n 40 "$maven_log" >&2; return 1
  fi
  touch "$libs/.stamp"
}

# A new KRaft cluster id, from the jars in folder $1.
new_cluster_id() { java -cp "$1/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1; }

# Format the storage of properties file $2 with cluster id $3 (jars in $1, output appended to log $4),
# unless it is formatted already.
format_storage() {
  local libs="$1" properties="$2" cluster_id="$3" log="$4"
  java -cp "$libs/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$properties" \
    --ignore-formatted >> "$log" 2>&1
}

# Whether log $1 says "Kafka Server started" after byte offset $2. (No `grep -q`: it exits at the
# first match, tail dies of SIGPIPE, and pipefail turns the match into a failure.)
started_since() { tail -c +$(($2 + 1)) "$1" 2>/dev/null | grep -c "Kafka Server started" >/dev/null; }

# Launch a KRaft node in the background: jars $1, properties $2, log $3 (appended), pid file $4.
# KAFKA_HEAP_OPTS sets its heap. Sets LAUNCHED_AT to the log's size before the launch, for
# wait_node: only lines written by this start count as "started".
launch_node() {
  local libs="$1" properties="$2" log="$3" pidfile="$4"
  LAUNCHED_AT=0
  [[ -f "$log" ]] && LAUNCHED_AT=$(wc -c < "$log")
  # shellcheck disable=SC2086  # the heap options are several words
  start_bg "$pidfile" "$log" java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
    -cp "$libs/*" kafka.Kafka "$properties"
}

# Whether the node logged its start in log $1 after byte offset $2 and its client port $3 answers.
node_ready() { started_since "$1" "$2" && port_open "$3"; }

# Wait until the node of pid file $1 logged its start in log $2 after byte offset $3 and its client
# port $4 answers. Returns 1, with the last log lines, if it exits or is not ready after $5 s (90).
wait_node() {
  wait_ready "$1" "$2" "${5:-90}" 0.5 node_ready "$2" "$3" "$4"
}

# Launch a node and wait for it (the arguments of launch_node, then its client port).
start_node() {
  launch_node "$1" "$2" "$3" "$4"
  wait_node "$4" "$3" "$LAUNCHED_AT" "$5"
}

# Stop the node whose pid is in file $1 (named $2 in messages): SIGTERM (controlled shutdown),
# SIGKILL after 30 s.
stop_node() { stop_pid "$1" 30 "${2:-}"; }
