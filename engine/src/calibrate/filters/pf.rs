//! The particle filter: systematic resampling, Liu–West kernel moves, tempering.

use std::sync::Arc;

use nalgebra::{DMatrix, DVector};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

use super::{Estimator, FilterCheckpoint, advance_and_measure, augmented, states, write_back};
use crate::data::InputSeries;
use crate::error::Result;
use crate::model::Model;
use crate::twin::{Ensemble, State};

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
///   (see `match_moments`), so resampling noise does not accumulate over thousands of rows.
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
        cp.check(true)?;
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
        self.ens.sync_fields()?;
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

    fn member_weights(&self) -> Vec<f64> {
        self.weights()
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
