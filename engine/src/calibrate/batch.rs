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

use super::run::Run;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::twin::Twin;

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
    /// Weighted residuals `(z − h(θ))/σ` at the start (measurements only, in run and row
    /// order), where this call simulated the start (not on resuming).
    pub initial_residuals: Option<Vec<f64>>,
    /// Weighted residuals at the posterior mode (measurements only).
    pub final_residuals: Vec<f64>,
    /// The last run's wear of every element and damage of every section at its end, at the
    /// posterior mode (see [`Evaluation::outputs`]).
    pub outputs: Vec<f64>,
    /// Their derivatives by the parameters (rows: outputs, columns: parameters), from the
    /// final Jacobian's simulations.
    pub output_jacobian: DMatrix<f64>,
}

/// What one simulation of all runs at one `θ` gives.
#[derive(Debug, Clone)]
pub(super) struct Evaluation {
    /// Residuals: measurements (run and row order), then the prior.
    pub(super) r: Vec<f64>,
    /// The last run's wear of every element, then the damage of every section, at its end.
    outputs: Vec<f64>,
}

/// A point with its residuals and its Jacobian.
struct Linearised {
    at: Evaluation,
    jacobian: DMatrix<f64>,
    output_jacobian: DMatrix<f64>,
}

/// A trial point of an iteration: its first comes with its Jacobian, later ones alone.
enum Trial {
    Linearised(Linearised),
    Evaluated(Evaluation),
}

impl Trial {
    fn residuals(&self) -> &[f64] {
        match self {
            Trial::Linearised(l) => &l.at.r,
            Trial::Evaluated(e) => &e.r,
        }
    }
}

/// Simulates all runs at `theta`: residuals weighted by `sigma`, then one per `prior` entry.
pub(super) fn evaluate(
    model: &Arc<Model>,
    runs: &[Run],
    sigma: &[f64],
    prior: &[(f64, f64)],
    theta: &[f64],
) -> Result<Evaluation> {
    let parts: Vec<(Vec<f64>, Vec<f64>)> = runs
        .par_iter()
        .map(|run| -> Result<(Vec<f64>, Vec<f64>)> {
            let mut twin = Twin::with_theta(model, theta, 0)?;
            let mut r = Vec::new();
            for (t, z) in run.times.iter().zip(&run.z) {
                twin.drive_to(&run.inputs, *t)?;
                for (s, v) in z.iter().enumerate() {
                    if let Some(v) = v {
                        r.push((v - twin.predict(s)) / sigma[s]);
                    }
                }
            }
            let outputs = (0..model.wear.len())
                .map(|e| twin.wear(e))
                .chain((0..model.sections.len()).map(|s| twin.damage(s)))
                .collect();
            Ok((r, outputs))
        })
        .collect::<Result<_>>()?;
    let outputs = parts.last().map(|p| p.1.clone()).unwrap_or_default();
    let mut r: Vec<f64> = parts.into_iter().flat_map(|p| p.0).collect();
    r.extend(theta.iter().zip(prior).map(|(x, (m, s))| (x - m) / s));
    Ok(Evaluation { r, outputs })
}

fn cost(r: &[f64]) -> f64 {
    0.5 * r.iter().map(|x| x * x).sum::<f64>()
}

/// Calibrates `model`'s declared parameters on `runs`, starting from `start`. `progress` gets
/// each iteration.
///
/// Each iteration simulates its first trial point together with the Jacobian there (all
/// `p + 2` simulations at once): a Levenberg–Marquardt step is usually accepted at its first
/// trial, and then the Jacobian the next iteration needs is already done. With at least `p + 2`
/// cores that costs nothing; on fewer it saves the round in which a lone trial left cores idle
/// (on 2 cores and 4 parameters an iteration takes 3 rounds of simulations instead of 4). A
/// rejected first trial costs its columns; later trials of the iteration are single
/// simulations, and the Jacobian follows the one accepted.
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
    let linearise = |theta: &[f64], at| linearise(model, runs, sigma, prior, &bounds, theta, at);
    let mut here = linearise(&theta, None)?;
    let measurements = here.at.r.len() - p;
    let initial_residuals = history
        .is_empty()
        .then(|| here.at.r[..measurements].to_vec());
    let mut c = cost(&here.at.r);
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
    let first = history.len();
    for iteration in first..=options.max_iterations {
        let rv = DVector::from_column_slice(&here.at.r);
        let jtj = here.jacobian.transpose() * &here.jacobian;
        let g = here.jacobian.transpose() * rv;
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
        let mut next = None;
        for attempt in 0..12 {
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
            let outcome = if attempt == 0 {
                Trial::Linearised(linearise(&trial, None)?)
            } else {
                Trial::Evaluated(evaluate(model, runs, sigma, prior, &trial)?)
            };
            if cost(outcome.residuals()) < c {
                lambda = (lambda / 3.0).max(1e-9);
                next = Some((trial, outcome));
                break;
            }
            lambda *= 4.0;
        }
        let accepted = next.is_some();
        if let Some((trial, outcome)) = next {
            here = match outcome {
                Trial::Linearised(l) => l,
                Trial::Evaluated(at) => linearise(&trial, Some(at))?,
            };
            theta = trial;
            c = cost(&here.at.r);
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
    }
    // Where the data scatter about the optimum more than their declared noise explains (the
    // model misses something, e.g. unit-to-unit variation between runs), the measurement rows
    // are weighted down by the reduced χ² so that the intervals widen with the misfit.
    let n = measurements;
    let r = &here.at.r;
    let chi2 = r[..n].iter().map(|x| x * x).sum::<f64>() / n.saturating_sub(p).max(1) as f64;
    let mut weighted = here.jacobian.clone();
    if chi2 > 1.0 {
        for i in 0..n {
            weighted.row_mut(i).scale_mut(chi2.sqrt().recip());
        }
    }
    let jtj = weighted.transpose() * &weighted;
    let covariance = jtj.clone().try_inverse().ok_or_else(|| {
        Error::Numerical(
            "the parameters are not identifiable from these data (singular JᵀJ)".into(),
        )
    })?;
    Ok(BatchResult {
        theta,
        covariance,
        history,
        converged,
        measurements,
        initial_residuals,
        final_residuals: here.at.r[..n].to_vec(),
        outputs: here.at.outputs,
        output_jacobian: here.output_jacobian,
    })
}

/// The forward-difference steps at `theta`: a step that would leave the upper bound goes
/// backwards.
fn steps(prior: &[(f64, f64)], bounds: &[(f64, f64)], theta: &[f64]) -> Vec<f64> {
    (0..theta.len())
        .map(|j| {
            let d = FD_STEP * prior[j].1.max(1e-12);
            if theta[j] + d > bounds[j].1 { -d } else { d }
        })
        .collect()
}

/// The simulations a Jacobian at `theta` needs: one per column, then the rounding floor (see
/// [`jacobian`]).
fn column_points(steps: &[f64], bounds: &[(f64, f64)], theta: &[f64]) -> Vec<Vec<f64>> {
    let p = theta.len();
    (0..=p)
        .map(|j| {
            let mut th = theta.to_vec();
            if j < p {
                th[j] += steps[j];
            } else {
                for (k, x) in th.iter_mut().enumerate() {
                    *x = (*x + 1e-4 * steps[k]).clamp(bounds[k].0, bounds[k].1);
                }
            }
            th
        })
        .collect()
}

/// The Jacobian at `theta`, whose evaluation `at` is given or simulated together with the
/// columns.
fn linearise(
    model: &Arc<Model>,
    runs: &[Run],
    sigma: &[f64],
    prior: &[(f64, f64)],
    bounds: &[(f64, f64)],
    theta: &[f64],
    at: Option<Evaluation>,
) -> Result<Linearised> {
    let steps = steps(prior, bounds, theta);
    let mut points = column_points(&steps, bounds, theta);
    if at.is_none() {
        points.push(theta.to_vec());
    }
    let mut evaluations: Vec<Evaluation> = points
        .par_iter()
        .map(|th| evaluate(model, runs, sigma, prior, th))
        .collect::<Result<_>>()?;
    let at = match at {
        Some(at) => at,
        None => evaluations.pop().expect("theta itself"),
    };
    let (jacobian, output_jacobian) = jacobian(model, runs, &steps, &evaluations, &at);
    Ok(Linearised {
        at,
        jacobian,
        output_jacobian,
    })
}

/// Forward-difference Jacobian of the residuals, and of the outputs, from the simulations of
/// the columns (`columns[j]` moved by `steps[j]`; `columns[p]` the rounding floor) about the
/// point `at`.
///
/// rapier steps in f32, so any change of a parameter that touches the dynamics flips roundings
/// and adds a small chaotic perturbation to the fast mechanical signals, independent of the
/// step size (about 3e-4 A of spindle motor current). A Jacobian taken at face value would read
/// that perturbation as information. One more simulation, with every parameter moved by a
/// amount that moves its f32 inputs but not the physics (1e-4 of the step), measures this
/// floor per sensor; a sensor's block of a column whose change
/// does not stand clearly above the floor (`NOISE_MARGIN` times its RMS) is set to zero.
/// The columns are differences from that simulation, not from the residuals at `at`: its
/// rounding is independent of the one in `at`, whereas differences from `at` would carry its
/// own rounding into every column and bias `Jᵀr`, and with it each step, along the columns.
fn jacobian(
    model: &Model,
    runs: &[Run],
    steps: &[f64],
    columns: &[Evaluation],
    at: &Evaluation,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let p = steps.len();
    let r = &at.r;
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
    let floor = block_rms(&columns[p].r);
    let base = &columns[p];
    let mut jac = DMatrix::from_fn(r.len(), p, |i, j| (columns[j].r[i] - base.r[i]) / steps[j]);
    for j in 0..p {
        let signal = block_rms(&columns[j].r);
        for (i, l) in labels.iter().enumerate() {
            if *l < blocks && signal[*l] <= NOISE_MARGIN * floor[*l] {
                jac[(i, j)] = 0.0;
            }
        }
    }
    let outputs = DMatrix::from_fn(at.outputs.len(), p, |i, j| {
        (columns[j].outputs[i] - base.outputs[i]) / steps[j]
    });
    (jac, outputs)
}

/// Per-sensor sums of squared residuals (in the sensors' units) and counts, from the weighted
/// measurement residuals `r` of `runs` (as [`BatchResult::final_residuals`]).
pub(super) fn sensor_sums(
    model: &Model,
    runs: &[Run],
    sigma: &[f64],
    r: &[f64],
) -> super::ResidualSums {
    let mut sums = vec![(0.0, 0usize); model.sensors.len()];
    for (x, s) in r.iter().zip(labels(model, runs, 0)) {
        sums[s].0 += (x * sigma[s]).powi(2);
        sums[s].1 += 1;
    }
    sums
}

/// A column block must change this many times more than the rounding floor to count.
const NOISE_MARGIN: f64 = 3.0;

/// The sensor of each residual (measurements in run and row order, then `usize::MAX` for the
/// prior residuals), matching [`evaluate`].
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
