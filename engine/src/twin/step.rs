//! One step of a twin, as a sequence of stages over its model, state and workspace (as
//! MuJoCo's stages take `(const mjModel*, mjData*)`): wear feedback, mechanics, degradation,
//! heat, and every `dt_thermal` the thermal stage, then the sensors. ARCHITECTURE.md,
//! "Multi-rate stepping", says which stage runs at which rate.
//!
//! The thermal stage has two halves around the conduction grids: the first turns the pending
//! losses into powers, advances the network and lays out each grid's conditions; the second
//! books the grids' step and feeds temperatures back into friction. Between them, the grids
//! are stepped by the twin's own steppers ([`Grids::Own`]) or, for the members of an
//! ensemble, by the ensemble's batched steppers ([`Grids::Deferred`]): the step then returns
//! [`Unit::Pending`] and the ensemble completes it with [`Twin::complete_thermal`].

use super::Twin;
use crate::error::Result;

/// Who steps a twin's conduction grids at a thermal step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grids {
    /// The twin's own steppers, within the step.
    Own,
    /// The caller, after the step returns [`Unit::Pending`] (an ensemble batching its
    /// members' grids).
    Deferred,
}

/// A thermal step whose grids wait for the caller: its first half is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Sensors due after this step count are sampled once the step completes.
    sample_since: u64,
}

/// What one unit of advance (a mechanical step, or a sub-stepped thermal interval) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Done; whether any sensor sampled.
    Done(bool),
    /// Done but for the grids of the thermal step at its end (with [`Grids::Deferred`]).
    Pending(Pending),
}

impl Twin {
    /// Advances one mechanical step of `dt_mech` (and the thermal part when a thermal step is
    /// due), then samples the sensors that are due. Returns whether any sensor sampled; an
    /// error where the grids' backend (a GPU) fails.
    pub fn step(&mut self) -> Result<bool> {
        match self.step_unit(Grids::Own)? {
            Unit::Done(sampled) => Ok(sampled),
            Unit::Pending(p) => self.finish_own_thermal(p),
        }
    }

    /// Steps until the simulated time reaches `t` s (to within half a step), whatever the gap:
    /// every mechanical step, never an averaged one.
    pub fn step_to(&mut self, t: f64) -> Result<()> {
        let dt = self.model.dt_mech;
        while self.state.time + 0.5 * dt < t {
            self.step()?;
        }
        Ok(())
    }

    /// One mechanical step, with the grids of a thermal step due at its end stepped by
    /// `grids`.
    pub(crate) fn step_unit(&mut self, grids: Grids) -> Result<Unit> {
        self.integrated_steps += 1;
        self.wear_loads();
        self.step_mechanics();
        self.step_degradation();
        if !self.model.thermal.is_empty() {
            self.accumulate_heat();
            let every = self.model.thermal.steps_per_update;
            if self.state.steps.is_multiple_of(every) {
                return self.thermal_stage(self.state.steps.saturating_sub(1), grids);
            }
        }
        Ok(Unit::Done(self.sample_sensors()))
    }

    /// The thermal stage at the end of a unit: its first half now, the grids by `grids`, and
    /// (for [`Grids::Own`]) its second half and the sensors due after step `sample_since`.
    pub(super) fn thermal_stage(&mut self, sample_since: u64, grids: Grids) -> Result<Unit> {
        self.begin_thermal();
        let pending = Pending { sample_since };
        match grids {
            Grids::Own => self.finish_own_thermal(pending).map(Unit::Done),
            Grids::Deferred => Ok(Unit::Pending(pending)),
        }
    }

    /// Steps the grids of a pending thermal step with the twin's own steppers and completes
    /// it.
    fn finish_own_thermal(&mut self, pending: Pending) -> Result<bool> {
        self.step_own_grids()?;
        self.end_thermal();
        Ok(self.sample_since(pending.sample_since))
    }

    /// Completes a pending thermal step once the caller has stepped the grids and written
    /// their fields and observables into the state (`steps[g]` = (sub-steps, heat in J that
    /// entered through the faces) of grid `g`); samples the sensors that were due.
    pub(crate) fn complete_thermal(&mut self, pending: Pending, steps: &[(usize, f64)]) -> bool {
        for (g, &(substeps, inflow)) in steps.iter().enumerate() {
            self.absorb_grid_step(g, substeps, inflow);
        }
        self.thermal.fields_changed();
        self.end_thermal();
        self.sample_since(pending.sample_since)
    }
}
