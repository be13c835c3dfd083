//! Multi-rate stepping against brute force: quasi-steady stepping (`[solver.quasi_steady]`)
//! must agree with stepping every mechanical step where both can run (ARCHITECTURE.md,
//! "Multi-rate stepping").

use std::sync::Arc;
use std::time::Instant;

use super::{CaseContext, Metric, Outcome};
use crate::Model;
use crate::data::{DataTable, InputSeries, Policy};
use crate::error::{Error, Result};

/// Drives the model through `settings.program` (a CSV of model inputs) twice, with its
/// quasi-steady stepping and with every mechanical step, and compares every sensor's noise-free
/// prediction each `settings.every` s: the largest difference in units of the sensor's noise
/// standard deviation must stay below the case's tolerance, so that the approximation cannot
/// bias a calibration. The heat that entered is compared relatively; the speed-up is reported.
pub fn quasi_vs_stepping_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    if model.quasi_steady.is_none() {
        return Err(Error::invalid(
            ctx.model_path()?.display().to_string(),
            None,
            Some("solver.quasi_steady".into()),
            "expected a model that enables quasi-steady stepping",
        ));
    }
    let program = ctx
        .spec
        .settings
        .get("program")
        .and_then(|v| v.as_str())
        .unwrap_or("program.csv");
    let table = DataTable::read(&ctx.dir.join(program).display().to_string(), Policy::Strict)?;
    let inputs = InputSeries::from_table(&model, &table);
    let every = ctx.setting("every", 1.0)?;
    let end = inputs.end_time().unwrap_or(0.0);
    let mut exact_model = (*model).clone();
    exact_model.quasi_steady = None;

    let run = |m: Arc<Model>| -> Result<(Vec<Vec<f64>>, f64, f64)> {
        let mut twin = crate::Twin::new(m, 0);
        let mut rows = Vec::new();
        let start = Instant::now();
        let mut t = 0.0;
        while t < end - 1e-9 {
            t = (t + every).min(end);
            twin.drive_to(&inputs, t)?;
            rows.push((0..model.sensors.len()).map(|s| twin.predict(s)).collect());
        }
        Ok((rows, twin.energy_balance().0, start.elapsed().as_secs_f64()))
    };
    let (quasi, quasi_heat, quasi_wall) = run(Arc::clone(&model))?;
    let (exact, exact_heat, exact_wall) = run(Arc::new(exact_model))?;

    let mut metrics: Vec<Metric> = model
        .sensors
        .iter()
        .enumerate()
        .filter(|(_, s)| s.noise_std > 0.0)
        .map(|(s, sensor)| {
            let worst = quasi
                .iter()
                .zip(&exact)
                .map(|(a, b)| (a[s] - b[s]).abs())
                .fold(0.0, f64::max);
            Metric::at_most(
                format!(
                    "{}: largest difference / noise std ({})",
                    sensor.name, sensor.noise_std
                ),
                worst / sensor.noise_std,
                ctx.spec.tolerance,
            )
        })
        .collect();
    metrics.push(Metric::relative(
        "heat entered (J)",
        quasi_heat,
        exact_heat,
        ctx.setting("heat_tolerance", 1e-3)?,
    ));
    metrics.push(Metric::report(
        "speed-up of quasi-steady stepping (wall time ratio)",
        exact_wall / quasi_wall,
        1.0,
    ));
    Ok(Outcome::Metrics(metrics))
}
