//! The subcommands.

use std::io::IsTerminal;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use machine_twin::calibrate::{
    CalibrateOptions, Checkpoint, Method, Run, calibrate_with_checkpoints as run_calibration,
};
use machine_twin::data::{DataTable, InputSeries, Policy, TraceWriter};
use machine_twin::simulate::{SimulateOptions, simulate as run_simulation};
use machine_twin::thermal::{Backend, BackendChoice, choose};
use machine_twin::validation::{self, Check, Status};
use machine_twin::{Error, Model, Result};

/// `twin simulate` arguments.
#[derive(Args)]
pub struct SimulateArgs {
    /// The model file (TOML).
    model: PathBuf,
    /// Simulated duration in s (default: to the end of --inputs, else 10 s).
    #[arg(long)]
    duration: Option<f64>,
    /// Model inputs over time: CSV or NDJSON with a `time` column (s) and input columns.
    #[arg(long)]
    inputs: Option<String>,
    /// Override a model value by its parameter path, e.g. joint.spindle.friction.viscous=2e-4.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// Seed of the sensor noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write sensor traces here (.csv, or .ndjson/.jsonl; `-` for stdout as CSV).
    #[arg(long)]
    out: Option<String>,
    /// Write the run report (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Where the thermal grids run: cpu, gpu, or auto (a hardware GPU when the grids are
    /// large enough to repay it; says which it took and why).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Write the twin's final state (JSON) here: a start for `twin predict --state`.
    #[arg(long)]
    final_state: Option<PathBuf>,
    /// Integrate every mechanical step even where the model enables `[solver.quasi_steady]`
    /// (which otherwise sub-steps settled thermal intervals, its sensors then sampling once per
    /// interval): for traces at the sensors' full rates, such as synthetic data.
    #[arg(long)]
    exact: bool,
}

/// `--backend` values.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// The rayon CPU path.
    Cpu,
    /// The WGSL kernels on a GPU (an error when none opens).
    Gpu,
    /// Choose.
    Auto,
}

/// The backend `arg` asks for, for `members` copies of `model`'s grids stepped together;
/// says on stderr which it took and why (models with grids).
fn resolve_backend(arg: BackendArg, model: &Model, members: usize) -> Result<Backend> {
    let choice = match arg {
        BackendArg::Cpu => BackendChoice::Cpu,
        BackendArg::Gpu => BackendChoice::Gpu,
        BackendArg::Auto => BackendChoice::Auto,
    };
    let (backend, why) = choose(choice, model.thermal.node_updates(members))?;
    if !model.thermal.grids.is_empty() {
        eprintln!("thermal grids on {why}");
    }
    Ok(backend)
}

pub(crate) fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {percent}% (eta {eta})",
        )
        .expect("static template"),
    );
    bar
}

pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let label = path.display().to_string();
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::State(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(label, e))
}

pub fn check(model: &Path) -> Result<ExitCode> {
    let m = Model::from_file(model)?;
    let th = &m.thermal;
    let thermal = if th.is_empty() {
        String::new()
    } else {
        format!(
            "; thermal every {} s: {} nodes, {} links, {} heat sources, {} grids ({} grid nodes)",
            th.dt,
            th.nodes.len(),
            th.links.len(),
            th.heats.len(),
            th.grids.len(),
            th.grids.iter().map(|g| g.cells()).sum::<usize>()
        )
    };
    println!(
        "{}: ok — model `{}`: {} bodies, {} joints, {} drives, {} loads, {} inputs, {} sensors, {} parameters{thermal}",
        model.display(),
        m.name,
        m.bodies.len(),
        m.joints.len(),
        m.drives.len(),
        m.loads.len(),
        m.inputs.len(),
        m.sensors.len(),
        m.parameters.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_set(s: &str) -> Result<(String, f64)> {
    let bad = |m: &str| Error::Parameter {
        path: s.to_string(),
        message: m.to_string(),
    };
    let (path, value) = s
        .split_once('=')
        .ok_or_else(|| bad("expected PATH=VALUE"))?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| bad("expected a number after `=`"))?;
    Ok((path.trim().to_string(), value))
}

pub fn simulate(args: &SimulateArgs) -> Result<ExitCode> {
    let model = Model::from_file(&args.model)?;
    let inputs = match &args.inputs {
        Some(path) => {
            let table = DataTable::read(path, Policy::Strict)?;
            table.check_columns(&model)?;
            Some(InputSeries::from_table(&model, &table))
        }
        None => None,
    };
    let backend = resolve_backend(args.backend, &model, 1)?;
    let options = SimulateOptions {
        backend,
        duration: args.duration,
        inputs,
        sets: args
            .sets
            .iter()
            .map(|s| parse_set(s))
            .collect::<Result<_>>()?,
        seed: args.seed,
        exact: args.exact,
    };
    if let Some(d) = options.duration
        && !(d.is_finite() && d > 0.0)
    {
        return Err(Error::invalid(
            "--duration",
            None,
            None,
            format!("expected a time in s > 0, got {d}"),
        ));
    }
    let columns: Vec<String> = model
        .inputs
        .iter()
        .map(|i| i.name.clone())
        .chain(model.sensors.iter().map(|s| s.name.clone()))
        .collect();
    let mut writer = args
        .out
        .as_deref()
        .map(|p| TraceWriter::create(p, columns))
        .transpose()?;
    let bar = progress_bar(1000);
    let report = run_simulation(
        model.clone(),
        &options,
        |t, values| writer.as_mut().map_or(Ok(()), |w| w.row(t, values)),
        |fraction| bar.set_position((fraction * 1000.0) as u64),
    )?;
    bar.finish_and_clear();
    if let Some(w) = writer {
        w.finish()?;
    }
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    if let (Some(path), Some(state)) = (&args.final_state, &report.final_state) {
        let label = path.display().to_string();
        std::fs::write(path, state.0.to_json()?).map_err(|e| Error::io(label, e))?;
    }
    eprintln!(
        "{}: simulated {:.3} s in {:.3} s wall ({} steps integrated, {:.0} steps/s, real-time factor {:.1}{}){}",
        model.name,
        report.sim_seconds,
        report.wall_seconds,
        report.steps,
        report.steps_per_second,
        report.real_time_factor,
        if report.quasi_steady_share > 0.0 {
            format!(
                "; quasi-steady sub-stepping over {:.1} % of the time",
                100.0 * report.quasi_steady_share
            )
        } else {
            String::new()
        },
        args.out
            .as_deref()
            .map(|o| format!(", {} rows → {o}", report.rows))
            .unwrap_or_default()
    );
    if let Some(th) = &report.thermal {
        eprintln!(
            "thermal: {} grid node updates ({:.3e}/s of wall time), heat entered {:.1} J, stored {:.1} J, lost {:.1} J (balance error {:.2e})",
            th.grid_node_updates,
            th.grid_node_updates_per_second,
            th.heat_entered_j,
            th.heat_stored_j,
            th.heat_lost_j,
            th.balance_error
        );
    }
    for (name, w) in &report.wear {
        eprintln!("wear {name}: {w:.4e} at the end");
    }
    for (name, d) in &report.damage {
        eprintln!("damage {name}: {d:.4e} (Miner) at the end");
    }
    Ok(ExitCode::SUCCESS)
}

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
    /// instead of the model's priors.
    #[arg(long)]
    prior: Option<PathBuf>,
    /// Write the report (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the estimates over time (NDJSON) here.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Plot measured data against the prior and the calibrated twin, one panel per sensor
    /// (SVG; the first run).
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
            let line = serde_json::to_string(rec).map_err(|e| Error::State(e.to_string()))?;
            writeln!(out, "{line}")
                .and_then(|_| out.flush())
                .map_err(|e| Error::io("--trace", e))
        },
        |cp| match &args.checkpoint {
            Some(path) => write_json_atomic(path, cp),
            None => Ok(()),
        },
    )?;
    if let Some(path) = &args.report {
        write_json(path, &report)?;
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
    Ok(ExitCode::SUCCESS)
}

/// Writes `value` as JSON to `path` through a temporary file and a rename, so a reader (or a
/// resumed job) never sees half a file.
fn write_json_atomic(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let label = path.display().to_string();
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&label, e))?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut w, value).map_err(|e| Error::State(e.to_string()))?;
    w.flush().map_err(|e| Error::io(&label, e))?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(&label, e))
}

fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(&label, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::invalid(
            &label,
            Some(e.line()),
            None,
            format!("not a calibration checkpoint: {e}"),
        )
    })
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

/// Reads the prior (mean, std per declared parameter) from an earlier report.
fn read_prior(path: &Path, model: &Model) -> Result<Vec<(f64, f64)>> {
    let d = crate::report::read_distribution(path, model, true)?;
    Ok(d.mean.into_iter().zip(d.std).collect())
}

/// Checks that the value of `flag` is a finite number of seconds above zero.
fn positive_seconds(flag: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            flag,
            None,
            None,
            format!("expected seconds > 0, got {value}"),
        ))
    }
}

pub fn calibrate(args: &CalibrateArgs) -> Result<ExitCode> {
    let model = Model::from_file(&args.model)?;
    let mut options = CalibrateOptions {
        method: method_of(args.method),
        members: args.members,
        seed: args.seed,
        prior: args
            .prior
            .as_deref()
            .map(|p| read_prior(p, &model))
            .transpose()?,
        max_iterations: args.max_iterations,
        checkpoint_every: args.checkpoint_every,
        resume: None,
        horizon: args.horizon,
        backend: Backend::Cpu,
    };
    positive_seconds("--checkpoint-every", args.checkpoint_every)?;
    if args.members < 2 {
        return Err(Error::invalid(
            "--members",
            None,
            None,
            "expected at least 2 members",
        ));
    }
    if options.method != Method::Batch {
        options.backend = resolve_backend(args.backend, &model, args.members)?;
    } else if args.backend == BackendArg::Gpu {
        eprintln!("--backend gpu: batch calibration steps its simulations on the CPU");
    }
    options.resume = args.resume.as_deref().map(read_checkpoint).transpose()?;
    if args.follow {
        return calibrate_follow(args, &model, &options);
    }
    let runs = args
        .data
        .iter()
        .map(|d| Run::read(&model, d))
        .collect::<Result<Vec<_>>>()?;
    for (r, path) in runs.iter().zip(&args.data) {
        let missing: Vec<&str> = model
            .inputs
            .iter()
            .filter(|i| !r.drives_input(&model, &i.name))
            .map(|i| i.name.as_str())
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "{path}: no column for model input(s) {}: held at their defaults",
                missing.join(", ")
            );
        }
        let q = &r.quality;
        if q.non_finite + q.duplicate_times + q.out_of_order + q.gaps > 0 {
            eprintln!(
                "{}: left out {} non-finite values, {} duplicate-time rows, {} out-of-order rows; {} gaps",
                r.source, q.non_finite, q.duplicate_times, q.out_of_order, q.gaps
            );
        }
    }
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
                let line = serde_json::to_string(rec).map_err(|e| Error::State(e.to_string()))?;
                writeln!(w, "{line}").map_err(|e| Error::io("--trace", e))?;
            }
            Ok(())
        },
        |f| bar.set_position((f * 1000.0) as u64),
        |cp| match &args.checkpoint {
            Some(path) => write_json_atomic(path, cp),
            None => Ok(()),
        },
    )?;
    bar.finish_and_clear();
    if let Some(mut w) = trace {
        w.flush().map_err(|e| Error::io("--trace", e))?;
    }
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.plot {
        crate::plot::calibration_plot(path, &model, &runs, &report)?;
    }
    eprintln!(
        "{}: {} over {} run(s), {:.1} s of data in {:.2} s wall (real-time factor {:.1}){}",
        model.name,
        report.method,
        report.runs.len(),
        report.sim_seconds,
        report.wall_seconds,
        report.real_time_factor,
        report
            .iterations
            .map(|i| format!(
                ", {i} iterations, converged: {}",
                report.converged.unwrap_or(false)
            ))
            .unwrap_or_default()
    );
    for (path, p) in &report.parameters {
        eprintln!(
            "  {path}: {:.6e} ± {:.2e} (90 % interval {:.6e} … {:.6e}; prior {:.4e} ± {:.2e})",
            p.mean, p.std, p.p05, p.p95, p.prior_mean, p.prior_std
        );
    }
    for (sensor, r) in &report.residual_rmse {
        eprintln!(
            "  residual RMSE {sensor}: {:.4e} → {:.4e} {} ({} samples)",
            r.before, r.after, r.unit, r.samples
        );
    }
    print_outlook(&report);
    Ok(ExitCode::SUCCESS)
}

/// Prints wear, damage and RUL at the end of the data (models that have them).
fn print_outlook(report: &machine_twin::calibrate::CalibrationReport) {
    for (name, b) in report.wear.iter().chain(&report.damage) {
        eprintln!(
            "  {name} at the last data point: {:.4e} (90 % interval {:.4e} … {:.4e})",
            b.p50, b.p05, b.p95
        );
    }
    for (event, r) in &report.rul {
        eprintln!(
            "  {}; {:.0} % of the posterior reaches it within {:.0} s",
            crate::report::rul_line(event, r),
            100.0 * r.reached,
            r.horizon
        );
    }
}

pub fn validate(dir: &Path, report: Option<&Path>) -> Result<ExitCode> {
    let cases = validation::discover(dir)?;
    if cases.is_empty() {
        return Err(Error::invalid(
            dir.display().to_string(),
            None,
            None,
            "no validation cases found (folders with case.toml)",
        ));
    }
    let bar = progress_bar(cases.len() as u64);
    let mut results = Vec::new();
    for case in &cases {
        bar.set_message(case.display().to_string());
        results.push(validation::run_case(case));
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{:<22} {:<58} {:>14} {:>14} {:>10} {:>6}",
        "case", "metric", "value", "expected", "tolerance", "result"
    );
    for r in &results {
        let status = match r.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        if r.metrics.is_empty() {
            println!(
                "{:<22} {:<58} {:>14} {:>14} {:>10} {:>6}",
                r.case,
                r.message.as_deref().unwrap_or(""),
                "-",
                "-",
                "-",
                status
            );
        }
        for m in &r.metrics {
            let tol = match m.check {
                Check::AtMost => "max".to_string(),
                Check::AtLeast => "min".to_string(),
                Check::Report => "info".to_string(),
                Check::Tolerance if m.relative => format!("{:.2}%", m.tolerance * 100.0),
                Check::Tolerance => format!("{}", m.tolerance),
            };
            let mark = if r.status == Status::Skip {
                "skip"
            } else if m.passes() {
                "pass"
            } else {
                "FAIL"
            };
            println!(
                "{:<22} {:<58} {:>14.6} {:>14.6} {:>10} {:>6}",
                r.case, m.name, m.value, m.expected, tol, mark
            );
        }
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let (passed, failed, skipped) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
    );
    println!("\nvalidation: {passed} passed, {failed} failed, {skipped} skipped");
    if let Some(path) = report {
        write_json(
            path,
            &serde_json::json!({ "passed": passed, "failed": failed, "skipped": skipped, "cases": results }),
        )?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
