"""Writes the random load histories of the `rainflow_random` case and the cycles that the
reference implementation, the PyPI package `rainflow` 3.2.0 (ASTM E1049-85 three-point method),
extracts from them. Rerun with `pip install rainflow==3.2.0 && python3 generate.py`.

Histories (seeded, Python's Mersenne Twister):
  0  Gaussian white noise, 2,000 samples
  1  integers 0..9 (many equal samples and equal ranges: tie rules), 2,000 samples
  2  random walk with Gaussian steps, 2,000 samples
  3  sum of two sines with noise (a narrow-band load), 2,000 samples
"""
import csv
import math
import random

import rainflow

assert rainflow.__version__ == "3.2.0", rainflow.__version__

rng = random.Random(20261125)
histories = [
    [rng.gauss(0.0, 100.0) for _ in range(2000)],
    [float(rng.randint(0, 9)) for _ in range(2000)],
]
walk = [0.0]
for _ in range(1999):
    walk.append(walk[-1] + rng.gauss(0.0, 1.0))
histories.append(walk)
histories.append([
    50.0 * math.sin(0.3 * i) + 20.0 * math.sin(0.047 * i) + rng.gauss(0.0, 3.0)
    for i in range(2000)
])

with open("histories.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["history", "value"])
    for h, xs in enumerate(histories):
        for x in xs:
            w.writerow([h, repr(x)])

with open("cycles.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["history", "range", "mean", "count"])
    for h, xs in enumerate(histories):
        for rng_, mean, count, _i, _j in rainflow.extract_cycles(xs):
            w.writerow([h, repr(rng_), repr(mean), repr(count)])
