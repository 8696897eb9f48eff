#!/usr/bin/env bash
# `make demo`: a small simulated ward that keeps producing for as long as the web board runs.
#
#   bash tools/demo.sh          start the board, two consumers (one group) and a producer,
#                               show what landed, leave them running
#   bash tools/demo.sh stop     stop them by their pid files (`make down` runs this first)
#   bash tools/demo.sh watch    (internal) the watchdog: stops producer and consumers once
#                               the board stops answering
#
# Settings (environment): WEB_PORT (8000), DEMO_PATIENTS (6), DEMO_INTERVAL (2 s between two
# readings of one patient), DEMO_WAIT (12 s before showing what landed), DEMO_DIR (pid files
# and logs, .services/demo), and the usual VITALS_* variables (topics, keyspace, servers).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DIR=${DEMO_DIR:-.services/demo}
PORT=${WEB_PORT:-8000}
URL="http://127.0.0.1:$PORT"
PATIENTS=${DEMO_PATIENTS:-6}
INTERVAL=${DEMO_INTERVAL:-2}
KEYSPACE=${VITALS_KEYSPACE:-hospital}
export PYTHONUNBUFFERED=1  # logs are read while the processes run
mkdir -p "$DIR"

# The pid in pid file $1 if that process is still ours (a vitals command or this script),
# so that a pid reused by the system after a reboot is never signalled.
ours() {
  local pid
  [ -f "$1" ] || return 1
  pid=$(cat "$1")
  { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qE 'vitals|demo\.sh' || return 1
  echo "$pid"
}

# Stop the processes of these pid files: SIGINT (consumers finish their writes and commit),
# SIGKILL after 20 s.
stop_files() {
  local f pid name
  for f in "$@"; do
    name=$(basename "$f" .pid)
    if pid=$(ours "$f"); then
      kill -INT "$pid" 2>/dev/null || true
      for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
      echo "demo: $name stopped (pid $pid)"
    fi
    rm -f "$f"
  done
}

ward_files() { echo "$DIR/producer.pid" "$DIR"/consumer-*.pid; }

case "${1:-start}" in
stop)
  if pid=$(ours "$DIR/watchdog.pid"); then kill -TERM "$pid" 2>/dev/null || true; fi
  rm -f "$DIR/watchdog.pid"
  # shellcheck disable=SC2046
  stop_files $(ward_files) "$DIR/serve.pid"
  exit 0
  ;;
watch)
  while curl -sf -o /dev/null --max-time 5 "$URL/api/health"; do sleep 5; done
  echo "demo: the board at $URL stopped answering; stopping the simulated ward"
  # shellcheck disable=SC2046
  stop_files $(ward_files)
  rm -f "$DIR/watchdog.pid"
  exit 0
  ;;
start) ;;
*)
  echo "usage: tools/demo.sh [start|stop]" >&2
  exit 2
  ;;
esac

if ours "$DIR/producer.pid" >/dev/null; then
  echo "demo: already running (producer pid $(cat "$DIR/producer.pid")); stop it with: make down" >&2
  exit 1
fi
started=()
fail() { # on an error, stop what this run started
  # shellcheck disable=SC2068
  [ ${#started[@]} -eq 0 ] || stop_files ${started[@]}
}
trap fail ERR

if curl -sf -o /dev/null "$URL/api/health"; then
  echo "== web central station already running at $URL/"
else
  nohup $BIN/vitals serve --port "$PORT" >"$DIR/serve.log" 2>&1 &
  echo $! >"$DIR/serve.pid"
  started+=("$DIR/serve.pid")
  for _ in $(seq 300); do curl -sf -o /dev/null "$URL/api/health" && break; sleep 0.1; done
  curl -sf -o /dev/null "$URL/api/health" || { echo "demo: the board did not start, see $DIR/serve.log" >&2; false; }
  echo "== web central station: $URL/  (log: $DIR/serve.log)"
fi

for n in 1 2; do
  NO_COLOR=1 nohup $BIN/vitals consume >"$DIR/consumer-$n.log" 2>&1 &
  echo $! >"$DIR/consumer-$n.pid"
  started+=("$DIR/consumer-$n.pid")
done
# A process that exited at once (no topic, no Cassandra): say why, stop the rest.
gone() {
  ours "$DIR/$1.pid" >/dev/null && return 1
  echo "demo: $1 stopped: $(tail -n 1 "$DIR/$1.log")" >&2
}
for n in 1 2; do  # both joined the group (readings sent earlier would not be lost either way)
  for _ in $(seq 600); do
    grep -q "Partitions assigned" "$DIR/consumer-$n.log" && break
    if gone "consumer-$n"; then false; fi
    sleep 0.1
  done
done
echo "== two consumers in one group (logs: $DIR/consumer-1.log, consumer-2.log)"

nohup $BIN/vitals produce --patient-count "$PATIENTS" --interval "$INTERVAL" --episodes-per-hour 3 --quiet \
  >"$DIR/producer.log" 2>&1 &
echo $! >"$DIR/producer.pid"
started+=("$DIR/producer.pid")
echo "== a simulated ward: $PATIENTS patients, one reading each every $INTERVAL s, now and then a deterioration"

sleep 2
if gone producer; then false; fi
nohup bash tools/demo.sh watch >"$DIR/watchdog.log" 2>&1 &
echo $! >"$DIR/watchdog.pid"
trap - ERR

sleep "${DEMO_WAIT:-12}"  # let a few readings land before showing them
for n in 1 2; do
  echo "== consumer $n"
  grep -E "Partitions assigned|ALERT" "$DIR/consumer-$n.log" | head -6 || true
done
echo "== cqlsh: the newest readings of P001 today"
$BIN/cqlsh 127.0.0.1 "${CASSANDRA_PORT:-9042}" -e \
  "SELECT patient_id, timestamp, heart_rate, spo2, systolic, diastolic, respiratory_rate, temperature, news2
   FROM $KEYSPACE.patient_vitals WHERE patient_id = 'P001' AND day = '$(date -u +%F)' LIMIT 3;" 2>/dev/null | grep -v "^WARNING: cqlsh was built" || true
echo "== vitals watch --once"
NO_COLOR=1 $BIN/vitals watch --once --minutes 1 | head -8 || true
cat <<EOF
== the ward keeps producing while the board runs: open $URL/
   stop the simulated ward and the board:  make down   (or: bash tools/demo.sh stop, which leaves Kafka and Cassandra running)
EOF
