//! Validation and compilation of a [`ModelSpec`] into a [`Model`]: the file parsed, then each
//! part compiled in the order its references need (bodies before joints, joints before
//! drives, the thermal nodes before friction that follows them, every part before the sensors
//! that read it, sensors before events, everything before the parameters that address it).

use super::context::Ctx;
use super::mechanics::{
    compile_bearings, compile_bodies, compile_drives, compile_friction_temperature, compile_joints,
    compile_loads, order_leaves_first,
};
use super::params::{Parameter, Tunables, check_value};
use super::ranges::READING;
use super::sensors::{Parts, compile_sensors};
use super::spec::ModelSpec;
use super::{Input, Model};
use crate::error::{Error, Result};

/// Shortest mechanical step, s: below it an hour of machine time is billions of steps.
const MIN_DT_MECH: f64 = 1e-6;
/// Longest step, s (models without moving parts, thermal only, take steps of minutes).
const MAX_DT_MECH: f64 = 1e4;
/// Most solver iterations per step (the machines here converge in a few).
const MAX_SOLVER_ITERATIONS: usize = 100;

pub(super) fn compile(src: &str, label: &str) -> Result<Model> {
    let spec: ModelSpec = toml::from_str(src).map_err(|e| {
        let line = e
            .span()
            .map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
        Error::invalid(label, line, None, e.message().trim().to_string())
    })?;
    let cx = Ctx::new(src, label);
    let cx = &cx;
    let s = &spec.solver;
    let dt_mech = cx.positive(&["solver", "dt_mech"], s.dt_mech)?;
    if !(MIN_DT_MECH..=MAX_DT_MECH).contains(&dt_mech) {
        return Err(cx.err(
            &["solver", "dt_mech"],
            format!("expected a step of {MIN_DT_MECH:e} … {MAX_DT_MECH} s, got {dt_mech:e}"),
        ));
    }
    for (field, n, least) in [
        ("iterations", s.iterations, 1),
        ("stabilization_iterations", s.stabilization_iterations, 0),
    ] {
        if !(least..=MAX_SOLVER_ITERATIONS).contains(&n) {
            return Err(cx.err(
                &["solver", field],
                format!("expected an integer {least} … {MAX_SOLVER_ITERATIONS}, got {n}"),
            ));
        }
    }
    let gravity = cx.vector_within(&["solver", "gravity"], s.gravity, 1e3, "m/s²")?;
    let inputs = compile_inputs(cx, &spec)?;
    let mut bodies = compile_bodies(cx, &spec)?;
    let mut joints = compile_joints(cx, &spec, &mut bodies)?;
    let leaves_first = order_leaves_first(cx, &bodies, &joints)?;
    let drives = compile_drives(cx, &spec, &joints, &inputs)?;
    let loads = compile_loads(cx, &spec, &bodies, &inputs)?;
    let bearings = compile_bearings(cx, &spec, &joints)?;
    let mut thermal = match &spec.thermal {
        Some(t) => super::thermal::compile_thermal(cx, t, dt_mech, &inputs, &joints, &drives)?,
        None => crate::thermal::Thermal::default(),
    };
    compile_friction_temperature(cx, &spec, &mut joints, &thermal)?;
    let wear = spec
        .wear
        .iter()
        .map(|(name, w)| super::wear::compile_wear(cx, name, w, &joints, &bearings, &inputs))
        .collect::<Result<Vec<_>>>()?;
    let sections = spec
        .section
        .iter()
        .map(|(name, s)| super::life::compile_section(cx, name, s, &joints, &drives))
        .collect::<Result<Vec<_>>>()?;
    let cycle_averaged = match &spec.solver.cycle_averaged {
        Some(c) => Some(super::life::compile_cycle_averaged(cx, c)?),
        None => None,
    };
    let parts = Parts {
        bodies: &bodies,
        joints: &joints,
        drives: &drives,
        bearings: &bearings,
        wear: &wear,
        sections: &sections,
    };
    let input_names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let sensors = compile_sensors(cx, &spec, &parts, &mut thermal, dt_mech, &input_names)?;
    let quasi_steady = match &spec.solver.quasi_steady {
        Some(q) => Some(super::quasi::compile_quasi_steady(
            cx,
            q,
            (!thermal.is_empty()).then_some(thermal.steps_per_update),
            cx.schedule.borrow().as_deref(),
        )?),
        None => None,
    };
    let mut model = Model {
        name: spec.model.name.clone(),
        description: spec.model.description.clone(),
        source: label.to_string(),
        dt_mech,
        solver_iterations: s.iterations,
        stabilization_iterations: s.stabilization_iterations,
        gravity,
        inputs,
        bodies,
        joints,
        drives,
        loads,
        bearings,
        sensors,
        thermal,
        wear,
        sections,
        events: Vec::new(),
        cycle_averaged,
        quasi_steady,
        parameters: Vec::new(),
        leaves_first,
    };
    for (name, e) in &spec.event {
        let event = super::life::compile_event(cx, name, e, &model.sensors, &model.wear)?;
        model.events.push(event);
    }
    model.parameters = compile_parameters(cx, &spec, &model)?;
    Ok(model)
}

/// `[input.NAME]` of every input, in file order.
fn compile_inputs(cx: &Ctx, spec: &ModelSpec) -> Result<Vec<Input>> {
    spec.input
        .iter()
        .map(|(name, i)| {
            let field = ["input", name, "range"];
            let range = match i.range {
                Some([lo, hi]) => {
                    let lo = cx.finite(&field, lo)?;
                    if cx.finite(&field, hi)? <= lo {
                        return Err(cx.err(
                            &field,
                            format!(
                                "expected [lowest, highest] with lowest < highest, got [{lo}, {hi}]"
                            ),
                        ));
                    }
                    [lo, hi]
                }
                None if matches!(i.unit.as_str(), "degC" | "°C") => {
                    [super::ranges::TEMPERATURE.lo, super::ranges::TEMPERATURE.hi]
                }
                None => [READING.lo, READING.hi],
            };
            let default = cx.ranged(&["input", name, "default"], i.default, READING)?;
            if !(range[0]..=range[1]).contains(&default) {
                return Err(cx.err(
                    &["input", name, "default"],
                    format!(
                        "expected a value within the range [{}, {}], got {default}",
                        range[0], range[1]
                    ),
                ));
            }
            Ok(Input {
                name: name.clone(),
                unit: i.unit.clone(),
                default,
                range,
            })
        })
        .collect()
}

/// `[[parameter]]`: each path resolved against the compiled `model`, its prior mean (default:
/// the model's own value), spread and bounds checked.
fn compile_parameters(cx: &Ctx, spec: &ModelSpec, model: &Model) -> Result<Vec<Parameter>> {
    let defaults = Tunables::from_model(model);
    let mut parameters: Vec<Parameter> = Vec::new();
    for (i, ps) in spec.parameter.iter().enumerate() {
        let idx = i.to_string();
        let p = |f: &'static str| ["parameter", idx.as_str(), f];
        let target = model
            .resolve(&ps.path)
            .map_err(|e| cx.err(&p("path"), e.to_string()))?;
        if parameters.iter().any(|q| q.path == ps.path) {
            return Err(cx.err(&p("path"), format!("`{}` is declared twice", ps.path)));
        }
        let mean = ps.mean.unwrap_or_else(|| defaults.get(target));
        check_value(&ps.path, target, mean).map_err(|e| cx.err(&p("mean"), e.to_string()))?;
        let std = cx.positive(&p("std"), ps.std)?;
        let [lower, upper] = ps.bounds.unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
        if lower.is_nan() || upper.is_nan() || lower >= upper || mean < lower || mean > upper {
            return Err(cx.err(
                &p("bounds"),
                format!("expected [lower, upper] with lower < upper around the mean {mean}"),
            ));
        }
        parameters.push(Parameter {
            path: ps.path.clone(),
            target,
            mean,
            std,
            lower,
            upper,
            per_unit: ps.per_unit,
        });
    }
    Ok(parameters)
}
