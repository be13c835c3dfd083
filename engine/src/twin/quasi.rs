//! Quasi-steady multi-rate stepping (`[solver.quasi_steady]`, ARCHITECTURE.md "Multi-rate
//! stepping"): once the inputs have held for `settle` seconds, a thermal interval over which
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
use super::step::{Grids, Unit};
use crate::error::Result;

/// The quasi-steady part of a twin's [`State`](super::State).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QuasiState {
    /// Simulated time in s of the last change of a model input.
    pub(super) inputs_changed_at: f64,
}

impl Twin {
    /// One unit of advance toward time `target` s, the caller holding the inputs until then:
    /// where `quasi` (the model enabling `[solver.quasi_steady]` and the caller allowing it),
    /// the inputs have held for its `settle` time, the twin is at the start of a thermal
    /// interval and the interval ends by `target`, the whole interval sub-stepped; otherwise
    /// one mechanical step.
    pub(super) fn advance_unit(&mut self, target: f64, quasi: bool, grids: Grids) -> Result<Unit> {
        let Some(q) = self.model.quasi_steady.filter(|_| quasi) else {
            return self.step_unit(grids);
        };
        let every = self.model.thermal.steps_per_update;
        let dt = self.model.dt_mech;
        let ready = self.state.steps.is_multiple_of(every)
            && self.state.time + every as f64 * dt <= target + 0.5 * dt
            && self.state.time - self.state.quasi.inputs_changed_at >= q.settle - 0.5 * dt;
        if ready {
            self.substep_interval(q.substeps, grids)
        } else {
            self.step_unit(grids)
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

    /// Advances one thermal interval integrating `k` of its mechanical steps (fewer than the
    /// interval's, so none of them ends at a thermal step).
    fn substep_interval(&mut self, k: u64, grids: Grids) -> Result<Unit> {
        let every = self.model.thermal.steps_per_update;
        let dt = self.model.dt_mech;
        let before = self.state.steps;
        let outer = self.window.replace(self.open_window());
        for _ in 0..k {
            self.step_unit(Grids::Own)?;
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
        self.state.time = self.model.step_time(self.state.steps);
        self.thermal_stage(before, grids)
    }
}
