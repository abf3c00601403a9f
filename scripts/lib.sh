# Process helpers shared by the scripts that run a local server (s3.sh, registry.sh, prometheus.sh,
# label_studio.sh, and kafka_lib.sh for kafka.sh and kafka_cluster.sh): start in the background with
# a pid file, wait until ready, stop by that pid, say whether it runs. A script stops only the process
# whose pid it recorded, never by name or port. Sourced, not run; the caller sets
# `set -euo pipefail` and defines `say` (its messages, prefixed with its name, on stderr).

# Whether something answers on 127.0.0.1 port $1 (plain bash: no curl or nc needed).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Whether the pid recorded in file $1 is alive.
pid_running() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Start CMD... in the background, immune to hangups, its output appended to log $2, and record its pid
# in file $1. Run it in a subshell to give it another working directory: the pid file is still written.
start_bg() {
  local pidfile="$1" log="$2"
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$log")"
  nohup "$@" >> "$log" 2>&1 &
  echo $! > "$pidfile"
}

# Wait until CHECK... succeeds for the process of pid file $1 (log $2), trying every $4 s for at most
# $3 s. If the process exits first: the last lines of its log, its pid file removed, return 1. If it
# is not ready in time: stop it (stop_pid) and return 1.
wait_ready() {
  local pidfile="$1" log="$2" seconds="$3" interval="$4"
  shift 4
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ! pid_running "$pidfile"; then
      say "exited during start; last lines of $log:"; tail -n 30 "$log" >&2; rm -f "$pidfile"; return 1
    fi
    if (( SECONDS > deadline )); then
      say "not ready after $seconds s (log: $log)"; stop_pid "$pidfile" 30; return 1
    fi
    sleep "$interval"
  done
}

# Stop the process whose pid is in file $1: SIGTERM, then SIGKILL if it is still up after $2 s (30);
# $3 names it in messages. The pid file is removed; a stale or missing one is not an error.
stop_pid() {
  local pidfile="$1" seconds="${2:-30}" name="${3:-}"
  if ! pid_running "$pidfile"; then rm -f "$pidfile"; return 0; fi
  local pid; pid="$(cat "$pidfile")"
  say "stopping ${name:+$name, }pid $pid"
  kill -TERM "$pid"
  local deadline=$((SECONDS + seconds))
  while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.25; done
  if kill -0 "$pid" 2>/dev/null; then say "still up after $seconds s: SIGKILL"; kill -KILL "$pid"; fi
  rm -f "$pidfile"
}

# Print "running (pid N) <what>" for the process of pid file $1, else "not running"; $2 is <what>.
pid_status() {
  if pid_running "$1"; then echo "running (pid $(cat "$1")) $2"; else echo "not running"; fi
}
