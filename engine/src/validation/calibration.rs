//! Calibration validation cases: recovering known parameters from synthetic data.

use std::collections::HashSet;

use super::{CaseContext, Metric, Outcome};
use crate::calibrate::{CalibrateOptions, CalibrationReport, Method, Run, calibrate};
use crate::data::{DataTable, InputSeries, Policy};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::simulate::SimulateOptions;

fn invalid(ctx: &CaseContext, field: &str, message: &str) -> Error {
    Error::invalid(
        ctx.dir.join("case.toml").display().to_string(),
        None,
        Some(format!("settings.{field}")),
        message,
    )
}

/// What a synthetic calibration case sets up: the model, the input program, the true
/// values, and the calibration options (method, members, seed).
struct Synthetic {
    model: std::sync::Arc<Model>,
    program: DataTable,
    truth: Vec<(String, f64)>,
    options: CalibrateOptions,
}

impl Synthetic {
    fn read(ctx: &CaseContext) -> Result<Self> {
        let model = Model::from_file(ctx.model_path()?)?;
        let settings = &ctx.spec.settings;
        let program = settings
            .get("program")
            .and_then(|v| v.as_str())
            .ok_or_else(|| invalid(ctx, "program", "expected the name of a CSV of model inputs"))?;
        let program =
            DataTable::read(&ctx.dir.join(program).display().to_string(), Policy::Strict)?;
        let truth: Vec<(String, f64)> = settings
            .get("truth")
            .and_then(|v| v.as_table())
            .ok_or_else(|| {
                invalid(
                    ctx,
                    "truth",
                    "expected a table of parameter path = true value",
                )
            })?
            .iter()
            .map(|(k, v)| {
                v.as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .map(|x| (k.clone(), x))
                    .ok_or_else(|| invalid(ctx, &format!("truth.{k}"), "expected a number"))
            })
            .collect::<Result<_>>()?;
        for (path, _) in &truth {
            if !model.parameters.iter().any(|p| &p.path == path) {
                return Err(invalid(
                    ctx,
                    &format!("truth.{path}"),
                    "not a declared [[parameter]] of the model",
                ));
            }
        }
        let method = match settings
            .get("method")
            .and_then(|v| v.as_str())
            .unwrap_or("batch")
        {
            "batch" => Method::Batch,
            "enkf" => Method::EnKF,
            "ukf" => Method::Ukf,
            "pf" => Method::ParticleFilter,
            other => {
                return Err(invalid(
                    ctx,
                    "method",
                    &format!("expected batch, enkf, ukf or pf, got {other}"),
                ));
            }
        };
        let options = CalibrateOptions {
            method,
            seed: ctx.setting("seed", 7.0)? as u64,
            members: ctx.setting("members", CalibrateOptions::default().members as f64)? as usize,
            ..Default::default()
        };
        Ok(Self {
            model,
            program,
            truth,
            options,
        })
    }

    /// Simulates the truth with sensor noise of `seed` and calibrates from the trace (the
    /// calibration's own seed is `seed` too).
    fn calibrate(&self, seed: u64) -> Result<CalibrationReport> {
        let options = SimulateOptions {
            inputs: Some(InputSeries::from_table(&self.model, &self.program)),
            sets: self.truth.clone(),
            seed,
            ..Default::default()
        };
        let run = Run::simulated(&self.model, &options)?;
        calibrate(
            &self.model,
            &[run],
            &CalibrateOptions {
                seed,
                ..self.options.clone()
            },
            |_| Ok(()),
            |_| {},
        )
    }
}

/// Simulates the model with `settings.truth` through `settings.program` with sensor noise,
/// calibrates from the trace, and compares each identifiable parameter with its true value;
/// parameters listed in `settings.unidentifiable` must keep (about) their prior spread.
pub fn synthetic_recovery_case(ctx: &CaseContext) -> Result<Outcome> {
    let case = Synthetic::read(ctx)?;
    let unidentifiable: HashSet<String> = ctx
        .spec
        .settings
        .get("unidentifiable")
        .and_then(|v| v.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let report = case.calibrate(case.options.seed)?;
    let truth = &case.truth;
    let mut metrics = Vec::new();
    for (path, value) in truth {
        let p = &report.parameters[path];
        if unidentifiable.contains(path) {
            metrics.push(Metric::absolute(
                format!("{path}: posterior std / prior std (not identifiable)"),
                p.std / p.prior_std,
                1.0,
                0.1,
            ));
        } else {
            metrics.push(Metric::relative(
                format!("{path} (90 % interval {:.4e} … {:.4e})", p.p05, p.p95),
                p.mean,
                *value,
                ctx.spec.tolerance,
            ));
        }
    }
    Ok(Outcome::Metrics(metrics))
}

/// Repeats synthetic recovery over `settings.seeds` noise seeds (from `settings.seed`) and
/// counts how often each nominal 90 % interval (p05 … p95) holds the true value. Honest
/// intervals cover it about 90 % of the time; the case compares the coverage with 0.89 within
/// its (absolute) tolerance (0.09: the 80 … 98 % the calibration issue states), and reports the
/// coverage of each parameter.
pub fn interval_coverage_case(ctx: &CaseContext) -> Result<Outcome> {
    let case = Synthetic::read(ctx)?;
    let seeds = ctx.setting("seeds", 12.0)?;
    if !(seeds >= 1.0 && seeds.fract() == 0.0) {
        return Err(invalid(
            ctx,
            "seeds",
            "expected a whole number of seeds ≥ 1",
        ));
    }
    let first = case.options.seed;
    let mut inside = vec![0usize; case.truth.len()];
    for seed in first..first + seeds as u64 {
        let report = case.calibrate(seed)?;
        for (k, (path, value)) in case.truth.iter().enumerate() {
            let p = &report.parameters[path];
            inside[k] += usize::from(p.p05 <= *value && *value <= p.p95);
        }
    }
    let total = seeds * case.truth.len() as f64;
    let mut metrics: Vec<Metric> = case
        .truth
        .iter()
        .zip(&inside)
        .map(|((path, _), n)| {
            Metric::report(
                format!("{path}: share of {seeds} seeds inside the 90 % interval"),
                *n as f64 / seeds,
                0.9,
            )
        })
        .collect();
    let covered = inside.iter().sum::<usize>();
    let coverage = covered as f64 / total;
    let name = format!("coverage of nominal 90 % intervals ({covered} of {total})");
    metrics.push(Metric::absolute(name, coverage, 0.89, ctx.spec.tolerance));
    Ok(Outcome::Metrics(metrics))
}
