//! The outlook of a calibration: wear, damage and remaining useful life from the posterior.
//!
//! After a filter, the posterior samples are its members with their weights (a particle
//! filter's hold what a Gaussian cannot, such as the one-sided information "no spall yet"
//! about a bearing's spall onset). Each sample becomes a twin that replays the last run from
//! the model's initial state, so that its wear and damage follow from its own parameters and
//! the recorded operating conditions, and then goes on past the last data point with the last
//! operating conditions held.
//!
//! After a batch calibration, whose posterior is the Laplace approximation about the mode,
//! wear and damage at the last data point are propagated the same way as the parameters'
//! intervals: linearly, through the derivatives the final Jacobian's simulations already give
//! (mean at the mode, variance `gᵀ C g`; bands at ±1.645 σ, floored at zero). Times to events
//! are threshold crossings, far from linear in the parameters, so where the model declares
//! events they come from draws of the Gaussian (truncated to the bounds), replayed and
//! forecast as a filter's members are.

use std::sync::Arc;

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::run::Run;
use super::{CalibrateOptions, CalibrationReport};
use crate::error::Result;
use crate::model::Model;
use crate::prognosis::{Band, apply_fleet_survival, crossed, draw_gaussian, forecast};
use crate::stats::Z90;
use crate::twin::Twin;

/// Output points of the forecast over the horizon (the resolution of event times).
pub(crate) const OUTPUTS: f64 = 400.0;

/// The posterior an outlook starts from.
pub(crate) enum Posterior {
    /// A filter's members (parameter vectors) and their weights.
    Samples(Vec<Vec<f64>>, Vec<f64>),
    /// A batch calibration's mode: the last run's `outputs` there (wear of every element, then
    /// damage of every section), their `jacobian` by the parameters, and the parameters'
    /// `covariance`.
    Linear {
        outputs: Vec<f64>,
        jacobian: DMatrix<f64>,
        covariance: DMatrix<f64>,
    },
}

/// The band of a quantity with mean `m` and variance `var`, taken as Gaussian and floored at
/// zero (wear and damage are not negative).
fn gaussian_band(m: f64, var: f64) -> Band {
    let sd = var.max(0.0).sqrt();
    Band {
        p05: (m - Z90 * sd).max(0.0),
        p50: m,
        p95: m + Z90 * sd,
    }
}

/// Replays `run` on one twin per sample, in parallel.
fn replay(model: &Arc<Model>, run: &Run, samples: &[Vec<f64>], seed: u64) -> Result<Vec<Twin>> {
    samples
        .par_iter()
        .enumerate()
        .map(|(i, theta)| {
            let mut twin = Twin::with_theta(model, theta, seed.wrapping_add(i as u64))?;
            for &t in &run.times {
                twin.drive_to(&run.inputs, t)?;
            }
            Ok(twin)
        })
        .collect()
}

/// Weighted band of one quantity over twins.
pub(crate) fn band_of(twins: &[Twin], weights: &[f64], value: impl Fn(&Twin) -> f64) -> Band {
    let v: Vec<(Option<f64>, f64)> = twins
        .iter()
        .zip(weights)
        .map(|(t, w)| (Some(value(t)), *w))
        .collect();
    crate::prognosis::band(&v)
}

/// The members consistent with the data's end: where the last measurement of an event's sensor
/// is short of the threshold by more than two noise standard deviations, the machine had not
/// reached the event, and members past it at the end of the data contradict that; they are
/// left out (the others' weights renormalised). If every member is past it, all are kept and
/// the returned note says that the calibrated model does not fit the data's end.
fn survivors(
    model: &Model,
    run: &Run,
    members: Vec<(Twin, f64)>,
) -> (Vec<(Twin, f64)>, Option<String>) {
    let short: Vec<(usize, f64)> = model
        .events
        .iter()
        .enumerate()
        .filter_map(|(e, ev)| {
            let last = run.z.iter().rev().find_map(|z| z[ev.sensor])?;
            let sigma = model.sensors[ev.sensor].noise_std;
            let margin = if ev.rising { 2.0 * sigma } else { -2.0 * sigma };
            (!crossed(model, e, last + margin)).then_some((e, last))
        })
        .collect();
    let past = |t: &Twin| {
        short
            .iter()
            .any(|&(e, _)| crossed(model, e, t.predict(model.events[e].sensor)))
    };
    let kept: f64 = members
        .iter()
        .filter(|(t, _)| !past(t))
        .map(|(_, w)| w)
        .sum();
    if short.is_empty() || kept >= 1.0 - 1e-12 {
        return (members, None);
    }
    if kept <= 0.0 {
        let (e, last) = short[0];
        let ev = &model.events[e];
        let note = format!(
            "every posterior member is past the `{}` threshold ({}) at the end of the data, where the last measurement of `{}` is {last:.4}, short of it: the calibrated model does not fit the data's end; the times are the members' own",
            ev.name, ev.threshold, model.sensors[ev.sensor].name
        );
        return (members, Some(note));
    }
    let kept_members = members
        .into_iter()
        .filter(|(t, _)| !past(t))
        .map(|(t, w)| (t, w / kept))
        .collect();
    (kept_members, None)
}

/// Adds `wear`, `damage` and `rul` to `report` from the `posterior` (see the module doc).
pub(crate) fn attach(
    report: &mut CalibrationReport,
    model: &Arc<Model>,
    runs: &[Run],
    posterior: Posterior,
    options: &CalibrateOptions,
) -> Result<()> {
    let Some(run) = runs.last() else {
        return Ok(());
    };
    let wear_names = model.wear.iter().map(|w| w.name.clone());
    let section_names = model.sections.iter().map(|x| x.name.clone());
    let (weights, twins) = match posterior {
        Posterior::Linear {
            outputs,
            jacobian,
            covariance,
        } => {
            let bands: Vec<Band> = (0..outputs.len())
                .map(|i| {
                    let g = jacobian.row(i);
                    gaussian_band(outputs[i], (g * &covariance * g.transpose())[(0, 0)])
                })
                .collect();
            let (wear, damage) = bands.split_at(model.wear.len());
            report.wear = wear_names.zip(wear.iter().cloned()).collect();
            report.damage = section_names.zip(damage.iter().cloned()).collect();
            if model.events.is_empty() {
                return Ok(());
            }
            let mean: Vec<f64> = report.parameters.values().map(|p| p.mean).collect();
            let std: Vec<f64> = report.parameters.values().map(|p| p.std).collect();
            let n = options.members.max(2);
            let draws = draw_gaussian(model, &mean, &std, &report.correlation, n, options.seed);
            let twins = replay(model, run, &draws, options.seed)?;
            (vec![1.0 / n as f64; n], twins)
        }
        Posterior::Samples(samples, weights) => {
            let twins = replay(model, run, &samples, options.seed)?;
            report.wear = wear_names
                .enumerate()
                .map(|(e, name)| (name, band_of(&twins, &weights, |t| t.wear(e))))
                .collect();
            report.damage = section_names
                .enumerate()
                .map(|(s, name)| (name, band_of(&twins, &weights, |t| t.damage(s))))
                .collect();
            (weights, twins)
        }
    };
    if model.events.is_empty() {
        return Ok(());
    }
    let horizon = options
        .horizon
        .unwrap_or(10.0 * run.end_time())
        .max(model.dt_mech);
    let members: Vec<(Twin, f64)> = twins.into_iter().zip(weights).collect();
    let (members, misfit) = survivors(model, run, members);
    let mut outlook = forecast(members, None, horizon, horizon / OUTPUTS, options.rul_loss)?;
    if let Some(note) = misfit {
        outlook
            .rul
            .values_mut()
            .for_each(|r| r.basis = Some(note.clone()));
    }
    if let Some(lives) = &options.fleet_lives {
        apply_fleet_survival(&mut outlook, model, lives, options.rul_loss);
    }
    report.rul = outlook.rul;
    Ok(())
}
