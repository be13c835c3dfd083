//! Wear validation on real data: flank wear of the NASA milling experiments, leave one case out.

use std::sync::Arc;

use super::{CaseContext, Metric, Outcome};
use crate::calibrate::fleet::new_unit_prior;
use crate::calibrate::{CalibrateOptions, Run, calibrate, predictions};
use crate::data::DataTable;
use crate::error::{Error, Result};
use crate::model::Model;

/// One milling case: its number and its run (one row per measured pass).
struct MillingCase {
    case: u32,
    run: Run,
}

/// Reads `labels_cases_1_8.csv` (case, run, VB mm, time min, DOC mm, feed mm/rev, material)
/// into one run per case in SI units: time s, depth_of_cut m, feed_per_rev m, flank_wear m.
fn read_cases(model: &Model, path: &std::path::Path) -> Result<Vec<MillingCase>> {
    let label = path.display().to_string();
    let bad = |line: usize, m: &str| Error::invalid(&label, Some(line), None, m.to_string());
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(1, &e.to_string()))?;
    let mut cases: Vec<(u32, DataTable)> = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| bad(line, &e.to_string()))?;
        let num = |c: usize| -> Result<Option<f64>> {
            let s = rec.get(c).unwrap_or("").trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<f64>().map(Some).map_err(|_| {
                bad(
                    line,
                    &format!("column {}: expected a number, got `{s}`", c + 1),
                )
            })
        };
        let need =
            |c: usize| num(c)?.ok_or_else(|| bad(line, &format!("column {} is empty", c + 1)));
        let case = need(0)? as u32;
        let (vb, minutes, doc, feed, material) = (num(2)?, need(3)?, need(4)?, need(5)?, need(6)?);
        if cases.last().is_none_or(|(c, _)| *c != case) {
            cases.push((
                case,
                DataTable {
                    source: format!("{label} (case {case})"),
                    columns: [
                        "depth_of_cut",
                        "feed_per_rev",
                        "work_material",
                        "flank_wear",
                    ]
                    .map(String::from)
                    .to_vec(),
                    ..DataTable::default()
                },
            ));
        }
        let table = &mut cases.last_mut().expect("pushed").1;
        table.times.push(minutes * 60.0);
        table.rows.push(vec![
            Some(doc * 1e-3),
            Some(feed * 1e-3),
            Some(material),
            vb.map(|v| v * 1e-3),
        ]);
        table.quality.rows += 1;
        table.quality.rows_used += 1;
    }
    cases
        .into_iter()
        .map(|(case, table)| {
            Ok(MillingCase {
                case,
                run: Run::from_table(model, &table)?,
            })
        })
        .collect()
}

/// RMSE in mm of the model's flank wear against the measurements of `run`, skipping its first
/// `skip` measurements.
fn rmse_mm(
    model: &Arc<Model>,
    run: &Run,
    theta: &[f64],
    sensor: usize,
    skip: usize,
) -> Result<f64> {
    let predicted = predictions(model, run, theta)?;
    let (mut sum, mut n) = (0.0, 0usize);
    let measured = run
        .z
        .iter()
        .zip(&predicted)
        .filter_map(|(z, p)| Some((z[sensor]?, p[sensor])));
    for (v, p) in measured.skip(skip) {
        sum += (v - p).powi(2);
        n += 1;
    }
    Ok((sum / n.max(1) as f64).sqrt() * 1e3)
}

fn measured(run: &Run, sensor: usize) -> usize {
    run.z.iter().filter(|z| z[sensor].is_some()).count()
}

/// Leave one case out (cases with at least `settings.min_measurements` measurements), as a
/// fleet of tools: the face mill's per-unit wear rates make calibrating the other cases a fleet
/// calibration (the law's shape shared, each tool's rates its own, their spread from tool to
/// tool). The held-out case's curve is predicted from its cutting conditions alone (the fleet's
/// new-tool parameters), then the tool is calibrated from the fleet report on the first half of
/// its measurements (`--prior`) and its second half is forecast. Judged: per case and on
/// average the RMSE from conditions alone and after the update (whole curve, as before), and
/// the second half's RMSE after the update against the prior-only forecast of the same points
/// (updating must not make the forecast worse). Also: the residuals of the calibration on all
/// cases shrink against the model's prior.
pub fn milling_leave_one_out_case(ctx: &CaseContext) -> Result<Outcome> {
    let path = match ctx.shared_data("nasa_milling/labels_cases_1_8.csv") {
        Ok(path) => path,
        Err(skipped) => return Ok(skipped),
    };
    let model = Model::from_file(ctx.model_path()?)?;
    let sensor = model.sensor_index("flank_wear").map_err(|_| {
        Error::invalid(
            &model.source,
            None,
            Some("sensor".into()),
            "expected a `flank_wear` sensor",
        )
    })?;
    let cases = read_cases(&model, &path)?;
    let min = ctx.setting("min_measurements", 4.0)? as usize;
    let options = CalibrateOptions {
        max_iterations: ctx.setting("max_iterations", 30.0)? as usize,
        ..Default::default()
    };
    let all: Vec<Run> = cases.iter().map(|c| c.run.clone()).collect();
    let full = calibrate(&model, &all, &options, |_| Ok(()), |_| {})?;
    let fit = &full.residual_rmse["flank_wear"];
    let mut metrics = vec![Metric::at_most(
        "all cases: flank-wear RMSE after / before calibration",
        fit.after / fit.before,
        ctx.setting("max_rmse_ratio", 0.7)?,
    )];
    let mean_of = |r: &crate::calibrate::CalibrationReport| -> Vec<f64> {
        r.parameters.values().map(|p| p.mean).collect()
    };
    let (mut cold_all, mut warm_all) = (Vec::new(), Vec::new());
    let (mut cold_rest, mut warm_rest) = (Vec::new(), Vec::new());
    let per_case = ctx.setting("max_case_rmse_mm", 0.25)?;
    for held in cases.iter().filter(|c| measured(&c.run, sensor) >= min) {
        let others: Vec<Run> = cases
            .iter()
            .filter(|c| c.case != held.case)
            .map(|c| c.run.clone())
            .collect();
        let fleet = calibrate(&model, &others, &options, |_| Ok(()), |_| {})?;
        let theta = mean_of(&fleet);
        // The first half of the held-out measurements.
        let half = measured(&held.run, sensor).div_ceil(2);
        let mut first = held.run.clone();
        let mut seen = 0;
        let keep = first
            .z
            .iter()
            .position(|z| {
                seen += usize::from(z[sensor].is_some());
                seen == half
            })
            .map_or(first.z.len(), |i| i + 1);
        first.times.truncate(keep);
        first.z.truncate(keep);
        // A new tool of the fleet (what `--prior` the fleet report gives).
        let moments: Vec<(f64, f64)> = fleet.parameters.values().map(|p| (p.mean, p.std)).collect();
        let populated: Vec<bool> = fleet
            .parameters
            .keys()
            .map(|k| fleet.population.contains_key(k))
            .collect();
        let warm_options = CalibrateOptions {
            prior: Some(new_unit_prior(&moments, &populated)),
            ..options.clone()
        };
        let warm = calibrate(&model, &[first], &warm_options, |_| Ok(()), |_| {})?;
        let theta2 = mean_of(&warm);
        let rmse = |theta: &[f64], skip| rmse_mm(&model, &held.run, theta, sensor, skip);
        let (cold, updated) = (rmse(&theta, 0)?, rmse(&theta2, 0)?);
        let (cold2, updated2) = (rmse(&theta, half)?, rmse(&theta2, half)?);
        metrics.push(Metric::absolute(
            format!("case {}: VB RMSE mm, from conditions alone", held.case),
            cold,
            0.0,
            per_case,
        ));
        metrics.push(Metric::absolute(
            format!(
                "case {}: VB RMSE mm, after its first {half} measurements",
                held.case
            ),
            updated,
            0.0,
            per_case,
        ));
        metrics.push(Metric::report(
            format!(
                "case {}: second-half VB RMSE mm, updated on the first half (reference: prior-only forecast)",
                held.case
            ),
            updated2,
            cold2,
        ));
        cold_all.push(cold);
        warm_all.push(updated);
        cold_rest.push(cold2);
        warm_rest.push(updated2);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    metrics.push(Metric::at_most(
        "mean VB RMSE mm, from conditions alone",
        mean(&cold_all),
        ctx.setting("max_mean_rmse_mm", 0.12)?,
    ));
    metrics.push(Metric::at_most(
        "mean VB RMSE mm, after the first half",
        mean(&warm_all),
        ctx.setting("max_mean_rmse_updated_mm", 0.09)?,
    ));
    metrics.push(Metric::at_most(
        "mean second-half VB RMSE mm after the update, at most the prior-only forecast's",
        mean(&warm_rest),
        mean(&cold_rest),
    ));
    Ok(Outcome::Metrics(metrics))
}

/// ISO 281 and Shigley's bearing examples: the engine's life consumption of an SKF 6205
/// (C = 14.8 kN) at 1500 rpm under 2 kN, integrated by the slow integrator over
/// `settings.hours`, against L10 = (C/P)³ = 405.2 million revolutions = 4503 h; and the
/// catalogue-rating formula against Shigley's problems 11-1 and 11-3.
pub fn bearing_life_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let tol = ctx.spec.tolerance;
    let mut twin = crate::Twin::new(Arc::clone(&model), 0);
    twin.set("wear.test_bearing.load_rating", 14_800.0)?;
    // The jack and the shaft's weight both load the bearing: the jack makes up the rest of 2 kN.
    let weight: f64 = model.bodies.iter().map(|b| b.mass).sum::<f64>() * model.gravity.norm();
    let input = |name: &str| {
        model.input_index(name).map_err(|_| {
            Error::invalid(
                &model.source,
                None,
                Some("input".into()),
                format!("expected an input `{name}`"),
            )
        })
    };
    twin.set_input(input("shaft_speed")?, 1500.0 * std::f64::consts::PI / 30.0);
    twin.set_input(input("radial_load")?, 2000.0 - weight);
    let hours = ctx.setting("hours", 100.0)?;
    twin.advance_cycle_averaged(hours * 3600.0)?;
    let e = model
        .wear
        .iter()
        .position(|w| w.name == "test_bearing")
        .ok_or_else(|| {
            Error::invalid(
                &model.source,
                None,
                Some("wear".into()),
                "expected a wear element `test_bearing`",
            )
        })?;
    let consumed = twin.wear(e);
    use crate::wear::{basic_rating_life, required_rating};
    Ok(Outcome::Metrics(vec![
        Metric::relative(
            "SKF 6205, 2 kN, 1500 rpm: L10 from the simulated consumption (h)",
            hours / consumed,
            4503.0,
            tol,
        ),
        Metric::relative(
            "SKF 6205: L10 = (C/P)^3 (million revolutions)",
            basic_rating_life(14.8e3, 2.0e3, 3.0),
            405.2,
            tol,
        ),
        Metric::relative(
            "Shigley 11-1: required C10 (kN), ball, R = 0.90",
            required_rating(2.278, 540.0, 0.90, (0.02, 4.459, 1.483), 3.0),
            18.59,
            tol,
        ),
        Metric::relative(
            "Shigley 11-3: required C10 (kN), roller, R = 0.90",
            required_rating(10.279, 1440.0, 0.90, (0.02, 4.459, 1.483), 10.0 / 3.0),
            91.1,
            tol,
        ),
    ]))
}

/// The cycle-averaged slow integrator against stepping every millisecond over
/// `settings.seconds`: every wear element's quantity at the end, relative difference.
pub fn slow_vs_stepping_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let seconds = ctx.setting("seconds", 600.0)?;
    let mut slow = crate::Twin::new(Arc::clone(&model), 0);
    slow.advance_cycle_averaged(seconds)?;
    let mut stepped = crate::Twin::new(Arc::clone(&model), 0);
    stepped.step_to(seconds)?;
    Ok(Outcome::Metrics(
        model
            .wear
            .iter()
            .enumerate()
            .map(|(e, w)| {
                Metric::relative(
                    format!("{} after {seconds} s ({})", w.name, w.unit()),
                    slow.wear(e),
                    stepped.wear(e),
                    ctx.spec.tolerance,
                )
            })
            .collect(),
    ))
}

/// Archard's law by hand: a block of mass m sliding on a frictionless prismatic guide at
/// constant speed v for `settings.seconds`: V = K·(m·g)·(v·t)/H, depth V/A.
pub fn archard_hand_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let seconds = ctx.setting("seconds", 10.0)?;
    let (mass, speed) = (ctx.setting("mass", 50.0)?, ctx.setting("speed", 0.5)?);
    let (k, h, area) = (
        ctx.setting("coefficient", 1.3e-4)?,
        ctx.setting("hardness", 6.9e9)?,
        ctx.setting("area", 1e-4)?,
    );
    let mut twin = crate::Twin::new(Arc::clone(&model), 0);
    twin.step_to(seconds)?;
    let by_hand = k * mass * model.gravity.norm() * speed * seconds / h / area;
    Ok(Outcome::Metrics(vec![Metric::relative(
        "wear depth (µm)",
        twin.wear(0) * 1e6,
        by_hand * 1e6,
        ctx.spec.tolerance,
    )]))
}
