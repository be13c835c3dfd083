//! `twin predict`: wear, health and remaining useful life of a calibrated machine (or tool)
//! under an assumed future operating schedule.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use machine_twin::calibrate::{Checkpoint, draw_fleet_prior};
use machine_twin::data::TraceWriter;
use machine_twin::prognosis::{
    Band, FleetLives, Prognosis, RulLoss, apply_fleet_survival, draw_gaussian,
    forecast_with_progress,
};
use machine_twin::twin::{State, Twin};
use machine_twin::{Error, Model, Result};
use serde::Serialize;

use super::progress_bar;
use crate::provenance::Provenance;
use crate::report::{print_rul, read_distribution, rul_line};

/// `twin predict` arguments.
#[derive(Args)]
pub struct PredictArgs {
    /// The model file (TOML).
    model: PathBuf,
    /// Start from the parameter distribution of a calibration report (a fresh machine or tool
    /// with calibrated parameters): members draw their parameters from its means, standard
    /// deviations and correlation.
    #[arg(long, required_unless_present = "state")]
    params: Option<PathBuf>,
    /// Start from a twin state (JSON, as `twin simulate --final-state` writes): its wear,
    /// damage and parameters; with --params, members also draw parameters from that report.
    /// Or from a filter's calibration checkpoint (`twin calibrate --checkpoint`): its members,
    /// each with its own state and parameters, and their weights (--members is then theirs).
    #[arg(long)]
    state: Option<PathBuf>,
    /// The assumed operating schedule: model inputs over time (CSV or NDJSON, `time` in s from
    /// the start of the forecast; values held beyond the last row).
    #[arg(long)]
    inputs: String,
    /// Forecast horizon in s (default: the schedule's last time).
    #[arg(long)]
    horizon: Option<f64>,
    /// The cost of a wrong RUL, for a point estimate beside the quantiles: `early=A,late=B`
    /// (cost per second early and late; the A/(A+B) quantile, e.g. early=1,late=4 takes the
    /// 20th percentile) or `phm2012` (the IEEE PHM 2012 score, maximised in expectation).
    #[arg(long, value_name = "early=A,late=B|phm2012")]
    rul_loss: Option<String>,
    /// Output interval in s (default: horizon / 400).
    #[arg(long)]
    every: Option<f64>,
    /// Ensemble members.
    #[arg(long, default_value_t = 256)]
    members: usize,
    /// Seed of the parameter draws and sensor noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write `time` and `<quantity>_p05/_p50/_p95` for every sensor, wear element
    /// (`wear.NAME`) and stress section (`damage.NAME`) here (.csv or .ndjson).
    #[arg(long)]
    out: Option<String>,
    /// Write the report (JSON: RUL per event, final bands, timing) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Plot wear, damage and event sensors with their bands (SVG) here.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// The JSON report of a forecast.
#[derive(Serialize)]
struct PredictReport<'a> {
    /// Model name.
    model: &'a str,
    /// Ensemble members forecast.
    members: usize,
    /// Forecast horizon in s.
    horizon: f64,
    /// Output interval in s.
    every: f64,
    /// Twin time at the start of the forecast in s.
    start_time: f64,
    /// Wall-clock time of the forecast in s.
    wall_seconds: f64,
    /// Remaining life per event, in s from the start.
    rul: &'a indexmap::IndexMap<String, machine_twin::prognosis::RulSummary>,
    /// Every quantity's band at the horizon.
    final_bands: indexmap::IndexMap<String, Band>,
}

/// The forecast's members and, from a run-to-failure fleet report, the fleet's lives.
type Members = (
    Vec<(Twin, f64)>,
    Option<indexmap::IndexMap<String, FleetLives>>,
);

/// Where a forecast starts (`--state`): one twin state, or a calibration checkpoint's members
/// (each its own twin state and parameters) with their weights.
enum Start {
    Twin(Box<State>),
    Ensemble(Vec<State>, Vec<f64>),
}

/// Reads `--state`: a twin state, or a calibration checkpoint (`twin calibrate --checkpoint`)
/// of a filter, whose members and weights the forecast starts from.
fn read_start(path: &std::path::Path, model: &Model) -> Result<Start> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(&label, e))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(&label, Some(e.line()), None, format!("not JSON: {e}")))?;
    if value.get("checkpoint").is_none() {
        return State::from_json(&text)
            .map(|s| Start::Twin(Box::new(s)))
            .map_err(|e| Error::State(format!("{label}: {e}")));
    }
    let checkpoint = Checkpoint::from_json(&text, &label)?;
    if checkpoint.model != model.name {
        return Err(Error::State(format!(
            "{label}: a checkpoint of model `{}`, not `{}`",
            checkpoint.model, model.name
        )));
    }
    let Some(filter) = checkpoint.filter.filter(|f| !f.states.is_empty()) else {
        return Err(Error::State(format!(
            "{label}: a {} checkpoint holds parameter values, not the twins at the end of the data: forecast from its report with --params",
            checkpoint.method
        )));
    };
    // Weights from the log weights (a particle filter's; equal for the others).
    let n = filter.states.len();
    let weights = if filter.log_weights.len() == n {
        let top = filter
            .log_weights
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = filter.log_weights.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = w.iter().sum();
        if total.is_finite() && total > 0.0 {
            w.iter().map(|x| x / total).collect()
        } else {
            vec![1.0 / n as f64; n]
        }
    } else {
        vec![1.0 / n as f64; n]
    };
    Ok(Start::Ensemble(filter.states, weights))
}

fn members(args: &PredictArgs, model: &Arc<Model>) -> Result<Members> {
    let start = args
        .state
        .as_deref()
        .map(|p| read_start(p, model))
        .transpose()?;
    let state = match start {
        Some(Start::Ensemble(states, weights)) => {
            if args.params.is_some() {
                return Err(Error::Usage(
                    "--params with a calibration checkpoint: its members carry their own parameters; give one of the two".into(),
                ));
            }
            let twins = states
                .iter()
                .zip(weights)
                .enumerate()
                .map(|(i, (s, w))| {
                    let mut twin = Twin::new(Arc::clone(model), args.seed.wrapping_add(i as u64));
                    twin.restore(s)?;
                    Ok((twin, w))
                })
                .collect::<Result<_>>()?;
            return Ok((twins, None));
        }
        Some(Start::Twin(s)) => {
            if args.params.is_none() {
                eprintln!(
                    "note: every member starts from the one state with its parameters, so the bands have no width; give --params (a calibration report) for the parameters' uncertainty"
                );
            }
            Some(*s)
        }
        None => None,
    };
    let n = args.members;
    let params = args
        .params
        .as_deref()
        .map(|p| read_distribution(p, model, false))
        .transpose()?;
    let lives = params.as_ref().and_then(|d| d.lives.clone());
    let draws = params.map(|d| {
        if d.is_fleet() {
            // A new unit of the fleet: the mixture of its units (see `calibrate::fleet`).
            let moments: Vec<(f64, f64)> = d.mean.iter().copied().zip(d.std.clone()).collect();
            draw_fleet_prior(model, &moments, &d.units, n, args.seed)
        } else {
            draw_gaussian(model, &d.mean, &d.std, &d.correlation, n, args.seed)
        }
    });
    let twins = (0..n)
        .map(|i| {
            let seed = args.seed.wrapping_add(i as u64);
            let mut twin = Twin::new(Arc::clone(model), seed);
            if let Some(s) = &state {
                twin.restore(s)?;
            }
            if let Some(d) = &draws {
                twin.set_params(&machine_twin::Params {
                    values: d[i].clone(),
                })?;
            }
            Ok((twin, 1.0 / n as f64))
        })
        .collect::<Result<_>>()?;
    Ok((twins, lives))
}

/// Runs `twin predict`.
pub fn predict(args: &PredictArgs) -> Result<ExitCode> {
    let model = Model::from_file(&args.model)?;
    super::check_members(args.members, 1)?;
    super::check_memory(&model, args.members)?;
    let schedule = super::read_schedule(&args.inputs, &model)?;
    let horizon = args
        .horizon
        .or_else(|| schedule.end_time().filter(|t| *t > 0.0))
        .ok_or_else(|| {
            Error::invalid(
                &args.inputs,
                None,
                None,
                "the schedule ends at t = 0 (or drives no model input): give --horizon in s",
            )
        })?;
    if !(horizon.is_finite() && horizon > 0.0) {
        return Err(Error::invalid(
            "--horizon",
            None,
            None,
            format!("expected s > 0, got {horizon}"),
        ));
    }
    let every = args.every.unwrap_or(horizon / 400.0);
    if !(every.is_finite() && every > 0.0) {
        return Err(Error::invalid(
            "--every",
            None,
            None,
            format!("expected s > 0, got {every}"),
        ));
    }
    /// Most output times of one forecast (each holds every quantity's band).
    const MAX_OUTPUTS: f64 = 1e6;
    if horizon / every > MAX_OUTPUTS {
        return Err(Error::invalid(
            "--every",
            None,
            None,
            format!(
                "{every:e} s over a horizon of {horizon} s gives {:.3e} outputs; expected at most {MAX_OUTPUTS:.0} (--every of at least {} s)",
                horizon / every,
                horizon / MAX_OUTPUTS
            ),
        ));
    }
    let rul_loss = args.rul_loss.as_deref().map(RulLoss::parse).transpose()?;
    let (members, lives) = members(args, &model)?;
    let start_time = members[0].0.time();
    let bar = progress_bar(1000);
    let start = Instant::now();
    let mut outlook =
        forecast_with_progress(members, Some(&schedule), horizon, every, rul_loss, &|f| {
            bar.set_position((1000.0 * f) as u64)
        })?;
    if let Some(lives) = &lives {
        apply_fleet_survival(&mut outlook, &model, lives, rul_loss);
    }
    let wall = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let columns = columns(&outlook);
    if let Some(path) = &args.out {
        let mut w = TraceWriter::create(
            path,
            columns
                .iter()
                .flat_map(|(n, _)| ["p05", "p50", "p95"].map(|q| format!("{n}_{q}")))
                .collect(),
        )?;
        for (k, t) in outlook.times.iter().enumerate() {
            let row: Vec<Option<f64>> = columns
                .iter()
                .flat_map(|(_, b)| {
                    let b = b[k];
                    [Some(b.p05), Some(b.p50), Some(b.p95)]
                })
                .collect();
            w.row(*t, &row)?;
        }
        w.finish()?;
    }
    let final_bands = columns
        .iter()
        .map(|(n, b)| (n.clone(), *b.last().expect("at least one output")))
        .collect();
    if let Some(path) = &args.report {
        let path_of = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let provenance = Provenance::new(args.seed)
            .file("model", &args.model.display().to_string())?
            .files("params", path_of(&args.params).as_deref())?
            .files("state", path_of(&args.state).as_deref())?
            .file("inputs", &args.inputs)?;
        let report = PredictReport {
            model: &model.name,
            members: outlook.members,
            horizon,
            every,
            start_time,
            wall_seconds: wall,
            rul: &outlook.rul,
            final_bands,
        };
        super::write_report(path, &report, &provenance)?;
    }
    if let Some(path) = &args.plot {
        crate::plot::prognosis_plot(path, &model, &outlook)?;
    }
    eprintln!(
        "{}: {} members from t = {} over {} in {} wall",
        model.name,
        outlook.members,
        crate::human::duration(start_time),
        crate::human::duration(horizon),
        crate::human::duration(wall)
    );
    for (event, r) in &outlook.rul {
        print_rul(
            format!(
                "  {}; {:.0} % of members reach it",
                rul_line(event, r),
                100.0 * r.reached
            ),
            r,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Every reported quantity's name and bands: sensors, `wear.NAME`, `damage.NAME`.
fn columns(p: &Prognosis) -> Vec<(String, Vec<Band>)> {
    p.sensors
        .iter()
        .map(|(n, b)| (n.clone(), b.clone()))
        .chain(p.wear.iter().map(|(n, b)| (format!("wear.{n}"), b.clone())))
        .chain(
            p.damage
                .iter()
                .map(|(n, b)| (format!("damage.{n}"), b.clone())),
        )
        .collect()
}
