//! `twin calibrate`: estimate a model's parameters from recorded runs or a stream.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use machine_twin::calibrate::{
    CalibrateOptions, CalibrationReport, Checkpoint, Method, Run,
    calibrate_with_checkpoints as run_calibration,
};
use machine_twin::data::{Policy, time::DEFAULT_MAX_GAP};
use machine_twin::prognosis::RulLoss;
use machine_twin::thermal::Backend;
use machine_twin::{Error, Model, Result};

use crate::human;
use crate::provenance::Provenance;

use super::{BackendArg, counted, positive_seconds, progress_bar, resolve_backend, write_atomic};

/// `twin calibrate` arguments.
#[derive(Args)]
pub struct CalibrateArgs {
    /// The model file (TOML) with its [[parameter]] list.
    model: PathBuf,
    /// A recorded run: CSV or NDJSON with `time` (s), model inputs and sensors by name; `-`
    /// reads stdin. Several files are separate runs of the same kind of machine, each from the
    /// model's initial state, sharing the parameters.
    #[arg(long = "data", required = true)]
    data: Vec<String>,
    /// batch: Levenberg–Marquardt over all runs (default; covariance from the Jacobian);
    /// enkf: ensemble Kalman filter; ukf: unscented Kalman filter; pf: particle filter.
    #[arg(long, value_enum, default_value_t = MethodArg::Batch)]
    method: MethodArg,
    /// Where the filters' members step their thermal grids: cpu (each member its own), gpu
    /// (all members' grids batched into one dispatch per grid), or auto (a hardware GPU when
    /// the members' grids together are large enough to repay it). Batch calibration steps its
    /// simulations on the CPU.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Ensemble members of the filters; after a batch fit, the posterior draws replayed for the
    /// RUL of a model with events.
    #[arg(long, default_value_t = 64)]
    members: usize,
    /// Seed of the prior draws and the filters.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most Levenberg–Marquardt iterations.
    #[arg(long, default_value_t = 20)]
    max_iterations: usize,
    /// Start from the parameter distribution (mean, std) of an earlier calibration report
    /// instead of the model's priors. From a fleet report (several runs of a model with
    /// `per_unit` parameters), a new unit starts from the fleet's units; from a run-to-failure
    /// fleet report (`--run-to-failure`), remaining lives are the fleet's survival.
    #[arg(long)]
    prior: Option<PathBuf>,
    /// Run-to-failure data: every --data run ended at this event (for example `failure`). The
    /// report records each unit's age at its end in the event's life measure (`lives`), and
    /// `--prior` that report gives a new unit's remaining life from the fleet's survival.
    #[arg(long, value_name = "EVENT")]
    run_to_failure: Option<String>,
    /// Write the report (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the estimates over time (NDJSON) here.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Plot measured data against the prior and the calibrated twin, one panel per run and
    /// sensor with data (SVG, axes in readable units, lines decimated for drawing).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Keep a checkpoint here (replaced atomically), so that a killed job can `--resume`.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Seconds of data between checkpoints of the filters (batch: every iteration).
    #[arg(long, default_value_t = 60.0)]
    checkpoint_every: f64,
    /// Continue from a checkpoint (same model, data, method and seed); the result equals an
    /// uninterrupted run's.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Keep reading the one --data file (or stdin) as it grows and emit estimates as NDJSON
    /// lines as data arrive (to --trace, else stdout); online methods only. With --checkpoint
    /// it keeps a resumable state; --resume reads the stream again from its start, skips the
    /// rows already assimilated and appends to the --trace.
    #[arg(long)]
    follow: bool,
    /// With --follow on a file: stop after this many seconds without new data.
    #[arg(long, default_value_t = 10.0)]
    idle_exit: f64,
    /// Forecast horizon in s after the last data point for the wear, damage and RUL of the
    /// report (models with wear elements, sections or events; default 10× the last run).
    #[arg(long)]
    horizon: Option<f64>,
    /// The cost of a wrong RUL, for a point estimate beside the quantiles: `early=A,late=B`
    /// (cost per second early and late; the A/(A+B) quantile, e.g. early=1,late=4 takes the
    /// 20th percentile) or `phm2012` (the IEEE PHM 2012 score, maximised in expectation).
    #[arg(long, value_name = "early=A,late=B|phm2012")]
    rul_loss: Option<String>,
    /// Refuse the data on the first unusable value (non-finite, not a number, time out of
    /// order), naming the line and column, instead of counting it and leaving it out.
    #[arg(long)]
    strict: bool,
    /// The longest interval in s between rows (and from 0 s to the first row) that the twin
    /// steps through without data; a longer one is refused, naming the row. Absolute times
    /// (Unix seconds, ISO 8601) count from the first row.
    #[arg(long, default_value_t = DEFAULT_MAX_GAP, value_name = "SECONDS")]
    max_gap: f64,
}

fn calibrate_follow(
    args: &CalibrateArgs,
    model: &std::sync::Arc<Model>,
    options: &CalibrateOptions,
) -> Result<ExitCode> {
    if args.data.len() != 1 {
        return Err(Error::invalid(
            "--follow",
            None,
            None,
            "expected exactly one --data file (or - for stdin)",
        ));
    }
    if options.method == Method::Batch {
        return Err(Error::invalid(
            "--follow",
            None,
            None,
            "expected an online --method: enkf, ukf or pf",
        ));
    }
    positive_seconds("--idle-exit", args.idle_exit)?;
    // A resumed job appends to the trace it was writing.
    let mut out: Box<dyn Write> = match &args.trace {
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(options.resume.is_some())
                .truncate(options.resume.is_none())
                .open(p)
                .map_err(|e| Error::io(p.display().to_string(), e))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let report = machine_twin::calibrate::follow::follow(
        model,
        &args.data[0],
        options,
        std::time::Duration::from_secs_f64(args.idle_exit),
        |rec| {
            let line = serde_json::to_string(rec).map_err(|e| Error::output("--trace", e))?;
            writeln!(out, "{line}")
                .and_then(|_| out.flush())
                .map_err(|e| Error::io("--trace", e))
        },
        |cp| match &args.checkpoint {
            Some(path) => write_atomic(path, cp.to_json()?.as_bytes()),
            None => Ok(()),
        },
    )?;
    if let Some(path) = &args.report {
        write_calibration_report(path, args, &report)?;
    }
    let q = &report.data_quality;
    eprintln!(
        "{}: followed {:.1} s of data with {}; {} rows, {} left out (non-finite {}, duplicate {}, out of order {}); {} gaps",
        model.name,
        report.sim_seconds,
        report.method,
        q.values().map(|d| d.rows).sum::<usize>(),
        q.values().map(|d| d.rows - d.rows_used).sum::<usize>(),
        q.values().map(|d| d.non_finite).sum::<usize>(),
        q.values().map(|d| d.duplicate_times).sum::<usize>(),
        q.values().map(|d| d.out_of_order).sum::<usize>(),
        q.values().map(|d| d.gaps).sum::<usize>(),
    );
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `report` with its provenance: the model, data, prior and resumed checkpoint files.
fn write_calibration_report(
    path: &Path,
    args: &CalibrateArgs,
    report: &CalibrationReport,
) -> Result<()> {
    let path_of = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let provenance = Provenance::new(args.seed)
        .file("model", &args.model.display().to_string())?
        .files("data", args.data.iter().map(String::as_str))?
        .files("prior", path_of(&args.prior).as_deref())?
        .files("resume", path_of(&args.resume).as_deref())?;
    super::write_report(path, report, &provenance)
}

fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(&label, e))?;
    Checkpoint::from_json(&text, &label)
}

/// `--method` values.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Levenberg–Marquardt.
    Batch,
    /// Ensemble Kalman filter.
    Enkf,
    /// Particle filter.
    Pf,
    /// Unscented Kalman filter.
    Ukf,
}

fn method_of(m: MethodArg) -> Method {
    match m {
        MethodArg::Batch => Method::Batch,
        MethodArg::Enkf => Method::EnKF,
        MethodArg::Pf => Method::ParticleFilter,
        MethodArg::Ukf => Method::Ukf,
    }
}

/// Runs `twin calibrate`.
pub fn calibrate(args: &CalibrateArgs) -> Result<ExitCode> {
    let model = Model::from_file(&args.model)?;
    // An earlier report: its parameters' distribution (mean, std), a fleet report's units'
    // estimates of its per-unit parameters and a run-to-failure fleet's lives.
    let prior = args
        .prior
        .as_deref()
        .map(|p| crate::report::read_distribution(p, &model, true))
        .transpose()?;
    // From a fleet report, the constants a new unit holds at the fleet's estimate.
    let held: Vec<bool> = prior
        .as_ref()
        .filter(|d| d.is_fleet())
        .map(|d| d.units.iter().map(Vec::is_empty).collect())
        .unwrap_or_default();
    let mut options = CalibrateOptions {
        method: method_of(args.method),
        members: args.members,
        seed: args.seed,
        run_to_failure: args.run_to_failure.clone(),
        max_iterations: args.max_iterations,
        checkpoint_every: args.checkpoint_every,
        resume: None,
        horizon: args.horizon,
        backend: Backend::Cpu,
        rul_loss: args.rul_loss.as_deref().map(RulLoss::parse).transpose()?,
        max_gap: args.max_gap,
        ..CalibrateOptions::default()
    };
    if let Some(d) = prior {
        options.use_prior(d);
    }
    positive_seconds("--max-gap", args.max_gap)?;
    positive_seconds("--checkpoint-every", args.checkpoint_every)?;
    super::check_members(args.members, 2)?;
    // Batch fits simulate the parameters' finite differences side by side.
    let twins = match options.method {
        Method::Batch => model.parameters.len() + 1,
        _ => args.members,
    };
    super::check_memory(&model, twins)?;
    if options.method != Method::Batch {
        options.backend = resolve_backend(args.backend, &model, args.members)?;
    } else if args.backend == BackendArg::Gpu {
        eprintln!("--backend gpu: batch calibration steps its simulations on the CPU");
    }
    options.resume = args.resume.as_deref().map(read_checkpoint).transpose()?;
    if args.follow {
        if args.strict {
            return Err(Error::Usage(
                "--strict: a followed stream counts unusable values; it cannot refuse rows it \
                 has already assimilated"
                    .into(),
            ));
        }
        return calibrate_follow(args, &model, &options);
    }
    let policy = if args.strict {
        Policy::Strict
    } else {
        Policy::Lenient
    };
    let runs = args
        .data
        .iter()
        .map(|d| Run::read(&model, d, policy, args.max_gap))
        .collect::<Result<Vec<_>>>()?;
    warn_about_data(&model, &runs, &args.data);
    let mut trace = args
        .trace
        .as_deref()
        .map(|p| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .map_err(|e| Error::io(p.display().to_string(), e))
        })
        .transpose()?;
    let bar = progress_bar(1000);
    let report = run_calibration(
        &model,
        &runs,
        &options,
        |rec| {
            if let Some(w) = trace.as_mut() {
                let line = serde_json::to_string(rec).map_err(|e| Error::output("--trace", e))?;
                writeln!(w, "{line}").map_err(|e| Error::io("--trace", e))?;
            }
            Ok(())
        },
        |f| bar.set_position((f * 1000.0) as u64),
        |cp| match &args.checkpoint {
            Some(path) => write_atomic(path, cp.to_json()?.as_bytes()),
            None => Ok(()),
        },
    )?;
    bar.finish_and_clear();
    if let Some(mut w) = trace {
        w.flush().map_err(|e| Error::io("--trace", e))?;
    }
    if let Some(path) = &args.report {
        write_calibration_report(path, args, &report)?;
    }
    if let Some(path) = &args.plot {
        crate::plot::calibration_plot(path, &model, &runs, &report)?;
    }
    print_summary(&model, &report, &held);
    Ok(ExitCode::SUCCESS)
}

/// Says which model inputs the data leave at their defaults, and what the reader left out.
fn warn_about_data(model: &Model, runs: &[Run], paths: &[String]) {
    for (r, path) in runs.iter().zip(paths) {
        let missing: Vec<&str> = super::undriven_inputs(model, &r.inputs)
            .map(|i| i.name.as_str())
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "{path}: no column for model input(s) {}: held at their defaults",
                missing.join(", ")
            );
        }
        let q = &r.quality;
        if let Some(origin) = &q.time_origin {
            eprintln!("{path}: absolute times; 0 s is the first row's, {origin}");
        }
        if q.non_finite + q.duplicate_times + q.out_of_order + q.gaps + q.unparsable_cells() > 0 {
            eprintln!(
                "{}: left out {} non-finite values, {} duplicate-time rows, {} out-of-order rows; {} gaps",
                r.source, q.non_finite, q.duplicate_times, q.out_of_order, q.gaps
            );
        }
        for (column, n) in &q.unparsable {
            eprintln!(
                "{}: left out {} of `{column}` that {} not numbers",
                r.source,
                counted(*n, "cell", "cells"),
                if *n == 1 { "is" } else { "are" }
            );
        }
        for (column, n) in &q.out_of_range {
            let (what, noun, range) = match (model.sensor_index(column), model.input_index(column))
            {
                (Ok(s), _) => ("what the sensor reads", "reading", model.sensors[s].range),
                (_, Ok(i)) => ("the input's range", "value", model.inputs[i].range),
                _ => continue,
            };
            let nouns = format!("{noun}s");
            eprintln!(
                "{}: left out {} of `{column}` outside {what} ({} to {})",
                r.source,
                counted(*n, noun, &nouns),
                range[0],
                range[1]
            );
        }
    }
}

/// Prints the calibration's summary: the job, each parameter (those `held` at a fleet's
/// estimate said to be), the residuals, the outlook.
fn print_summary(model: &Model, report: &CalibrationReport, held: &[bool]) {
    eprintln!(
        "{}: {} over {}, {} of data in {} wall (real-time factor {}){}",
        model.name,
        report.method,
        counted(report.runs.len(), "run", "runs"),
        human::duration(report.sim_seconds),
        human::duration(report.wall_seconds),
        human::number(report.real_time_factor, 3),
        report
            .iterations
            .map(|i| format!(
                ", {}, converged: {}",
                counted(i, "iteration", "iterations"),
                report.converged.unwrap_or(false)
            ))
            .unwrap_or_default()
    );
    for (j, (p, (path, s))) in model.parameters.iter().zip(&report.parameters).enumerate() {
        let unit = model.parameter_unit(p.target);
        if held.get(j) == Some(&true) {
            let value = human::quantity(s.mean, unit);
            eprintln!("  {path}: {value} (held at the fleet's estimate)");
            continue;
        }
        eprintln!(
            "  {path}: {}; prior {}",
            human::estimate_with_interval(s.mean, s.std, (s.p05, s.p95), unit),
            human::estimate(s.prior_mean, s.prior_std, unit),
        );
    }
    for (sensor, r) in &report.residual_rmse {
        eprintln!(
            "  residual RMSE {sensor}: {} → {} ({} samples)",
            human::quantity(r.before, &r.unit),
            human::quantity(r.after, &r.unit),
            r.samples
        );
    }
    print_outlook(model, report);
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
}

/// Prints wear, damage and RUL at the end of the data (models that have them).
fn print_outlook(model: &Model, report: &CalibrationReport) {
    let last = report.runs.last().map(String::as_str).unwrap_or("the data");
    let wear = model.wear.iter().filter_map(|w| {
        let b = report.wear.get(&w.name)?;
        Some((format!("wear {} ({})", w.name, w.quantity()), w.unit(), b))
    });
    let damage = report
        .damage
        .iter()
        .map(|(name, b)| (format!("damage {name} (Miner sum)"), "1", b));
    for (what, unit, b) in wear.chain(damage) {
        eprintln!(
            "  {what} at the end of {last}: {} (90 % interval {} … {})",
            human::quantity(b.p50, unit),
            human::quantity(b.p05, unit),
            human::quantity(b.p95, unit)
        );
    }
    for (event, r) in &report.rul {
        crate::report::print_rul(
            format!(
                "  {}; {:.0} % of the posterior reaches it within {}",
                crate::report::rul_line(event, r),
                100.0 * r.reached,
                human::duration(r.horizon)
            ),
            r,
        );
    }
    for (event, lives) in &report.lives {
        let ages: Vec<String> = lives
            .units
            .iter()
            .map(|u| format!("{} {:.4}", u.run, u.age))
            .collect();
        eprintln!(
            "  lives to {event} in {} ({}): {}",
            lives.measure,
            lives.unit,
            ages.join(", ")
        );
    }
}
