//! SVG plots for people: measured data against the calibrated twin's predictions.

use std::path::Path;

use machine_twin::calibrate::{CalibrationReport, Run, predictions};
use machine_twin::error::{Error, Result};
use machine_twin::model::Model;
use plotters::prelude::*;

const PANEL_HEIGHT: u32 = 220;
const WIDTH: u32 = 1000;

/// One panel per sensor with data: measurements of the first run as dots, the prior-mean twin
/// and the calibrated twin as lines.
pub fn calibration_plot(
    path: &Path,
    model: &std::sync::Arc<Model>,
    runs: &[Run],
    report: &CalibrationReport,
) -> Result<()> {
    let run = &runs[0];
    let prior: Vec<f64> = report.parameters.values().map(|p| p.prior_mean).collect();
    let posterior: Vec<f64> = report.parameters.values().map(|p| p.mean).collect();
    let before = predictions(model, run, &prior)?;
    let after = predictions(model, run, &posterior)?;
    let sensors: Vec<usize> = (0..model.sensors.len())
        .filter(|s| run.z.iter().any(|z| z[*s].is_some()))
        .collect();
    let label = path.display().to_string();
    let fail = |e: &dyn std::fmt::Display| Error::State(format!("{label}: plot: {e}"));
    let height = PANEL_HEIGHT * sensors.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let panels = root.split_evenly((sensors.len().max(1), 1));
    for (panel, &s) in panels.iter().zip(&sensors) {
        let sensor = &model.sensors[s];
        let measured: Vec<(f64, f64)> = run
            .times
            .iter()
            .zip(&run.z)
            .filter_map(|(t, z)| z[s].map(|v| (*t, v)))
            .collect();
        let line = |p: &[Vec<f64>]| -> Vec<(f64, f64)> {
            run.times
                .iter()
                .zip(p)
                .zip(&run.z)
                .filter(|(_, z)| z[s].is_some())
                .map(|((t, v), _)| (*t, v[s]))
                .collect()
        };
        let (b, a) = (line(&before), line(&after));
        let ys = measured.iter().chain(&a).map(|p| p.1);
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(y), h.max(y))
        });
        let pad = ((hi - lo) * 0.05).max(1e-12 * hi.abs().max(1.0));
        let t_end = run.end_time().max(1e-9);
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{} [{}]: measured (grey), prior twin (orange), calibrated twin (blue)",
                    sensor.name, sensor.unit
                ),
                ("sans-serif", 14),
            )
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..t_end, (lo - pad)..(hi + pad))
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .light_line_style(WHITE)
            .draw()
            .map_err(|e| fail(&e))?;
        let step = (measured.len() / 2000).max(1);
        chart
            .draw_series(
                measured
                    .iter()
                    .step_by(step)
                    .map(|p| Circle::new(*p, 1, RGBColor(150, 150, 150).filled())),
            )
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(LineSeries::new(b, RGBColor(230, 120, 20).stroke_width(1)))
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(LineSeries::new(a, BLUE.stroke_width(2)))
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
