//! Calibration: estimating a model's declared parameters (and its thermal node temperatures)
//! from recorded sensor data, online ([`filters`]: ensemble Kalman filter, particle filter) or
//! in batch ([`batch`]: Levenberg–Marquardt), with a report of the posterior and of the fit.
//!
//! Default method: `batch` for recorded runs (the most accurate, with a covariance from the
//! Jacobian); the filters for streams and for states that drift.

pub mod batch;
pub mod filters;
pub mod follow;
mod outlook;
pub mod run;

use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;
use serde::Serialize;

pub use filters::{
    EnsembleKalmanFilter, Estimator, FilterCheckpoint, ParticleFilter, UnscentedKalmanFilter,
};
pub use run::Run;

use crate::data::DataQuality;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::stats::{TruncatedGaussian, Z90, weighted_mean_std, weighted_quantile};

/// How to calibrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Ensemble Kalman filter.
    EnKF,
    /// Particle filter.
    ParticleFilter,
    /// Unscented Kalman filter.
    Ukf,
    /// Levenberg–Marquardt over all runs.
    Batch,
}

impl Method {
    /// The name used on the command line and in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Method::EnKF => "enkf",
            Method::ParticleFilter => "pf",
            Method::Ukf => "ukf",
            Method::Batch => "batch",
        }
    }
}

/// Settings of a calibration.
#[derive(Debug, Clone)]
pub struct CalibrateOptions {
    /// The method.
    pub method: Method,
    /// Ensemble members (filters).
    pub members: usize,
    /// Seed of the prior draws and of the filters' randomness.
    pub seed: u64,
    /// Prior mean and standard deviation per declared parameter (default: the model's).
    pub prior: Option<Vec<(f64, f64)>>,
    /// Most iterations (batch).
    pub max_iterations: usize,
    /// Seconds of data between checkpoints (filters; batch checkpoints every iteration).
    pub checkpoint_every: f64,
    /// A checkpoint of an interrupted calibration to continue from.
    pub resume: Option<Checkpoint>,
    /// Forecast horizon in s after the last data point for wear, damage and RUL (models with
    /// wear elements, sections or events; default 10× the last run's duration).
    pub horizon: Option<f64>,
    /// Where the filters' members step their thermal grids: on a GPU, all members' grids are
    /// batched into one stepper per grid; on the CPU each member steps its own (the default).
    pub backend: crate::thermal::Backend,
}

/// Everything needed to continue an interrupted calibration and end with the same result as
/// an uninterrupted one.
#[derive(Clone, Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Model name.
    pub model: String,
    /// Method name.
    pub method: String,
    /// The data files.
    pub runs: Vec<String>,
    /// Seed.
    pub seed: u64,
    /// Prior in force (mean, std per parameter).
    pub prior: Vec<(f64, f64)>,
    /// Filters: the next row to process, as (run, row).
    pub position: (usize, usize),
    /// Filters: their state.
    pub filter: Option<FilterCheckpoint>,
    /// Batch: the iterations made.
    pub batch: Option<Vec<batch::BatchIteration>>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Checkpoint({} {} at run {} row {})",
            self.model, self.method, self.position.0, self.position.1
        )
    }
}

impl Checkpoint {
    /// A checkpoint of a calibration of `model` with `options` on the data `sources` under
    /// `prior`, to continue at `position` with the filter's or the batch's state.
    fn new(
        model: &Model,
        options: &CalibrateOptions,
        sources: &[String],
        prior: &[(f64, f64)],
        position: (usize, usize),
        filter: Option<FilterCheckpoint>,
        batch: Option<Vec<batch::BatchIteration>>,
    ) -> Self {
        Self {
            model: model.name.clone(),
            method: options.method.name().to_string(),
            runs: sources.to_vec(),
            seed: options.seed,
            prior: prior.to_vec(),
            position,
            filter,
            batch,
        }
    }

    /// The prior of a calibration: the resumed checkpoint's (after checking that it belongs
    /// to this model, method, seed and data), else the one `options` give.
    fn prior_in_force(
        model: &Model,
        options: &CalibrateOptions,
        sources: &[String],
    ) -> Result<Vec<(f64, f64)>> {
        match &options.resume {
            Some(cp) => {
                cp.check(model, options, sources)?;
                Ok(cp.prior.clone())
            }
            None => prior_of(model, options),
        }
    }

    fn check(&self, model: &Model, options: &CalibrateOptions, sources: &[String]) -> Result<()> {
        if self.model != model.name
            || self.method != options.method.name()
            || self.runs != sources
            || self.seed != options.seed
        {
            return Err(Error::State(format!(
                "the checkpoint is of model `{}`, method {}, seed {}, data {:?}; this run is model `{}`, method {}, seed {}, data {:?}",
                self.model,
                self.method,
                self.seed,
                self.runs,
                model.name,
                options.method.name(),
                options.seed,
                sources
            )));
        }
        Ok(())
    }
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        Self {
            method: Method::Batch,
            members: 64,
            seed: 0,
            prior: None,
            max_iterations: 20,
            checkpoint_every: 60.0,
            resume: None,
            horizon: None,
            backend: crate::thermal::Backend::Cpu,
        }
    }
}

/// The posterior of one parameter.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    /// Model name.
    pub model: String,
    /// Method used.
    pub method: String,
    /// Ensemble members (filters), or simulations per Jacobian (batch).
    pub members: usize,
    /// The data files, one run each.
    pub runs: Vec<String>,
    /// Posterior per parameter path.
    pub parameters: IndexMap<String, ParameterSummary>,
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
    /// Per wear element: its quantity at the last data point over the posterior.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub wear: IndexMap<String, crate::prognosis::Band>,
    /// Per stress section: Miner damage at the last data point over the posterior.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub damage: IndexMap<String, crate::prognosis::Band>,
    /// Per event: time to the event in s from the last data point, with the last run's final
    /// operating conditions held.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub rul: IndexMap<String, crate::prognosis::RulSummary>,
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

/// The prior of `model`'s parameters, or the one given.
pub(crate) fn prior_of(model: &Model, options: &CalibrateOptions) -> Result<Vec<(f64, f64)>> {
    let prior = options
        .prior
        .clone()
        .unwrap_or_else(|| model.parameters.iter().map(|p| (p.mean, p.std)).collect());
    if prior.len() != model.parameters.len() {
        return Err(Error::State(format!(
            "the prior has {} parameters; model `{}` declares {}",
            prior.len(),
            model.name,
            model.parameters.len()
        )));
    }
    Ok(prior)
}

/// Draws `n` parameter vectors from the prior (independent Gaussians with the given means and
/// standard deviations), truncated to the bounds by rejection. Seeded.
pub fn draw_prior(model: &Model, prior: &[(f64, f64)], n: usize, seed: u64) -> Vec<Vec<f64>> {
    let (mean, std): (Vec<f64>, Vec<f64>) = prior.iter().copied().unzip();
    TruncatedGaussian::independent(&mean, &std, model.parameter_bounds()).draws(n, seed)
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
fn residual_sums(model: &Arc<Model>, runs: &[Run], theta: &[f64]) -> Result<ResidualSums> {
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
    let mut twin = crate::twin::Twin::with_theta(model, theta, 0)?;
    run.times
        .iter()
        .map(|t| {
            twin.drive_to(&run.inputs, *t)?;
            Ok((0..model.sensors.len()).map(|s| twin.predict(s)).collect())
        })
        .collect()
}

/// Checks that every sensor with data declares its noise (residuals are weighted by it).
fn check_noise(model: &Model, runs: &[Run]) -> Result<Vec<f64>> {
    for (s, sensor) in model.sensors.iter().enumerate() {
        let has_data = runs.iter().any(|r| r.z.iter().any(|z| z[s].is_some()));
        if has_data && sensor.noise_std <= 0.0 {
            return Err(Error::invalid(
                &model.source,
                None,
                Some(format!("sensor.{}.noise_std", sensor.name)),
                "the data measure this sensor, and calibration weighs residuals by the sensor noise: expected noise_std > 0",
            ));
        }
    }
    Ok(model
        .sensors
        .iter()
        .map(|s| s.noise_std.max(1e-300))
        .collect())
}

/// The data sources of `runs`, as a checkpoint records them.
fn sources_of(runs: &[Run]) -> Vec<String> {
    runs.iter().map(|r| r.source.clone()).collect()
}

/// The online estimator `options` ask for, new from `prior` or resumed from
/// `options.resume`, with the (run, row) to continue from.
pub(crate) fn open_filter(
    model: &Arc<Model>,
    options: &CalibrateOptions,
    prior: &[(f64, f64)],
) -> Result<(Box<dyn Estimator>, (usize, usize))> {
    let resumed = options
        .resume
        .as_ref()
        .and_then(|c| c.filter.as_ref().map(|f| (f, c.position)));
    let seed = options.seed;
    let thetas = || draw_prior(model, prior, options.members.max(2), seed);
    let filter: Box<dyn Estimator> = match (options.method, resumed) {
        (Method::Batch, _) => {
            return Err(Error::State(
                "batch calibration has no online estimator".into(),
            ));
        }
        (Method::EnKF, None) => Box::new(EnsembleKalmanFilter::new(model, &thetas(), seed)?),
        (Method::EnKF, Some((f, _))) => Box::new(EnsembleKalmanFilter::resume(model, f, seed)?),
        (Method::Ukf, None) => Box::new(UnscentedKalmanFilter::new(model, prior, seed)?),
        (Method::Ukf, Some((f, _))) => Box::new(UnscentedKalmanFilter::resume(model, f, seed)?),
        (Method::ParticleFilter, None) => Box::new(ParticleFilter::new(model, &thetas(), seed)?),
        (Method::ParticleFilter, Some((f, _))) => Box::new(ParticleFilter::resume(model, f, seed)?),
    };
    let mut filter = filter;
    if matches!(options.backend, crate::thermal::Backend::Gpu(_)) {
        filter.set_backend(&options.backend)?;
    }
    Ok((filter, resumed.map_or((0, 0), |(_, pos)| pos)))
}

/// Calibrates `model` on `runs`. `trace` receives progress records, `progress` the fraction
/// done.
pub fn calibrate(
    model: &Arc<Model>,
    runs: &[Run],
    options: &CalibrateOptions,
    trace: impl FnMut(&TraceRecord) -> Result<()>,
    progress: impl FnMut(f64),
) -> Result<CalibrationReport> {
    calibrate_with_checkpoints(model, runs, options, trace, progress, |_| Ok(()))
}

/// [`calibrate`], also handing a [`Checkpoint`] to `save` every `checkpoint_every` seconds of
/// data (filters) or every iteration (batch); `options.resume` continues from one.
pub fn calibrate_with_checkpoints(
    model: &Arc<Model>,
    runs: &[Run],
    options: &CalibrateOptions,
    mut trace: impl FnMut(&TraceRecord) -> Result<()>,
    mut progress: impl FnMut(f64),
    mut save: impl FnMut(&Checkpoint) -> Result<()>,
) -> Result<CalibrationReport> {
    if runs.is_empty() {
        return Err(Error::State("no data to calibrate on".into()));
    }
    if model.parameters.is_empty() {
        return Err(Error::invalid(
            &model.source,
            None,
            Some("parameter".to_string()),
            "the model declares no [[parameter]] to calibrate",
        ));
    }
    let sigma = check_noise(model, runs)?;
    let sources = sources_of(runs);
    let prior = Checkpoint::prior_in_force(model, options, &sources)?;
    let checkpoint = |position, filter, batch| {
        Checkpoint::new(model, options, &sources, &prior, position, filter, batch)
    };
    let paths: Vec<String> = model.parameters.iter().map(|p| p.path.clone()).collect();
    let start = Instant::now();
    let total_time: f64 = runs.iter().map(Run::end_time).sum();
    let record =
        |run: usize, time: f64, mean: &[f64], std: &[f64], cost: Option<f64>| TraceRecord {
            run,
            time,
            mean: paths.iter().cloned().zip(mean.iter().copied()).collect(),
            std: paths.iter().cloned().zip(std.iter().copied()).collect(),
            cost,
        };
    let (summaries, correlation, iterations, converged, members, posterior, sums) = match options
        .method
    {
        Method::Batch => {
            let means: Vec<f64> = prior.iter().map(|p| p.0).collect();
            let opts = batch::BatchOptions {
                max_iterations: options.max_iterations,
                // A tenth of a standard deviation: finer steps than that are below what the
                // Jacobian resolves through rapier's f32 rounding (an hour of spindle data
                // kept taking ~0.05 σ steps for 20 iterations at 0.01).
                tolerance: 0.1,
                prior: prior.clone(),
                resume: options.resume.as_ref().and_then(|c| c.batch.clone()),
            };
            let mut trace_err = None;
            let mut done = opts.resume.clone().unwrap_or_default();
            let result = batch::calibrate(model, runs, &sigma, &means, &opts, |it| {
                progress((it.iteration as f64 / options.max_iterations as f64).min(1.0));
                done.push(it.clone());
                if trace_err.is_none() {
                    trace_err = save(&checkpoint((0, 0), None, Some(done.clone()))).err();
                }
                if trace_err.is_none() {
                    trace_err = trace(&record(
                        0,
                        it.iteration as f64,
                        &it.theta,
                        &[],
                        Some(it.cost),
                    ))
                    .err();
                }
            })?;
            if let Some(e) = trace_err {
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
            let corr = crate::stats::correlation(&result.covariance);
            // The residuals before and after are the first and last iterations' own.
            let sums = |r: &[f64]| batch::sensor_sums(model, runs, &sigma, r);
            let before = match &result.initial_residuals {
                Some(r) => sums(r),
                None => residual_sums(model, runs, &means)?,
            };
            let after = sums(&result.final_residuals);
            (
                summaries,
                corr,
                Some(result.history.len() - 1),
                Some(result.converged),
                p + 1,
                outlook::Posterior::Linear {
                    outputs: result.outputs,
                    jacobian: result.output_jacobian,
                    covariance: result.covariance,
                },
                (before, after),
            )
        }
        Method::EnKF | Method::ParticleFilter | Method::Ukf => {
            let n = options.members.max(2);
            let (mut filter, (first_run, first_row)) = open_filter(model, options, &prior)?;
            let mut done: f64 = runs[..first_run.min(runs.len())]
                .iter()
                .map(Run::end_time)
                .sum();
            let every = options.checkpoint_every.max(1e-9);
            for (r, run) in runs.iter().enumerate().skip(first_run) {
                if r > 0 && !(r == first_run && first_row > 0) {
                    filter.start_run()?;
                }
                let start_row = if r == first_run { first_row } else { 0 };
                let mut next_trace = run.times.get(start_row).copied().unwrap_or(0.0);
                let mut next_save = next_trace + every;
                for (i, (t, z)) in run.times.iter().zip(&run.z).enumerate().skip(start_row) {
                    filter.estimate(*t, &run.inputs, z)?;
                    if *t >= next_trace {
                        let (x, w) = filter.samples();
                        let s: Vec<ParameterSummary> = (0..prior.len())
                            .map(|j| {
                                summarise(&x.iter().map(|v| v[j]).collect::<Vec<_>>(), &w, prior[j])
                            })
                            .collect();
                        let mean: Vec<f64> = s.iter().map(|p| p.mean).collect();
                        let std: Vec<f64> = s.iter().map(|p| p.std).collect();
                        trace(&record(r, *t, &mean, &std, None))?;
                        next_trace = t + 1.0;
                        progress(((done + t) / total_time.max(1e-12)).min(1.0));
                    }
                    if *t >= next_save {
                        save(&checkpoint((r, i + 1), Some(filter.checkpoint()), None))?;
                        next_save = t + every;
                    }
                }
                done += run.end_time();
            }
            let (summaries, corr) = filter_posterior(filter.as_ref(), &prior);
            let members = match options.method {
                Method::Ukf => 2 * (prior.len() + model.thermal.nodes.len()) + 1,
                _ => n,
            };
            let sums = before_after(model, runs, &prior, &summaries)?;
            let (x, w) = filter.samples();
            let posterior = outlook::Posterior::Samples(x, w);
            (summaries, corr, None, None, members, posterior, sums)
        }
    };
    let mut report = finish(
        model,
        runs,
        options.method,
        summaries,
        correlation,
        (iterations, converged),
        members,
        sums,
    )?;
    if crate::prognosis::has_prognosis(model) {
        outlook::attach(&mut report, model, runs, posterior, options)?;
    }
    report.set_wall(start.elapsed().as_secs_f64());
    progress(1.0);
    Ok(report)
}

/// Weighted summaries and correlation of a filter's parameter samples.
pub(crate) fn filter_posterior(
    filter: &dyn Estimator,
    prior: &[(f64, f64)],
) -> (Vec<ParameterSummary>, Vec<Vec<f64>>) {
    let (x, w) = filter.samples();
    let summaries: Vec<ParameterSummary> = (0..prior.len())
        .map(|j| summarise(&x.iter().map(|v| v[j]).collect::<Vec<_>>(), &w, prior[j]))
        .collect();
    let means: Vec<f64> = summaries.iter().map(|s| s.mean).collect();
    let corr = crate::stats::correlation(&crate::stats::weighted_covariance(&x, &w, &means));
    (summaries, corr)
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
        data_quality: runs
            .iter()
            .map(|r| (r.source.clone(), r.quality.clone()))
            .collect(),
        sim_seconds: total_time,
        wall_seconds: 0.0,
        real_time_factor: 0.0,
        iterations,
        converged,
        wear: IndexMap::new(),
        damage: IndexMap::new(),
        rul: IndexMap::new(),
    })
}
