#!/usr/bin/env bash
# A local S3-compatible object store: S3Proxy (Apache-2.0) with its filesystem backend, from Maven Central.
#   scripts/s3.sh up       fetch the jar (checksum-verified, cached under var/s3), start it, wait until ready
#   scripts/s3.sh down     stop the server this script started (by its recorded pid)
#   scripts/s3.sh status   say whether it runs
#   scripts/s3.sh env      print the exports that point Flagstream's datasets at it (eval "$(scripts/s3.sh env)")
#   scripts/s3.sh with CMD...  run CMD with those variables: a running server, else one started for CMD
#                              and stopped afterwards
#
# S3Proxy speaks the S3 REST API (SigV2/SigV4 auth, path-style addressing, conditional PUT with
# `If-None-Match: *`, which delta-rs's conditional_put commit mode needs) in front of jclouds blob
# stores; `filesystem-nio2` keeps each bucket as a folder under $FLAGSTREAM_S3_DIR/data, one file per
# object, so tests can scan what the bucket really holds. 4.1.0 is built for Java 17 (class files
# major 61, `Java-Version: 17` in its manifest). The jar-with-dependencies is fetched from Maven
# Central with curl and checked against the SHA-256 pinned here.
#
# Credentials: S3PROXY_IDENTITY / S3PROXY_CREDENTIAL, defaulting to local development values; they
# go into a mode-600 properties file under the state folder, never on a command line.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR="${FLAGSTREAM_S3_DIR:-$ROOT/var/s3}"
JARS="${FLAGSTREAM_S3_JAR_DIR:-$ROOT/var/s3}"  # shared by every state folder (tests use their own)
PORT="${S3_PORT:-38333}"
BUCKET="${S3_BUCKET:-flagstream}"
IDENTITY="${S3PROXY_IDENTITY:-flagstream-local}"
CREDENTIAL="${S3PROXY_CREDENTIAL:-flagstream-local-s3-secret-not-for-production}"
VERSION=4.1.0
SHA256=a4d025969aaf796616ed4b1e2491d87d455ce84bb28cb9db086b2e6aaa68b48d
JAR="$JARS/s3proxy-$VERSION-jar-with-dependencies.jar"
URL="https://repo.maven.apache.org/maven2/org/gaul/s3proxy/$VERSION/s3proxy-$VERSION-jar-with-dependencies.jar"
PIDFILE="$VAR/s3proxy.pid"
LOG="$VAR/s3proxy.log"
ENDPOINT="http://127.0.0.1:$PORT"

say() { echo "s3: $*" >&2; }
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

running() { pid_running "$PIDFILE"; }

# Any HTTP answer means the server is up (an anonymous request gets 403 AccessDenied).
ready() { [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/" 2>/dev/null)" != "000" ]]; }

fetch() {
  if [[ -f "$JAR" ]]; then return; fi
  mkdir -p "$JARS"
  say "fetching S3Proxy $VERSION from Maven Central (once; cached in $JARS)"
  local partial="$JAR.partial"
  if ! curl -fsSL --retry 3 -o "$partial" "$URL"; then
    rm -f "$partial"; say "could not download $URL"; return 1
  fi
  local got; got="$(sha256sum "$partial" | cut -d' ' -f1)"
  if [[ "$got" != "$SHA256" ]]; then
    rm -f "$partial"; say "checksum mismatch for $URL: got $got, want $SHA256"; return 1
  fi
  mv "$partial" "$JAR"
}

up() {
  if running; then say "already running (pid $(cat "$PIDFILE")) at $ENDPOINT"; return 0; fi
  if port_open "$PORT"; then
    say "port $PORT is taken by a process this script did not start; set S3_PORT"
    return 1
  fi
  fetch
  mkdir -p "$VAR/data/$BUCKET"  # a bucket of the filesystem backend is a folder
  (umask 077
   cat > "$VAR/s3proxy.conf" <<EOF
s3proxy.endpoint=$ENDPOINT
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$IDENTITY
s3proxy.credential=$CREDENTIAL
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$VAR/data
EOF
  )
  say "starting at $ENDPOINT, bucket $BUCKET in $VAR/data (log: $LOG)"
  start_bg "$PIDFILE" "$LOG" java -Xms32m -Xmx256m -Djava.awt.headless=true -jar "$JAR" \
    --properties "$VAR/s3proxy.conf"
  wait_ready "$PIDFILE" "$LOG" 60 0.5 ready
  say "ready (pid $(cat "$PIDFILE"))"
}

down() {
  if ! running; then say "not running"; rm -f "$PIDFILE"; return 0; fi
  stop_pid "$PIDFILE" 20
}

# The settings that put the datasets, the erasure ledger and the tags in the bucket.
exports() {
  cat <<EOF
export FLAGSTREAM_STORAGE_ROOT=s3://$BUCKET/flagstream
export FLAGSTREAM_S3_ENDPOINT_URL=$ENDPOINT
export FLAGSTREAM_S3_ALLOW_HTTP=true
export AWS_ACCESS_KEY_ID=$IDENTITY
export AWS_SECRET_ACCESS_KEY=$CREDENTIAL
EOF
}

with() {
  local started=0 rc=0
  if ! running; then up; started=1; fi
  (eval "$(exports)"; "$@") || rc=$?
  if (( started )); then down; fi
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) pid_status "$PIDFILE" "at $ENDPOINT, data in $VAR/data" ;;
  env) exports ;;
  with) shift; with "$@" ;;
  *) echo "usage: $0 up|down|status|env|with CMD..." >&2; exit 2 ;;
esac
