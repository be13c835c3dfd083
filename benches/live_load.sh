#!/usr/bin/env bash
# Load run of `twin serve` (issue 17): N machines streaming a model's rows in real time, rows
# stamped with the wall clock (`twin replay --now`), for the run's length; then the lag's 99th
# percentile per machine from the service's own /metrics (histogram `twin_lag_seconds`: wall
# time from a payload's last row to its assimilation), rows per second, and the service's
# peak memory. Needs the example broker: `bash examples/live/setup.sh` and
# `mosquitto -c examples/live/secrets/mosquitto.conf &`.
#
#   bash benches/live_load.sh N DATA.csv MODEL [METHOD MEMBERS BATCH_S]
#
# Example (the spindle at 100 Hz, EnKF with 32 members, thermal on):
#   bash benches/live_load.sh 8 spindle_100hz.csv models/spindle.toml enkf 32 0.1
#
# With SPEED=max the replays publish everything at once (the broker queues it) and the run
# measures the service's throughput alone: rows per second until every row is assimilated,
# with no publisher competing for the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?machines}; data=${2:?data file}; model=${3:?model file}
method=${4:-enkf}; members=${5:-32}; batch=${6:-0.1}
twin=${TWIN:-target/release/twin}
secrets="$PWD/examples/live/secrets"
work=$(mktemp -d)
port=9465
{
  echo "[broker]"
  echo "url = \"mqtts://127.0.0.1:8883\""
  echo "ca_file = \"$secrets/ca.crt\""
  echo "username = \"twin\""
  echo "password_file = \"$secrets/password\""
  echo "client_id = \"load-$$\""
  echo "[service]"
  echo "state_dir = \"$work/state\""
  echo "topic_prefix = \"load-$$\""
  echo "http = \"127.0.0.1:$port\""
  for i in $(seq 1 "$n"); do
    echo "[[machine]]"
    echo "id = \"m$i\""
    echo "model = \"$PWD/$model\""
    echo "method = \"$method\""
    echo "members = $members"
    echo "publish_every = 10.0"
  done
} > "$work/fleet.toml"
"$twin" serve "$work/fleet.toml" 2> "$work/serve.log" &
serve=$!
trap 'kill $serve 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 2
start=$(date +%s.%N)
pids=()
speed=${SPEED:-1}
for i in $(seq 1 "$n"); do
  "$twin" replay "$data" --config "$work/fleet.toml" --machine "m$i" --speed "$speed" --now --batch "$batch" 2>>"$work/replay.log" &
  pids+=($!)
done
if [ "$speed" = max ]; then
  wait "${pids[@]}"
  rows=$(( n * ($(wc -l < "$data") - 1) ))
  while true; do
    got=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^twin_rows_accepted_total/ {s += $2} END {print s + 0}')
    [ "$got" -ge "$rows" ] && break
    sleep 0.5
  done
  end=$(date +%s.%N)
  echo "machines $n at full speed: $rows rows assimilated in $(echo "$end - $start" | bc) s: $(echo "$rows / ($end - $start)" | bc) rows/s"
  exit 0
fi
peak=0
while kill -0 "${pids[0]}" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$serve/status")
  [ "$rss" -gt "$peak" ] && peak=$rss
  sleep 1
done
wait "${pids[@]}"
sleep 3
end=$(date +%s.%N)
curl -s "http://127.0.0.1:$port/metrics" > "$work/metrics.txt"
python3 - "$work/metrics.txt" "$n" "$start" "$end" "$peak" <<'PY'
import sys, re, collections
text = open(sys.argv[1]).read()
n, start, end, peak = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
buckets = collections.defaultdict(list)
counts = {}
accepted = 0
for line in text.splitlines():
    m = re.match(r'twin_lag_seconds_bucket\{le="([^"]+)",machine="([^"]+)"\} (\d+)', line) or \
        re.match(r'twin_lag_seconds_bucket\{machine="([^"]+)",le="([^"]+)"\} (\d+)', line)
    if m:
        a, b, c = m.groups()
        le, mach = (a, b) if line.find('le=') < line.find('machine=') else (b, a)
        buckets[mach].append((float('inf') if le == '+Inf' else float(le), int(c)))
    m = re.match(r'twin_rows_accepted_total\{machine="([^"]+)"\} (\d+)', line)
    if m:
        accepted += int(m.group(2))
p99s = []
for mach, b in sorted(buckets.items()):
    b.sort()
    total = b[-1][1]
    p99 = next(le for le, c in b if c >= 0.99 * total)
    p99s.append(p99)
print(f"machines {n}: rows accepted {accepted} in {end - start:.1f} s wall "
      f"({accepted / (end - start):.0f} rows/s); lag p99 (bucket bound) worst {max(p99s):.3f} s, "
      f"median machine {sorted(p99s)[len(p99s)//2]:.3f} s; service peak RSS {peak / 1024:.0f} MiB")
PY
