//! The one stepping loop: a twin advanced to a time with its inputs held or read from a
//! series, by the multi-rate rules its model enables and its caller allows. Simulation,
//! forecasts, the calibration outlook and batch calibration all step through it; ensembles
//! run it on every member (ARCHITECTURE.md, "Multi-rate stepping").

use super::Twin;
use super::step::{Grids, Pending, Unit};
use crate::data::InputSeries;
use crate::error::Result;

/// Which multi-rate rules a drive may use; each applies only where the model enables it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Sub-step settled thermal intervals (`[solver.quasi_steady]`).
    pub quasi_steady: bool,
    /// Bridge a gap longer than `[solver.cycle_averaged].after` with the slow integrator.
    pub cycle_averaged: bool,
    /// Let a sub-stepped interval end past the target (by less than one interval), so that
    /// data rows closer together than the interval meet the twin at the interval's end (its
    /// mechanics settled, its temperatures at most one interval ahead; the validation case
    /// `quasi_steady_spindle` bounds the effect). Without it, intervals that do not end by the
    /// target are stepped.
    pub overshoot: bool,
}

impl Rules {
    /// Every mechanical step integrated (`twin simulate --exact`; synthetic data).
    pub const EXACT: Rules = Rules {
        quasi_steady: false,
        cycle_averaged: false,
        overshoot: false,
    };
    /// Traces at every sampling instant: quasi-steady intervals, no slow integrator
    /// (`twin simulate`).
    pub const TRACE: Rules = Rules {
        quasi_steady: true,
        cycle_averaged: false,
        overshoot: false,
    };
    /// Everything the model enables, landing exactly on the target (forecasts,
    /// [`Twin::advance_to`]).
    pub const MODEL: Rules = Rules {
        quasi_steady: true,
        cycle_averaged: true,
        overshoot: false,
    };
    /// Everything the model enables, intervals overshooting data rows (calibration: comparing
    /// the twin with measurements).
    pub const DATA: Rules = Rules {
        quasi_steady: true,
        cycle_averaged: true,
        overshoot: true,
    };
}

/// Where a drive stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driven {
    /// At the target (or past it by less than an interval, with [`Rules::overshoot`]).
    Reached,
    /// At a thermal step whose grids wait for the caller ([`Grids::Deferred`]); drive again
    /// after completing it.
    Paused(Pending),
}

impl Twin {
    /// Advances to time `t` s with the inputs held at their current values, by every
    /// multi-rate rule the model enables ([`Rules::MODEL`]): a gap longer than
    /// `[solver.cycle_averaged].after` is bridged by the slow integrator
    /// ([`Twin::advance_cycle_averaged`]); otherwise the twin steps until it reaches `t` (to
    /// within half a step), by whole sub-stepped thermal intervals where
    /// `[solver.quasi_steady]` allows.
    pub fn advance_to(&mut self, t: f64) -> Result<()> {
        self.drive(None, t, Rules::MODEL, &mut |_, _| Ok(()))
    }

    /// Advances to time `t` s with the inputs from `inputs`, as calibration compares the twin
    /// with data ([`Rules::DATA`]).
    pub fn drive_to(&mut self, inputs: &InputSeries, t: f64) -> Result<()> {
        self.drive(Some(inputs), t, Rules::DATA, &mut |_, _| Ok(()))
    }

    /// Advances to time `t` s under `rules`, with the inputs from `inputs` (interpolated at
    /// the start of each step; a sub-stepped interval only where the series holds over it; a
    /// gap bridged by the slow integrator at the series' value in its middle) or, without a
    /// series, held at their current values. `observe(twin, sampled)` is called after every
    /// step or interval, with whether any sensor sampled in it.
    pub fn drive(
        &mut self,
        inputs: Option<&InputSeries>,
        t: f64,
        rules: Rules,
        observe: &mut dyn FnMut(&Twin, bool) -> Result<()>,
    ) -> Result<()> {
        match self.drive_with(inputs, t, rules, Grids::Own, observe)? {
            Driven::Reached => Ok(()),
            Driven::Paused(_) => unreachable!("a twin stepping its own grids never pauses"),
        }
    }

    /// [`Twin::drive`] with the grids of each thermal step stepped by `grids`: with
    /// [`Grids::Deferred`] the drive pauses at each thermal step for the caller.
    pub(crate) fn drive_with(
        &mut self,
        inputs: Option<&InputSeries>,
        t: f64,
        rules: Rules,
        grids: Grids,
        observe: &mut dyn FnMut(&Twin, bool) -> Result<()>,
    ) -> Result<Driven> {
        let dt = self.model.dt_mech;
        if rules.cycle_averaged
            && let Some(ca) = self.model.cycle_averaged
            && t - self.state.time > ca.after
        {
            if let Some(series) = inputs {
                self.set_inputs_from(series, 0.5 * (self.state.time + t));
            }
            self.advance_cycle_averaged(t)?;
            observe(self, true)?;
            return Ok(Driven::Reached);
        }
        let interval = self.model.thermal.dt;
        let quasi = rules.quasi_steady && self.model.quasi_steady.is_some();
        while self.state.time + 0.5 * dt < t {
            let now = self.state.time;
            if let Some(series) = inputs {
                self.set_inputs_from(series, now);
            }
            // A sub-stepped interval needs the inputs to hold over it.
            let held = quasi && inputs.is_none_or(|s| s.constant_over(now, now + interval));
            let target = if rules.overshoot { now + interval } else { t };
            let unit = self.advance_unit(target, held, grids)?;
            match unit {
                Unit::Done(sampled) => observe(self, sampled)?,
                Unit::Pending(p) => return Ok(Driven::Paused(p)),
            }
        }
        Ok(Driven::Reached)
    }

    /// Sets the inputs `series` drives to their values at time `t` s.
    fn set_inputs_from(&mut self, series: &InputSeries, t: f64) {
        let mut values = std::mem::take(&mut self.input_scratch);
        values.copy_from_slice(&self.state.inputs);
        series.values_at(t, &mut values);
        for (i, v) in values.iter().enumerate() {
            self.set_input(i, *v);
        }
        self.input_scratch = values;
    }
}
