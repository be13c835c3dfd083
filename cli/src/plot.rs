//! SVG plots for people: measured data against the calibrated twin's predictions, and
//! forecasts with their bands, thresholds and remaining lives. Axes are in units a person
//! reads (µm rather than 1e-7 m, hours for long times), lines are decimated for drawing (a
//! panel holds at most a few thousand points, spikes kept), measurements are drawn on top.

use std::path::Path;

use machine_twin::calibrate::{CalibrationReport, Run, predictions};
use machine_twin::error::{Error, Result};
use machine_twin::model::Model;
use machine_twin::prognosis::{Band, Prognosis};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const PANEL_HEIGHT: u32 = 220;
const WIDTH: u32 = 1000;
/// Most points drawn per line or per set of dots in one panel.
const MAX_POINTS: usize = 1000;

type Panel<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A display unit: values are divided by `factor` and the axis says `label`.
#[derive(Clone)]
struct Scale {
    factor: f64,
    label: String,
}

impl Scale {
    /// Seconds shown as s, min or h, chosen by the span `t_end`.
    fn time(t_end: f64) -> Self {
        let (factor, label) = match t_end {
            t if t >= 3.0 * 3600.0 => (3600.0, "h"),
            t if t >= 600.0 => (60.0, "min"),
            _ => (1.0, "s"),
        };
        Self {
            factor,
            label: label.into(),
        }
    }

    /// Values in `unit` spanning up to `largest` in magnitude, with an SI prefix where the
    /// unit takes one (m → mm, µm, nm; N → kN).
    fn values(unit: &str, largest: f64) -> Self {
        let (prefix, factor) = crate::human::prefix(unit, largest);
        Self {
            factor,
            label: format!("{prefix}{unit}"),
        }
    }

    fn apply(&self, points: &[(f64, f64)], time: &Scale) -> Vec<(f64, f64)> {
        points
            .iter()
            .map(|(t, y)| (t / time.factor, y / self.factor))
            .collect()
    }
}

/// At most about `max` points of `points` for drawing: in each of `max / 2` buckets, the
/// lowest and the highest in time order, so that spikes and steps survive.
fn decimate(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points.to_vec();
    }
    let bucket = points.len().div_ceil(max / 2);
    points
        .chunks(bucket)
        .flat_map(|c| {
            let lo = c.iter().enumerate().min_by(|a, b| a.1.1.total_cmp(&b.1.1));
            let hi = c.iter().enumerate().max_by(|a, b| a.1.1.total_cmp(&b.1.1));
            let (lo, hi) = (lo.expect("non-empty"), hi.expect("non-empty"));
            if lo.0 <= hi.0 {
                [*lo.1, *hi.1]
            } else {
                [*hi.1, *lo.1]
            }
        })
        .collect()
}

/// Tick labels with the digits the axis span needs.
fn tick(span: f64) -> impl Fn(&f64) -> String {
    let decimals = if span > 0.0 && span.is_finite() {
        (-((span / 5.0).log10().floor() as i32)).clamp(0, 6) as usize
    } else {
        1
    };
    move |x: &f64| format!("{x:.decimals$}")
}

/// A panel over [0, `x_end`] × [`lo`, `hi`] (already in display units), with its caption,
/// axis descriptions and a light mesh; room on the right for the last x label.
fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    (x_desc, x_end): (&str, f64),
    (y_desc, lo, hi): (&str, f64, f64),
) -> std::result::Result<Panel<'a, DB>, String> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = ((hi - lo) * 0.05).max(1e-12 * hi.abs().max(1.0));
    let (lo, hi) = (lo - pad, hi + pad);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 14))
        .margin(8)
        .margin_right(40)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_end.max(1e-9), lo..hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&tick(x_end))
        .y_label_formatter(&tick(hi - lo))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// The range of the finite second coordinates of `points`.
fn y_range<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> (f64, f64) {
    points
        .map(|p| p.1)
        .filter(|y| y.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(y), h.max(y))
        })
}

/// Per run and sensor with data, a panel: the prior-mean twin (orange) and the calibrated twin
/// (blue) as thin lines, the measurements as dots on top.
pub fn calibration_plot(
    path: &Path,
    model: &std::sync::Arc<Model>,
    runs: &[Run],
    report: &CalibrationReport,
) -> Result<()> {
    let prior: Vec<f64> = report.parameters.values().map(|p| p.prior_mean).collect();
    let posterior: Vec<f64> = report.parameters.values().map(|p| p.mean).collect();
    let mut panels = Vec::new();
    for run in runs {
        let before = predictions(model, run, &prior)?;
        let after = predictions(model, run, &posterior)?;
        for s in (0..model.sensors.len()).filter(|s| run.z.iter().any(|z| z[*s].is_some())) {
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
            panels.push((run, s, measured, line(&before), line(&after)));
        }
    }
    let label = path.display().to_string();
    let fail = |e: &dyn std::fmt::Display| Error::output(&label, format!("plot: {e}"));
    let height = PANEL_HEIGHT * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (area, (run, s, measured, before, after)) in areas.iter().zip(&panels) {
        let sensor = &model.sensors[*s];
        let time = Scale::time(run.end_time());
        let (lo, hi) = y_range(measured.iter().chain(after).chain(before));
        let values = Scale::values(sensor.unit, lo.abs().max(hi.abs()));
        let caption = format!(
            "{}{}: measured (grey dots), prior twin (orange), calibrated twin (blue)",
            if runs.len() > 1 {
                format!("{} — ", run.source)
            } else {
                String::new()
            },
            sensor.name
        );
        let mut chart = panel(
            area,
            &caption,
            (
                &format!("time ({})", time.label),
                run.end_time() / time.factor,
            ),
            (
                &format!("{} ({})", sensor.name, values.label),
                lo / values.factor,
                hi / values.factor,
            ),
        )
        .map_err(|e| fail(&e))?;
        for (points, color) in [
            (before, RGBColor(230, 120, 20)),
            (after, RGBColor(30, 70, 200)),
        ] {
            let points = decimate(&values.apply(points, &time), MAX_POINTS);
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(1)))
                .map_err(|e| fail(&e))?;
        }
        let step = measured.len().div_ceil(MAX_POINTS).max(1);
        let dots = values.apply(measured, &time);
        let radius = if measured.len() / step > 300 { 1 } else { 2 };
        chart
            .draw_series(
                dots.iter()
                    .step_by(step)
                    .map(|p| Circle::new(*p, radius, RGBColor(90, 90, 90).filled())),
            )
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

/// One forecast panel: what it shows, its unit, its bands and the thresholds of its events.
struct ForecastPanel<'a> {
    title: String,
    unit: &'a str,
    bands: &'a [Band],
    thresholds: Vec<f64>,
}

/// One panel per wear element, stress section and sensor that an event watches: the members'
/// p05–p95 band (shaded), the median (line), the event thresholds (red) and the remaining
/// lives' p05, p50 and p95 (dashed verticals). Where the band's top runs far above the
/// median and the thresholds (members at a cap), the axis stops at twice their largest value
/// and the caption says so.
pub fn prognosis_plot(path: &Path, model: &Model, outlook: &Prognosis) -> Result<()> {
    let mut panels: Vec<ForecastPanel> = Vec::new();
    for w in &model.wear {
        if let Some(b) = outlook.wear.get(&w.name) {
            panels.push(ForecastPanel {
                title: format!("wear {} ({})", w.name, w.quantity()),
                unit: w.unit(),
                bands: b,
                thresholds: Vec::new(),
            });
        }
    }
    for (name, b) in &outlook.damage {
        panels.push(ForecastPanel {
            title: format!("damage {name} (Miner sum)"),
            unit: "1",
            bands: b,
            thresholds: vec![1.0],
        });
    }
    for (s, sensor) in model.sensors.iter().enumerate() {
        let thresholds: Vec<f64> = model
            .events
            .iter()
            .filter(|e| e.sensor == s)
            .map(|e| e.threshold)
            .collect();
        if !thresholds.is_empty() {
            panels.push(ForecastPanel {
                title: sensor.name.clone(),
                unit: sensor.unit,
                bands: &outlook.sensors[&sensor.name],
                thresholds,
            });
        }
    }
    let lives: Vec<(String, f64)> = outlook
        .rul
        .iter()
        .flat_map(|(event, r)| {
            [("p05", r.p05), ("p50", r.p50), ("p95", r.p95)]
                .into_iter()
                .filter_map(move |(q, t)| t.map(|t| (format!("RUL {event} {q}"), t)))
        })
        .collect();
    let label = path.display().to_string();
    let fail = |e: &dyn std::fmt::Display| Error::output(&label, format!("plot: {e}"));
    let root = SVGBackend::new(path, (WIDTH, PANEL_HEIGHT * panels.len().max(1) as u32))
        .into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    let t_end = outlook.times.last().copied().unwrap_or(1.0).max(1e-9);
    let time = Scale::time(t_end);
    for (area, p) in areas.iter().zip(&panels) {
        forecast_panel(area, p, outlook, &time, t_end, &lives).map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}

/// Draws one forecast panel (see [`prognosis_plot`]).
fn forecast_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    p: &ForecastPanel,
    outlook: &Prognosis,
    time: &Scale,
    t_end: f64,
    lives: &[(String, f64)],
) -> std::result::Result<(), String> {
    let finite = |x: f64| x.is_finite().then_some(x);
    let median_top = p
        .bands
        .iter()
        .filter_map(|b| finite(b.p50))
        .fold(f64::MIN, f64::max);
    let top_wanted = p.thresholds.iter().copied().fold(median_top, f64::max);
    let band_top = p
        .bands
        .iter()
        .filter_map(|b| finite(b.p95))
        .fold(f64::MIN, f64::max);
    let bottom = p
        .bands
        .iter()
        .filter_map(|b| finite(b.p05))
        .chain(p.thresholds.iter().copied())
        .fold(f64::MAX, f64::min);
    let clip = top_wanted > 0.0 && band_top > 2.0 * top_wanted;
    let top = if clip {
        2.0 * top_wanted
    } else {
        band_top.max(top_wanted)
    };
    let values = Scale::values(p.unit, top.abs().max(bottom.abs()));
    let unit_text = if values.label.is_empty() || values.label == "1" {
        String::new()
    } else {
        format!(" ({})", values.label)
    };
    let caption = format!(
        "{}: median (blue), 5–95 % band (shaded){}{}{}",
        p.title,
        if p.thresholds.is_empty() {
            ""
        } else {
            ", event threshold (red)"
        },
        if lives.is_empty() {
            ""
        } else {
            ", RUL p05/p50/p95 (dashed)"
        },
        if clip {
            "; axis clipped at twice the median's and thresholds' top, the band goes on above"
        } else {
            ""
        }
    );
    let mut chart = panel(
        area,
        &caption,
        (
            &format!("time from the start of the forecast ({})", time.label),
            t_end / time.factor,
        ),
        (
            &format!("{}{unit_text}", p.title),
            bottom / values.factor,
            top / values.factor,
        ),
    )?;
    let at = |k: usize, y: f64| (outlook.times[k] / time.factor, y.min(top) / values.factor);
    let band: Vec<(f64, f64)> = (0..p.bands.len())
        .map(|k| at(k, p.bands[k].p95))
        .chain((0..p.bands.len()).rev().map(|k| at(k, p.bands[k].p05)))
        .filter(|q| q.1.is_finite())
        .collect();
    chart
        .draw_series(std::iter::once(Polygon::new(
            band,
            RGBColor(120, 160, 230).mix(0.35).filled(),
        )))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            (0..p.bands.len()).map(|k| at(k, p.bands[k].p50)),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
    let x_end = t_end / time.factor;
    for &th in &p.thresholds {
        let y = th / values.factor;
        chart
            .draw_series(LineSeries::new([(0.0, y), (x_end, y)], RED.stroke_width(1)))
            .map_err(|e| e.to_string())?;
    }
    let (lo, hi) = (bottom / values.factor, top / values.factor);
    for (name, t) in lives {
        let x = t / time.factor;
        if x > x_end {
            continue;
        }
        chart
            .draw_series(DashedLineSeries::new(
                [(x, lo), (x, hi)],
                4,
                3,
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        let short = name.rsplit(' ').next().unwrap_or(name);
        chart
            .draw_series(std::iter::once(Text::new(
                short.to_string(),
                (x, hi),
                ("sans-serif", 11),
            )))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_spikes_and_order() {
        let points: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 4321 { 50.0 } else { (i % 7) as f64 }))
            .collect();
        let d = decimate(&points, 1000);
        assert!(d.len() <= 1000, "{}", d.len());
        assert!(d.contains(&(4321.0, 50.0)));
        assert!(d.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    /// Issue 16: the nose-growth axis read `0.0` everywhere (values near 1e-7 m).
    #[test]
    fn axes_take_readable_units() {
        let s = Scale::values("m", 2.2e-7);
        assert_eq!((s.factor, s.label.as_str()), (1e-9, "nm"));
        assert_eq!(Scale::values("m", 3e-4).label, "µm");
        assert_eq!(Scale::values("N", 4200.0).label, "kN");
        assert_eq!(Scale::values("°C", 30.0).label, "°C");
        assert_eq!(Scale::values("m", 2.0).label, "m");
        assert_eq!(Scale::time(7200.0).label, "min");
        assert_eq!(Scale::time(45_000.0).label, "h");
        assert_eq!(tick(5e-4)(&2e-4), "0.0002");
        assert_eq!(tick(40.0)(&15.0), "15");
    }
}
