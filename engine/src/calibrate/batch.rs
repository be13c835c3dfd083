//! Batch calibration: Levenberg–Marquardt over one or several recorded runs at once.
//!
//! The cost is ½‖r‖² with residuals `(z − h(θ))/σ` for every measurement of every run (σ the
//! sensor's noise) plus prior residuals `(θ − μ)/σ_prior`, so the optimum is the posterior
//! mode. Jacobians are forward differences, all columns simulated at once as an ensemble
//! (rayon). Bounds are kept by projecting each step onto them. The covariance is
//! `(JᵀJ)⁻¹` at the optimum (Laplace approximation), with the measurement rows weighted down
//! by the reduced χ² of the fit where it exceeds 1 (misfit widens the intervals).

use std::sync::Arc;

use nalgebra::{DMatrix, DVector};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::run::{Run, drive_to, twin_with};
use crate::error::{Error, Result};
use crate::model::Model;

/// Forward-difference step as a fraction of each parameter's prior standard deviation.
///
/// rapier's f32 rounding adds a chaotic part to every column of a parameter that touches the
/// dynamics (about 1e-3 A of spindle motor current at 1500 rad/s, whatever the step), which
/// reads as information the data do not hold; it matters most where two parameters are nearly
/// collinear (Coulomb friction and a current-sensor bias both shift the current; only the
/// friction heat tells them apart). At 0.1 prior std that spurious part left the spindle's
/// 90 % intervals covering the truth in 10 of 15 cases over 3 noise seeds
/// (`validation/spindle_coverage`); at 0.5 the columns stand 5× further above it and coverage
/// is 53 of 60 over 12 seeds, while the step stays within the near-linear range of the shipped
/// models' parameters.
const FD_STEP: f64 = 0.5;

/// Settings of a batch calibration.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Most iterations.
    pub max_iterations: usize,
    /// Stop when the Gauss–Newton step is below this fraction of each parameter's posterior
    /// standard deviation.
    pub tolerance: f64,
    /// Prior means and standard deviations of the parameters.
    pub prior: Vec<(f64, f64)>,
    /// The iterations of an interrupted calibration to continue from.
    pub resume: Option<Vec<BatchIteration>>,
}

/// One iteration, for the trace and for checkpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchIteration {
    /// Iteration number (0: the start).
    pub iteration: usize,
    /// ½‖r‖².
    pub cost: f64,
    /// Damping in force.
    pub lambda: f64,
    /// Parameter values.
    pub theta: Vec<f64>,
}

/// The result of a batch calibration.
#[derive(Debug, Clone)]
pub struct BatchResult {
    /// The posterior mode.
    pub theta: Vec<f64>,
    /// Its covariance.
    pub covariance: DMatrix<f64>,
    /// Iterations, the start included.
    pub history: Vec<BatchIteration>,
    /// Whether the cost settled within the tolerance.
    pub converged: bool,
    /// Measurement residuals used.
    pub measurements: usize,
}

/// Residuals of all runs for `theta` (measurements, then the prior).
fn residuals(
    model: &Arc<Model>,
    runs: &[Run],
    sigma: &[f64],
    prior: &[(f64, f64)],
    theta: &[f64],
) -> Result<Vec<f64>> {
    let parts: Vec<Vec<f64>> = runs
        .par_iter()
        .map(|run| -> Result<Vec<f64>> {
            let mut twin = twin_with(model, theta, 0)?;
            let mut buf = Vec::new();
            let mut r = Vec::new();
            for (t, z) in run.times.iter().zip(&run.z) {
                drive_to(&mut twin, &run.inputs, *t, &mut buf)?;
                for (s, v) in z.iter().enumerate() {
                    if let Some(v) = v {
                        r.push((v - twin.predict(s)) / sigma[s]);
                    }
                }
            }
            Ok(r)
        })
        .collect::<Result<_>>()?;
    let mut r: Vec<f64> = parts.into_iter().flatten().collect();
    r.extend(theta.iter().zip(prior).map(|(x, (m, s))| (x - m) / s));
    Ok(r)
}

fn cost(r: &[f64]) -> f64 {
    0.5 * r.iter().map(|x| x * x).sum::<f64>()
}

/// Calibrates `model`'s declared parameters on `runs`, starting from `start`. `progress` gets
/// each iteration.
pub fn calibrate(
    model: &Arc<Model>,
    runs: &[Run],
    sigma: &[f64],
    start: &[f64],
    options: &BatchOptions,
    mut progress: impl FnMut(&BatchIteration),
) -> Result<BatchResult> {
    let p = start.len();
    if p == 0 {
        return Err(Error::State(format!(
            "model `{}` declares no [[parameter]] to calibrate",
            model.name
        )));
    }
    let bounds: Vec<(f64, f64)> = model
        .parameters
        .iter()
        .map(|q| (q.lower, q.upper))
        .collect();
    let prior = &options.prior;
    let mut theta = start.to_vec();
    let mut lambda = 1e-3;
    let mut history = Vec::new();
    if let Some(done) = options.resume.as_ref().filter(|h| !h.is_empty()) {
        let last = done.last().expect("non-empty");
        if last.theta.len() != p {
            return Err(Error::State(
                "the checkpoint belongs to other parameters".into(),
            ));
        }
        theta = last.theta.clone();
        lambda = last.lambda;
        history = done.clone();
    }
    let mut r = residuals(model, runs, sigma, prior, &theta)?;
    let measurements = r.len() - p;
    let mut c = cost(&r);
    if history.is_empty() {
        history.push(BatchIteration {
            iteration: 0,
            cost: c,
            lambda,
            theta: theta.clone(),
        });
        progress(&history[0]);
    }
    let mut converged = false;
    let mut jacobian = forward_jacobian(model, runs, sigma, prior, &bounds, &theta, &r)?;
    let first = history.len();
    for iteration in first..=options.max_iterations {
        let rv = DVector::from_column_slice(&r);
        let jtj = jacobian.transpose() * &jacobian;
        let g = jacobian.transpose() * rv;
        // Converged when the Gauss–Newton step is a small fraction of the posterior standard
        // deviation in every parameter that is not held at a bound.
        if let Some(inv) = jtj.clone().try_inverse() {
            let step = -(&inv * &g);
            let settled = (0..p).all(|k| {
                let held = (theta[k] <= bounds[k].0 && step[k] < 0.0)
                    || (theta[k] >= bounds[k].1 && step[k] > 0.0);
                held || step[k].abs() <= options.tolerance * inv[(k, k)].max(0.0).sqrt()
            });
            if settled {
                converged = true;
                break;
            }
        }
        let mut accepted = false;
        for _ in 0..12 {
            let mut a = jtj.clone();
            for k in 0..p {
                a[(k, k)] += lambda * jtj[(k, k)].max(1e-12);
            }
            let Some(delta) = a.cholesky().map(|ch| ch.solve(&(-&g))) else {
                lambda *= 4.0;
                continue;
            };
            let trial: Vec<f64> = (0..p)
                .map(|k| (theta[k] + delta[k]).clamp(bounds[k].0, bounds[k].1))
                .collect();
            let rt = residuals(model, runs, sigma, prior, &trial)?;
            let ct = cost(&rt);
            if ct < c {
                theta = trial;
                r = rt;
                c = ct;
                lambda = (lambda / 3.0).max(1e-9);
                accepted = true;
                break;
            }
            lambda *= 4.0;
        }
        history.push(BatchIteration {
            iteration,
            cost: c,
            lambda,
            theta: theta.clone(),
        });
        progress(history.last().expect("pushed"));
        if !accepted {
            // No step lowers the cost: a (bounded) minimum within the rounding of the model.
            converged = true;
            break;
        }
        jacobian = forward_jacobian(model, runs, sigma, prior, &bounds, &theta, &r)?;
    }
    // Where the data scatter about the optimum more than their declared noise explains (the
    // model misses something, e.g. unit-to-unit variation between runs), the measurement rows
    // are weighted down by the reduced χ² so that the intervals widen with the misfit.
    let n = r.len() - p;
    let chi2 = r[..n].iter().map(|x| x * x).sum::<f64>() / n.saturating_sub(p).max(1) as f64;
    let mut weighted = jacobian.clone();
    if chi2 > 1.0 {
        for i in 0..n {
            weighted.row_mut(i).scale_mut(chi2.sqrt().recip());
        }
    }
    let jtj = weighted.transpose() * &weighted;
    let covariance = jtj.clone().try_inverse().ok_or_else(|| {
        Error::State("the parameters are not identifiable from these data (singular JᵀJ)".into())
    })?;
    Ok(BatchResult {
        theta,
        covariance,
        history,
        converged,
        measurements,
    })
}

/// Forward-difference Jacobian of the residuals at `theta` (residuals `r`), every column
/// simulated at once; a step that would leave the upper bound goes backwards.
///
/// rapier steps in f32, so any change of a parameter that touches the dynamics flips roundings
/// and adds a small chaotic perturbation to the fast mechanical signals, independent of the
/// step size (about 3e-4 A of spindle motor current). A Jacobian taken at face value would read
/// that perturbation as information. One more simulation, with every parameter moved by a
/// amount that moves its f32 inputs but not the physics (1e-4 of the step), measures this
/// floor per sensor; a sensor's block of a column whose change
/// does not stand clearly above the floor (`NOISE_MARGIN` times its RMS) is set to zero.
/// The columns are differences from that simulation, not from the residuals `r`: its rounding
/// is independent of the one in `r`, whereas differences from `r` would carry `r`'s own
/// rounding into every column and bias `Jᵀr`, and with it each step, along the columns.
fn forward_jacobian(
    model: &Arc<Model>,
    runs: &[Run],
    sigma: &[f64],
    prior: &[(f64, f64)],
    bounds: &[(f64, f64)],
    theta: &[f64],
    r: &[f64],
) -> Result<DMatrix<f64>> {
    let p = theta.len();
    let steps: Vec<f64> = (0..p)
        .map(|j| {
            let d = FD_STEP * prior[j].1.max(1e-12);
            if theta[j] + d > bounds[j].1 { -d } else { d }
        })
        .collect();
    let columns: Vec<Vec<f64>> = (0..=p)
        .into_par_iter()
        .map(|j| {
            let mut th = theta.to_vec();
            if j < p {
                th[j] += steps[j];
            } else {
                for (k, x) in th.iter_mut().enumerate() {
                    *x = (*x + 1e-4 * steps[k]).clamp(bounds[k].0, bounds[k].1);
                }
            }
            residuals(model, runs, sigma, prior, &th)
        })
        .collect::<Result<_>>()?;
    let labels = labels(model, runs, p);
    let blocks = model.sensors.len();
    let block_rms = |col: &[f64]| {
        let mut acc = vec![(0.0, 0usize); blocks];
        for (i, l) in labels.iter().enumerate() {
            if *l < blocks {
                acc[*l].0 += (col[i] - r[i]).powi(2);
                acc[*l].1 += 1;
            }
        }
        acc.into_iter()
            .map(|(s, n)| if n > 0 { (s / n as f64).sqrt() } else { 0.0 })
            .collect::<Vec<f64>>()
    };
    let floor = block_rms(&columns[p]);
    let base = &columns[p];
    let mut jac = DMatrix::from_fn(r.len(), p, |i, j| (columns[j][i] - base[i]) / steps[j]);
    for j in 0..p {
        let signal = block_rms(&columns[j]);
        for (i, l) in labels.iter().enumerate() {
            if *l < blocks && signal[*l] <= NOISE_MARGIN * floor[*l] {
                jac[(i, j)] = 0.0;
            }
        }
    }
    Ok(jac)
}

/// A column block must change this many times more than the rounding floor to count.
const NOISE_MARGIN: f64 = 3.0;

/// The sensor of each residual (measurements in run and row order, then `usize::MAX` for the
/// prior residuals), matching [`residuals`].
fn labels(model: &Model, runs: &[Run], p: usize) -> Vec<usize> {
    let mut l: Vec<usize> = runs
        .iter()
        .flat_map(|run| {
            run.z
                .iter()
                .flat_map(|z| z.iter().enumerate().filter_map(|(s, v)| v.map(|_| s)))
        })
        .collect();
    l.extend(std::iter::repeat_n(usize::MAX, p));
    debug_assert!(model.sensors.len() < usize::MAX);
    l
}
