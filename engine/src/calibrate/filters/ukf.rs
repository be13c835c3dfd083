//! The unscented Kalman filter.

use std::sync::Arc;

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::{
    Estimator, FilterCheckpoint, advance_and_measure, augmented, noise, states, write_back,
};
use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::stats::TruncatedGaussian;
use crate::twin::Ensemble;

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
        self.ens.sync_fields()?;
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
