//! Calibration: estimating a model's declared parameters (and its thermal node temperatures)
//! from recorded sensor data, online ([`filters`]: ensemble Kalman filter, particle filter) or
//! in batch ([`batch`]: Levenberg–Marquardt), with a report of the posterior and of the fit.
//!
//! Default method: `batch` for recorded runs (the most accurate, with a covariance from the
//! Jacobian); the filters for streams and for states that drift.

pub mod assimilate;
pub mod batch;
mod checkpoint;
pub mod diagnostics;
pub mod filters;
pub mod fleet;
pub mod follow;
mod outlook;
mod posterior;
mod report;
pub mod run;
mod standing;

use std::sync::Arc;
use std::time::Instant;

pub use assimilate::{Assimilation, FnSink, Innovation, Intake, Sink};
pub use checkpoint::Checkpoint;
pub(crate) use filters::open_filter;
pub use filters::{
    EnsembleKalmanFilter, Estimator, FilterCheckpoint, ParticleFilter, UnscentedKalmanFilter,
};
pub use fleet::{Population, UnitEstimate};
pub use posterior::{Distribution, read_distribution};
pub use report::{CalibrationReport, ParameterSummary, ResidualSummary, TraceRecord, predictions};
pub use run::{Run, RunRow};
pub use standing::Standing;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::stats::TruncatedGaussian;

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
    /// A fleet's units' estimates (mean, std) per declared parameter, empty where the
    /// parameter is shared: a new filter draws such a parameter from the mixture of the units
    /// (the predictive distribution of a new unit; see [`fleet`]); `prior` holds its moments.
    pub prior_units: Option<Vec<Vec<(f64, f64)>>>,
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
    /// The loss whose expected value the RUL point estimate minimises (none: quantiles only).
    pub rul_loss: Option<crate::prognosis::RulLoss>,
    /// Run-to-failure data: every run's record ended at this event. The report then records
    /// each unit's age at its end (`lives`), the fleet a new unit's survival is taken from.
    pub run_to_failure: Option<String>,
    /// A fleet's lives by event (from a report with `lives`): the remaining life of such an
    /// event is the fleet's survival at the unit's age (see [`crate::prognosis::survival`]).
    pub fleet_lives: Option<indexmap::IndexMap<String, crate::prognosis::FleetLives>>,
    /// The longest interval in s between rows (and from 0 s to a run's first row) that the
    /// twin is stepped through without data (default [`crate::data::time::DEFAULT_MAX_GAP`]).
    pub max_gap: f64,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        Self {
            method: Method::Batch,
            members: 64,
            seed: 0,
            prior: None,
            prior_units: None,
            max_iterations: 20,
            checkpoint_every: 60.0,
            resume: None,
            horizon: None,
            backend: crate::thermal::Backend::Cpu,
            rul_loss: None,
            run_to_failure: None,
            fleet_lives: None,
            max_gap: crate::data::time::DEFAULT_MAX_GAP,
        }
    }
}

impl CalibrateOptions {
    /// Starts from a calibration report's posterior (`--prior`): its moments; from a fleet
    /// report, a new unit's prior (per-unit parameters at the predictive distribution of a new
    /// unit, the fleet's constants held; see [`fleet`]) and the fleet's lives by event.
    pub fn use_prior(&mut self, d: Distribution) {
        let moments: Vec<(f64, f64)> = d.mean.iter().copied().zip(d.std.iter().copied()).collect();
        if d.is_fleet() {
            let populated: Vec<bool> = d.units.iter().map(|u| !u.is_empty()).collect();
            self.prior = Some(fleet::new_unit_prior(&moments, &populated));
            self.prior_units = Some(d.units);
        } else {
            self.prior = Some(moments);
            self.prior_units = None;
        }
        self.fleet_lives = d.lives;
    }
}

/// The prior of `model`'s parameters, or the one given.
pub(crate) fn prior_of(model: &Model, options: &CalibrateOptions) -> Result<Vec<(f64, f64)>> {
    let prior = options
        .prior
        .clone()
        .unwrap_or_else(|| model.parameters.iter().map(|p| (p.mean, p.std)).collect());
    if prior.len() != model.parameters.len() {
        return Err(Error::Usage(format!(
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

/// [`draw_prior`] where `units` (per parameter, a fleet's units' estimates; empty where none)
/// give the per-unit parameters the mixture of the fleet's units: each draw picks one unit and
/// draws every per-unit parameter from that unit's estimates (so that what varies together
/// from unit to unit stays together), the shared ones from their Gaussians. Seeded.
pub fn draw_fleet_prior(
    model: &Model,
    prior: &[(f64, f64)],
    units: &[Vec<(f64, f64)>],
    n: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let count = units.iter().map(Vec::len).max().unwrap_or(0);
    if count == 0 {
        return draw_prior(model, prior, n, seed);
    }
    let bounds = model.parameter_bounds();
    let mut rng = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let unit = rand::Rng::random_range(&mut rng, 0..count);
            (0..prior.len())
                .map(|j| {
                    let component = match units.get(j).filter(|u| !u.is_empty()) {
                        Some(u) => u[unit % u.len()],
                        None => prior[j],
                    };
                    crate::stats::draw_mixture(&mut rng, &[component], bounds[j])
                })
                .collect()
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
    calibrate_dyn(model, runs, options, &mut trace, &mut progress, &mut save)
}

/// [`calibrate_with_checkpoints`] with its callbacks as trait objects: a fleet ([`fleet`])
/// where several runs calibrate a model with `per_unit` parameters, else every parameter shared
/// by the runs.
pub(crate) fn calibrate_dyn(
    model: &Arc<Model>,
    runs: &[Run],
    options: &CalibrateOptions,
    trace: &mut dyn FnMut(&TraceRecord) -> Result<()>,
    progress: &mut dyn FnMut(f64),
    save: &mut dyn FnMut(&Checkpoint) -> Result<()>,
) -> Result<CalibrationReport> {
    if runs.is_empty() {
        return Err(Error::Usage("no data to calibrate on".into()));
    }
    if let Some(empty) = runs.iter().find(|r| r.rows.is_empty()) {
        return Err(Error::invalid(
            &empty.source,
            None,
            None,
            "no data rows: expected at least one row after the header",
        ));
    }
    for run in runs {
        run.check_max_gap(options.max_gap)?;
    }
    if model.parameters.is_empty() {
        return Err(Error::invalid(
            &model.source,
            None,
            Some("parameter".to_string()),
            "the model declares no [[parameter]] to calibrate",
        ));
    }
    check_noise(model, runs)?;
    let sources = sources_of(runs);
    let prior = Checkpoint::prior_in_force(model, options, &sources)?;
    let start = Instant::now();
    let fleet = runs.len() > 1 && model.parameters.iter().any(|p| p.per_unit);
    let mut report = if fleet {
        fleet::calibrate_fleet(model, runs, options, &prior, trace, progress, save)?
    } else {
        calibrate_pooled(model, runs, options, &prior, trace, progress, save)?
    };
    if let Some(event) = &options.run_to_failure {
        let thetas = fleet::unit_thetas(model, &report, runs);
        let lives = fleet::lives_of(model, runs, &thetas, event)?;
        report.lives.insert(event.clone(), lives);
    }
    report.set_wall(start.elapsed().as_secs_f64());
    progress(1.0);
    Ok(report)
}

/// Calibrates `model` on `runs` with every parameter shared by the runs, from `prior`.
pub(crate) fn calibrate_pooled(
    model: &Arc<Model>,
    runs: &[Run],
    options: &CalibrateOptions,
    prior: &[(f64, f64)],
    trace: &mut dyn FnMut(&TraceRecord) -> Result<()>,
    progress: &mut dyn FnMut(f64),
    save: &mut dyn FnMut(&Checkpoint) -> Result<()>,
) -> Result<CalibrationReport> {
    let sigma = check_noise(model, runs)?;
    let sources = sources_of(runs);
    match options.method {
        Method::Batch => {
            let template = Checkpoint::new(model, options, &sources, prior, (0, 0), None, None);
            batch::report(
                model,
                runs,
                options,
                &sigma,
                prior,
                &template,
                &mut *trace,
                &mut *progress,
                &mut *save,
            )
        }
        Method::EnKF | Method::ParticleFilter | Method::Ukf => {
            // Data time before each run, for the progress fraction.
            let total_time: f64 = runs.iter().map(Run::end_time).sum();
            let before: Vec<f64> = runs
                .iter()
                .scan(0.0, |acc, r| {
                    let start = *acc;
                    *acc += r.end_time();
                    Some(start)
                })
                .collect();
            // The filtering is one share of the job, the replays of the report after it the
            // rest: members : before-and-after replays : outlook draws (see filter_report).
            let shares = report::FilterShares::new(model, options);
            let mut sink = FnSink(
                |rec: &TraceRecord| {
                    trace(rec)?;
                    let done = ((before[rec.run] + rec.time) / total_time.max(1e-12)).min(1.0);
                    progress(shares.filtering(done));
                    Ok(())
                },
                save,
            );
            let mut a = Assimilation::new(model, options, &sources, prior)?;
            for run in runs.iter().skip(a.run()) {
                a.start_run()?;
                for row in &run.rows {
                    let z = row.measured.map(|i| run.z[i].as_slice());
                    a.push(row.time, &row.inputs, z, &mut sink)?;
                }
                a.finish_run(&mut sink)?;
            }
            report::filter_report(model, runs, options, prior, a.filter(), progress)
        }
    }
}
