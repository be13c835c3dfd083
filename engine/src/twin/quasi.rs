//! Quasi-steady multi-rate stepping (`[solver.quasi_steady]`, DESIGN.md "Stepping: several
//! timescales"): once the inputs have held for `settle` seconds, a thermal interval over which
//! they keep holding integrates only `substeps` of its mechanical steps. Their heat stands for
//! the whole interval (scaled by steps per interval / substeps), and the wear statistics and
//! damage rates averaged over them advance wear and damage over the rest of it.
//!
//! Which intervals are sub-stepped depends only on the inputs and the time, never on the
//! parameters, so predictions stay smooth functions of the parameters (finite-difference
//! Jacobians and filters see no switching). Stated approximation: the mechanics see a settled
//! operating point, and follow the slow drift of temperature-dependent friction with a lag of a
//! few intervals; sensors sample at most once per sub-stepped interval.

use serde::{Deserialize, Serialize};

use super::Twin;

/// The quasi-steady part of a twin's [`State`](super::State).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QuasiState {
    /// Simulated time in s of the last change of a model input.
    inputs_changed_at: f64,
}

impl Twin {
    /// Sets model input `index` (in the input's unit); a new value restarts the settling time
    /// of quasi-steady stepping.
    pub fn set_input(&mut self, index: usize, value: f64) {
        if self.inputs[index] != value {
            self.inputs[index] = value;
            self.state.quasi.inputs_changed_at = self.state.time;
        }
    }

    /// Advances toward time `t` s, with the caller holding the inputs at their current values
    /// until then: where the model enables `[solver.quasi_steady]`, the inputs have held for
    /// its `settle` time, the twin is at the start of a thermal interval and the interval ends
    /// by `t`, it advances the whole interval sub-stepped; otherwise it takes one mechanical
    /// step. Returns whether any sensor sampled.
    pub fn advance_held(&mut self, t: f64) -> bool {
        let Some(q) = self.model.quasi_steady else {
            return self.step();
        };
        let every = self.model.thermal.steps_per_update;
        let dt = self.model.dt_mech;
        let ready = self.fault.is_none()
            && self.state.steps.is_multiple_of(every)
            && self.state.time + every as f64 * dt <= t + 0.5 * dt
            && self.state.time - self.state.quasi.inputs_changed_at >= q.settle - 0.5 * dt;
        if ready {
            self.substep_interval(q.substeps)
        } else {
            self.step()
        }
    }

    /// Mechanical steps this twin has integrated (since it was made; not part of the state).
    pub fn integrated_steps(&self) -> u64 {
        self.integrated_steps
    }

    /// Simulated seconds this twin advanced sub-stepped (since it was made).
    pub fn substepped_seconds(&self) -> f64 {
        self.substepped_seconds
    }

    /// Advances one thermal interval integrating `k` of its mechanical steps.
    fn substep_interval(&mut self, k: u64) -> bool {
        let every = self.model.thermal.steps_per_update;
        let dt = self.model.dt_mech;
        let before = self.state.steps;
        let outer = self.window.replace(self.open_window());
        for _ in 0..k {
            self.step();
        }
        let sums = std::mem::replace(&mut self.window, outer).expect("set above");
        let rates = self.close_window(&sums);
        let rest = (every - k) as f64 * dt;
        self.integrate_averaged(&rates, rest, rest);
        // The heat pending since the last thermal step is that of the `k` steps taken.
        let scale = every as f64 / k as f64;
        self.state
            .thermal
            .pending
            .iter_mut()
            .for_each(|p| *p *= scale);
        self.state.steps = before + every;
        self.substepped_seconds += every as f64 * dt;
        self.state.time = self.state.steps as f64 * dt;
        if self.grids_detached {
            self.begin_detached_thermal(before);
            return false;
        }
        if let Err(e) = self.step_thermal() {
            self.fault = Some(e);
        }
        self.sample_since(before)
    }
}
