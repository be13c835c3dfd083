//! Prognosis: an ensemble of calibrated twins propagated forward under an assumed operating
//! schedule, giving bands (p05, p50, p95) of every sensor and wear element over time and the
//! distribution of the time to each event the model declares (remaining useful life).
//!
//! Members step through the schedule with [`Twin::advance_to`], so models that enable
//! `[solver.cycle_averaged]` cover long horizons with the slow integrator.

use std::sync::Arc;

use indexmap::IndexMap;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::Serialize;

use crate::data::InputSeries;
use crate::error::Result;
use crate::model::Model;
use crate::twin::Twin;

/// Quantiles p05, p50, p95 of a quantity, in its unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    /// 5th percentile.
    pub p05: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// The distribution of the time to an event, in s from the start of the forecast. A quantile
/// is `None` when fewer members than it needs reach the event within the horizon (the time is
/// then longer than the horizon).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RulSummary {
    /// 5th percentile, s.
    pub p05: Option<f64>,
    /// Median, s.
    pub p50: Option<f64>,
    /// 95th percentile, s.
    pub p95: Option<f64>,
    /// Weighted fraction of members that reach the event within the horizon.
    pub reached: f64,
    /// The forecast horizon, s.
    pub horizon: f64,
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

/// Weighted quantile of `x` (weights `w` summing to 1); `None` entries count as beyond every
/// value (the quantile is then `None`).
fn quantile(x: &[(Option<f64>, f64)], q: f64) -> Option<f64> {
    let mut v: Vec<(Option<f64>, f64)> = x.to_vec();
    v.sort_by(|a, b| {
        let key = |e: &(Option<f64>, f64)| e.0.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b))
    });
    let mut acc = 0.0;
    for (value, w) in &v {
        acc += w;
        if acc >= q - 1e-12 {
            return *value;
        }
    }
    v.last().and_then(|(value, _)| *value)
}

/// Weighted p05, p50 and p95 of `x` (see [`quantile`]; NaN for a quantile beyond every value).
pub(crate) fn band(x: &[(Option<f64>, f64)]) -> Band {
    let get = |q| quantile(x, q).unwrap_or(f64::NAN);
    Band {
        p05: get(0.05),
        p50: get(0.5),
        p95: get(0.95),
    }
}

/// Forecasts `members` (twins with weights summing to 1) over `horizon` s with outputs every
/// `every` s, under `schedule` (see [`run_member`]); members step in parallel.
pub fn forecast(
    members: Vec<(Twin, f64)>,
    schedule: Option<&InputSeries>,
    horizon: f64,
    every: f64,
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
            let reached = x.iter().filter(|(a, _)| a.is_some()).map(|(_, w)| w).sum();
            (
                ev.name.clone(),
                RulSummary {
                    p05: quantile(&x, 0.05),
                    p50: quantile(&x, 0.5),
                    p95: quantile(&x, 0.95),
                    reached,
                    horizon,
                },
            )
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
    })
}

/// Draws `n` parameter vectors from a Gaussian with the given means, standard deviations and
/// correlation (identity when `correlation` is empty; independent when the covariance is not
/// finite), truncated to the model's bounds. Seeded.
///
/// A calibration's correlation can be nearly singular (parameters the data tie together);
/// where its Cholesky factor fails in rounding, the factor comes from its eigen-decomposition
/// with negative eigenvalues set to zero, so the draws keep the correlation (they used to fall
/// back to independent draws). Truncation rejects whole vectors outside the bounds and draws
/// again, a truncated multivariate normal, instead of clamping each coordinate, which piled
/// draws onto the bounds and broke the correlation there. A draw still outside after
/// [`MAX_TRIES`] tries is clamped.
pub fn draw_gaussian(
    model: &Model,
    mean: &[f64],
    std: &[f64],
    correlation: &[Vec<f64>],
    n: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    let p = mean.len();
    let cov = nalgebra::DMatrix::from_fn(p, p, |a, b| {
        let r = correlation
            .get(a)
            .and_then(|row| row.get(b))
            .copied()
            .filter(|r| r.is_finite())
            .unwrap_or(if a == b { 1.0 } else { 0.0 });
        r * std[a] * std[b]
    });
    let diagonal = || {
        nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(p, std.iter().copied()))
    };
    let factor = if cov.iter().all(|v| v.is_finite()) {
        cov.clone().cholesky().map(|c| c.l()).unwrap_or_else(|| {
            match cov.try_symmetric_eigen(f64::EPSILON, 1000) {
                Some(eig) => {
                    let roots = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
                    eig.eigenvectors * nalgebra::DMatrix::from_diagonal(&roots)
                }
                None => diagonal(),
            }
        })
    } else {
        diagonal()
    };
    let inside = |x: &[f64]| {
        x.iter()
            .zip(&model.parameters)
            .all(|(v, q)| (q.lower..=q.upper).contains(v))
    };
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut draw = || -> Vec<f64> {
        let z =
            nalgebra::DVector::from_iterator(p, (0..p).map(|_| StandardNormal.sample(&mut rng)));
        let x = &factor * z;
        (0..p).map(|j| mean[j] + x[j]).collect()
    };
    (0..n)
        .map(|_| {
            let mut x = draw();
            for _ in 1..MAX_TRIES {
                if inside(&x) {
                    return x;
                }
                x = draw();
            }
            x.iter()
                .zip(&model.parameters)
                .map(|(v, q)| v.clamp(q.lower, q.upper))
                .collect()
        })
        .collect()
}

/// Tries per draw of [`draw_gaussian`] before it clamps to the bounds.
pub const MAX_TRIES: usize = 1000;

/// Whether `model` has anything a prognosis reports (wear, sections or events).
pub fn has_prognosis(model: &Model) -> bool {
    !(model.wear.is_empty() && model.sections.is_empty() && model.events.is_empty())
}
