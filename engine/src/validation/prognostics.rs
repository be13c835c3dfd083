//! Bearing RUL on real data: the PRONOSTIA learning bearings (IEEE PHM 2012), leave one out.

use std::collections::BTreeMap;

use super::{CaseContext, Metric, Outcome};
use crate::calibrate::fleet::lives_of;
use crate::calibrate::{CalibrateOptions, Method, Run, calibrate};
use crate::data::DataTable;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::prognosis::{RulLoss, phm2012_score};

/// g in m/s².
const G: f64 = 9.80665;

/// One learning bearing: its snapshots as a run (shaft speed, radial load, h and v RMS and
/// peaks in m/s²).
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
    let (cb, ci) = (col("bearing")?, col("file_idx")?);
    let indicators = [col("h_rms")?, col("v_rms")?, col("h_peak")?, col("v_peak")?];
    let mut by_name: BTreeMap<String, Vec<(f64, Vec<f64>)>> = BTreeMap::new();
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
            .push((
                num(ci)?,
                indicators
                    .iter()
                    .map(|&c| num(c).map(|g| g * G))
                    .collect::<Result<_>>()?,
            ));
    }
    by_name
        .into_iter()
        .map(|(name, rows)| {
            let (rpm, load) = condition(&name)
                .ok_or_else(|| bad(1, format!("unknown operating condition of `{name}`")))?;
            let omega = rpm * std::f64::consts::PI / 30.0;
            let mut table = DataTable {
                source: format!("{label} ({name})"),
                columns: [
                    "shaft_speed",
                    "radial_load",
                    "accel_h_rms",
                    "accel_v_rms",
                    "accel_h_peak",
                    "accel_v_peak",
                ]
                .map(String::from)
                .to_vec(),
                ..DataTable::default()
            };
            for (idx, values) in rows {
                table.times.push((idx - 1.0) * 10.0);
                let mut row = vec![Some(omega), Some(load)];
                row.extend(values.into_iter().map(Some));
                table.rows.push(row);
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

/// The baseline each prediction is scored against: "the other bearings' mean life minus the
/// time elapsed" (s), the naive guess of a planner who knows no physics.
fn naive_rul(others: &[f64], elapsed: f64) -> f64 {
    (others.iter().sum::<f64>() / others.len().max(1) as f64 - elapsed).max(0.0)
}

/// Leave one bearing out, as a fleet. For each held-out bearing the other five, run to
/// failure, are the fleet: their lives in the event's life measure (consumed ISO 281 life, the
/// twin replayed over each run's operating conditions; [`lives_of`], what `twin calibrate
/// --run-to-failure` records). The held-out bearing is calibrated with the particle filter on its
/// data truncated at 50, 70 and 90 % of its life (healthy vibration levels from its first
/// `settings.baseline_snapshots` snapshots) with the fleet's lives as `--prior` gives them, and
/// its remaining life is the fleet's survival beyond its age, converted to time at its
/// condition. The point estimate minimises the expected linear loss `early=1,late=4`
/// (`settings.loss_early`, `loss_late`): the PHM 2012 score's own asymmetry, whose late errors
/// cost 20/5 = 4 times what early ones do (its 20th percentile).
/// Judged: the score is at least `settings.min_score` and the naive guess's, and the mean
/// absolute error below the naive guess's.
pub fn pronostia_case(ctx: &CaseContext) -> Result<Outcome> {
    let path = match ctx.shared_data("femto_pronostia/learning_set_features.csv") {
        Ok(path) => path,
        Err(skipped) => return Ok(skipped),
    };
    let model = Model::from_file(ctx.model_path()?)?;
    let bearings = read_bearings(&path)?;
    // The healthy vibration levels: parameter index and data column.
    let mut healthy = Vec::new();
    for (k, sensor) in ["accel_h_rms", "accel_v_rms", "accel_h_peak", "accel_v_peak"]
        .iter()
        .enumerate()
    {
        let path = format!("sensor.{sensor}.bias");
        let j = model
            .parameters
            .iter()
            .position(|p| p.path == path)
            .ok_or_else(|| {
                Error::invalid(
                    &model.source,
                    None,
                    Some("parameter".into()),
                    format!("expected a parameter `{path}`"),
                )
            })?;
        healthy.push((j, 2 + k));
    }
    let n_base = ctx.setting("baseline_snapshots", 150.0)? as usize;
    let members = ctx.setting("members", 64.0)? as usize;
    let min_score = ctx.setting("min_score", 0.3)?;
    let loss = RulLoss::Linear {
        early: ctx.setting("loss_early", 1.0)?,
        late: ctx.setting("loss_late", 4.0)?,
    };
    let model_prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let runs: Vec<Run> = bearings
        .iter()
        .map(|b| Run::from_table(&model, &b.table))
        .collect::<Result<_>>()?;
    let life = |b: &Bearing| b.table.times.last().copied().unwrap_or(0.0);
    let longest = bearings.iter().map(life).fold(0.0, f64::max);
    let means: Vec<f64> = model_prior.iter().map(|p| p.0).collect();
    let (mut scores, mut errors) = (Vec::new(), Vec::new());
    let (mut base_scores, mut base_errors) = (Vec::new(), Vec::new());
    let mut metrics = Vec::new();
    for (h, held) in bearings.iter().enumerate() {
        let others: Vec<usize> = (0..bearings.len()).filter(|&i| i != h).collect();
        let fleet_runs: Vec<Run> = others.iter().map(|&i| runs[i].clone()).collect();
        let fleet = lives_of(
            &model,
            &fleet_runs,
            &vec![means.clone(); others.len()],
            "failure",
        )?;
        let lives: Vec<f64> = others.iter().map(|&i| life(&bearings[i])).collect();
        for f in [0.5, 0.7, 0.9] {
            let part = truncated(&held.table, ((held.table.times.len() as f64) * f) as usize);
            let elapsed = part.times.last().copied().unwrap_or(0.0);
            let actual = life(held) - elapsed;
            let run = Run::from_table(&model, &part)?;
            let mut prior = model_prior.clone();
            for &(j, c) in &healthy {
                // A bearing's healthy levels are its own, measured.
                let b = baseline(&part, c, n_base);
                prior[j] = (b, 0.01 * b.max(1.0));
            }
            let options = CalibrateOptions {
                method: Method::ParticleFilter,
                members,
                seed: 1,
                prior: Some(prior),
                horizon: Some(3.0 * longest),
                rul_loss: Some(loss),
                fleet_lives: Some(
                    [("failure".to_string(), fleet.clone())]
                        .into_iter()
                        .collect(),
                ),
                ..Default::default()
            };
            let report = calibrate(&model, &[run], &options, |_| Ok(()), |_| {})?;
            let rul = report.rul.get("failure").ok_or_else(|| {
                Error::invalid(
                    &model.source,
                    None,
                    Some("event".into()),
                    "expected an event `failure`",
                )
            })?;
            let estimate = rul.point.unwrap_or(3.0 * longest);
            let naive = naive_rul(&lives, elapsed);
            scores.push(phm2012_score(actual, estimate));
            errors.push((actual - estimate).abs());
            base_scores.push(phm2012_score(actual, naive));
            base_errors.push((actual - naive).abs());
            let secs =
                |x: Option<f64>| x.map_or_else(|| "beyond".to_string(), |s| format!("{s:.0}"));
            metrics.push(Metric::report(
                format!(
                    "{} at {:.0} % (age {:.3} L10): RUL s, estimate (p05 {}, p50 {}, p95 {}; naive {naive:.0}); actual",
                    held.name,
                    100.0 * f,
                    report.wear.get("test_bearing").map_or(f64::NAN, |b| b.p50),
                    secs(rul.p05),
                    secs(rul.p50),
                    secs(rul.p95)
                ),
                estimate,
                actual,
            ));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    metrics.push(Metric::report(
        "PHM 2012 score of the naive guess (reference: the twin's)",
        mean(&base_scores),
        mean(&scores),
    ));
    metrics.push(Metric::at_least(
        "PHM 2012 score (mean A): twin, at least settings.min_score",
        mean(&scores),
        min_score,
    ));
    metrics.push(Metric::at_least(
        "PHM 2012 score (mean A): twin, at least the naive guess's",
        mean(&scores),
        mean(&base_scores),
    ));
    metrics.push(Metric::at_most(
        "mean absolute RUL error s: twin, at most the naive guess's",
        mean(&errors),
        mean(&base_errors),
    ));
    Ok(Outcome::Metrics(metrics))
}
