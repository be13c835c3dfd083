//! Online estimators behind one interface: an ensemble Kalman filter, a particle filter and an
//! unscented Kalman filter.
//!
//! Each estimates the augmented vector of the model's declared parameters and its thermal node
//! temperatures (the slow hidden states); the fast mechanical states follow from the dynamics.
//! Measurements arrive at irregular times, each row carrying whichever sensors were measured.

mod enkf;
mod pf;
mod ukf;

pub use enkf::EnsembleKalmanFilter;
pub use pf::ParticleFilter;
pub use ukf::UnscentedKalmanFilter;

use std::sync::Arc;

use nalgebra::DMatrix;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::{CalibrateOptions, Method, draw_fleet_prior, draw_prior};
use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::twin::{Ensemble, State};

/// An online estimator: `estimate(t, u, z)` advances the estimate to time `t` under inputs `u`
/// and assimilates the measurements `z` (one entry per model sensor, `None` where not measured).
pub trait Estimator: Send {
    /// Short name (`enkf`, `pf`).
    fn name(&self) -> &'static str;
    /// Starts another recorded run: the hidden states return to the model's initial state, the
    /// parameter estimate carries over.
    fn start_run(&mut self) -> Result<()>;
    /// Advances to `t` under `u` and assimilates `z`.
    fn estimate(&mut self, t: f64, u: &InputSeries, z: &[Option<f64>]) -> Result<()>;
    /// The parameter samples (one per member) and their weights (summing to 1).
    fn samples(&self) -> (Vec<Vec<f64>>, Vec<f64>);
    /// The weight of each member of [`Estimator::ensemble`] (summing to 1): equal, except for
    /// the particle filter's (the UKF's samples are draws, not its sigma points).
    fn member_weights(&self) -> Vec<f64> {
        let n = self.ensemble().len().max(1);
        vec![1.0 / n as f64; n]
    }
    /// Everything needed to resume, serialisable.
    fn checkpoint(&self) -> FilterCheckpoint;
    /// The members' twins.
    fn ensemble(&self) -> &Ensemble;
    /// The members' twins, stepped in parallel.
    fn ensemble_mut(&mut self) -> &mut Ensemble;
    /// Steps the members' thermal grids on `backend`, batched across members
    /// ([`Ensemble::set_backend`]).
    fn set_backend(&mut self, backend: &crate::thermal::Backend) -> Result<()> {
        self.ensemble_mut().set_backend(backend)
    }
}

/// A filter's resumable state.
#[derive(Clone, Serialize, Deserialize)]
pub struct FilterCheckpoint {
    /// Each member's twin state.
    pub states: Vec<State>,
    /// Log weights (particle filter; zeros for the EnKF).
    pub log_weights: Vec<f64>,
    /// The filter's random generator.
    pub rng: Pcg64,
}

impl FilterCheckpoint {
    /// Checks the contents of the filter's state as read from a file: each member's twin state
    /// ([`crate::twin::State::check_contents`]), log weights neither NaN nor +inf, a generator
    /// that can run.
    pub fn check_contents(&self) -> Result<()> {
        for (i, state) in self.states.iter().enumerate() {
            state
                .check_contents()
                .map_err(|e| Error::State(format!("member {i}: {e}")))?;
        }
        if self
            .log_weights
            .iter()
            .any(|w| w.is_nan() || *w == f64::INFINITY)
        {
            return Err(Error::State(
                "the filter's log weights hold NaN or +inf".into(),
            ));
        }
        if !crate::stats::generator_is_valid(&self.rng) {
            return Err(Error::State(
                "the filter's generator state cannot run (an even PCG increment)".into(),
            ));
        }
        Ok(())
    }

    /// Checks what a resumed filter relies on: at least two member states and, for a filter
    /// that weighs its members (`weighted`), one log weight per member (none for the others),
    /// and contents that [`FilterCheckpoint::check_contents`] accepts.
    pub(super) fn check(&self, weighted: bool) -> Result<()> {
        let n = self.states.len();
        if n < 2 {
            return Err(Error::State(format!(
                "the checkpoint's filter holds {n} member states; expected at least 2"
            )));
        }
        let count_ok = self.log_weights.len() == n || (!weighted && self.log_weights.is_empty());
        if !count_ok {
            return Err(Error::State(format!(
                "the checkpoint's filter holds {} log weights for {n} members; expected one number per member",
                self.log_weights.len()
            )));
        }
        self.check_contents()
    }
}

/// Steps the ensemble to `t` under `u`; returns the indices and values of the sensors the
/// row `z` measured.
pub(super) fn advance_and_measure(
    ens: &mut Ensemble,
    t: f64,
    u: &InputSeries,
    z: &[Option<f64>],
) -> Result<Vec<(usize, f64)>> {
    ens.drive_to(t, u)?;
    Ok(z.iter()
        .enumerate()
        .filter_map(|(s, v)| v.map(|v| (s, v)))
        .collect())
}

/// Every member's state (for a checkpoint).
pub(super) fn states(ens: &Ensemble) -> Vec<State> {
    ens.members().iter().map(|m| m.state().clone()).collect()
}

pub(super) fn noise(ens: &Ensemble, s: usize) -> f64 {
    ens.members()[0].state().tunables.noise_std[s]
}

/// Writes the augmented vector `x` (parameters, then node temperatures) into member `m`.
pub(super) fn write_back(model: &Model, ens: &mut Ensemble, m: usize, x: &[f64]) -> Result<()> {
    let p = model.parameters.len();
    let theta: Vec<f64> = model
        .parameters
        .iter()
        .zip(x)
        .map(|(par, v)| v.clamp(par.lower, par.upper))
        .collect();
    let twin = &mut ens.members_mut()[m];
    twin.set_params(&crate::model::params::Params { values: theta })?;
    for (n, v) in x[p..].iter().enumerate() {
        twin.set_node_temperature(n, *v);
    }
    Ok(())
}

pub(super) fn augmented(ens: &Ensemble) -> DMatrix<f64> {
    let members = ens.members();
    let p = members[0].model().parameters.len();
    let q = members[0].thermal().nodes.len();
    DMatrix::from_fn(members.len(), p + q, |i, j| {
        if j < p {
            members[i].param(j)
        } else {
            members[i].thermal().nodes[j - p]
        }
    })
}

/// The online estimator `options` ask for, new from `prior` or resumed from
/// `options.resume`, with the (run, row) to continue from.
pub(crate) fn open_filter(
    model: &Arc<Model>,
    options: &CalibrateOptions,
    prior: &[(f64, f64)],
) -> Result<(Box<dyn Estimator>, (usize, usize))> {
    let resumed = options
        .resume
        .as_ref()
        .and_then(|c| c.filter.as_ref().map(|f| (f, c.position)));
    if let Some((f, _)) = resumed {
        let held = f.states.len();
        let members = options.members.max(2);
        if options.method != Method::Ukf && held != members {
            return Err(Error::State(format!(
                "the checkpoint's filter holds {held} member states; this run has {members} members (resume with --members {held})"
            )));
        }
    }
    let seed = options.seed;
    let thetas = || match &options.prior_units {
        Some(units) => draw_fleet_prior(model, prior, units, options.members.max(2), seed),
        None => draw_prior(model, prior, options.members.max(2), seed),
    };
    let filter: Box<dyn Estimator> = match (options.method, resumed) {
        (Method::Batch, _) => {
            return Err(Error::Usage(
                "batch calibration has no online estimator: expected enkf, ukf or pf".into(),
            ));
        }
        (Method::EnKF, None) => Box::new(EnsembleKalmanFilter::new(model, &thetas(), seed)?),
        (Method::EnKF, Some((f, _))) => Box::new(EnsembleKalmanFilter::resume(model, f, seed)?),
        (Method::Ukf, None) => Box::new(UnscentedKalmanFilter::new(model, prior, seed)?),
        (Method::Ukf, Some((f, _))) => Box::new(UnscentedKalmanFilter::resume(model, f, seed)?),
        (Method::ParticleFilter, None) => Box::new(ParticleFilter::new(model, &thetas(), seed)?),
        (Method::ParticleFilter, Some((f, _))) => Box::new(ParticleFilter::resume(model, f, seed)?),
    };
    let mut filter = filter;
    if matches!(options.backend, crate::thermal::Backend::Gpu(_)) {
        filter.set_backend(&options.backend)?;
    }
    Ok((filter, resumed.map_or((0, 0), |(_, pos)| pos)))
}
