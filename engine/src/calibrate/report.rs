//! What a calibration reports: the posterior of each parameter, the fit before and after,
//! the data's quality, and the outlook (wear, damage, remaining life); and the trace records
//! written as it goes.

use std::sync::Arc;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::run::Run;
use super::{CalibrateOptions, Estimator, Method, batch, outlook, sources_of};
use crate::data::DataQuality;
use crate::error::Result;
use crate::model::Model;
use crate::stats::{weighted_mean_std, weighted_quantile};
use crate::twin::Twin;

/// The posterior of one parameter, every value in the parameter's unit (that of the field its
/// path addresses).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParameterSummary {
    /// Posterior mean.
    pub mean: f64,
    /// Posterior standard deviation.
    pub std: f64,
    /// 5 % quantile.
    pub p05: f64,
    /// Median.
    pub p50: f64,
    /// 95 % quantile.
    pub p95: f64,
    /// Prior mean.
    pub prior_mean: f64,
    /// Prior standard deviation.
    pub prior_std: f64,
}

/// Residual RMSE of one sensor, in its unit, with the prior and with the calibrated parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResidualSummary {
    /// The sensor's unit.
    pub unit: String,
    /// Measurements compared.
    pub samples: usize,
    /// RMSE with the prior means.
    pub before: f64,
    /// RMSE with the posterior means.
    pub after: f64,
}

/// What a calibration found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// Model name.
    pub model: String,
    /// Method used.
    pub method: String,
    /// Ensemble members (filters), or simulations per Jacobian (batch).
    pub members: usize,
    /// The data files, one run each.
    pub runs: Vec<String>,
    /// Posterior per parameter path. After a fleet calibration (several runs of a model with
    /// `per_unit` parameters), a per-unit parameter's entry is the predictive distribution of a
    /// new unit (see `population`).
    pub parameters: IndexMap<String, ParameterSummary>,
    /// After a fleet calibration: per `per_unit` parameter, the population its units' values
    /// come from and each unit's estimate.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub population: IndexMap<String, super::fleet::Population>,
    /// Posterior correlation matrix of the parameters, in declaration order.
    pub correlation: Vec<Vec<f64>>,
    /// Per sensor with data: residual RMSE before and after calibration.
    pub residual_rmse: IndexMap<String, ResidualSummary>,
    /// Per data file: what the reader counted and left out.
    pub data_quality: IndexMap<String, DataQuality>,
    /// Seconds of data processed (summed over runs).
    pub sim_seconds: f64,
    /// Wall-clock seconds of the whole job: calibration, residuals before and after, outlook.
    pub wall_seconds: f64,
    /// `sim_seconds / wall_seconds`.
    pub real_time_factor: f64,
    /// Batch: iterations made.
    pub iterations: Option<usize>,
    /// Batch: whether the cost settled.
    pub converged: Option<bool>,
    /// Run-to-failure data (`run_to_failure`): per event, each unit's age at its end, the
    /// fleet a new unit's remaining life is taken from (`--prior` this report).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub lives: IndexMap<String, crate::prognosis::FleetLives>,
    /// Per wear element: its quantity at the last data point over the posterior.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub wear: IndexMap<String, crate::prognosis::Band>,
    /// Per stress section: Miner damage at the last data point over the posterior.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub damage: IndexMap<String, crate::prognosis::Band>,
    /// Per event: time to the event in s from the last data point, with the last run's final
    /// operating conditions held.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub rul: IndexMap<String, crate::prognosis::RulSummary>,
    /// What a reader should know before trusting the intervals (too few members for the
    /// parameters, a collapsed ensemble, a fit that did not converge), in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl CalibrationReport {
    /// Records the wall-clock time of the whole job (`wall` s: calibration, residuals and
    /// outlook) and the real-time factor from it.
    pub fn set_wall(&mut self, wall: f64) {
        self.wall_seconds = wall;
        self.real_time_factor = self.sim_seconds / wall.max(1e-12);
    }
}

/// A record of the calibration's progress, for a trace file.
#[derive(Debug, Clone, Serialize)]
pub struct TraceRecord {
    /// Run index.
    pub run: usize,
    /// Data time in s (filters) or iteration (batch).
    pub time: f64,
    /// Parameter means by path.
    pub mean: IndexMap<String, f64>,
    /// Parameter standard deviations by path.
    pub std: IndexMap<String, f64>,
    /// Batch cost ½‖r‖².
    pub cost: Option<f64>,
}

/// Weighted summary of samples `x` (one value per member) with weights `w`.
fn summarise(x: &[f64], w: &[f64], prior: (f64, f64)) -> ParameterSummary {
    let (mean, std) = weighted_mean_std(x, w);
    let pairs: Vec<(Option<f64>, f64)> = x.iter().zip(w).map(|(v, w)| (Some(*v), *w)).collect();
    let quantile = |q: f64| weighted_quantile(&pairs, q).unwrap_or(f64::NAN);
    ParameterSummary {
        mean,
        std,
        p05: quantile(0.05),
        p50: quantile(0.5),
        p95: quantile(0.95),
        prior_mean: prior.0,
        prior_std: prior.1,
    }
}

/// Per sensor: the sum of squared residuals and their count.
pub(crate) type ResidualSums = Vec<(f64, usize)>;

/// Per-sensor residual sums of the model with parameters `theta` over `runs`.
pub(crate) fn residual_sums(
    model: &Arc<Model>,
    runs: &[Run],
    theta: &[f64],
) -> Result<ResidualSums> {
    let unweighted = vec![1.0; model.sensors.len()];
    let e = batch::evaluate(model, runs, &unweighted, &[], theta)?;
    Ok(batch::sensor_sums(model, runs, &unweighted, &e.r))
}

/// Per-sensor residual sums of `runs` at the prior means and at the posterior means, simulated
/// side by side.
pub(crate) fn before_after(
    model: &Arc<Model>,
    runs: &[Run],
    prior: &[(f64, f64)],
    summaries: &[ParameterSummary],
) -> Result<(ResidualSums, ResidualSums)> {
    let before: Vec<f64> = prior.iter().map(|p| p.0).collect();
    let after: Vec<f64> = summaries.iter().map(|s| s.mean).collect();
    let (b, a) = rayon::join(
        || residual_sums(model, runs, &before),
        || residual_sums(model, runs, &after),
    );
    Ok((b?, a?))
}

/// The noise-free predictions of every sensor at every row of `run`, with parameters `theta`
/// (the calibrated twin's view of the data, for plots and residual checks).
pub fn predictions(model: &Arc<Model>, run: &Run, theta: &[f64]) -> Result<Vec<Vec<f64>>> {
    let mut twin = Twin::with_theta(model, theta, 0)?;
    run.times
        .iter()
        .map(|t| {
            twin.drive_to(&run.inputs, *t)?;
            Ok((0..model.sensors.len()).map(|s| twin.predict(s)).collect())
        })
        .collect()
}

/// Weighted summaries and correlation of a filter's parameter samples.
pub(crate) fn filter_posterior(
    (x, w): (&[Vec<f64>], &[f64]),
    prior: &[(f64, f64)],
) -> (Vec<ParameterSummary>, Vec<Vec<f64>>) {
    let summaries: Vec<ParameterSummary> = (0..prior.len())
        .map(|j| summarise(&x.iter().map(|v| v[j]).collect::<Vec<_>>(), w, prior[j]))
        .collect();
    let means: Vec<f64> = summaries.iter().map(|s| s.mean).collect();
    let corr = crate::stats::correlation(&crate::stats::weighted_covariance(x, w, &means));
    (summaries, corr)
}

/// The shares of an online calibration's wall time, for its progress fraction: filtering
/// (`members` twins through the data), the before-and-after replays (two twins, side by side),
/// and the outlook's draws (`--members` replays where the model has a prognosis).
pub(crate) struct FilterShares {
    filtering: f64,
    replays: f64,
}

impl FilterShares {
    pub(crate) fn new(model: &Model, options: &CalibrateOptions) -> Self {
        let members = options.members.max(1) as f64;
        let outlook = if crate::prognosis::has_prognosis(model) {
            members
        } else {
            0.0
        };
        // The replays run two twins side by side: about one member's cost on two cores.
        let total = members + 1.0 + outlook;
        Self {
            filtering: members / total,
            replays: (members + 1.0) / total,
        }
    }

    /// The job's fraction done when `done` of the data are filtered.
    pub(crate) fn filtering(&self, done: f64) -> f64 {
        done * self.filtering
    }

    /// The job's fraction done once the before-and-after replays are done.
    pub(crate) fn replays_done(&self) -> f64 {
        self.replays
    }
}

/// The report of an online calibration once its filter has seen every row of `runs`: the
/// members' weighted posterior, the fit before and after (the runs replayed at the prior and
/// posterior means), and the outlook where the model has one. `calibrate` and `--follow`
/// both end here.
pub(crate) fn filter_report(
    model: &Arc<Model>,
    runs: &[Run],
    options: &CalibrateOptions,
    prior: &[(f64, f64)],
    filter: &dyn Estimator,
    progress: &mut dyn FnMut(f64),
) -> Result<CalibrationReport> {
    let (mut x, mut w) = filter.samples();
    let (summaries, correlation) = filter_posterior((&x, &w), prior);
    let members = filter.ensemble().len();
    let warnings = super::diagnostics::filter_warnings(options.method, members, &correlation, &w);
    let sums = before_after(model, runs, prior, &summaries)?;
    progress(FilterShares::new(model, options).replays_done());
    let mut report = finish(
        model,
        runs,
        options.method,
        summaries,
        correlation,
        (None, None),
        members,
        sums,
    )?;
    report.warnings = warnings;
    if crate::prognosis::has_prognosis(model) {
        // Each sample replays the last run. A Kalman filter's posterior is a Gaussian whose
        // summaries take thousands of draws (the UKF's 2000); the outlook replays as many as
        // `--members` asks (the EnKF's and the particle filter's samples are their members).
        let keep = x.len().min(options.members.max(2));
        if keep < x.len() {
            x.truncate(keep);
            w.truncate(keep);
            let total: f64 = w.iter().sum();
            w.iter_mut().for_each(|v| *v /= total);
        }
        let posterior = outlook::Posterior::Samples(x, w);
        outlook::attach(&mut report, model, runs, posterior, options)?;
    }
    Ok(report)
}

/// Assembles the report: residuals before and after (per-sensor sums), data quality. The wall
/// time is set by [`CalibrationReport::set_wall`] once the whole job is done.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish(
    model: &Arc<Model>,
    runs: &[Run],
    method: Method,
    summaries: Vec<ParameterSummary>,
    correlation: Vec<Vec<f64>>,
    (iterations, converged): (Option<usize>, Option<bool>),
    members: usize,
    (before, after): (ResidualSums, ResidualSums),
) -> Result<CalibrationReport> {
    let paths = model.parameters.iter().map(|p| p.path.clone());
    let total_time: f64 = runs.iter().map(Run::end_time).sum();
    let residual_rmse = model
        .sensors
        .iter()
        .enumerate()
        .filter(|(s, _)| before[*s].1 > 0)
        .map(|(s, sensor)| {
            let n = before[s].1 as f64;
            (
                sensor.name.clone(),
                ResidualSummary {
                    unit: sensor.unit.to_string(),
                    samples: before[s].1,
                    before: (before[s].0 / n).sqrt(),
                    after: (after[s].0 / n).sqrt(),
                },
            )
        })
        .collect();
    Ok(CalibrationReport {
        model: model.name.clone(),
        method: method.name().to_string(),
        members,
        runs: sources_of(runs),
        parameters: paths.zip(summaries).collect(),
        correlation,
        residual_rmse,
        population: IndexMap::new(),
        data_quality: runs
            .iter()
            .map(|r| (r.source.clone(), r.quality.clone()))
            .collect(),
        sim_seconds: total_time,
        wall_seconds: 0.0,
        real_time_factor: 0.0,
        iterations,
        converged,
        lives: IndexMap::new(),
        wear: IndexMap::new(),
        damage: IndexMap::new(),
        rul: IndexMap::new(),
        warnings: Vec::new(),
    })
}
