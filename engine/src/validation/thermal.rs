//! Thermal validation cases: analytical solutions and published reference values. Grid cases
//! run on the CPU and, where wgpu finds an adapter, again on the GPU, with one metric per
//! backend.

use std::sync::Arc;

use super::{CaseContext, Metric, Outcome};
use crate::error::{Error, Result};
use crate::model::{Model, SensorKind};
use crate::thermal::Backend;
use crate::twin::Twin;

/// The backends to run a grid case on: the CPU, and the GPU when an adapter opens
/// (where a GPU is required, a missing adapter is an error: [`crate::thermal::gpu_required`]).
fn backends() -> Result<Vec<(&'static str, Backend)>> {
    let mut list = vec![("cpu", Backend::Cpu)];
    if let Some(ctx) = crate::thermal::gpu_or_skip("gpu backend not validated")? {
        list.push(("gpu", Backend::Gpu(ctx)));
    }
    Ok(list)
}

fn twin_on(model: &Arc<Model>, backend: &Backend) -> Result<Twin> {
    let mut twin = Twin::new(Arc::clone(model), 0);
    twin.set_backend(backend)?;
    Ok(twin)
}

fn run_to(twin: &mut Twin, t: f64) -> Result<()> {
    twin.advance_to(t)
}

/// An error in the case's model: at `field`, what the case expected.
fn case_model_error(ctx: &CaseContext, field: &str, message: &str) -> Error {
    let file = ctx
        .model_path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Error::invalid(file, None, Some(field.to_string()), message)
}

fn sensor(model: &Model, ctx: &CaseContext, name: &str) -> Result<usize> {
    model.sensor_index(name).map_err(|_| {
        Error::invalid(
            ctx.model_path()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            None,
            Some(format!("sensor.{name}")),
            "this case needs the sensor",
        )
    })
}

/// Noise-free value of sensor `s` now.
fn value(twin: &Twin, s: usize) -> f64 {
    twin.readings()[s].expected
}

/// Time for a lumped node to reach a target temperature, against `tau ln(ΔT0/ΔT)`.
pub fn lumped_cooling_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let th = &model.thermal;
    let (node, link) = (&th.nodes[0], &th.links[0]);
    let ambient = th.ambients[0].temperature.value(0.0, &[]);
    let target = ctx.setting("target", 199.0)?;
    let tau = node.capacity / link.conductance;
    let exact = tau * ((ambient - node.initial) / (ambient - target)).ln();
    let mut twin = Twin::new(Arc::clone(&model), 0);
    let mut before = (0.0, node.initial);
    let mut reached = f64::NAN;
    while twin.time() < 10.0 * exact {
        twin.step()?;
        let now = (twin.time(), twin.thermal().nodes[0]);
        if (now.1 - target) * (before.1 - target) <= 0.0 && now.1 != before.1 {
            reached = before.0 + (target - before.1) / (now.1 - before.1) * (now.0 - before.0);
            break;
        }
        before = now;
    }
    Ok(Outcome::Metrics(vec![
        Metric::relative(
            "time to 199 °C vs tau ln(175) (s)",
            reached,
            exact,
            ctx.spec.tolerance,
        ),
        Metric::relative(
            "time to 199 °C vs published 5.16 s (s)",
            reached,
            5.16,
            0.005,
        ),
    ]))
}

/// Depth of the 0 °C front in a semi-infinite solid with a sudden surface temperature.
pub fn semi_infinite_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let grid = &model.thermal.grids[0];
    let t_end = ctx.setting("days", 60.0)? * 86400.0;
    let expected = ctx.setting("expected_depth", 0.677)?;
    let mut metrics = Vec::new();
    for (name, backend) in backends()? {
        let mut twin = twin_on(&model, &backend)?;
        run_to(&mut twin, t_end)?;
        let field = &twin.thermal().grids[0];
        let temp = |i: usize| grid.initial + field[i] as f64;
        let depth = (1..grid.n[0])
            .find(|&i| temp(i) >= 0.0)
            .map(|i| {
                let (a, b) = (temp(i - 1), temp(i));
                grid.h[0] * ((i - 1) as f64 + (0.0 - a) / (b - a))
            })
            .unwrap_or(f64::NAN);
        metrics.push(Metric::relative(
            format!("depth of 0 °C after 60 days (m) [{name}]"),
            depth,
            expected,
            ctx.spec.tolerance,
        ));
    }
    Ok(Outcome::Metrics(metrics))
}

/// Centre temperature ratio of a convectively cooled plane wall at a given Fourier number.
pub fn plane_wall_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let grid = &model.thermal.grids[0];
    let m = &grid.materials[0];
    let length = grid.size[0];
    let t = ctx.setting("fourier", 0.5)? * length * length * m.rho_cp() / m.k;
    let expected = ctx.setting("expected_ratio", 0.77253)?;
    let centre = sensor(&model, ctx, "centre")?;
    let mut metrics = Vec::new();
    for (name, backend) in backends()? {
        let mut twin = twin_on(&model, &backend)?;
        run_to(&mut twin, t)?;
        let SensorKind::Temperature(of) = model.sensors[centre].kind else {
            return Err(case_model_error(
                ctx,
                "sensor.centre.kind",
                "expected a temperature",
            ));
        };
        let ratio = twin.thermal().temperature(&model, of) / grid.initial;
        metrics.push(Metric::relative(
            format!("centre ratio at Fo = 0.5 [{name}]"),
            ratio,
            expected,
            ctx.spec.tolerance,
        ));
    }
    Ok(Outcome::Metrics(metrics))
}

/// NAFEMS T4: steady temperature at the target point.
pub fn nafems_t4_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let steady = ctx.setting("steady_seconds", 150000.0)?;
    let expected = ctx.setting("expected", 18.25)?;
    let target = sensor(&model, ctx, "target")?;
    let mut metrics = Vec::new();
    for (name, backend) in backends()? {
        let mut twin = twin_on(&model, &backend)?;
        run_to(&mut twin, steady)?;
        let settled = value(&twin, target);
        run_to(&mut twin, steady * 1.1)?;
        let later = value(&twin, target);
        metrics.push(Metric::relative(
            format!("T(0.6, 0.2) (°C) [{name}]"),
            later,
            expected,
            ctx.spec.tolerance,
        ));
        metrics.push(Metric::absolute(
            format!("change over the last 10 % of the run (K) [{name}]"),
            later - settled,
            0.0,
            0.01,
        ));
    }
    Ok(Outcome::Metrics(metrics))
}

/// Steady temperature rise in a box with uniform generation and fixed faces, triple sine series.
pub fn block_rise(q: f64, k: f64, size: [f64; 3], p: [f64; 3]) -> f64 {
    let pi = std::f64::consts::PI;
    let [a, b, c] = size;
    let mut sum = 0.0;
    for l in (1..200).step_by(2) {
        let sl = (l as f64 * pi * p[0] / a).sin();
        for m in (1..200).step_by(2) {
            let sm = (m as f64 * pi * p[1] / b).sin();
            for n in (1..200).step_by(2) {
                let (lf, mf, nf) = (l as f64, m as f64, n as f64);
                let lambda = pi * pi * (lf * lf / (a * a) + mf * mf / (b * b) + nf * nf / (c * c));
                let sn = (nf * pi * p[2] / c).sin();
                sum += 64.0 * q / (pi.powi(3) * k * lf * mf * nf * lambda) * sl * sm * sn;
            }
        }
    }
    sum
}

/// Steady 3-D block with uniform generation, against the series solution.
pub fn steady_block_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let th = &model.thermal;
    let grid = &th.grids[0];
    let power = match &th.heats[0].origin {
        crate::thermal::HeatOrigin::Power(s) => s.value(0.0, &[]),
        _ => {
            return Err(case_model_error(
                ctx,
                &format!("thermal.heat.{}", th.heats[0].name),
                "expected a prescribed `power`",
            ));
        }
    };
    let q = power / grid.size.iter().product::<f64>();
    let k = grid.materials[0].k;
    let steady = ctx.setting("steady_seconds", 400.0)?;
    let probes = [
        ("centre", sensor(&model, ctx, "centre")?),
        ("off_centre", sensor(&model, ctx, "off_centre")?),
    ];
    let mut metrics = Vec::new();
    for (name, backend) in backends()? {
        let mut twin = twin_on(&model, &backend)?;
        run_to(&mut twin, steady)?;
        for (label, s) in probes {
            let crate::model::SensorKind::Temperature(crate::model::TemperatureOf::Grid {
                observable,
                ..
            }) = model.sensors[s].kind
            else {
                return Err(case_model_error(
                    ctx,
                    &format!("sensor.{label}"),
                    "expected a grid temperature",
                ));
            };
            let crate::thermal::grid::Observable::Probe(x) = grid.observables[observable] else {
                return Err(case_model_error(
                    ctx,
                    &format!("sensor.{label}"),
                    "expected a probe point",
                ));
            };
            let point: [f64; 3] = std::array::from_fn(|a| x[a] * grid.h[a]);
            metrics.push(Metric::relative(
                format!("temperature rise at the {label} (K) [{name}]"),
                value(&twin, s) - grid.initial,
                block_rise(q, k, grid.size, point),
                ctx.spec.tolerance,
            ));
        }
    }
    Ok(Outcome::Metrics(metrics))
}

/// First law over a run of a model with losses: entered = stored + lost.
pub fn energy_balance_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let seconds = ctx.setting("seconds", 600.0)?;
    let mut metrics = Vec::new();
    for (name, backend) in backends()? {
        let mut twin = twin_on(&model, &backend)?;
        run_to(&mut twin, seconds)?;
        let (entered, stored, lost) = twin.energy_balance();
        if twin.thermal().energy.unaccounted_fixed_faces {
            return Err(case_model_error(
                ctx,
                "thermal.grid",
                "expected no fixed-temperature faces (their heat is not accounted)",
            ));
        }
        metrics.push(Metric::absolute(
            format!("|entered − stored − lost| / entered, {entered:.0} J entered [{name}]"),
            (entered - stored - lost).abs() / entered,
            0.0,
            ctx.spec.tolerance,
        ));
    }
    Ok(Outcome::Metrics(metrics))
}
