//! Online estimators behind one interface: an ensemble Kalman filter and a particle filter.
//!
//! Both estimate the augmented vector of the model's declared parameters and its thermal node
//! temperatures (the slow hidden states); the fast mechanical states follow from the dynamics.
//! Measurements arrive at irregular times, each row carrying whichever sensors were measured.

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::ensemble::Ensemble;
use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::twin::State;

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
    /// Everything needed to resume, serialisable.
    fn checkpoint(&self) -> FilterCheckpoint;
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

/// Indices and values of the measured sensors of a row, with each sensor's noise.
fn measured(z: &[Option<f64>]) -> Vec<(usize, f64)> {
    z.iter()
        .enumerate()
        .filter_map(|(s, v)| v.map(|v| (s, v)))
        .collect()
}

fn noise(ens: &Ensemble, s: usize) -> f64 {
    ens.members()[0].state().tunables.noise_std[s]
}

/// Writes the augmented vector `x` (parameters, then node temperatures) into member `m`.
fn write_back(model: &Model, ens: &mut Ensemble, m: usize, x: &[f64]) -> Result<()> {
    let p = model.parameters.len();
    let theta: Vec<f64> = model
        .parameters
        .iter()
        .zip(x)
        .map(|(par, v)| v.clamp(par.lower, par.upper))
        .collect();
    let twin = &mut ens.members_mut()[m];
    twin.set_params(&crate::params::Params { values: theta })?;
    for (n, v) in x[p..].iter().enumerate() {
        twin.set_node_temperature(n, *v);
    }
    Ok(())
}

fn augmented(ens: &Ensemble) -> DMatrix<f64> {
    let members = ens.members();
    let p = members[0].params().values.len();
    let q = members[0].thermal().nodes.len();
    DMatrix::from_fn(members.len(), p + q, |i, j| {
        if j < p {
            members[i].params().values[j]
        } else {
            members[i].thermal().nodes[j - p]
        }
    })
}

/// The stochastic ensemble Kalman filter (perturbed observations) over the augmented
/// parameter–state vector.
pub struct EnsembleKalmanFilter {
    model: Arc<Model>,
    ens: Ensemble,
    rng: Pcg64,
}

impl EnsembleKalmanFilter {
    /// A filter whose members carry parameter vectors `thetas` (draws from the prior).
    pub fn new(model: &Arc<Model>, thetas: &[Vec<f64>], seed: u64) -> Result<Self> {
        Ok(Self {
            model: Arc::clone(model),
            ens: Ensemble::new(model, thetas, seed)?,
            rng: Pcg64::seed_from_u64(seed ^ 0x5eed_e4cf),
        })
    }

    /// Resumes from a checkpoint.
    pub fn resume(model: &Arc<Model>, cp: &FilterCheckpoint, seed: u64) -> Result<Self> {
        let prior = crate::params::Params::prior_mean(model).values;
        let mut f = Self::new(model, &vec![prior; cp.states.len()], seed)?;
        for (m, s) in f.ens.members_mut().iter_mut().zip(&cp.states) {
            m.restore(s)?;
        }
        f.rng = cp.rng.clone();
        Ok(f)
    }
}

impl Estimator for EnsembleKalmanFilter {
    fn name(&self) -> &'static str {
        "enkf"
    }

    fn start_run(&mut self) -> Result<()> {
        self.ens.restart()
    }

    fn estimate(&mut self, t: f64, u: &InputSeries, z: &[Option<f64>]) -> Result<()> {
        self.ens.advance_to(t, u)?;
        let obs = measured(z);
        if obs.is_empty() {
            return Ok(());
        }
        let n = self.ens.len();
        let x = augmented(&self.ens);
        let h = DMatrix::from_fn(n, obs.len(), |i, k| self.ens.members()[i].predict(obs[k].0));
        let anomalies = |m: &DMatrix<f64>| {
            let mean = m.row_mean();
            let mut a = m.clone();
            for mut row in a.row_iter_mut() {
                row -= &mean;
            }
            a
        };
        let (ax, ah) = (anomalies(&x), anomalies(&h));
        let scale = 1.0 / (n as f64 - 1.0);
        let cxh = ax.transpose() * &ah * scale;
        let mut chh = ah.transpose() * &ah * scale;
        let sd: Vec<f64> = obs.iter().map(|(s, _)| noise(&self.ens, *s)).collect();
        for (k, s) in sd.iter().enumerate() {
            chh[(k, k)] += s * s;
        }
        let chol = chh.cholesky().ok_or_else(|| {
            Error::State("the innovation covariance is not positive definite".into())
        })?;
        let gain = cxh * chol.inverse();
        for i in 0..n {
            let innovation = DVector::from_fn(obs.len(), |k, _| {
                let e: f64 = StandardNormal.sample(&mut self.rng);
                obs[k].1 + sd[k] * e - h[(i, k)]
            });
            let xi: Vec<f64> = (x.row(i).transpose() + &gain * innovation)
                .iter()
                .copied()
                .collect();
            write_back(&self.model, &mut self.ens, i, &xi)?;
        }
        Ok(())
    }

    fn samples(&self) -> (Vec<Vec<f64>>, Vec<f64>) {
        let n = self.ens.len();
        (
            self.ens
                .members()
                .iter()
                .map(|m| m.params().values.clone())
                .collect(),
            vec![1.0 / n as f64; n],
        )
    }

    fn checkpoint(&self) -> FilterCheckpoint {
        FilterCheckpoint {
            states: self
                .ens
                .members()
                .iter()
                .map(|m| m.state().clone())
                .collect(),
            log_weights: vec![0.0; self.ens.len()],
            rng: self.rng.clone(),
        }
    }
}

/// A bootstrap particle filter with systematic resampling and roughening of the parameters
/// (Gordon, Salmond & Smith 1993: jitter of `K·range·N^(−1/d)` per parameter, K = 0.2), so the
/// parameter cloud does not collapse onto a few values.
pub struct ParticleFilter {
    model: Arc<Model>,
    ens: Ensemble,
    log_w: Vec<f64>,
    rng: Pcg64,
}

/// Roughening constant K.
const ROUGHENING: f64 = 0.2;

impl ParticleFilter {
    /// A filter whose particles carry parameter vectors `thetas` (draws from the prior).
    pub fn new(model: &Arc<Model>, thetas: &[Vec<f64>], seed: u64) -> Result<Self> {
        Ok(Self {
            model: Arc::clone(model),
            ens: Ensemble::new(model, thetas, seed)?,
            log_w: vec![0.0; thetas.len()],
            rng: Pcg64::seed_from_u64(seed ^ 0x9a27_1c1e),
        })
    }

    /// Resumes from a checkpoint.
    pub fn resume(model: &Arc<Model>, cp: &FilterCheckpoint, seed: u64) -> Result<Self> {
        let prior = crate::params::Params::prior_mean(model).values;
        let mut f = Self::new(model, &vec![prior; cp.states.len()], seed)?;
        for (m, s) in f.ens.members_mut().iter_mut().zip(&cp.states) {
            m.restore(s)?;
        }
        f.log_w = cp.log_weights.clone();
        f.rng = cp.rng.clone();
        Ok(f)
    }

    fn weights(&self) -> Vec<f64> {
        let max = self.log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = self.log_w.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = w.iter().sum();
        w.into_iter().map(|x| x / sum).collect()
    }

    fn resample(&mut self, w: &[f64]) -> Result<()> {
        let n = w.len();
        let start: f64 = self.rng.random::<f64>() / n as f64;
        let mut picks = Vec::with_capacity(n);
        let (mut cum, mut j) = (w[0], 0);
        for i in 0..n {
            let u = start + i as f64 / n as f64;
            while u > cum && j + 1 < n {
                j += 1;
                cum += w[j];
            }
            picks.push(j);
        }
        let states: Vec<State> = picks
            .iter()
            .map(|&j| self.ens.members()[j].state().clone())
            .collect();
        let p = self.model.parameters.len();
        let x = augmented(&self.ens);
        let d = p.max(1) as f64;
        let spread: Vec<f64> = (0..p)
            .map(|c| {
                let col = x.column(c);
                ROUGHENING * (col.max() - col.min()) * (n as f64).powf(-1.0 / d)
            })
            .collect();
        for (i, s) in states.iter().enumerate() {
            self.ens.members_mut()[i].restore(s)?;
            let mut xi: Vec<f64> = x.row(picks[i]).iter().copied().collect();
            for (c, sd) in spread.iter().enumerate() {
                let e: f64 = StandardNormal.sample(&mut self.rng);
                xi[c] += sd * e;
            }
            write_back(&self.model, &mut self.ens, i, &xi)?;
        }
        self.log_w.iter_mut().for_each(|l| *l = 0.0);
        Ok(())
    }
}

impl Estimator for ParticleFilter {
    fn name(&self) -> &'static str {
        "pf"
    }

    fn start_run(&mut self) -> Result<()> {
        self.ens.restart()
    }

    fn estimate(&mut self, t: f64, u: &InputSeries, z: &[Option<f64>]) -> Result<()> {
        self.ens.advance_to(t, u)?;
        let obs = measured(z);
        if obs.is_empty() {
            return Ok(());
        }
        for (i, m) in self.ens.members().iter().enumerate() {
            let mut ll = 0.0;
            for &(s, v) in &obs {
                let sd = m.state().tunables.noise_std[s];
                let r = (v - m.predict(s)) / sd;
                ll -= 0.5 * r * r;
            }
            self.log_w[i] += ll;
        }
        let w = self.weights();
        let ess = 1.0 / w.iter().map(|x| x * x).sum::<f64>();
        if ess < 0.5 * w.len() as f64 {
            self.resample(&w)?;
        }
        Ok(())
    }

    fn samples(&self) -> (Vec<Vec<f64>>, Vec<f64>) {
        (
            self.ens
                .members()
                .iter()
                .map(|m| m.params().values.clone())
                .collect(),
            self.weights(),
        )
    }

    fn checkpoint(&self) -> FilterCheckpoint {
        FilterCheckpoint {
            states: self
                .ens
                .members()
                .iter()
                .map(|m| m.state().clone())
                .collect(),
            log_weights: self.log_w.clone(),
            rng: self.rng.clone(),
        }
    }
}
