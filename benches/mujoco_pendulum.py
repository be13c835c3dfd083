#!/usr/bin/env python3
"""MuJoCo reference for models/pendulum.toml: throughput of mj_step and the swing period.

The same model as models/pendulum.toml: a 1 kg point-mass bob (diagonal inertia 1e-6 kg m^2,
as the engine gives a point mass) on a massless 1 m rod, hinged about y at the origin, gravity
-9.81 m/s^2 along z, time step 0.001 s, MuJoCo's default (semi-implicit) Euler integrator, contacts
disabled, released from rest at 90 degrees (bob at x = 1 m, z = 0).

Prints one JSON object:
  {"engine": "mujoco", "version": ..., "model": "pendulum", "steps_per_second": ...,
   "period_s": ..., ...}

steps_per_second is the best of 3 timed runs of `steps` calls to mj_step, made in C through
mj_step's `nstep` argument so that Python call overhead is not measured. period_s is the mean
time between successive same-direction passes through the hanging position over 20 s,
interpolated linearly within a step; period_exact_s is the exact large-amplitude period
T = 4 sqrt(L/g) K(sin(theta0/2)).

Usage: python3 benches/mujoco_pendulum.py [--steps N] [--runs R]
"""

import argparse
import json
import math
import time

import mujoco

L = 1.0  # m
G = 9.81  # m/s^2
THETA0 = math.pi / 2  # rad, release angle from the hanging position
DT = 0.001  # s

# The body frame sits at the pivot; the bob hangs at (0, 0, -L) when qpos = 0.
MJCF = f"""
<mujoco model="pendulum">
  <option timestep="{DT}" gravity="0 0 {-G}" integrator="Euler">
    <flag contact="disable"/>
  </option>
  <worldbody>
    <body name="bob" pos="0 0 0">
      <joint name="pivot" type="hinge" axis="0 1 0" pos="0 0 0" damping="0" armature="0"/>
      <inertial pos="0 0 {-L}" mass="1" diaginertia="1e-6 1e-6 1e-6"/>
    </body>
  </worldbody>
</mujoco>
"""

# Rotation about +y by q takes the hanging bob (0, 0, -L) to (-L sin q, 0, -L cos q), so
# q = -pi/2 puts it at (L, 0, 0): horizontal, 90 degrees from hanging.
Q0 = -THETA0


def exact_period(length, g, theta0):
    """T = 4 sqrt(L/g) K(k), k = sin(theta0/2), with scipy if present, else the AGM."""
    k = math.sin(theta0 / 2)
    try:
        from scipy.special import ellipk  # parameter m = k^2

        kk = float(ellipk(k * k))
    except ImportError:
        a, b = 1.0, math.sqrt(1.0 - k * k)
        while abs(a - b) > 1e-15 * a:
            a, b = 0.5 * (a + b), math.sqrt(a * b)
        kk = math.pi / (2.0 * a)
    return 4.0 * math.sqrt(length / g) * kk


def reset(model, data):
    mujoco.mj_resetData(model, data)
    data.qpos[0] = Q0
    data.qvel[0] = 0.0
    mujoco.mj_forward(model, data)


def measure_period(model, data, duration=20.0):
    """Mean time between successive upward (q increasing) crossings of q = 0."""
    reset(model, data)
    bob = data.xipos[model.body("bob").id]
    assert abs(bob[0] - L) < 1e-9 and abs(bob[2]) < 1e-9, f"bob not at (L, 0, 0): {bob}"
    crossings = []
    n = int(round(duration / DT))
    q_prev, t_prev = data.qpos[0], data.time
    for _ in range(n):
        mujoco.mj_step(model, data)
        q, t = data.qpos[0], data.time
        if q_prev < 0.0 <= q:
            crossings.append(t_prev + (t - t_prev) * (-q_prev) / (q - q_prev))
        q_prev, t_prev = q, t
    if len(crossings) < 2:
        raise RuntimeError(f"only {len(crossings)} crossings in {duration} s")
    return (crossings[-1] - crossings[0]) / (len(crossings) - 1), len(crossings) - 1


def measure_throughput(model, data, steps, runs):
    reset(model, data)
    mujoco.mj_step(model, data, nstep=min(steps, 200_000))  # warm up
    best = 0.0
    for _ in range(runs):
        reset(model, data)
        start = time.perf_counter()
        mujoco.mj_step(model, data, nstep=steps)
        elapsed = time.perf_counter() - start
        best = max(best, steps / elapsed)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2_000_000, help="steps per timed run")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (best is reported)")
    args = parser.parse_args()

    model = mujoco.MjModel.from_xml_string(MJCF)
    data = mujoco.MjData(model)

    period, periods = measure_period(model, data)
    exact = exact_period(L, G, THETA0)
    sps = measure_throughput(model, data, args.steps, args.runs)

    print(json.dumps({
        "engine": "mujoco",
        "version": mujoco.__version__,
        "model": "pendulum",
        "steps_per_second": round(sps),
        "steps": args.steps,
        "runs": args.runs,
        "period_s": round(period, 6),
        "periods_measured": periods,
        "period_exact_s": round(exact, 6),
        "period_relative_error": float(f"{(period - exact) / exact:.3e}"),
    }))


if __name__ == "__main__":
    main()
