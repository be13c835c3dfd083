//! `twin simulate`: step a model through its inputs, write traces and a report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use machine_twin::data::TraceWriter;
use machine_twin::simulate::{SimulateOptions, simulate as run_simulation};
use machine_twin::{Error, Model, Result};

use super::{BackendArg, progress_bar, resolve_backend};
use crate::provenance::Provenance;

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

/// Runs `twin simulate`.
pub fn simulate(args: &SimulateArgs) -> Result<ExitCode> {
    let model = Model::from_file(&args.model)?;
    super::check_memory(&model, 1)?;
    let inputs = args
        .inputs
        .as_deref()
        .map(|path| super::read_schedule(path, &model))
        .transpose()?;
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
    let columns = machine_twin::simulate::trace_columns(&model);
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
        let provenance = Provenance::new(args.seed)
            .file("model", &args.model.display().to_string())?
            .files("inputs", args.inputs.as_deref())?;
        super::write_report(path, &report, &provenance)?;
    }
    if let (Some(path), Some(state)) = (&args.final_state, &report.final_state) {
        let label = path.display().to_string();
        std::fs::write(path, state.0.to_json()?).map_err(|e| Error::io(label, e))?;
    }
    let h = |x: f64, unit: &str| crate::human::quantity(x, unit);
    eprintln!(
        "{}: simulated {} in {} wall ({} steps integrated, {} steps/s, real-time factor {}{}){}",
        model.name,
        crate::human::duration(report.sim_seconds),
        crate::human::duration(report.wall_seconds),
        report.steps,
        crate::human::number(report.steps_per_second, 3),
        crate::human::number(report.real_time_factor, 3),
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
            "thermal: {} grid node updates ({}/s of wall time), heat entered {}, stored {}, lost {} (balance error {})",
            th.grid_node_updates,
            crate::human::number(th.grid_node_updates_per_second, 3),
            h(th.heat_entered_j, "J"),
            h(th.heat_stored_j, "J"),
            h(th.heat_lost_j, "J"),
            crate::human::number(th.balance_error, 2)
        );
    }
    for (w, value) in model.wear.iter().zip(report.wear.values()) {
        eprintln!(
            "wear {} ({}): {} at the end",
            w.name,
            w.quantity(),
            h(*value, w.unit())
        );
    }
    for (name, d) in &report.damage {
        eprintln!(
            "damage {name} (Miner sum): {} at the end",
            crate::human::number(*d, 4)
        );
    }
    Ok(ExitCode::SUCCESS)
}
