//! Batch calibration: Levenberg–Marquardt over one or several recorded runs at once.
//!
//! The cost is ½‖r‖² with residuals `(z − h(θ))/σ` for every measurement of every run (σ the
//! sensor's noise) plus prior residuals `(θ − μ)/σ_prior`, so the optimum is the posterior
//! mode. Jacobians are forward differences, all columns simulated at once as an ensemble
//! (rayon; `linearise.rs`). Bounds are kept by projecting each step onto them. The covariance is
//! `(JᵀJ)⁻¹` at the optimum (Laplace approximation), with the measurement rows weighted down
//! by the reduced χ² of the fit where it exceeds 1 (misfit widens the intervals).

mod linearise;

use std::sync::Arc;

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::report::{CalibrationReport, ParameterSummary, TraceRecord, finish, residual_sums};
use super::run::Run;
use super::{CalibrateOptions, Checkpoint, outlook};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::stats::Z90;
use linearise::{Linearised, Trial, cost, linearise};

/// A decrease of the cost ½χ² below this is statistically negligible (Δχ² < 0.1).
const NEGLIGIBLE_DECREASE: f64 = 0.05;
/// Accepted iterations in a row with a negligible decrease after which the fit has converged.
const FLAT_ITERATIONS: usize = 2;
pub(crate) use linearise::{evaluate, sensor_sums};

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
    /// posterior mode.
    pub outputs: Vec<f64>,
    /// Their derivatives by the parameters (rows: outputs, columns: parameters), from the
    /// final Jacobian's simulations.
    pub output_jacobian: DMatrix<f64>,
}

/// The problem a Levenberg–Marquardt iteration works on.
struct Problem<'a> {
    model: &'a Arc<Model>,
    runs: &'a [Run],
    sigma: &'a [f64],
    prior: &'a [(f64, f64)],
    bounds: Vec<(f64, f64)>,
}

impl Problem<'_> {
    fn linearise(&self, theta: &[f64], at: Option<linearise::Evaluation>) -> Result<Linearised> {
        linearise(
            self.model,
            self.runs,
            self.sigma,
            self.prior,
            &self.bounds,
            theta,
            at,
        )
    }

    /// Whether the Gauss–Newton step at `here` is a small fraction (`tolerance`) of the
    /// posterior standard deviation in every parameter that is not held at a bound.
    fn settled(&self, here: &Linearised, theta: &[f64], tolerance: f64) -> bool {
        let jtj = here.jacobian.transpose() * &here.jacobian;
        let g = here.jacobian.transpose() * DVector::from_column_slice(&here.at.r);
        let Some(inv) = jtj.try_inverse() else {
            return false;
        };
        let step = -(&inv * &g);
        let b = &self.bounds;
        (0..theta.len()).all(|k| {
            let held =
                (theta[k] <= b[k].0 && step[k] < 0.0) || (theta[k] >= b[k].1 && step[k] > 0.0);
            held || step[k].abs() <= tolerance * inv[(k, k)].max(0.0).sqrt()
        })
    }

    /// Damped steps from `theta` (damping `lambda`, raised ×4 on each rejection, lowered ÷3 on
    /// acceptance) until one lowers the cost below `c`, at most 12: the accepted point with its
    /// simulation (the first trial's with its Jacobian), or `None`.
    fn step(
        &self,
        here: &Linearised,
        theta: &[f64],
        lambda: &mut f64,
        c: f64,
    ) -> Result<Option<(Vec<f64>, Trial)>> {
        let p = theta.len();
        let jtj = here.jacobian.transpose() * &here.jacobian;
        let g = here.jacobian.transpose() * DVector::from_column_slice(&here.at.r);
        for attempt in 0..12 {
            let mut a = jtj.clone();
            for k in 0..p {
                a[(k, k)] += *lambda * jtj[(k, k)].max(1e-12);
            }
            let Some(delta) = a.cholesky().map(|ch| ch.solve(&(-&g))) else {
                *lambda *= 4.0;
                continue;
            };
            let trial: Vec<f64> = (0..p)
                .map(|k| (theta[k] + delta[k]).clamp(self.bounds[k].0, self.bounds[k].1))
                .collect();
            let outcome = if attempt == 0 {
                Trial::Linearised(self.linearise(&trial, None)?)
            } else {
                Trial::Evaluated(evaluate(
                    self.model, self.runs, self.sigma, self.prior, &trial,
                )?)
            };
            if cost(outcome.residuals()) < c {
                *lambda = (*lambda / 3.0).max(1e-9);
                return Ok(Some((trial, outcome)));
            }
            *lambda *= 4.0;
        }
        Ok(None)
    }
}

/// The Laplace covariance at `here` (`n` measurement residuals, `p` parameters). Where the
/// data scatter about the optimum more than their declared noise explains (the model misses
/// something, e.g. unit-to-unit variation between runs), the measurement rows are weighted
/// down by the reduced χ² so that the intervals widen with the misfit.
fn covariance(here: &Linearised, n: usize, p: usize) -> Result<DMatrix<f64>> {
    let r = &here.at.r;
    let chi2 = r[..n].iter().map(|x| x * x).sum::<f64>() / n.saturating_sub(p).max(1) as f64;
    let mut weighted = here.jacobian.clone();
    if chi2 > 1.0 {
        for i in 0..n {
            weighted.row_mut(i).scale_mut(chi2.sqrt().recip());
        }
    }
    let jtj = weighted.transpose() * &weighted;
    jtj.try_inverse().ok_or_else(|| {
        Error::Numerical(
            "the parameters are not identifiable from these data (singular JᵀJ)".into(),
        )
    })
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
        return Err(Error::Usage(format!(
            "model `{}` declares no [[parameter]] to calibrate",
            model.name
        )));
    }
    let problem = Problem {
        model,
        runs,
        sigma,
        prior: &options.prior,
        bounds: model.parameter_bounds(),
    };
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
    let mut here = problem.linearise(&theta, None)?;
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
    // Accepted iterations in a row whose decrease of the cost was statistically negligible.
    let mut flat = 0;
    for iteration in first..=options.max_iterations {
        if problem.settled(&here, &theta, options.tolerance) {
            converged = true;
            break;
        }
        let before = c;
        let next = problem.step(&here, &theta, &mut lambda, c)?;
        let accepted = next.is_some();
        if let Some((trial, outcome)) = next {
            here = match outcome {
                Trial::Linearised(l) => l,
                Trial::Evaluated(at) => problem.linearise(&trial, Some(at))?,
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
        flat = if before - c < NEGLIGIBLE_DECREASE {
            flat + 1
        } else {
            0
        };
        if flat >= FLAT_ITERATIONS {
            // The cost has gone flat: what the steps still gain is below what the data can
            // tell apart (a χ² change of 0.1), so the estimate will not move meaningfully.
            converged = true;
            break;
        }
    }
    let covariance = covariance(&here, measurements, p)?;
    Ok(BatchResult {
        theta,
        covariance,
        history,
        converged,
        measurements,
        initial_residuals,
        final_residuals: here.at.r[..measurements].to_vec(),
        outputs: here.at.outputs,
        output_jacobian: here.output_jacobian,
    })
}

/// A batch calibration as `twin calibrate` runs it: Levenberg–Marquardt from the prior means
/// (or the iterations of `options.resume`), a trace record and a checkpoint per iteration,
/// and the report with the posterior, the fit before and after (the first and last
/// iterations' own residuals) and the outlook.
#[allow(clippy::too_many_arguments)]
pub(super) fn report(
    model: &Arc<Model>,
    runs: &[Run],
    options: &CalibrateOptions,
    sigma: &[f64],
    prior: &[(f64, f64)],
    template: &Checkpoint,
    mut trace: impl FnMut(&TraceRecord) -> Result<()>,
    mut progress: impl FnMut(f64),
    mut save: impl FnMut(&Checkpoint) -> Result<()>,
) -> Result<CalibrationReport> {
    let means: Vec<f64> = prior.iter().map(|p| p.0).collect();
    let opts = BatchOptions {
        max_iterations: options.max_iterations,
        // A tenth of a standard deviation: finer steps than that are below what the
        // Jacobian resolves through rapier's f32 rounding (an hour of spindle data
        // kept taking ~0.05 σ steps for 20 iterations at 0.01).
        tolerance: 0.1,
        prior: prior.to_vec(),
        resume: options.resume.as_ref().and_then(|c| c.batch.clone()),
    };
    let paths: Vec<String> = model.parameters.iter().map(|p| p.path.clone()).collect();
    let mut failed = None;
    let mut done = opts.resume.clone().unwrap_or_default();
    let result = calibrate(model, runs, sigma, &means, &opts, |it| {
        progress((it.iteration as f64 / options.max_iterations as f64).min(1.0));
        done.push(it.clone());
        if failed.is_none() {
            let cp = Checkpoint {
                batch: Some(done.clone()),
                ..template.clone()
            };
            failed = save(&cp).err();
        }
        if failed.is_none() {
            failed = trace(&TraceRecord {
                run: 0,
                time: it.iteration as f64,
                mean: paths
                    .iter()
                    .cloned()
                    .zip(it.theta.iter().copied())
                    .collect(),
                std: Default::default(),
                cost: Some(it.cost),
            })
            .err();
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    let p = result.theta.len();
    let summaries: Vec<ParameterSummary> = (0..p)
        .map(|j| {
            let sd = result.covariance[(j, j)].max(0.0).sqrt();
            let (lo, hi) = (model.parameters[j].lower, model.parameters[j].upper);
            let m = result.theta[j];
            ParameterSummary {
                mean: m,
                std: sd,
                p05: (m - Z90 * sd).clamp(lo, hi),
                p50: m,
                p95: (m + Z90 * sd).clamp(lo, hi),
                prior_mean: prior[j].0,
                prior_std: prior[j].1,
            }
        })
        .collect();
    let correlation = crate::stats::correlation(&result.covariance);
    let sums = |r: &[f64]| sensor_sums(model, runs, sigma, r);
    let before = match &result.initial_residuals {
        Some(r) => sums(r),
        None => residual_sums(model, runs, &means)?,
    };
    let after = sums(&result.final_residuals);
    let mut report = finish(
        model,
        runs,
        options.method,
        summaries,
        correlation,
        (Some(result.history.len() - 1), Some(result.converged)),
        p + 1,
        (before, after),
    )?;
    if !result.converged {
        report
            .warnings
            .push(not_converged(model, &report, options.max_iterations));
    }
    if crate::prognosis::has_prognosis(model) {
        let posterior = outlook::Posterior::Linear {
            outputs: result.outputs,
            jacobian: result.output_jacobian,
            covariance: result.covariance,
        };
        outlook::attach(&mut report, model, runs, posterior, options)?;
    }
    Ok(report)
}

/// What to try when a fit stopped at `max_iterations` with its cost still falling: more
/// iterations, or fewer parameters (those the data barely inform, their posterior std above
/// half the prior's, are named).
fn not_converged(model: &Model, report: &CalibrationReport, max_iterations: usize) -> String {
    let weak: Vec<&str> = model
        .parameters
        .iter()
        .zip(report.parameters.values())
        .filter(|(_, s)| s.std > 0.5 * s.prior_std)
        .map(|(p, _)| p.path.as_str())
        .collect();
    let fewer = if weak.is_empty() {
        String::new()
    } else {
        format!(
            ", or calibrate fewer parameters: these data barely inform {} (posterior std above half the prior's)",
            weak.join(", ")
        )
    };
    format!(
        "not converged: the cost was still falling after {max_iterations} iterations, so the estimates are where the fit stopped; try --max-iterations {}{fewer}",
        2 * max_iterations
    )
}
