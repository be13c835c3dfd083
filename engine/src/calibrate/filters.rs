//! Online estimators behind one interface: an ensemble Kalman filter, a particle filter and an
//! unscented Kalman filter.
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

use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::stats::TruncatedGaussian;
use crate::twin::Ensemble;
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

/// Steps the ensemble to `t` under `u`; returns the indices and values of the sensors the
/// row `z` measured.
fn advance_and_measure(
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
fn states(ens: &Ensemble) -> Vec<State> {
    ens.members().iter().map(|m| m.state().clone()).collect()
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
    twin.set_params(&crate::model::params::Params { values: theta })?;
    for (n, v) in x[p..].iter().enumerate() {
        twin.set_node_temperature(n, *v);
    }
    Ok(())
}

fn augmented(ens: &Ensemble) -> DMatrix<f64> {
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
        Ok(Self {
            model: Arc::clone(model),
            ens: Ensemble::resume(model, &cp.states, seed)?,
            rng: cp.rng.clone(),
        })
    }
}

impl Estimator for EnsembleKalmanFilter {
    fn name(&self) -> &'static str {
        "enkf"
    }

    fn ensemble(&self) -> &Ensemble {
        &self.ens
    }

    fn ensemble_mut(&mut self) -> &mut Ensemble {
        &mut self.ens
    }

    fn start_run(&mut self) -> Result<()> {
        self.ens.restart()
    }

    fn estimate(&mut self, t: f64, u: &InputSeries, z: &[Option<f64>]) -> Result<()> {
        let obs = advance_and_measure(&mut self.ens, t, u, z)?;
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
            Error::Numerical("the innovation covariance is not positive definite".into())
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
                .map(|m| m.params().values)
                .collect(),
            vec![1.0 / n as f64; n],
        )
    }

    fn checkpoint(&self) -> FilterCheckpoint {
        FilterCheckpoint {
            states: states(&self.ens),
            log_weights: vec![0.0; self.ens.len()],
            rng: self.rng.clone(),
        }
    }
}

/// A bootstrap particle filter with systematic resampling, Liu–West kernel moves of the
/// parameters and tempered (progressive) assimilation of very informative rows.
///
/// - **Kernel moves** (Liu & West 2001, "Combined parameter and state estimation in
///   simulation-based filtering"): at each resampling every particle's parameters move to
///   `a·θᵢ + (1 − a)·θ̄ + h·L·ε`, with `L Lᵀ` the weighted covariance of the cloud,
///   `a = (3δ − 1)/(2δ)` and `h² = 1 − a²` for the discount factor δ. The cloud keeps its mean
///   and covariance, so the parameters neither collapse onto a few values nor random-walk away
///   along directions the data do not constrain (fixed roughening of the range does). After the
///   move the cloud is mapped affinely onto the mean and covariance it had before resampling
///   (see [`match_moments`]), so resampling noise does not accumulate over thousands of rows.
/// - **Tempering** (progressive correction, Musso, Oudjane & Le Gland 2001): a row whose
///   likelihood would leave fewer than half the particles effective is assimilated in stages,
///   `ℓ^φ₁ · ℓ^φ₂ ⋯` with `Σφ = 1`, each φ the largest keeping half effective, with a resampling
///   and kernel move between stages. Early rows of a 100 Hz trace otherwise pick one or two
///   particles of a wide prior and the filter never recovers.
pub struct ParticleFilter {
    model: Arc<Model>,
    ens: Ensemble,
    log_w: Vec<f64>,
    rng: Pcg64,
}

/// Liu–West discount factor δ (0.95 … 0.99 in their paper; nearer 1 = smaller moves).
const DISCOUNT: f64 = 0.9;
/// Most tempering stages for one row; the last stage takes whatever exponent remains.
const MAX_STAGES: usize = 40;

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
        Ok(Self {
            model: Arc::clone(model),
            ens: Ensemble::resume(model, &cp.states, seed)?,
            log_w: cp.log_weights.clone(),
            rng: cp.rng.clone(),
        })
    }

    fn weights(&self) -> Vec<f64> {
        normalised(&self.log_w, None)
    }

    /// Each particle's Gaussian log likelihood of the measurements `obs`.
    fn log_likelihoods(&self, obs: &[(usize, f64)]) -> Vec<f64> {
        self.ens
            .members()
            .iter()
            .map(|m| {
                obs.iter()
                    .map(|&(s, v)| {
                        let r = (v - m.predict(s)) / m.state().tunables.noise_std[s];
                        -0.5 * r * r
                    })
                    .sum()
            })
            .collect()
    }

    /// The largest exponent φ ≤ `remaining` whose tempered weights keep at least half the
    /// particles effective (bisection; `remaining` itself when it does).
    fn tempering_step(&self, ll: &[f64], remaining: f64) -> f64 {
        let half = 0.5 * ll.len() as f64;
        let ess_at = |phi: f64| effective_size(&normalised(&self.log_w, Some((ll, phi))));
        if ess_at(remaining) >= half {
            return remaining;
        }
        let (mut lo, mut hi) = (0.0, remaining);
        for _ in 0..40 {
            let mid = 0.5 * (lo + hi);
            if ess_at(mid) >= half {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo.max(remaining * 1e-6)
    }

    /// Systematic resampling by the weights `w`, then the Liu–West move of the parameters.
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
        let (mean, factor) = kernel(&x.columns(0, p).into_owned(), w, &self.model);
        let a = (3.0 * DISCOUNT - 1.0) / (2.0 * DISCOUNT);
        let h = (1.0 - a * a).sqrt();
        let mut theta = DMatrix::from_fn(n, p, |i, c| a * x[(picks[i], c)] + (1.0 - a) * mean[c]);
        for mut row in theta.row_iter_mut() {
            let eps = DVector::from_fn(p, |_, _| StandardNormal.sample(&mut self.rng));
            row += (&factor * eps * h).transpose();
        }
        match_moments(&mut theta, &mean, &factor, &self.model);
        let regression = state_regression(&x, w, p, &mean, &factor);
        for (i, s) in states.iter().enumerate() {
            self.ens.members_mut()[i].restore(s)?;
            let parent = x.row(picks[i]).transpose();
            let shift = theta.row(i).transpose() - parent.rows(0, p);
            let slow = parent.rows(p, x.ncols() - p) + &regression * shift;
            let xi: Vec<f64> = theta.row(i).iter().chain(slow.iter()).copied().collect();
            write_back(&self.model, &mut self.ens, i, &xi)?;
        }
        self.log_w.iter_mut().for_each(|l| *l = 0.0);
        Ok(())
    }
}

/// Weights from log weights (plus `φ·ℓ` where given), normalised to sum 1.
fn normalised(log_w: &[f64], tempered: Option<(&[f64], f64)>) -> Vec<f64> {
    let l: Vec<f64> = match tempered {
        Some((ll, phi)) => log_w.iter().zip(ll).map(|(w, l)| w + phi * l).collect(),
        None => log_w.to_vec(),
    };
    let max = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = l.iter().map(|x| (x - max).exp()).collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|x| x / sum).collect()
}

/// Effective sample size `1 / Σw²` of normalised weights.
fn effective_size(w: &[f64]) -> f64 {
    1.0 / w.iter().map(|x| x * x).sum::<f64>()
}

/// The weighted mean of the parameter samples (rows of `theta`) and a Cholesky factor of their
/// weighted covariance, regularised by 1e-12 of each parameter's prior variance so that a
/// collapsed cloud still factors.
fn kernel(theta: &DMatrix<f64>, w: &[f64], model: &Model) -> (DVector<f64>, DMatrix<f64>) {
    let p = theta.ncols();
    let mean = DVector::from_fn(p, |c, _| (0..w.len()).map(|i| w[i] * theta[(i, c)]).sum());
    let mut cov = DMatrix::from_fn(p, p, |r, c| {
        (0..w.len())
            .map(|i| w[i] * (theta[(i, r)] - mean[r]) * (theta[(i, c)] - mean[c]))
            .sum()
    });
    for (c, par) in model.parameters.iter().enumerate() {
        cov[(c, c)] += 1e-12 * par.std * par.std;
    }
    let factor = cov
        .clone()
        .cholesky()
        .map(|ch| ch.l())
        .unwrap_or_else(|| DMatrix::from_diagonal(&cov.diagonal().map(f64::sqrt)));
    (mean, factor)
}

/// The weighted linear regression `B = C_sθ C_θθ⁻¹` of the slow states (columns `p..` of `x`)
/// on the parameters: a particle whose parameters move by Δθ has its node temperatures moved
/// by `B Δθ`, so that they stay consistent with the parameters that produced them.
fn state_regression(
    x: &DMatrix<f64>,
    w: &[f64],
    p: usize,
    mean: &DVector<f64>,
    factor: &DMatrix<f64>,
) -> DMatrix<f64> {
    let q = x.ncols() - p;
    let slow_mean = DVector::from_fn(q, |k, _| {
        (0..w.len()).map(|i| w[i] * x[(i, p + k)]).sum::<f64>()
    });
    let c_theta_slow = DMatrix::from_fn(p, q, |r, k| {
        (0..w.len())
            .map(|i| w[i] * (x[(i, r)] - mean[r]) * (x[(i, p + k)] - slow_mean[k]))
            .sum()
    });
    let cholesky = nalgebra::Cholesky::new(factor * factor.transpose());
    match cholesky {
        Some(ch) => ch.solve(&c_theta_slow).transpose(),
        None => DMatrix::zeros(q, p),
    }
}

/// Maps the moved parameter cloud (rows of `theta`, equal weights) affinely onto the weighted
/// mean and covariance (`factor` = its Cholesky factor) it had before resampling. Resampling
/// loses a little spread at random each time; over thousands of resamplings that genetic drift
/// collapses parameters the data barely inform onto arbitrary values. The correction keeps the
/// cloud's first two moments exactly what the likelihood made them.
fn match_moments(
    theta: &mut DMatrix<f64>,
    mean: &DVector<f64>,
    factor: &DMatrix<f64>,
    model: &Model,
) {
    let uniform = vec![1.0 / theta.nrows() as f64; theta.nrows()];
    let (now_mean, now_factor) = kernel(theta, &uniform, model);
    let Some(inverse) = now_factor.try_inverse() else {
        return;
    };
    let map = factor * inverse;
    for mut row in theta.row_iter_mut() {
        let centred = row.transpose() - &now_mean;
        row.copy_from(&(mean + &map * centred).transpose());
    }
}

impl Estimator for ParticleFilter {
    fn name(&self) -> &'static str {
        "pf"
    }

    fn ensemble(&self) -> &Ensemble {
        &self.ens
    }

    fn ensemble_mut(&mut self) -> &mut Ensemble {
        &mut self.ens
    }

    fn start_run(&mut self) -> Result<()> {
        self.ens.restart()
    }

    fn estimate(&mut self, t: f64, u: &InputSeries, z: &[Option<f64>]) -> Result<()> {
        let obs = advance_and_measure(&mut self.ens, t, u, z)?;
        if obs.is_empty() {
            return Ok(());
        }
        let mut remaining = 1.0;
        for stage in 0..MAX_STAGES {
            let ll = self.log_likelihoods(&obs);
            let phi = if stage + 1 == MAX_STAGES {
                remaining
            } else {
                self.tempering_step(&ll, remaining)
            };
            for (l, x) in self.log_w.iter_mut().zip(&ll) {
                *l += phi * x;
            }
            remaining -= phi;
            let w = self.weights();
            if effective_size(&w) < 0.5 * w.len() as f64 {
                self.resample(&w)?;
            }
            if remaining <= 0.0 {
                break;
            }
        }
        Ok(())
    }

    fn samples(&self) -> (Vec<Vec<f64>>, Vec<f64>) {
        (
            self.ens
                .members()
                .iter()
                .map(|m| m.params().values)
                .collect(),
            self.weights(),
        )
    }

    fn checkpoint(&self) -> FilterCheckpoint {
        FilterCheckpoint {
            states: states(&self.ens),
            log_weights: self.log_w.clone(),
            rng: self.rng.clone(),
        }
    }
}

/// The unscented Kalman filter over the augmented parameter–state vector (dimension `d`):
/// `2d + 1` sigma points, each a member twin, with α = 1, β = 2, κ = 0 (all points at
/// `±√(d·P)`, no negative weights). After each update the sigma points are redrawn around the
/// new mean; every member continues from the mechanical state of the central point (the fast
/// states are not part of the estimated vector).
pub struct UnscentedKalmanFilter {
    model: Arc<Model>,
    ens: Ensemble,
    rng: Pcg64,
}

impl UnscentedKalmanFilter {
    /// A filter around prior means `mean` with prior standard deviations `std` (parameters);
    /// node temperatures start at the model's initial values with a 0.01 K spread.
    pub fn new(model: &Arc<Model>, prior: &[(f64, f64)], seed: u64) -> Result<Self> {
        let q = model.thermal.nodes.len();
        let d = prior.len() + q;
        let mut mean: Vec<f64> = prior.iter().map(|p| p.0).collect();
        mean.extend(model.thermal.nodes.iter().map(|n| n.initial));
        let mut cov = DMatrix::zeros(d, d);
        for (k, p) in prior.iter().enumerate() {
            cov[(k, k)] = p.1 * p.1;
        }
        for k in prior.len()..d {
            cov[(k, k)] = 1e-4;
        }
        let theta = crate::model::params::Params::prior_mean(model).values;
        let mut f = Self {
            model: Arc::clone(model),
            ens: Ensemble::new(model, &vec![theta; 2 * d + 1], seed)?,
            rng: Pcg64::seed_from_u64(seed ^ 0x0bad_cafe),
        };
        f.redraw(&DVector::from_vec(mean), &cov)?;
        Ok(f)
    }

    /// Resumes from a checkpoint (the sigma points carry the mean and covariance).
    pub fn resume(model: &Arc<Model>, cp: &FilterCheckpoint, seed: u64) -> Result<Self> {
        let d = model.parameters.len() + model.thermal.nodes.len();
        if cp.states.len() != 2 * d + 1 {
            return Err(Error::State(
                "the checkpoint has another number of sigma points".into(),
            ));
        }
        Ok(Self {
            model: Arc::clone(model),
            ens: Ensemble::resume(model, &cp.states, seed)?,
            rng: cp.rng.clone(),
        })
    }

    fn dim(&self) -> usize {
        (self.ens.len() - 1) / 2
    }

    /// Mean (the central point) and covariance encoded by the sigma points.
    fn moments(&self) -> (DVector<f64>, DMatrix<f64>) {
        let x = augmented(&self.ens);
        let d = self.dim();
        let centre = x.row(0).transpose();
        let mut cov = DMatrix::zeros(d, d);
        for i in 1..x.nrows() {
            let dx = x.row(i).transpose() - &centre;
            cov += &dx * dx.transpose() / (2.0 * d as f64);
        }
        (centre, cov)
    }

    /// Places the sigma points at `mean ± √(d·cov)` columns; all members take the central
    /// member's mechanical state.
    fn redraw(&mut self, mean: &DVector<f64>, cov: &DMatrix<f64>) -> Result<()> {
        let d = mean.len();
        let sym = (cov + cov.transpose()) * 0.5;
        let mut jitter = 0.0;
        let root = loop {
            let mut m = &sym * d as f64;
            for k in 0..d {
                m[(k, k)] += jitter;
            }
            if let Some(ch) = m.cholesky() {
                break ch.l();
            }
            jitter = if jitter == 0.0 {
                1e-12 * sym.diagonal().amax().max(1e-300)
            } else {
                jitter * 10.0
            };
            if !jitter.is_finite() {
                return Err(Error::Numerical(
                    "the UKF covariance lost positive definiteness".into(),
                ));
            }
        };
        let centre_state = self.ens.members()[0].state().clone();
        for i in 0..self.ens.len() {
            let point: DVector<f64> = match i {
                0 => mean.clone(),
                i if i <= d => mean + root.column(i - 1),
                i => mean - root.column(i - d - 1),
            };
            if i > 0 {
                self.ens.members_mut()[i].restore(&centre_state)?;
            }
            write_back(&self.model, &mut self.ens, i, point.as_slice())?;
        }
        Ok(())
    }
}

impl Estimator for UnscentedKalmanFilter {
    fn name(&self) -> &'static str {
        "ukf"
    }

    fn ensemble(&self) -> &Ensemble {
        &self.ens
    }

    fn ensemble_mut(&mut self) -> &mut Ensemble {
        &mut self.ens
    }

    fn start_run(&mut self) -> Result<()> {
        let (mean, cov) = self.moments();
        self.ens.restart()?;
        let p = self.model.parameters.len();
        let mut mean = mean;
        for (n, node) in self.model.thermal.nodes.iter().enumerate() {
            mean[p + n] = node.initial;
        }
        self.redraw(&mean, &cov)
    }

    fn estimate(&mut self, t: f64, u: &InputSeries, z: &[Option<f64>]) -> Result<()> {
        let obs = advance_and_measure(&mut self.ens, t, u, z)?;
        if obs.is_empty() {
            return Ok(());
        }
        let d = self.dim();
        let n = self.ens.len();
        let x = augmented(&self.ens);
        let h = DMatrix::from_fn(n, obs.len(), |i, k| self.ens.members()[i].predict(obs[k].0));
        // α = 1, κ = 0: the central point has mean weight 0 and covariance weight β = 2.
        let wm = |i: usize| if i == 0 { 0.0 } else { 1.0 / (2.0 * d as f64) };
        let wc = |i: usize| if i == 0 { 2.0 } else { 1.0 / (2.0 * d as f64) };
        let xm: DVector<f64> = (0..n).map(|i| x.row(i).transpose() * wm(i)).sum();
        let ym: DVector<f64> = (0..n).map(|i| h.row(i).transpose() * wm(i)).sum();
        let mut pxx = DMatrix::zeros(d, d);
        let mut pyy = DMatrix::zeros(obs.len(), obs.len());
        let mut pxy = DMatrix::zeros(d, obs.len());
        for i in 0..n {
            let dx = x.row(i).transpose() - &xm;
            let dy = h.row(i).transpose() - &ym;
            pxx += &dx * dx.transpose() * wc(i);
            pyy += &dy * dy.transpose() * wc(i);
            pxy += &dx * dy.transpose() * wc(i);
        }
        for (k, (s, _)) in obs.iter().enumerate() {
            let sd = noise(&self.ens, *s);
            pyy[(k, k)] += sd * sd;
        }
        let inv = pyy
            .clone()
            .cholesky()
            .ok_or_else(|| {
                Error::Numerical("the UKF innovation covariance is not positive definite".into())
            })?
            .inverse();
        let gain = &pxy * inv;
        let innovation = DVector::from_fn(obs.len(), |k, _| obs[k].1 - ym[k]);
        let mean = &xm + &gain * innovation;
        let cov = pxx - &gain * pyy * gain.transpose();
        self.redraw(&mean, &cov)
    }

    fn samples(&self) -> (Vec<Vec<f64>>, Vec<f64>) {
        // Draws from the Gaussian the sigma points encode (deterministic: a fixed seed),
        // truncated to the parameters' bounds by rejection.
        let (mean, cov) = self.moments();
        let p = self.model.parameters.len();
        let sub = cov.view((0, 0), (p, p)).into_owned();
        let mean: Vec<f64> = mean.rows(0, p).iter().copied().collect();
        let std: Vec<f64> = sub.diagonal().iter().map(|v| v.max(0.0).sqrt()).collect();
        let draws = 2000;
        let x = TruncatedGaussian::correlated(
            &mean,
            &std,
            &crate::stats::correlation(&sub),
            self.model.parameter_bounds(),
        )
        .draws(draws, 0x5a3_1e5);
        (x, vec![1.0 / draws as f64; draws])
    }

    fn checkpoint(&self) -> FilterCheckpoint {
        FilterCheckpoint {
            states: states(&self.ens),
            log_weights: Vec::new(),
            rng: self.rng.clone(),
        }
    }
}
