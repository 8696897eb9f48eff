#!/usr/bin/env bash
# `make demo`: two consumers in one group, a producer for a bounded time, then what landed.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
LOGS=.services/demo
DURATION=${DEMO_SECONDS:-20}
mkdir -p "$LOGS"

pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

if ! curl -sf -o /dev/null "http://127.0.0.1:${WEB_PORT:-8000}/api/health"; then
  nohup $BIN/vitals serve --port "${WEB_PORT:-8000}" >"$LOGS/serve.log" 2>&1 &
  echo $! >"$LOGS/serve.pid"
fi
echo "== web central station: http://127.0.0.1:${WEB_PORT:-8000}/  (stop it: kill \$(cat $LOGS/serve.pid))"

for n in 1 2; do
  NO_COLOR=1 $BIN/vitals consume >"$LOGS/consumer-$n.log" 2>&1 &
  pids+=($!)
done
echo "== two consumers started (logs: $LOGS/consumer-1.log, consumer-2.log)"
sleep 3   # let them join the group before readings flow (they would not be lost either way)

echo "== producing for ${DURATION} s: 12 patients, one reading each every 0.5 s"
$BIN/vitals produce --patient-count 12 --interval 0.5 --duration "$DURATION" --seed 42 --quiet

sleep 2
for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
wait "${pids[@]}" 2>/dev/null || true   # the consumers only: the web board keeps running
pids=()

for n in 1 2; do
  echo "== consumer $n"
  grep -E "Partitions assigned|ALERT|Stopped after" "$LOGS/consumer-$n.log" | head -8 || true
done

echo "== cqlsh: the newest readings of P001 today"
$BIN/cqlsh 127.0.0.1 "${CASSANDRA_PORT:-9042}" -e \
  "SELECT patient_id, timestamp, heart_rate, spo2, systolic, diastolic, respiratory_rate, temperature, news2
   FROM hospital.patient_vitals WHERE patient_id = 'P001' AND day = '$(date -u +%F)' LIMIT 5;" 2>/dev/null | grep -v "^WARNING: cqlsh was built"
echo "== vitals watch --once"
NO_COLOR=1 $BIN/vitals watch --once --minutes 1 | head -8
echo "== cqlsh: how many readings are stored (all patients, all days)"
$BIN/cqlsh 127.0.0.1 "${CASSANDRA_PORT:-9042}" -e \
  "SELECT COUNT(*) FROM hospital.patient_vitals;" 2>/dev/null | grep -v "^WARNING: cqlsh was built"
echo "== the ward board is still live at http://127.0.0.1:${WEB_PORT:-8000}/"
