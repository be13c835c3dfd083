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
# With CYCLE=SECONDS, DATA is one duty cycle of model inputs (a schedule, e.g.
# benches/spindle_cycle.csv) and each machine streams its own SECONDS-long run simulated from it
# (`twin simulate --exact`, noise seed = machine number), its cycle starting (i-1)/N of a period
# later on machine i: a plant's machines do not change tools in step. Without it every machine
# replays DATA as it is, all in step (their transients coincide: the worst case).
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
serve=
sub=
trap '[ -n "$serve" ] && kill "$serve" 2>/dev/null; [ -n "$sub" ] && kill "$sub" 2>/dev/null; rm -rf "$work"' EXIT
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
data_for() { echo "$data"; }
if [ -n "${CYCLE:-}" ]; then
  period=$(awk -F, 'END {print $1}' "$data")
  for i in $(seq 1 "$n"); do
    awk -F, -v OFS=, -v off="$(echo "($i - 1) * $period / $n" | bc -l)" -v dur="$CYCLE" -v period="$period" '
      NR == 1 { print; next }
      { t[NR] = $1; $1 = ""; rest[NR] = $0 }
      END {
        print 0 rest[2]
        for (rep = 0; off + rep * period < dur; rep++)
          for (r = 2; r <= NR; r++) print off + rep * period + t[r] rest[r]
      }' "$data" > "$work/schedule-$i.csv"
    "$twin" simulate "$model" --inputs "$work/schedule-$i.csv" --duration "$CYCLE" --exact \
      --seed "$i" --out "$work/data-$i.csv" > /dev/null 2>&1
  done
  data_for() { echo "$work/data-$1.csv"; }
fi
"$twin" serve "$work/fleet.toml" 2> "$work/serve.log" &
serve=$!
# Every estimate as it arrives, with the wall time of its arrival: publish-to-estimate latency.
mosquitto_sub -h 127.0.0.1 -p 8883 --cafile "$secrets/ca.crt" -u twin -P "$(cat "$secrets/password")" \
  -t "load-$$/+/estimate" -F '%U %p' > "$work/estimates.txt" 2> /dev/null &
sub=$!
sleep 2
start=$(date +%s.%N)
pids=()
speed=${SPEED:-1}
for i in $(seq 1 "$n"); do
  /usr/bin/time -a -o "$work/replay-cpu.txt" -f "%U %S" \
    "$twin" replay "$(data_for "$i")" --config "$work/fleet.toml" --machine "m$i" --speed "$speed" --now --batch "$batch" 2>>"$work/replay.log" &
  pids+=($!)
done
if [ "$speed" = max ]; then
  wait "${pids[@]}"
  rows=0
  for i in $(seq 1 "$n"); do rows=$(( rows + $(wc -l < "$(data_for "$i")") - 1 )); done
  while true; do
    got=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^twin_rows_accepted_total/ {s += $2} END {print s + 0}')
    [ "$got" -ge "$rows" ] && break
    sleep 0.5
  done
  end=$(date +%s.%N)
  echo "machines $n at full speed: $rows rows assimilated in $(echo "$end - $start" | bc) s: $(echo "$rows / ($end - $start)" | bc) rows/s"
  exit 0
fi
# The lag percentiles cover the run after WARMUP s (default 30): a service that has just
# started builds every member's twin and takes every machine's first transient at once.
warmup=${WARMUP:-30}
: > "$work/metrics-warm.txt"
peak=0
while kill -0 "${pids[0]}" 2>/dev/null; do
  if [ ! -s "$work/metrics-warm.txt" ] && [ "$(echo "$(date +%s.%N) - $start >= $warmup" | bc)" = 1 ]; then
    curl -s "http://127.0.0.1:$port/metrics" > "$work/metrics-warm.txt"
  fi
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$serve/status")
  [ "$rss" -gt "$peak" ] && peak=$rss
  sleep 1
done
wait "${pids[@]}"
sleep 3
end=$(date +%s.%N)
curl -s "http://127.0.0.1:$port/metrics" > "$work/metrics.txt"
python3 - "$work/metrics.txt" "$n" "$start" "$end" "$peak" "$work/metrics-warm.txt" "$warmup" "$work/estimates.txt" <<'PY'
import sys, re, collections
n, start, end, peak = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
warmup = float(sys.argv[7])

def read(path):
    buckets, accepted = collections.defaultdict(dict), 0
    for line in open(path).read().splitlines():
        m = re.match(r'twin_lag_seconds_bucket\{(.*)\} (\d+)', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            le = float('inf') if labels['le'] == '+Inf' else float(labels['le'])
            buckets[labels['machine']][le] = int(m.group(2))
        m = re.match(r'twin_rows_accepted_total\{machine="([^"]+)"\} (\d+)', line)
        if m:
            accepted += int(m.group(2))
    return buckets, accepted

buckets, accepted = read(sys.argv[1])
warm, _ = read(sys.argv[6])
p99s, p50s = [], []
for mach, b in sorted(buckets.items()):
    after = sorted((le, c - warm.get(mach, {}).get(le, 0)) for le, c in b.items())
    total = after[-1][1]
    p99s.append(next(le for le, c in after if c >= 0.99 * total))
    p50s.append(next(le for le, c in after if c >= 0.50 * total))
print(f"machines {n}: rows accepted {accepted} in {end - start:.1f} s wall "
      f"({accepted / (end - start):.0f} rows/s); after {warmup:.0f} s, lag p99 (bucket bound) worst {max(p99s):.3f} s, "
      f"median machine {sorted(p99s)[len(p99s)//2]:.3f} s; lag p50 worst {max(p50s):.3f} s; "
      f"service peak RSS {peak / 1024:.0f} MiB")
# Publish-to-estimate: from the wall time a row was published (its stamp, `replay --now`, a
# batch going out when its last row is due) to the arrival of the estimate that includes it.
import json
lat = []
for line in open(sys.argv[8]):
    got, _, text = line.partition(' ')
    try:
        e = json.loads(text)
    except ValueError:
        continue
    if e.get('time_unix') is not None and float(got) > start + warmup:
        lat.append(float(got) - e['time_unix'])
lat.sort()
if lat:
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print(f"publish to estimate, after {warmup:.0f} s: {len(lat)} estimates, p50 {q(0.5):.3f} s, "
          f"p99 {q(0.99):.3f} s, max {lat[-1]:.3f} s")
PY
tck=$(getconf CLK_TCK)
service_cpu=$(awk -v tck="$tck" '{printf "%.0f", ($14 + $15) / tck}' "/proc/$serve/stat")
publishers_cpu=$(awk '{s += $1 + $2} END {printf "%.0f", s}' "$work/replay-cpu.txt")
echo "CPU time: service $service_cpu s, publishers $publishers_cpu s, of $(nproc) cores × $(printf %.0f "$(echo "$end - $start" | bc)") s wall"
