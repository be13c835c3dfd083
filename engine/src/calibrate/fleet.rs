//! Fleets of units: parameters declared `per_unit` differ from one unit (tool, bearing,
//! machine) to the next; the others are constants of the population. Calibrating several runs
//! then estimates the constants, each unit's values and the population the units come from,
//! and a new unit starts from the predictive distribution of a new unit: what a unit of this
//! fleet has been like, rather than the uncertainty of the fleet's average.
//!
//! A two-stage (empirical Bayes) hierarchical estimate: first every run together with every
//! parameter shared (the population constants and the units' typical values); then each run
//! on its own with the constants held at the joint estimate and its per-unit parameters free
//! about the joint estimate, within their prior spread. A per-unit parameter's population mean
//! is the mean of the units' estimates; its between-unit spread their scatter net of their own
//! estimation uncertainty; the predictive distribution of a new unit is the units' mixture,
//! widened to the scatter by (1 + 1/R) for R units. Constants keep the joint estimate.

use std::sync::Arc;

use indexmap::IndexMap;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use super::report::{CalibrationReport, ParameterSummary, ResidualSummary, TraceRecord};
use super::run::Run;
use super::{CalibrateOptions, Checkpoint, calibrate_pooled};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::prognosis::{FleetLives, UnitLife};
use crate::stats::{Z90, mixture_moments};
use crate::twin::Twin;

/// One unit's estimate of a per-unit parameter (the parameter's unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitEstimate {
    /// The unit's run (its data file).
    pub run: String,
    /// Posterior mean.
    pub mean: f64,
    /// Posterior standard deviation.
    pub std: f64,
}

/// The population a per-unit parameter's values come from (the parameter's unit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// Population mean: the mean of the units' estimates.
    pub mean: f64,
    /// Standard error of the population mean.
    pub mean_std: f64,
    /// Spread from unit to unit (standard deviation), net of the units' own estimation
    /// uncertainty (0 where the units' estimates scatter less than their uncertainty).
    pub between_unit_std: f64,
    /// Each unit's estimate.
    pub units: Vec<UnitEstimate>,
}

impl Population {
    /// The population of `units` (at least one).
    pub fn of(units: Vec<UnitEstimate>) -> Self {
        let n = units.len().max(1) as f64;
        let mean = units.iter().map(|u| u.mean).sum::<f64>() / n;
        let scatter = if units.len() > 1 {
            units.iter().map(|u| (u.mean - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        let own = units.iter().map(|u| u.std * u.std).sum::<f64>() / n;
        Self {
            mean,
            mean_std: (scatter.max(own) / n).sqrt(),
            between_unit_std: (scatter - own).max(0.0).sqrt(),
            units,
        }
    }

    /// The predictive distribution of a new unit as mixture components (mean, std): each
    /// unit's estimate, widened by a common kernel so that the mixture's variance is that of
    /// [`Population::predictive`] (a smoothed bootstrap of the units).
    pub fn components(&self) -> Vec<(f64, f64)> {
        let own: Vec<(f64, f64)> = self.units.iter().map(|u| (u.mean, u.std)).collect();
        let (_, mixture_std) = mixture_moments(&own);
        let (_, target) = self.predictive();
        let kernel = (target * target - mixture_std * mixture_std).max(0.0);
        own.iter()
            .map(|(m, s)| (*m, (s * s + kernel).sqrt()))
            .collect()
    }

    /// Mean and standard deviation of the predictive distribution of a new unit: a new unit
    /// differs from the population mean by the spread between units and the mean's own
    /// uncertainty, var = (τ² + σ̄²)(1 + 1/R) for R units with scatter τ² + σ̄² (the units'
    /// sample variance, at least their mean own variance σ̄²).
    pub fn predictive(&self) -> (f64, f64) {
        let r = self.units.len().max(1) as f64;
        let scatter = self.between_unit_std.powi(2)
            + self.units.iter().map(|u| u.std * u.std).sum::<f64>() / r;
        (self.mean, (scatter * (1.0 + 1.0 / r)).sqrt())
    }
}

/// A unit's estimate counts in its parameter's population when its standard deviation is
/// below this fraction of the prior's.
const INFORMED: f64 = 0.5;

/// Pools a fleet: per-unit parameters as the predictive distribution of a new unit from the
/// `units`' reports (one per unit, in order; those whose data inform the parameter), with their
/// [`Population`]; the constants, and per-unit parameters no unit informs, as the `joint`
/// calibration estimated them. Returns the parameter summaries (declaration order) and
/// the populations by path.
pub fn pool(
    model: &Model,
    joint: &CalibrationReport,
    units: &[CalibrationReport],
    prior: &[(f64, f64)],
) -> (Vec<ParameterSummary>, IndexMap<String, Population>) {
    let mut summaries = Vec::new();
    let mut populations = IndexMap::new();
    for (j, p) in model.parameters.iter().enumerate() {
        if !p.per_unit {
            summaries.push(joint.parameters[&p.path].clone());
            continue;
        }
        // Units whose data say something of the parameter (a tool that cut one material says
        // nothing of its rate in another): their posterior is narrower than half the prior's.
        let estimates: Vec<UnitEstimate> = units
            .iter()
            .map(|u| (u, &u.parameters[&p.path]))
            .filter(|(_, s)| s.std < INFORMED * prior[j].1)
            .map(|(u, s)| UnitEstimate {
                run: u.runs.first().cloned().unwrap_or_default(),
                mean: s.mean,
                std: s.std,
            })
            .collect();
        if estimates.is_empty() {
            summaries.push(joint.parameters[&p.path].clone());
            continue;
        }
        let population = Population::of(estimates);
        let (_, std) = population.predictive();
        let mean = joint.parameters[&p.path].mean;
        populations.insert(p.path.clone(), population);
        summaries.push(ParameterSummary {
            mean,
            std,
            p05: (mean - Z90 * std).clamp(p.lower, p.upper),
            p50: mean,
            p95: (mean + Z90 * std).clamp(p.lower, p.upper),
            prior_mean: prior[j].0,
            prior_std: prior[j].1,
        });
    }
    (summaries, populations)
}

/// A population constant's prior standard deviation for a unit's own calibration: 10⁻⁶ of its
/// fleet estimate's, so that one unit's data do not move what the fleet estimated.
fn held(std: f64) -> f64 {
    (std * 1e-6).max(1e-300)
}

/// The prior a unit is calibrated from in the second stage: its per-unit parameters about the
/// joint estimate with the fleet prior's spread, the constants held at the joint estimate.
fn unit_prior(model: &Model, joint: &CalibrationReport, prior: &[(f64, f64)]) -> Vec<(f64, f64)> {
    model
        .parameters
        .iter()
        .zip(prior)
        .map(|(p, &(_, spread))| {
            let s = &joint.parameters[&p.path];
            if p.per_unit {
                (s.mean, spread)
            } else {
                (s.mean, held(s.std))
            }
        })
        .collect()
}

/// The prior of a new unit of a fleet (calibrated as the fleet's units were in the second
/// stage): from a fleet report's parameter moments (`parameters`, mean and std per declared
/// parameter), the per-unit parameters with a population (`populated`) at the predictive
/// distribution of a new unit, the rest held at the fleet's estimate.
pub fn new_unit_prior(parameters: &[(f64, f64)], populated: &[bool]) -> Vec<(f64, f64)> {
    parameters
        .iter()
        .zip(populated)
        .map(|(&(mean, std), &own)| if own { (mean, std) } else { (mean, held(std)) })
        .collect()
}

/// Calibrates a fleet in two stages (see the module doc) with `options`, from `prior`. Trace
/// records carry their run's index; checkpoints hold the joint stage's state or result, the
/// reports of the units done and the state of the one in progress. The report's residuals are
/// the units' (each run with its own values), its outlook (wear, damage, RUL) that of the last
/// run.
pub(super) fn calibrate_fleet(
    model: &Arc<Model>,
    runs: &[Run],
    options: &CalibrateOptions,
    prior: &[(f64, f64)],
    trace: &mut dyn FnMut(&TraceRecord) -> Result<()>,
    progress: &mut dyn FnMut(f64),
    save: &mut dyn FnMut(&Checkpoint) -> Result<()>,
) -> Result<CalibrationReport> {
    let sources: Vec<String> = runs.iter().map(|r| r.source.clone()).collect();
    let resumed = options.resume.as_ref();
    // Stage 1: every run, every parameter shared.
    let joint = match resumed.and_then(|c| c.joint.clone()) {
        Some(joint) => *joint,
        None => {
            let joint = calibrate_pooled(
                model,
                runs,
                options,
                prior,
                trace,
                &mut |f| progress(0.5 * f),
                save,
            )?;
            let mut cp = Checkpoint::new(model, options, &sources, prior, (0, 0), None, None);
            cp.joint = Some(Box::new(joint.clone()));
            save(&cp)?;
            joint
        }
    };
    // Stage 2: each unit on its own about the joint estimate.
    let unit_prior = unit_prior(model, &joint, prior);
    let mut done: Vec<CalibrationReport> = resumed
        .filter(|c| c.joint.is_some())
        .map(|c| c.units.clone())
        .unwrap_or_default();
    let first = done.len();
    for (r, run) in runs.iter().enumerate().skip(first) {
        // The unit in progress when the checkpoint was written continues from its own state.
        let resume = resumed
            .filter(|c| {
                c.joint.is_some()
                    && r == first
                    && c.position.0 == r
                    && (c.filter.is_some() || c.batch.is_some())
            })
            .map(|c| Checkpoint {
                runs: vec![run.source.clone()],
                position: (0, c.position.1),
                units: Vec::new(),
                joint: None,
                ..c.clone()
            });
        let unit_options = CalibrateOptions {
            resume,
            prior: Some(unit_prior.clone()),
            prior_units: None,
            run_to_failure: None,
            ..options.clone()
        };
        let finished = &done;
        let joint_box = Some(Box::new(joint.clone()));
        let report = calibrate_pooled(
            model,
            std::slice::from_ref(run),
            &unit_options,
            &unit_prior,
            &mut |rec| {
                trace(&TraceRecord {
                    run: r,
                    ..rec.clone()
                })
            },
            &mut |f| progress(0.5 + 0.5 * (r as f64 + f) / runs.len() as f64),
            &mut |cp| {
                save(&Checkpoint {
                    runs: sources.clone(),
                    position: (r, cp.position.1),
                    units: finished.clone(),
                    joint: joint_box.clone(),
                    ..cp.clone()
                })
            },
        )?;
        done.push(report);
        let mut cp = Checkpoint::new(model, options, &sources, prior, (r + 1, 0), None, None);
        cp.units = done.clone();
        cp.joint = Some(Box::new(joint.clone()));
        save(&cp)?;
    }
    Ok(fleet_report(model, options, &sources, prior, &joint, done))
}

/// The report of a fleet from its joint calibration and its units' reports.
fn fleet_report(
    model: &Model,
    options: &CalibrateOptions,
    sources: &[String],
    prior: &[(f64, f64)],
    joint: &CalibrationReport,
    units: Vec<CalibrationReport>,
) -> CalibrationReport {
    let (summaries, population) = pool(model, joint, &units, prior);
    let mut residual_rmse: IndexMap<String, ResidualSummary> = IndexMap::new();
    for u in &units {
        for (sensor, r) in &u.residual_rmse {
            let e = residual_rmse
                .entry(sensor.clone())
                .or_insert(ResidualSummary {
                    unit: r.unit.clone(),
                    samples: 0,
                    before: 0.0,
                    after: 0.0,
                });
            // Accumulate sums of squares; divided below.
            e.before += r.before * r.before * r.samples as f64;
            e.after += r.after * r.after * r.samples as f64;
            e.samples += r.samples;
        }
    }
    // "Before" is the prior's fit: the joint stage's.
    for (sensor, r) in residual_rmse.iter_mut() {
        if let Some(j) = joint.residual_rmse.get(sensor) {
            r.before = j.before * j.before * r.samples as f64;
        }
    }
    for r in residual_rmse.values_mut() {
        let n = r.samples.max(1) as f64;
        r.before = (r.before / n).sqrt();
        r.after = (r.after / n).sqrt();
    }
    let last = units.last().cloned();
    CalibrationReport {
        model: model.name.clone(),
        method: options.method.name().to_string(),
        members: joint.members,
        runs: sources.to_vec(),
        correlation: fleet_correlation(model, joint, &units),
        parameters: model
            .parameters
            .iter()
            .map(|p| p.path.clone())
            .zip(summaries)
            .collect(),
        population,
        residual_rmse,
        data_quality: joint.data_quality.clone(),
        // Seconds of data, as for one run: the two stages read the same data.
        sim_seconds: joint.sim_seconds,
        wall_seconds: 0.0,
        real_time_factor: 0.0,
        iterations: std::iter::once(joint.iterations)
            .chain(units.iter().map(|u| u.iterations))
            .sum::<Option<usize>>(),
        converged: std::iter::once(joint.converged)
            .chain(units.iter().map(|u| u.converged))
            .collect::<Option<Vec<bool>>>()
            .map(|c| c.iter().all(|x| *x)),
        lives: IndexMap::new(),
        wear: last.as_ref().map(|u| u.wear.clone()).unwrap_or_default(),
        damage: last.as_ref().map(|u| u.damage.clone()).unwrap_or_default(),
        rul: last.map(|u| u.rul).unwrap_or_default(),
        warnings: std::iter::once(&joint.warnings)
            .chain(units.iter().map(|u| &u.warnings))
            .flatten()
            .cloned()
            .collect(),
    }
}

/// The correlation of a new unit's parameters: between per-unit parameters, that of the
/// units' mixture (the mean of their covariances plus the covariance of their means); between
/// constants, the joint calibration's; none between the two kinds (a new unit's deviation
/// from the population does not depend on the estimate of the constants).
fn fleet_correlation(
    model: &Model,
    joint: &CalibrationReport,
    units: &[CalibrationReport],
) -> Vec<Vec<f64>> {
    let mixture = mixture_correlation(units);
    let p = model.parameters.len();
    (0..p)
        .map(|a| {
            (0..p)
                .map(|b| {
                    let (ua, ub) = (model.parameters[a].per_unit, model.parameters[b].per_unit);
                    let pick = |m: &Vec<Vec<f64>>| m.get(a).and_then(|r| r.get(b)).copied();
                    match (ua, ub) {
                        _ if a == b => 1.0,
                        (true, true) => pick(&mixture).unwrap_or(0.0),
                        (false, false) => pick(&joint.correlation).unwrap_or(0.0),
                        _ => 0.0,
                    }
                })
                .collect()
        })
        .collect()
}

/// Each of `runs` units' parameter values from `report`: a fleet report's unit estimates of
/// its per-unit parameters, the posterior means otherwise.
pub(super) fn unit_thetas(
    model: &Model,
    report: &CalibrationReport,
    runs: &[Run],
) -> Vec<Vec<f64>> {
    runs.iter()
        .map(|run| {
            model
                .parameters
                .iter()
                .map(|p| {
                    let population = report.population.get(&p.path);
                    let unit =
                        population.and_then(|u| u.units.iter().find(|e| e.run == run.source));
                    unit.map_or(report.parameters[&p.path].mean, |u| u.mean)
                })
                .collect()
        })
        .collect()
}

/// The lives of the units of `runs` (run to failure: each record ended at `event`): each
/// unit's age at the end of its record in the event's life measure, the model (with the unit's
/// parameters `thetas[r]`) replayed over the run's inputs.
pub fn lives_of(
    model: &Arc<Model>,
    runs: &[Run],
    thetas: &[Vec<f64>],
    event: &str,
) -> Result<FleetLives> {
    let ev = model
        .events
        .iter()
        .find(|e| e.name == event)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--run-to-failure: model `{}` declares no event `{event}`",
                model.name
            ))
        })?;
    let (measure, unit) = match ev.life {
        Some(e) => (
            format!("wear.{}", model.wear[e].name),
            model.wear[e].unit().to_string(),
        ),
        None => ("time".to_string(), "s".to_string()),
    };
    let units = runs
        .par_iter()
        .zip(thetas)
        .map(|(run, theta)| {
            let mut twin = Twin::with_theta(model, theta, 0)?;
            for &t in &run.times {
                twin.drive_to(&run.inputs, t)?;
            }
            Ok(UnitLife {
                run: run.source.clone(),
                age: ev.life.map_or(twin.time(), |e| twin.wear(e)),
                failed: true,
            })
        })
        .collect::<Result<_>>()?;
    Ok(FleetLives {
        measure,
        unit,
        uncertainty: ev.life_uncertainty,
        units,
    })
}

/// The correlation of the units' mixture: the mean of the units' covariances plus the
/// covariance of their means.
fn mixture_correlation(units: &[CalibrationReport]) -> Vec<Vec<f64>> {
    let Some(first) = units.first() else {
        return Vec::new();
    };
    let p = first.parameters.len();
    let n = units.len() as f64;
    let mean_of =
        |u: &CalibrationReport| DVector::from_iterator(p, u.parameters.values().map(|s| s.mean));
    let centre: DVector<f64> = units.iter().map(mean_of).sum::<DVector<f64>>() / n;
    let mut c = DMatrix::zeros(p, p);
    for u in units {
        let std: Vec<f64> = u.parameters.values().map(|s| s.std).collect();
        let d = mean_of(u) - &centre;
        for a in 0..p {
            for b in 0..p {
                let r = u.correlation.get(a).and_then(|row| row.get(b)).copied();
                let r = r.unwrap_or(if a == b { 1.0 } else { 0.0 });
                c[(a, b)] += (r * std[a] * std[b] + d[a] * d[b]) / n;
            }
        }
    }
    crate::stats::correlation(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(mean: f64, std: f64) -> UnitEstimate {
        UnitEstimate {
            run: String::new(),
            mean,
            std,
        }
    }

    #[test]
    fn the_spread_between_units_is_their_scatter_net_of_their_own_uncertainty() {
        // Means 1, 2, 3 (sample variance 1), each known to 0.6 (variance 0.36).
        let p = Population::of(vec![unit(1.0, 0.6), unit(2.0, 0.6), unit(3.0, 0.6)]);
        assert_eq!(p.mean, 2.0);
        assert!((p.between_unit_std - 0.64f64.sqrt()).abs() < 1e-12);
        assert!((p.mean_std - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // Sample variance 1 (0.64 between units + 0.36 own), widened by 4/3 for the mean's
        // uncertainty; the mixture components are widened to the same variance.
        let (m, s) = p.predictive();
        assert_eq!(m, 2.0);
        assert!((s * s - 4.0 / 3.0).abs() < 1e-12);
        let (mm, ms) = mixture_moments(&p.components());
        assert!((mm - 2.0).abs() < 1e-12 && (ms - s).abs() < 1e-12);
    }
}
