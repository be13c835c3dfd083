//! The outlook of a calibration: wear, damage and remaining useful life from the posterior.
//!
//! The posterior samples are a filter's members with their weights (a particle filter's hold
//! what a Gaussian cannot, such as the one-sided information "no spall yet" about a bearing's
//! spall onset), or, after a batch calibration, draws from the reported Gaussian (means,
//! standard deviations, correlation; truncated to the bounds). Each sample becomes a twin that
//! replays the last run from the model's initial state, so that its wear and damage follow from
//! its own parameters and the recorded operating conditions, and then goes on past the last
//! data point with the last operating conditions held.

use std::sync::Arc;

use rayon::prelude::*;

use super::run::{Run, drive_to, twin_with};
use super::{CalibrateOptions, CalibrationReport};
use crate::error::Result;
use crate::model::Model;
use crate::prognosis::{Band, draw_gaussian, forecast};
use crate::twin::Twin;

/// Output points of the forecast over the horizon (the resolution of event times).
const OUTPUTS: f64 = 400.0;

/// Replays `run` on one twin per sample, in parallel.
fn replay(model: &Arc<Model>, run: &Run, samples: &[Vec<f64>], seed: u64) -> Result<Vec<Twin>> {
    samples
        .par_iter()
        .enumerate()
        .map(|(i, theta)| {
            let mut twin = twin_with(model, theta, seed.wrapping_add(i as u64))?;
            let mut buf = Vec::new();
            for &t in &run.times {
                drive_to(&mut twin, &run.inputs, t, &mut buf)?;
            }
            Ok(twin)
        })
        .collect()
}

/// Weighted band of one quantity over twins.
fn band_of(twins: &[Twin], weights: &[f64], value: impl Fn(&Twin) -> f64) -> Band {
    let v: Vec<(Option<f64>, f64)> = twins
        .iter()
        .zip(weights)
        .map(|(t, w)| (Some(value(t)), *w))
        .collect();
    crate::prognosis::band(&v)
}

/// Adds `wear`, `damage` and `rul` to `report` from the posterior: a filter's weighted
/// `samples`, or draws from the report's Gaussian (see the module doc).
pub(crate) fn attach(
    report: &mut CalibrationReport,
    model: &Arc<Model>,
    runs: &[Run],
    samples: Option<(Vec<Vec<f64>>, Vec<f64>)>,
    options: &CalibrateOptions,
) -> Result<()> {
    let Some(run) = runs.last() else {
        return Ok(());
    };
    let (samples, weights) = samples.unwrap_or_else(|| {
        let mean: Vec<f64> = report.parameters.values().map(|p| p.mean).collect();
        let std: Vec<f64> = report.parameters.values().map(|p| p.std).collect();
        let n = options.members.max(2);
        let draws = draw_gaussian(model, &mean, &std, &report.correlation, n, options.seed);
        (draws, vec![1.0 / n as f64; n])
    });
    let twins = replay(model, run, &samples, options.seed)?;
    let weights = &weights;
    report.wear = model
        .wear
        .iter()
        .enumerate()
        .map(|(e, w)| (w.name.clone(), band_of(&twins, weights, |t| t.wear(e))))
        .collect();
    report.damage = model
        .sections
        .iter()
        .enumerate()
        .map(|(s, x)| (x.name.clone(), band_of(&twins, weights, |t| t.damage(s))))
        .collect();
    if model.events.is_empty() {
        return Ok(());
    }
    let horizon = options
        .horizon
        .unwrap_or(10.0 * run.end_time())
        .max(model.dt_mech);
    let members: Vec<(Twin, f64)> = twins.into_iter().zip(weights.iter().copied()).collect();
    let outlook = forecast(members, None, horizon, horizon / OUTPUTS)?;
    report.rul = outlook.rul;
    Ok(())
}
