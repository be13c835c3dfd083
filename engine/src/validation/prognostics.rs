//! Bearing RUL on real data: the PRONOSTIA learning bearings (IEEE PHM 2012), leave one out.

use std::collections::BTreeMap;

use super::{CaseContext, Metric, Outcome, shared_data};
use crate::calibrate::{CalibrateOptions, Method, Run, calibrate};
use crate::data::{DataQuality, DataTable};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::prognosis::phm2012_score;

/// g in m/s².
const G: f64 = 9.80665;

/// One learning bearing: its run (shaft speed, radial load, h and v RMS in m/s²) and its
/// snapshots.
struct Bearing {
    name: String,
    table: DataTable,
}

/// Operating condition of a PRONOSTIA bearing from its name: (rpm, N).
fn condition(name: &str) -> Option<(f64, f64)> {
    match name.strip_prefix("Bearing")?.split('_').next()? {
        "1" => Some((1800.0, 4000.0)),
        "2" => Some((1650.0, 4200.0)),
        "3" => Some((1500.0, 5000.0)),
        _ => None,
    }
}

fn read_bearings(path: &std::path::Path) -> Result<Vec<Bearing>> {
    let label = path.display().to_string();
    let bad = |line: usize, m: String| Error::invalid(&label, Some(line), None, m);
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(1, e.to_string()))?;
    let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
    let col = |n: &str| {
        headers
            .iter()
            .position(|h| h == n)
            .ok_or_else(|| bad(1, format!("no column `{n}`")))
    };
    let (cb, ci, ch, cv) = (
        col("bearing")?,
        col("file_idx")?,
        col("h_rms")?,
        col("v_rms")?,
    );
    let mut by_name: BTreeMap<String, Vec<(f64, f64, f64)>> = BTreeMap::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| bad(i + 2, e.to_string()))?;
        let num = |c: usize| -> Result<f64> {
            rec.get(c)
                .and_then(|s| s.trim().parse::<f64>().ok())
                .ok_or_else(|| bad(i + 2, format!("column {}: expected a number", c + 1)))
        };
        by_name
            .entry(rec.get(cb).unwrap_or("").to_string())
            .or_default()
            .push((num(ci)?, num(ch)? * G, num(cv)? * G));
    }
    by_name
        .into_iter()
        .map(|(name, rows)| {
            let (rpm, load) = condition(&name)
                .ok_or_else(|| bad(1, format!("unknown operating condition of `{name}`")))?;
            let omega = rpm * std::f64::consts::PI / 30.0;
            let mut table = DataTable {
                source: format!("{label} ({name})"),
                columns: ["shaft_speed", "radial_load", "accel_h_rms", "accel_v_rms"]
                    .map(String::from)
                    .to_vec(),
                times: Vec::new(),
                rows: Vec::new(),
                quality: DataQuality::default(),
            };
            for (idx, h, v) in rows {
                table.times.push((idx - 1.0) * 10.0);
                table
                    .rows
                    .push(vec![Some(omega), Some(load), Some(h), Some(v)]);
            }
            table.quality.rows = table.times.len();
            table.quality.rows_used = table.times.len();
            Ok(Bearing { name, table })
        })
        .collect()
}

fn truncated(table: &DataTable, rows: usize) -> DataTable {
    let mut t = table.clone();
    t.times.truncate(rows);
    t.rows.truncate(rows);
    t
}

/// Median of the first `n` values of column `c`.
fn baseline(table: &DataTable, c: usize, n: usize) -> f64 {
    let mut v: Vec<f64> = table.rows.iter().take(n).filter_map(|r| r[c]).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Leave one bearing out. Each bearing's degradation parameters (spall onset, its severity and
/// growth) are first calibrated on its whole run with the particle filter; the healthy
/// vibration levels are measured as the medians of the first `settings.baseline_snapshots`
/// snapshots and held. For each held-out bearing, the prior is the other bearings' spread of
/// those parameters; the filter then calibrates on its data truncated at 50, 70 and 90 % of its
/// life and predicts the time to `failure`. Scored with the PHM 2012 score (median RUL) and the
/// mean absolute error, against the baseline "the others' mean life minus the time elapsed".
/// Judged: the score reaches the baseline's; the error is reported.
pub fn pronostia_case(ctx: &CaseContext) -> Result<Outcome> {
    let path = match shared_data("femto_pronostia/learning_set_features.csv") {
        Ok(path) => path,
        Err(skipped) => return Ok(skipped),
    };
    let model = Model::from_file(ctx.model_path()?)?;
    let bearings = read_bearings(&path)?;
    let param = |p: &str| {
        model
            .parameters
            .iter()
            .position(|x| x.path == p)
            .ok_or_else(|| {
                Error::invalid(
                    &model.source,
                    None,
                    Some("parameter".into()),
                    format!("expected a parameter `{p}`"),
                )
            })
    };
    let degradation = [
        param("wear.test_bearing.onset")?,
        param("wear.test_bearing.log_onset_severity")?,
        param("wear.test_bearing.growth")?,
    ];
    let biases = [
        param("sensor.accel_h_rms.bias")?,
        param("sensor.accel_v_rms.bias")?,
    ];
    let n_base = ctx.setting("baseline_snapshots", 150.0)? as usize;
    let members = ctx.setting("members", 512.0)? as usize;
    let options = |prior: Vec<(f64, f64)>, horizon: f64| CalibrateOptions {
        method: Method::ParticleFilter,
        members,
        seed: 1,
        prior: Some(prior),
        horizon: Some(horizon),
        ..Default::default()
    };
    let model_prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let with_baselines = |mut prior: Vec<(f64, f64)>, table: &DataTable| {
        for (k, &b) in biases.iter().enumerate() {
            // Columns 2 and 3 hold the h and v RMS.
            prior[b] = (baseline(table, 2 + k, n_base), 0.02);
        }
        prior
    };
    let life = |b: &Bearing| b.table.times.last().copied().unwrap_or(0.0);
    let longest = bearings.iter().map(life).fold(0.0, f64::max);
    // Step 1: each bearing's degradation parameters from its whole run.
    let mut fitted: Vec<Vec<f64>> = Vec::new();
    for b in &bearings {
        let run = Run::from_table(&model, &b.table)?;
        let report = calibrate(
            &model,
            &[run],
            &options(with_baselines(model_prior.clone(), &b.table), life(b)),
            |_| Ok(()),
            |_| {},
        )?;
        fitted.push(report.parameters.values().map(|p| p.mean).collect());
    }
    let fractions = [0.5, 0.7, 0.9];
    let (mut scores, mut errors) = (Vec::new(), Vec::new());
    let (mut base_scores, mut base_errors) = (Vec::new(), Vec::new());
    let mut metrics = Vec::new();
    for (h, held) in bearings.iter().enumerate() {
        let others: Vec<usize> = (0..bearings.len()).filter(|&i| i != h).collect();
        let mut prior = model_prior.clone();
        for &p in &degradation {
            let xs: Vec<f64> = others.iter().map(|&i| fitted[i][p]).collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>()
                / (xs.len() - 1).max(1) as f64)
                .sqrt();
            prior[p] = (m, sd.max(0.1 * model_prior[p].1));
        }
        let mean_life =
            others.iter().map(|&i| life(&bearings[i])).sum::<f64>() / others.len() as f64;
        for f in fractions {
            let rows = ((held.table.times.len() as f64) * f) as usize;
            let part = truncated(&held.table, rows);
            let elapsed = part.times.last().copied().unwrap_or(0.0);
            let actual = life(held) - elapsed;
            let run = Run::from_table(&model, &part)?;
            let report = calibrate(
                &model,
                &[run],
                &options(with_baselines(prior.clone(), &part), 3.0 * longest),
                |_| Ok(()),
                |_| {},
            )?;
            let rul = report.rul.get("failure").ok_or_else(|| {
                Error::invalid(
                    &model.source,
                    None,
                    Some("event".into()),
                    "expected an event `failure`",
                )
            })?;
            let estimate = rul.p50.unwrap_or(3.0 * longest);
            let naive = (mean_life - elapsed).max(0.0);
            scores.push(phm2012_score(actual, estimate));
            errors.push((actual - estimate).abs());
            base_scores.push(phm2012_score(actual, naive));
            base_errors.push((actual - naive).abs());
            let secs =
                |x: Option<f64>| x.map_or_else(|| "beyond".to_string(), |s| format!("{s:.0}"));
            metrics.push(Metric::report(
                format!(
                    "{} at {:.0} %: RUL s, p50 (p05 {}, p95 {}); actual",
                    held.name,
                    100.0 * f,
                    secs(rul.p05),
                    secs(rul.p95)
                ),
                estimate,
                actual,
            ));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    metrics.push(Metric::at_least(
        "PHM 2012 score (mean A): twin, at least the baseline's",
        mean(&scores),
        mean(&base_scores),
    ));
    // The challenge ranks by the score; the mean absolute error is reported beside the
    // baseline's, not judged.
    metrics.push(Metric::report(
        "mean absolute RUL error s: twin (reference: the baseline's)",
        mean(&errors),
        mean(&base_errors),
    ));
    Ok(Outcome::Metrics(metrics))
}
