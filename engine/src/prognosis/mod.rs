//! Prognosis: an ensemble of calibrated twins propagated forward under an assumed operating
//! schedule, giving bands (p05, p50, p95) of every sensor and wear element over time and the
//! distribution of the time to each event the model declares (remaining useful life).
//!
//! Members step through the schedule with [`Twin::advance_to`], so models that enable
//! `[solver.cycle_averaged]` cover long horizons with the slow integrator.

use std::sync::Arc;

use indexmap::IndexMap;
use rayon::prelude::*;
use serde::Serialize;

use crate::data::InputSeries;
use crate::error::Result;
use crate::model::Model;
use crate::stats::{TruncatedGaussian, weighted_quantile};

mod rul;
mod survival;

use crate::twin::Twin;
pub use rul::{RulLoss, RulSummary, phm2012_score};
pub use survival::{FleetLives, UnitLife, apply_fleet_survival};

/// Quantiles p05, p50, p95 of a quantity, in its unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Band {
    /// 5th percentile.
    pub p05: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// A forecast of an ensemble.
#[derive(Debug, Clone, Serialize)]
pub struct Prognosis {
    /// Output times, s from the start of the forecast.
    pub times: Vec<f64>,
    /// Per sensor: its noise-free prediction's band at each output time.
    pub sensors: IndexMap<String, Vec<Band>>,
    /// Per wear element: its reported quantity's band at each output time.
    pub wear: IndexMap<String, Vec<Band>>,
    /// Per stress section: Miner damage band at each output time.
    pub damage: IndexMap<String, Vec<Band>>,
    /// Per event: time to event.
    pub rul: IndexMap<String, RulSummary>,
    /// Members (after resampling).
    pub members: usize,
    /// Per event: the members' age at the start (weighted median of the event's life measure:
    /// its wear element's state, or the twin's time in s).
    pub start_age: Vec<f64>,
}

/// What one member went through.
struct Track {
    /// Per output time: sensors, then wear elements, then sections.
    values: Vec<Vec<f64>>,
    /// Per event: time from the start, if reached.
    events: Vec<Option<f64>>,
}

fn snapshot(twin: &Twin) -> Vec<f64> {
    let m = twin.model();
    (0..m.sensors.len())
        .map(|s| twin.predict(s))
        .chain((0..m.wear.len()).map(|e| twin.wear(e)))
        .chain((0..m.sections.len()).map(|s| twin.damage(s)))
        .collect()
}

fn crossed(model: &Model, e: usize, value: f64) -> bool {
    let ev = &model.events[e];
    if ev.rising {
        value > ev.threshold
    } else {
        value < ev.threshold
    }
}

/// Runs one member from its current time `t0` over `times` (s after `t0`), with the inputs
/// of `schedule` (times relative to `t0`; held beyond its ends; each output interval at the
/// schedule's value in its middle) or, where it does not drive an input, the member's own
/// values. Event times are interpolated between outputs.
fn run_member(mut twin: Twin, schedule: Option<&InputSeries>, times: &[f64]) -> Result<Track> {
    let model = Arc::clone(twin.model());
    let t0 = twin.time();
    let ne = model.events.len();
    let mut events: Vec<Option<f64>> = vec![None; ne];
    let mut values = Vec::with_capacity(times.len());
    let mut last = snapshot(&twin);
    for (e, ev) in model.events.iter().enumerate() {
        if crossed(&model, e, last[ev.sensor]) {
            events[e] = Some(0.0);
        }
    }
    let mut prev_t = 0.0;
    let mut buf = twin.inputs().to_vec();
    for &t in times {
        if t > prev_t {
            if let Some(s) = schedule {
                s.values_at(0.5 * (prev_t + t), &mut buf);
                for (i, v) in buf.iter().enumerate() {
                    twin.set_input(i, *v);
                }
            }
            twin.advance_to(t0 + t)?;
        }
        let now = snapshot(&twin);
        for (e, ev) in model.events.iter().enumerate() {
            let (a, b) = (last[ev.sensor], now[ev.sensor]);
            if events[e].is_none() && crossed(&model, e, b) {
                let frac = if b != a {
                    ((ev.threshold - a) / (b - a)).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                events[e] = Some(prev_t + frac * (t - prev_t));
            }
        }
        values.push(now.clone());
        last = now;
        prev_t = t;
    }
    Ok(Track { values, events })
}

/// Weighted p05, p50 and p95 of `x` (see [`weighted_quantile`]; NaN for a quantile beyond
/// every value).
pub(crate) fn band(x: &[(Option<f64>, f64)]) -> Band {
    let get = |q| weighted_quantile(x, q).unwrap_or(f64::NAN);
    Band {
        p05: get(0.05),
        p50: get(0.5),
        p95: get(0.95),
    }
}

/// Forecasts `members` (twins with weights summing to 1) over `horizon` s with outputs every
/// `every` s, under `schedule` (see `run_member`); members step in parallel.
pub fn forecast(
    members: Vec<(Twin, f64)>,
    schedule: Option<&InputSeries>,
    horizon: f64,
    every: f64,
    loss: Option<RulLoss>,
) -> Result<Prognosis> {
    let Some(model) = members.first().map(|(t, _)| Arc::clone(t.model())) else {
        return Err(crate::Error::Usage(
            "a forecast needs at least one member".into(),
        ));
    };
    let steps = (horizon / every).ceil().max(1.0) as usize;
    let times: Vec<f64> = (1..=steps)
        .map(|k| (k as f64 * every).min(horizon))
        .collect();
    let weights: Vec<f64> = members.iter().map(|(_, w)| *w).collect();
    let start_age = model
        .events
        .iter()
        .map(|ev| {
            let ages: Vec<(f64, f64)> = members
                .iter()
                .map(|(t, w)| (ev.life.map_or(t.time(), |e| t.wear(e)), *w))
                .collect();
            survival::weighted_median(&ages)
        })
        .collect();
    let tracks: Vec<Track> = members
        .into_par_iter()
        .map(|(twin, _)| run_member(twin, schedule, &times))
        .collect::<Result<_>>()?;
    let column = |k: usize, i: usize| -> Vec<(Option<f64>, f64)> {
        tracks
            .iter()
            .zip(&weights)
            .map(|(tr, w)| (Some(tr.values[k][i]), *w))
            .collect()
    };
    let bands = |i: usize| -> Vec<Band> { (0..times.len()).map(|k| band(&column(k, i))).collect() };
    let (ns, nw) = (model.sensors.len(), model.wear.len());
    let rul = model
        .events
        .iter()
        .enumerate()
        .map(|(e, ev)| {
            let x: Vec<(Option<f64>, f64)> = tracks
                .iter()
                .zip(&weights)
                .map(|(t, w)| (t.events[e], *w))
                .collect();
            (ev.name.clone(), RulSummary::of(&x, horizon, loss))
        })
        .collect();
    Ok(Prognosis {
        sensors: model
            .sensors
            .iter()
            .enumerate()
            .map(|(s, x)| (x.name.clone(), bands(s)))
            .collect(),
        wear: model
            .wear
            .iter()
            .enumerate()
            .map(|(e, x)| (x.name.clone(), bands(ns + e)))
            .collect(),
        damage: model
            .sections
            .iter()
            .enumerate()
            .map(|(s, x)| (x.name.clone(), bands(ns + nw + s)))
            .collect(),
        rul,
        members: tracks.len(),
        times,
        start_age,
    })
}

/// Draws `n` parameter vectors from a Gaussian with the given means, standard deviations and
/// correlation (independent when `correlation` is empty), truncated to the model's bounds by
/// rejection (see [`TruncatedGaussian`]). Seeded.
pub fn draw_gaussian(
    model: &Model,
    mean: &[f64],
    std: &[f64],
    correlation: &[Vec<f64>],
    n: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    TruncatedGaussian::correlated(mean, std, correlation, model.parameter_bounds()).draws(n, seed)
}

/// Whether `model` has anything a prognosis reports (wear, sections or events).
pub fn has_prognosis(model: &Model) -> bool {
    !(model.wear.is_empty() && model.sections.is_empty() && model.events.is_empty())
}
