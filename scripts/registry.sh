#!/usr/bin/env bash
# The local schema registry: Apicurio Registry 3.0.9 from Maven Central, Confluent-compatible API.
#   scripts/registry.sh up       fetch the distribution (cached in ~/.m2), start it, wait until ready
#   scripts/registry.sh down     stop the registry this script started (by its recorded pid)
#   scripts/registry.sh status   say whether it runs
#   scripts/registry.sh url      print the Confluent-compatible URL (FLAGSTREAM_SCHEMA_REGISTRY_URL)
#   scripts/registry.sh with CMD...  run CMD with FLAGSTREAM_SCHEMA_REGISTRY_URL set: a configured or
#                                    running registry, else one started for CMD and stopped afterwards
# With FLAGSTREAM_SCHEMA_REGISTRY_URL set, nothing is started or stopped: that registry is used.
#
# Maven Central publishes `apicurio-registry-app-<v>-all.tar.gz`: the Quarkus runner jar and its lib/.
# 3.0.x is the last line built for Java 17 (3.1+ needs Java 21). The parent pom of 3.0.9 is missing
# from Central, so the archive is fetched with dependency:get 2.8 and -Dtransitive=false (newer
# plugin versions insist on reading the parent). Schemas are kept in an H2 file under
# $FLAGSTREAM_REGISTRY_DIR/data, so schema ids stay valid across restarts, as records on the local
# broker's topics refer to them.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR="${FLAGSTREAM_REGISTRY_DIR:-$ROOT/var/registry}"
PORT="${REGISTRY_PORT:-8081}"
VERSION=3.0.9
ARTIFACT="io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all"
APP="${FLAGSTREAM_REGISTRY_APP:-$ROOT/var/registry/app}"  # shared by every state folder (tests use their own)
PIDFILE="$VAR/registry.pid"
LOG="$VAR/registry.log"
URL="http://127.0.0.1:$PORT/apis/ccompat/v7"

say() { echo "registry: $*" >&2; }
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

running() { pid_running "$PIDFILE"; }

ready() { curl -sf -m 2 "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1; }

fetch() {
  if [[ -f "$APP/.stamp-$VERSION" ]]; then return; fi
  say "fetching Apicurio Registry $VERSION with Maven (cached in ~/.m2 after the first run)"
  local fetched; fetched="$(dirname "$APP")"
  mkdir -p "$fetched"
  local archive="$fetched/apicurio-registry-app-$VERSION-all.tar.gz"
  if ! mvn -q -B -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:2.8:get \
      -Dartifact="$ARTIFACT" -Dtransitive=false -Ddest="$archive" > "$fetched/maven.log" 2>&1 \
      || [[ ! -f "$archive" ]]; then
    say "Maven could not fetch $ARTIFACT:"; tail -n 40 "$fetched/maven.log" >&2; return 1
  fi
  rm -rf "$APP"; mkdir -p "$APP"
  tar -xzf "$archive" -C "$APP"
  rm -f "$archive"
  touch "$APP/.stamp-$VERSION"
}

up() {
  if [[ -n "${FLAGSTREAM_SCHEMA_REGISTRY_URL:-}" ]]; then
    say "FLAGSTREAM_SCHEMA_REGISTRY_URL=$FLAGSTREAM_SCHEMA_REGISTRY_URL is set: using it, starting nothing"
    return 0
  fi
  if running; then say "already running (pid $(cat "$PIDFILE")) at $URL"; return 0; fi
  if port_open "$PORT"; then
    say "port $PORT is taken by a process this script did not start; set REGISTRY_PORT"
    return 1
  fi
  fetch
  mkdir -p "$VAR/data"
  say "starting at $URL (log: $LOG)"
  # The working directory is $VAR: Quarkus reads config/ and writes tmp files relative to it.
  (cd "$VAR" && start_bg "$PIDFILE" "$LOG" java -Xms64m -Xmx384m -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" \
    -Dquarkus.log.console.color=false \
    -Dapicurio.datasource.url="jdbc:h2:file:$VAR/data/registry" \
    -jar "$APP/apicurio-registry-app-$VERSION-runner.jar")
  wait_ready "$PIDFILE" "$LOG" 120 0.5 ready
  say "ready (pid $(cat "$PIDFILE"))"
}

down() {
  if [[ -n "${FLAGSTREAM_SCHEMA_REGISTRY_URL:-}" ]]; then say "external registry configured: nothing to stop"; return 0; fi
  if ! running; then say "not running"; rm -f "$PIDFILE"; return 0; fi
  stop_pid "$PIDFILE" 30
}

with() {
  if [[ -n "${FLAGSTREAM_SCHEMA_REGISTRY_URL:-}" ]]; then "$@"; return; fi
  if running; then FLAGSTREAM_SCHEMA_REGISTRY_URL="$URL" "$@"; return; fi
  up
  local rc=0
  FLAGSTREAM_SCHEMA_REGISTRY_URL="$URL" "$@" || rc=$?
  down
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) pid_status "$PIDFILE" "at $URL" ;;
  url) echo "$URL" ;;
  with) shift; with "$@" ;;
  *) echo "usage: $0 up|down|status|url|with CMD..." >&2; exit 2 ;;
esac
