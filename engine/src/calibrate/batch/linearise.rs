//! The batch calibration's simulations: the residuals of all runs at one θ, and the
//! forward-difference Jacobian with its rounding floor (see [`jacobian`]).

use std::sync::Arc;

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::super::run::Run;
use crate::error::Result;
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

/// What one simulation of all runs at one `θ` gives.
#[derive(Debug, Clone)]
pub(crate) struct Evaluation {
    /// Residuals: measurements (run and row order), then the prior.
    pub(crate) r: Vec<f64>,
    /// The last run's wear of every element, then the damage of every section, at its end.
    pub(super) outputs: Vec<f64>,
}

/// A point with its residuals and its Jacobian.
pub(super) struct Linearised {
    pub(super) at: Evaluation,
    pub(super) jacobian: DMatrix<f64>,
    pub(super) output_jacobian: DMatrix<f64>,
}

/// A trial point of an iteration: its first comes with its Jacobian, later ones alone.
pub(super) enum Trial {
    Linearised(Linearised),
    Evaluated(Evaluation),
}

impl Trial {
    pub(super) fn residuals(&self) -> &[f64] {
        match self {
            Trial::Linearised(l) => &l.at.r,
            Trial::Evaluated(e) => &e.r,
        }
    }
}

/// Simulates all runs at `theta`: residuals weighted by `sigma`, then one per `prior` entry.
pub(crate) fn evaluate(
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

/// The cost ½‖r‖².
pub(super) fn cost(r: &[f64]) -> f64 {
    0.5 * r.iter().map(|x| x * x).sum::<f64>()
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
pub(super) fn linearise(
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
/// measurement residuals `r` of `runs` (as [`super::BatchResult::final_residuals`]).
pub(crate) fn sensor_sums(
    model: &Model,
    runs: &[Run],
    sigma: &[f64],
    r: &[f64],
) -> crate::calibrate::report::ResidualSums {
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
