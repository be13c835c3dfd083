#!/usr/bin/env bash
# Makes the example data under examples/data/ that the README's prognosis commands read:
# simulated runs of the shipped models with known parameters (`twin simulate --set`), thinned
# to what the real instruments record. Run from the repository root after a release build:
#   bash examples/make_data.sh
# The files are shipped; this script says how they were made and makes them again.
set -euo pipefail
twin=${TWIN:-target/release/twin}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Face mill (models/face_mill.toml): flank wear VB measured with a microscope every 120 s of
# cutting; one row per measurement, `time` = cumulative cutting time (s), inputs as cut, VB (m).
out=examples/data/face_mill
mkdir -p "$out"
mill() { # name depth_of_cut(m) feed_per_rev(m) ln_rate seed duration(s)
  printf 'time,depth_of_cut,feed_per_rev,work_material\n0,%s,%s,1\n' "$2" "$3" >"$scratch/$1.in.csv"
  "$twin" simulate models/face_mill.toml --inputs "$scratch/$1.in.csv" --duration "$6" \
    --set wear.tool.log_rate.1="$4" --seed "$5" --out "$scratch/$1.csv" >/dev/null
  awk -F, 'NR == 1 { print "time,depth_of_cut,feed_per_rev,work_material,flank_wear"; next }
           $1 % 120 == 0 && $1 > 0 { printf "%s,%s,%s,%s,%.3e\n", $1, $2, $3, $4, $5 }' \
    "$scratch/$1.csv" >"$out/$1.csv"
}
mill tool1 1.5e-3 0.5e-3 -16.0 1 2400
mill tool2 0.75e-3 0.5e-3 -16.4 2 2400
# A new tool's planned work: cast iron at 1.5 mm depth and 0.25 mm/rev for two hours.
printf 'time,depth_of_cut,feed_per_rev,work_material\n0,1.5e-3,0.25e-3,1\n7200,1.5e-3,0.25e-3,1\n' \
  >"$out/schedule.csv"

# Bearing rig (models/bearing_rig.toml): PRONOSTIA-like records, one row per 10 s snapshot with
# the vibration RMS and peak (m/s^2) and the operating conditions; a failed bearing's record
# ends at its first horizontal peak above 20 g, a running bearing's wherever it was stopped.
out=examples/data/bearing_rig
mkdir -p "$out"
bearing() { # name speed(rad/s) load(N) onset ln_severity growth seed duration(s) [stop(s)]
  printf 'time,shaft_speed,radial_load\n0,%s,%s\n' "$2" "$3" >"$scratch/$1.in.csv"
  "$twin" simulate models/bearing_rig.toml --inputs "$scratch/$1.in.csv" --duration "$8" \
    --set wear.test_bearing.onset="$4" --set wear.test_bearing.log_onset_severity="$5" \
    --set wear.test_bearing.growth="$6" --seed "$7" --out "$scratch/$1.csv" >/dev/null
  awk -F, -v stop="${9:-0}" '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i
              print "time,shaft_speed,radial_load,accel_h_rms,accel_v_rms,accel_h_peak,accel_v_peak"; next }
    $1 % 10 != 0 || $1 == 0 { next }
    stop > 0 && $1 > stop { exit }
    { printf "%s,%s,%s,%.4g,%.4g,%.4g,%.4g\n", $1, $(col["shaft_speed"]), $(col["radial_load"]),
        $(col["accel_h_rms"]), $(col["accel_v_rms"]), $(col["accel_h_peak"]), $(col["accel_v_peak"])
      if ($(col["accel_h_peak"]) > 196.1) exit }' "$scratch/$1.csv" >"$out/$1.csv"
}
bearing b1 188.5 4000 0.25 0.5 120 11 9500
bearing b2 172.8 4200 0.32 0.3 150 12 11000
bearing b3 157.1 5000 0.20 0.8 90 13 5200
bearing new_bearing 188.5 4000 0.30 0.5 120 14 8000 7200
