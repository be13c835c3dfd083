//! The stochastic ensemble Kalman filter.

use std::sync::Arc;

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

use super::{
    Estimator, FilterCheckpoint, advance_and_measure, augmented, noise, states, write_back,
};
use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::twin::Ensemble;

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
        cp.check(false)?;
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
