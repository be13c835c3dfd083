//! SVG plots for people: measured data against the calibrated twin's predictions.

use std::path::Path;

use machine_twin::calibrate::{CalibrationReport, Run, predictions};
use machine_twin::error::{Error, Result};
use machine_twin::model::Model;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const PANEL_HEIGHT: u32 = 220;
const WIDTH: u32 = 1000;

type Panel<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A panel over [0, `t_end`] s × the range of the finite `values` (padded by 5 %), with its
/// caption, axes and a light mesh.
fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    x_desc: &str,
    t_end: f64,
    values: impl Iterator<Item = f64>,
) -> std::result::Result<Panel<'a, DB>, String> {
    let (lo, hi) = values
        .filter(|y| y.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(y), h.max(y))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(1e-12 * hi.abs().max(1.0));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 14))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..t_end.max(1e-9), (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

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
    let fail = |e: &dyn std::fmt::Display| Error::output(&label, format!("plot: {e}"));
    let height = PANEL_HEIGHT * sensors.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let panels = root.split_evenly((sensors.len().max(1), 1));
    for (panel_area, &s) in panels.iter().zip(&sensors) {
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
        let caption = format!(
            "{} [{}]: measured (grey), prior twin (orange), calibrated twin (blue)",
            sensor.name, sensor.unit
        );
        let ys = measured.iter().chain(&a).map(|p| p.1);
        let mut chart =
            panel(panel_area, &caption, "time (s)", run.end_time(), ys).map_err(|e| fail(&e))?;
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

/// One panel per wear element, stress section and sensor that an event watches: the members'
/// p05–p95 band (shaded), the median (line) and the event thresholds (red).
pub fn prognosis_plot(
    path: &Path,
    model: &Model,
    outlook: &machine_twin::prognosis::Prognosis,
) -> Result<()> {
    let mut panels: Vec<(String, &[machine_twin::prognosis::Band], Vec<f64>)> = Vec::new();
    for (name, b) in &outlook.wear {
        panels.push((format!("wear {name}"), b, Vec::new()));
    }
    for (name, b) in &outlook.damage {
        panels.push((format!("damage {name}"), b, vec![1.0]));
    }
    for (s, sensor) in model.sensors.iter().enumerate() {
        let thresholds: Vec<f64> = model
            .events
            .iter()
            .filter(|e| e.sensor == s)
            .map(|e| e.threshold)
            .collect();
        if !thresholds.is_empty() {
            panels.push((
                format!("{} [{}]", sensor.name, sensor.unit),
                &outlook.sensors[&sensor.name],
                thresholds,
            ));
        }
    }
    let label = path.display().to_string();
    let fail = |e: &dyn std::fmt::Display| Error::output(&label, format!("plot: {e}"));
    let root = SVGBackend::new(path, (WIDTH, PANEL_HEIGHT * panels.len().max(1) as u32))
        .into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    let t_end = outlook.times.last().copied().unwrap_or(1.0).max(1e-9);
    for (area, (title, bands, thresholds)) in areas.iter().zip(&panels) {
        let ys = bands
            .iter()
            .flat_map(|b| [b.p05, b.p95])
            .chain(thresholds.iter().copied());
        let caption =
            format!("{title}: median (blue), 5–95 % band (shaded), event threshold (red)");
        let x_desc = "time from the start of the forecast (s)";
        let mut chart = panel(area, &caption, x_desc, t_end, ys).map_err(|e| fail(&e))?;
        let band: Vec<(f64, f64)> = outlook
            .times
            .iter()
            .zip(bands.iter())
            .map(|(t, b)| (*t, b.p95))
            .chain(
                outlook
                    .times
                    .iter()
                    .zip(bands.iter())
                    .rev()
                    .map(|(t, b)| (*t, b.p05)),
            )
            .filter(|p| p.1.is_finite())
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                RGBColor(120, 160, 230).mix(0.35).filled(),
            )))
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(LineSeries::new(
                outlook
                    .times
                    .iter()
                    .zip(bands.iter())
                    .map(|(t, b)| (*t, b.p50)),
                BLUE.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?;
        for &th in thresholds {
            chart
                .draw_series(LineSeries::new(
                    [(0.0, th), (t_end, th)],
                    RED.stroke_width(1),
                ))
                .map_err(|e| fail(&e))?;
        }
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
