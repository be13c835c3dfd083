//! Calibration validation cases: recovering known parameters from synthetic data.

use std::collections::HashSet;

use super::{CaseContext, Metric, Outcome};
use crate::calibrate::{CalibrateOptions, Method, Run, calibrate};
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

/// Simulates the model with `settings.truth` through `settings.program` with sensor noise,
/// calibrates from the trace, and compares each identifiable parameter with its true value;
/// parameters listed in `settings.unidentifiable` must keep (about) their prior spread.
pub fn synthetic_recovery_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let settings = &ctx.spec.settings;
    let program = settings
        .get("program")
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid(ctx, "program", "expected the name of a CSV of model inputs"))?;
    let table = DataTable::read(&ctx.dir.join(program).display().to_string(), Policy::Strict)?;
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
    let unidentifiable: HashSet<String> = settings
        .get("unidentifiable")
        .and_then(|v| v.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
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
    let seed = ctx.setting("seed", 7.0)? as u64;
    let options = SimulateOptions {
        inputs: Some(InputSeries::from_table(&model, &table)),
        sets: truth.clone(),
        seed,
        ..Default::default()
    };
    let run = Run::simulated(&model, &options)?;
    let report = calibrate(
        &model,
        &[run],
        &CalibrateOptions {
            method,
            seed,
            members: ctx.setting("members", CalibrateOptions::default().members as f64)? as usize,
            ..Default::default()
        },
        |_| Ok(()),
        |_| {},
    )?;
    let mut metrics = Vec::new();
    for (path, value) in &truth {
        let p = report.parameters.get(path).ok_or_else(|| {
            invalid(
                ctx,
                &format!("truth.{path}"),
                "not a declared [[parameter]] of the model",
            )
        })?;
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
