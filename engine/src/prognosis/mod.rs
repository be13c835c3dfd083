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

/// Whether `value` of event `e`'s sensor is past its threshold.
pub(crate) fn crossed(model: &Model, e: usize, value: f64) -> bool {
    let ev = &model.events[e];
    if ev.rising {
        value > ev.threshold
    } else {
        value < ev.threshold
    }
}

/// The output intervals a member integrates together: consecutive intervals (by the index of
/// their last output) merged while the schedule holds the same inputs over them, until the
/// merged interval is longer than the slow integrator's `after` (so that the slow integrator
/// bridges it, however short the output interval). Without a slow integrator every interval
/// is integrated on its own.
fn integration_ends(
    model: &Model,
    schedule: Option<&InputSeries>,
    times: &[f64],
    inputs: usize,
) -> Vec<usize> {
    let Some(after) = model.cycle_averaged.map(|c| c.after) else {
        return (0..times.len()).collect();
    };
    let mid_inputs = |k: usize| -> Vec<f64> {
        let mut buf = vec![0.0; inputs];
        if let Some(s) = schedule {
            let start = if k == 0 { 0.0 } else { times[k - 1] };
            s.values_at(0.5 * (start + times[k]), &mut buf);
        }
        buf
    };
    let mut ends: Vec<usize> = Vec::new();
    let (mut start, mut held) = (0.0, mid_inputs(0));
    for k in 0..times.len() {
        let here = mid_inputs(k);
        if here != held {
            // The inputs change: the intervals since the last end form a group of their own.
            if ends.last().map_or(k > 0, |&l| l + 1 < k) {
                ends.push(k - 1);
                start = times[k - 1];
            }
            held = here;
        }
        if times[k] - start > after || k + 1 == times.len() {
            ends.push(k);
            start = times[k];
        }
    }
    ends
}

/// Runs one member from its current time `t0` over `times` (s after `t0`), with the inputs
/// of `schedule` (times relative to `t0`; held beyond its ends; each integration interval at
/// the schedule's value in its middle) or, where it does not drive an input, the member's own
/// values. Output intervals are integrated together where the schedule holds (see
/// [`integration_ends`]) and the outputs between are interpolated linearly; event times are
/// interpolated between outputs. A member that has reached every event stops (its quantities
/// are held from there on), unless an event measures age by a wear element.
fn run_member(mut twin: Twin, schedule: Option<&InputSeries>, times: &[f64]) -> Result<Track> {
    let model = Arc::clone(twin.model());
    let t0 = twin.time();
    let ne = model.events.len();
    let mut events: Vec<Option<f64>> = vec![None; ne];
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(times.len());
    let mut last = snapshot(&twin);
    for (e, ev) in model.events.iter().enumerate() {
        if crossed(&model, e, last[ev.sensor]) {
            events[e] = Some(0.0);
        }
    }
    let mut buf = twin.inputs().to_vec();
    let ends = integration_ends(&model, schedule, times, buf.len());
    let (mut prev_t, mut done) = (0.0, 0);
    // A member that has reached every event stops, unless an event measures age by a wear
    // element: the age beyond the event is what fleet survival converts to time.
    let may_stop = ne > 0 && model.events.iter().all(|e| e.life.is_none());
    for &end in &ends {
        if may_stop && events.iter().all(Option::is_some) {
            break;
        }
        let t = times[end];
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
        let mut before = (prev_t, last.clone());
        for &tk in &times[done..=end] {
            let frac = if t > prev_t {
                (tk - prev_t) / (t - prev_t)
            } else {
                1.0
            };
            let value: Vec<f64> = last
                .iter()
                .zip(&now)
                .map(|(a, b)| a + frac * (b - a))
                .collect();
            for (e, ev) in model.events.iter().enumerate() {
                let (a, b) = (before.1[ev.sensor], value[ev.sensor]);
                if events[e].is_none() && crossed(&model, e, b) {
                    let f = if b != a {
                        ((ev.threshold - a) / (b - a)).clamp(0.0, 1.0)
                    } else {
                        1.0
                    };
                    events[e] = Some(before.0 + f * (tk - before.0));
                }
            }
            values.push(value.clone());
            before = (tk, value);
        }
        done = end + 1;
        last = now;
        prev_t = t;
    }
    // Held after the member stopped.
    values.resize(times.len(), last);
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
    forecast_with_progress(members, schedule, horizon, every, loss, &|_| {})
}

/// [`forecast`], calling `progress` with the fraction of members done as each finishes.
pub fn forecast_with_progress(
    members: Vec<(Twin, f64)>,
    schedule: Option<&InputSeries>,
    horizon: f64,
    every: f64,
    loss: Option<RulLoss>,
    progress: &(dyn Fn(f64) + Sync),
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
    let total = members.len() as f64;
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let tracks: Vec<Track> = members
        .into_par_iter()
        .map(|(twin, _)| {
            let track = run_member(twin, schedule, &times);
            let n = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n as f64 / total);
            track
        })
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
