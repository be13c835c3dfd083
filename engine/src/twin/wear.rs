//! The twin's degradation half: wear states and section damage advanced every mechanical step
//! from the step's loads, their feedback into the mechanics, and the cycle-averaged slow
//! integrator that bridges long gaps (ARCHITECTURE.md, "Multi-rate stepping").

use serde::{Deserialize, Serialize};

use super::Twin;
use crate::error::Result;
use crate::fatigue::DamageCounter;
use crate::model::{JointKind, Section};
use crate::wear::Operating;
use nalgebra::Vector3;

/// The degradation part of a twin's [`State`](super::State).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DegradationState {
    /// Per wear element: the primary state (Archard worn volume m³, bearing consumed rating
    /// life, flank wear VB m) and the secondary one (sliding distance m, revolutions, cutting
    /// time s).
    pub wear: Vec<[f64; 2]>,
    /// Per section: streaming rainflow and Miner damage.
    sections: Vec<SectionState>,
    /// Cycle-averaged rates per operating point, for the slow integrator.
    cache: Vec<AveragedRates>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SectionState {
    counter: DamageCounter,
    /// Index of the half revolution the section is in (rotating sections).
    half_turn: i64,
}

/// Mean rates at one operating point (model inputs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct AveragedRates {
    inputs: Vec<f64>,
    /// Per wear element: mean operating statistics (see [`crate::wear::WearElement::stats`]).
    stats: Vec<[f64; 2]>,
    /// Per section: Miner damage per s and cycles per s.
    damage: Vec<[f64; 2]>,
}

/// Sums over the averaging part of a fast window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct WindowSums {
    seconds: f64,
    stats: Vec<[f64; 2]>,
    damage_start: Vec<[f64; 2]>,
}

impl WindowSums {
    /// Adds one mechanical step of `dt` s with wear statistics `stats` (one per element).
    fn add(&mut self, e: usize, stats: [f64; 2], dt: f64) {
        self.stats[e][0] += stats[0] * dt;
        self.stats[e][1] += stats[1] * dt;
    }
}

impl DegradationState {
    pub(super) fn new(model: &crate::Model) -> Self {
        Self {
            wear: vec![[0.0; 2]; model.wear.len()],
            sections: vec![SectionState::default(); model.sections.len()],
            cache: Vec::new(),
        }
    }

    /// Forgets the cycle-averaged rates (after a change of a parameter of the mechanics).
    pub(super) fn clear_cache(&mut self) {
        self.cache.clear();
    }
}

impl Twin {
    /// Applies `f` to the mechanics' view of the current step.
    fn with_operating<R>(&self, f: impl FnOnce(&Operating) -> R) -> R {
        let st = &self.state;
        let model = &self.model;
        let load = |b: usize| {
            let j = model.bearings[b].joint;
            model
                .bearing_force(b, &st.reaction_force[j], &st.reaction_torque[j])
                .norm()
        };
        let op = Operating {
            joint_velocity: &st.joint_velocity,
            reaction_force: &st.reaction_force,
            drive_force: &self.work.drive_force,
            bearing_load: &load,
            time: st.time,
            inputs: &self.state.inputs,
        };
        f(&op)
    }

    /// Sets the wear feedback on the mechanics for the next step: extra Coulomb friction and
    /// process torques per joint.
    pub(super) fn wear_loads(&mut self) {
        if self.model.wear.is_empty() {
            return;
        }
        self.work.wear_coulomb.iter_mut().for_each(|x| *x = 0.0);
        self.work.process_torque.iter_mut().for_each(|x| *x = 0.0);
        let model = std::sync::Arc::clone(&self.model);
        for (e, el) in model.wear.iter().enumerate() {
            let load = self.with_operating(|op| {
                let (params, w) = (
                    &self.state.tunables.wear[e],
                    self.state.degradation.wear[e][0],
                );
                el.joint_load(params, w, op)
            });
            if let Some((j, coulomb, torque)) = load {
                self.work.wear_coulomb[j] += coulomb;
                self.work.process_torque[j] += torque;
            }
        }
    }

    /// Advances wear and section damage over the mechanical step just taken.
    pub(super) fn step_degradation(&mut self) {
        let model = std::sync::Arc::clone(&self.model);
        let dt = model.dt_mech;
        for (e, el) in model.wear.iter().enumerate() {
            let (st, (i, aux)) = self.with_operating(|op| {
                let st = el.stats(op);
                (
                    st,
                    el.intensity(&self.state.tunables.wear[e], st, op.time, op.inputs),
                )
            });
            let rate = el.law.rate(
                &self.state.tunables.wear[e],
                i,
                self.state.degradation.wear[e][0],
            );
            let w = &mut self.state.degradation.wear[e];
            w[0] = el.law.saturate(w[0] + rate * dt);
            w[1] += aux * dt;
            if let Some(sums) = &mut self.window {
                sums.add(e, st, dt);
            }
        }
        for (s, section) in model.sections.iter().enumerate() {
            let j = section.joint;
            let (f, m) = (self.state.reaction_force[j], self.state.reaction_torque[j]);
            let [axial, torsion, my, mz] = self.section_wrench(section, f, m);
            let stress = section.geometry.stress(axial, torsion, my, mz);
            let st = &mut self.state.degradation.sections[s];
            if section.rotating {
                // The fibre's bending stress runs through σ_m ± σ_a once per revolution: one
                // reversal at every half turn passed.
                let half = (self.state.joint_position[j] / std::f64::consts::PI).floor() as i64;
                let passed = (half - st.half_turn).unsigned_abs().min(1 << 16);
                for k in 1..=passed as i64 {
                    let h = st.half_turn + k * (half - st.half_turn).signum();
                    let side = if h.rem_euclid(2) == 0 { 1.0 } else { -1.0 };
                    st.counter
                        .push(stress.signed_von_mises(side), &section.curve);
                }
                st.half_turn = half;
            } else {
                let bending = my.hypot(mz);
                let side = if bending > 0.0 { -mz / bending } else { 0.0 };
                st.counter
                    .push(stress.signed_von_mises(side), &section.curve);
            }
        }
        if let Some(sums) = &mut self.window {
            sums.seconds += dt;
        }
    }

    /// Opens sums for averaging wear statistics and damage from now on.
    pub(super) fn open_window(&self) -> WindowSums {
        let n = self.model.sections.len();
        WindowSums {
            seconds: 0.0,
            stats: vec![[0.0; 2]; self.model.wear.len()],
            damage_start: (0..n).map(|s| self.closed_damage(s)).collect(),
        }
    }

    /// The mean rates over a window's sums, at the current inputs.
    pub(super) fn close_window(&self, sums: &WindowSums) -> AveragedRates {
        AveragedRates {
            inputs: self.state.inputs.clone(),
            stats: sums
                .stats
                .iter()
                .map(|[a, b]| [a / sums.seconds, b / sums.seconds])
                .collect(),
            damage: (0..self.model.sections.len())
                .map(|s| {
                    let now = self.closed_damage(s);
                    let d0 = sums.damage_start[s];
                    [
                        (now[0] - d0[0]).max(0.0) / sums.seconds,
                        (now[1] - d0[1]) / sums.seconds,
                    ]
                })
                .collect(),
        }
    }

    /// The wrench on a section (axial N, torsion N·m, bending about y and z N·m, in the joint
    /// frame): the joint's reaction, plus what its drive transmits where the section carries it.
    fn section_wrench(&self, section: &Section, f: Vector3<f64>, m: Vector3<f64>) -> [f64; 4] {
        let Some(d) = section.drive else {
            return [f.x, m.x, m.y, m.z];
        };
        let drive = &self.model.drives[d];
        let motor = self.state.drive_torque[d];
        match self.model.joints[section.joint].kind {
            // The screw: thrust and motor torque; the carriage's reaction is not the screw's.
            JointKind::Prismatic => [motor * drive.ratio, motor, 0.0, 0.0],
            _ => [f.x, m.x + motor * drive.ratio, m.y, m.z],
        }
    }

    /// Damage of the cycles closed so far at section `s`, and their count.
    fn closed_damage(&self, s: usize) -> [f64; 2] {
        let counter = &self.state.degradation.sections[s].counter;
        [counter.closed_damage(), counter.cycles()]
    }

    /// Miner damage of section `s` so far (1 = expected failure).
    pub fn damage(&self, s: usize) -> f64 {
        let curve = &self.model.sections[s].curve;
        self.state.degradation.sections[s].counter.damage(curve)
    }

    /// The reported quantity of wear element `e` (see [`crate::wear::WearElement::reported`]).
    pub fn wear(&self, e: usize) -> f64 {
        self.model.wear[e].reported(self.state.degradation.wear[e][0])
    }

    /// Vibration severity of bearing wear element `e` in m/s² (0 for other laws).
    pub fn severity(&self, e: usize) -> f64 {
        self.model.wear[e].severity(
            &self.state.tunables.wear[e],
            self.state.degradation.wear[e][0],
        )
    }

    /// Sets the primary wear state of element `e` (an estimator's state update).
    pub fn set_wear_state(&mut self, e: usize, value: f64) {
        self.state.degradation.wear[e][0] = value;
    }

    /// Advances to time `t` with the cycle-averaged slow integrator: at an operating point
    /// (the current model inputs) not seen before, the twin steps for the window of
    /// `[solver.cycle_averaged]` and averages the wear laws' operating statistics (loads,
    /// speeds) and the damage rates over its second half; then the wear states take steps of
    /// at most `step` seconds (classical Runge–Kutta in the wear state, with the intensity at
    /// the averaged statistics held), and section damage grows at its averaged rate. The
    /// averages are cached per operating point (and forgotten when a parameter of the mechanics
    /// changes; wear-law parameters apply to the cached statistics), so a schedule of a few
    /// operating points costs a few windows.
    ///
    /// Assumptions, stated: loads and speeds at an operating point do not depend on the wear
    /// state; the mechanical and thermal states are held over the slow interval (the thermal
    /// state as at the end of the window). Sensors sample once, at `t`.
    pub fn advance_cycle_averaged(&mut self, t: f64) -> Result<()> {
        let ca = self
            .model
            .cycle_averaged
            .unwrap_or(crate::model::CycleAveraged {
                window: 1.0,
                step: 60.0,
                after: 2.0,
            });
        let dt = self.model.dt_mech;
        let cached = self
            .state
            .degradation
            .cache
            .iter()
            .position(|c| c.inputs == self.state.inputs);
        let rates = match cached {
            Some(i) => self.state.degradation.cache[i].clone(),
            None => {
                let settle = self.state.time + 0.5 * ca.window;
                let end = self.state.time + ca.window;
                if end > t {
                    return self.step_to(t);
                }
                self.step_to(settle)?;
                self.window = Some(self.open_window());
                self.step_to(end)?;
                let sums = self.window.take().expect("set above");
                let rates = self.close_window(&sums);
                self.state.degradation.cache.push(rates.clone());
                rates
            }
        };
        let span = t - self.state.time;
        if span <= 0.0 {
            return Ok(());
        }
        self.integrate_averaged(&rates, span, ca.step);
        self.state.time = t;
        self.state.steps += (span / dt).round() as u64;
        self.sample_all_sensors();
        Ok(())
    }

    /// Advances wear states and section damage by `span` s at averaged rates: classical
    /// Runge–Kutta in each wear state with steps of at most `step` s, the intensity at the
    /// averaged statistics held; damage and cycles grow linearly.
    pub(super) fn integrate_averaged(&mut self, rates: &AveragedRates, span: f64, step: f64) {
        let pieces = (span / step).ceil().max(1.0);
        let h = span / pieces;
        let model = std::sync::Arc::clone(&self.model);
        for (e, el) in model.wear.iter().enumerate() {
            let params = &self.state.tunables.wear[e];
            let (intensity, aux) =
                el.intensity(params, rates.stats[e], self.state.time, &self.state.inputs);
            let f = |w: f64| el.law.rate(params, intensity, w);
            let w = &mut self.state.degradation.wear[e];
            for _ in 0..pieces as u64 {
                let k1 = f(w[0]);
                let k2 = f(w[0] + 0.5 * h * k1);
                let k3 = f(w[0] + 0.5 * h * k2);
                let k4 = f(w[0] + h * k3);
                w[0] = el
                    .law
                    .saturate(w[0] + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4));
            }
            w[1] += aux * span;
        }
        for (s, [rate, cycles]) in rates.damage.iter().enumerate() {
            self.state.degradation.sections[s]
                .counter
                .add_damage(rate * span, cycles * span);
        }
    }
}
