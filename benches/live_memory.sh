#!/usr/bin/env bash
# Memory of a long-running live twin (issue 17: "memory stays flat"): one spindle machine's
# stream of HOURS hours at 100 Hz (simulated from the staggered machining cycle
# benches/spindle_cycle.csv, stepped exactly), replayed into `twin serve` as fast as it
# assimilates, while the service's resident memory (VmRSS) and its state folder are sampled
# against the rows it has taken. Needs the example broker (see benches/live_load.sh).
#
#   bash benches/live_memory.sh [HOURS [METHOD MEMBERS]]      # default 24 h, enkf, 8 members
#   DATA=stream.csv bash benches/live_memory.sh 24            # a stream simulated before
#
# SPEED (data seconds per wall second, default max) paces the replay. At `max` the whole
# stream reaches the broker at once and the broker hands the service far more than the
# connection's receive maximum (32): the backlog waits in the service's memory (a 24-hour
# stream: 2.3 GB). Paced just under the service's rate (SPEED=100 for 8 members on 2 cores),
# the RSS is the twin's own.
#
# A 24-hour run writes a 1 GB data file under a temporary folder (removed at the end) and takes
# about 6 min to simulate plus the replay (8 members: about 15 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:-24}; method=${2:-enkf}; members=${3:-8}
twin=${TWIN:-target/release/twin}
secrets="$PWD/examples/live/secrets"
work=$(mktemp -d)
serve=
trap '[ -n "$serve" ] && kill "$serve" 2>/dev/null; rm -rf "$work"' EXIT
port=9466
seconds=$(echo "$hours * 3600 / 1" | bc)
awk -F, -v OFS=, -v dur="$seconds" '
  NR == 1 { print; next }
  { t[NR] = $1; $1 = ""; rest[NR] = $0 }
  END {
    period = t[NR]
    for (rep = 0; rep * period < dur; rep++)
      for (r = (rep > 0 ? 3 : 2); r <= NR; r++) print rep * period + t[r] rest[r]
  }' benches/spindle_cycle.csv > "$work/schedule.csv"
# DATA=FILE reuses a stream made before (a 24-hour simulation takes minutes).
if [ -n "${DATA:-}" ]; then
  ln -s "$(realpath "$DATA")" "$work/data.csv"
else
  "$twin" simulate models/spindle.toml --inputs "$work/schedule.csv" --duration "$seconds" \
    --exact --out "$work/data.csv" > /dev/null 2>&1
fi
rows=$(($(wc -l < "$work/data.csv") - 1))
{
  echo "[broker]"
  echo "url = \"mqtts://127.0.0.1:8883\""
  echo "ca_file = \"$secrets/ca.crt\""
  echo "username = \"twin\""
  echo "password_file = \"$secrets/password\""
  echo "client_id = \"memory-$$\""
  echo "[service]"
  echo "state_dir = \"$work/state\""
  echo "topic_prefix = \"memory-$$\""
  echo "http = \"127.0.0.1:$port\""
  echo "[[machine]]"
  echo "id = \"m1\""
  echo "model = \"$PWD/models/spindle.toml\""
  echo "method = \"$method\""
  echo "members = $members"
} > "$work/fleet.toml"
"$twin" serve "$work/fleet.toml" 2> "$work/serve.log" &
serve=$!
sleep 2
"$twin" replay "$work/data.csv" --config "$work/fleet.toml" --machine m1 --speed "${SPEED:-max}" \
  --batch 1 2> "$work/replay.log" &
replay=$!
echo "$rows rows ($hours h at 100 Hz), $method with $members members"
printf '%10s %8s %9s %10s\n' rows "data h" "RSS MiB" "state MiB"
start=$(date +%s)
next=0
while true; do
  got=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^twin_rows_accepted_total/ {s += $2} END {print s + 0}')
  if [ "$got" -ge "$next" ] || [ "$got" -ge "$rows" ]; then
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$serve/status")
    state=$(du -sk "$work/state" | awk '{print $1}')
    printf '%10d %8.2f %9.0f %10.1f\n' "$got" "$(echo "$got / 360000" | bc -l)" \
      "$(echo "$rss / 1024" | bc -l)" "$(echo "$state / 1024" | bc -l)"
    next=$((next + rows / 12))
  fi
  [ "$got" -ge "$rows" ] && break
  kill -0 "$serve" 2>/dev/null || { echo "twin serve stopped:"; tail -5 "$work/serve.log"; exit 1; }
  sleep 5
done
wait "$replay"
echo "assimilated in $(( $(date +%s) - start )) s wall; peak RSS $(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$serve/status") MiB"
