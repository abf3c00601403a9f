#!/usr/bin/env bash
# The local Label Studio server (SQLite, loopback), in a virtualenv of its own.
#   scripts/label_studio.sh up       install (cached), start, wait until its API answers with the token
#   scripts/label_studio.sh down     stop the server this script started (by its recorded pid)
#   scripts/label_studio.sh status   say whether it runs
#   scripts/label_studio.sh with CMD...  run CMD with a server: use a configured or running one, else
#                                        start one for CMD and stop it afterwards
# With LABEL_STUDIO_URL set, nothing is started or stopped: that server is used (with
# LABEL_STUDIO_API_KEY). Label Studio's Django pins live in var/label-studio/venv only, never in .venv.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VAR="${FLAGSTREAM_LABEL_STUDIO_DIR:-$ROOT/var/label-studio}"
VENV="$VAR/venv"
DATA="$VAR/data"
PORT="${LABEL_STUDIO_PORT:-8080}"
PIDFILE="$VAR/server.pid"
LOG="$VAR/server.log"
REQUIREMENTS="$ROOT/deploy/label-studio/requirements.txt"
CONSTRAINTS="$ROOT/deploy/label-studio/constraints.txt"
STAMP="$VENV/.installed"
# The preset admin and its API token; the same defaults as services/runtime/settings.py.
ADMIN_EMAIL="${FLAGSTREAM_LABEL_STUDIO_ADMIN_EMAIL:-admin@flagstream.local}"
ADMIN_PASSWORD="${FLAGSTREAM_LABEL_STUDIO_ADMIN_PASSWORD:-flagstream-local-admin}"
API_KEY="${LABEL_STUDIO_API_KEY:-flagstream-local-label-studio-token}"

say() { echo "label-studio: $*" >&2; }
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

running() { pid_running "$PIDFILE"; }

# The API answers this token (not just the port: migrations run before the server listens).
api_ready() {
  python3 - "$PORT" "$API_KEY" <<'EOF' 2>/dev/null
import sys, urllib.request
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/api/projects?page_size=1",
                                 headers={"Authorization": f"Token {sys.argv[2]}"})
sys.exit(0 if urllib.request.urlopen(request, timeout=5).status == 200 else 1)
EOF
}

install() {
  if [[ -f "$STAMP" && "$STAMP" -nt "$REQUIREMENTS" && "$STAMP" -nt "$CONSTRAINTS" ]]; then return; fi
  say "installing Label Studio into $VENV (from PyPI; about 2.5 minutes the first time)"
  mkdir -p "$VAR"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  if ! "$VENV/bin/python" -m pip install -q -r "$REQUIREMENTS" -c "$CONSTRAINTS" > "$VAR/pip.log" 2>&1; then
    say "pip could not install Label Studio:"; tail -n 40 "$VAR/pip.log" >&2; return 1
  fi
  touch "$STAMP"
}

up() {
  if [[ -n "${LABEL_STUDIO_URL:-}" ]]; then
    say "LABEL_STUDIO_URL=$LABEL_STUDIO_URL is set: using that server, starting nothing"
    return 0
  fi
  if running; then say "already running (pid $(cat "$PIDFILE")) on http://127.0.0.1:$PORT"; return 0; fi
  if port_open "$PORT"; then
    say "port $PORT is taken by a process this script did not start; set LABEL_STUDIO_PORT or LABEL_STUDIO_URL"
    return 1
  fi
  install
  mkdir -p "$DATA"
  say "starting on http://127.0.0.1:$PORT (data: $DATA, log: $LOG)"
  # Offline and quiet: no browser, no release check, no usage analytics, no Sentry error reports
  # (its DSNs default to Heartex's), no feature-flag fetch. Legacy tokens: the preset token is a
  # plain `Authorization: Token ...` key, which new organisations only accept with this switch.
  # SSRF guard off: it refuses webhook URLs on loopback, where the connector's webhook listens; this
  # server itself listens on loopback only.
  start_bg "$PIDFILE" "$LOG" env LABEL_STUDIO_BASE_DATA_DIR="$DATA" \
    LABEL_STUDIO_USERNAME="$ADMIN_EMAIL" LABEL_STUDIO_PASSWORD="$ADMIN_PASSWORD" \
    LABEL_STUDIO_USER_TOKEN="$API_KEY" LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true \
    LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true \
    LATEST_VERSION_CHECK=false COLLECT_ANALYTICS=false \
    SENTRY_DSN= FRONTEND_SENTRY_DSN= FEATURE_FLAGS_OFFLINE=true SSRF_PROTECTION_ENABLED=false \
    "$VENV/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$PORT" \
      --data-dir "$DATA" --enable-legacy-api-token --log-level WARNING
  # FLAGSTREAM_LABEL_STUDIO_START_SECONDS: how long the first start (migrations) may take.
  wait_ready "$PIDFILE" "$LOG" "${FLAGSTREAM_LABEL_STUDIO_START_SECONDS:-240}" 1 api_ready
  say "ready (pid $(cat "$PIDFILE")): http://127.0.0.1:$PORT, admin $ADMIN_EMAIL"
}

down() {
  if [[ -n "${LABEL_STUDIO_URL:-}" ]]; then say "external server configured: nothing to stop"; return 0; fi
  if ! running; then say "not running"; rm -f "$PIDFILE"; return 0; fi
  stop_pid "$PIDFILE" 20
}

with() {
  if [[ -n "${LABEL_STUDIO_URL:-}" ]] || running; then "$@"; return; fi
  if port_open "$PORT" && api_ready; then  # another checkout's server: tests isolate themselves by project
    say "a Label Studio this checkout did not start answers on 127.0.0.1:$PORT: using it"
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
  install) if [[ -z "${LABEL_STUDIO_URL:-}" ]]; then install; fi ;;
  status) pid_status "$PIDFILE" "on http://127.0.0.1:$PORT" ;;
  with) shift; with "$@" ;;
  *) echo "usage: $0 up|down|status|install|with CMD..." >&2; exit 2 ;;
esac
