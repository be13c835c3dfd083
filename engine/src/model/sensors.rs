//! `[sensor.NAME]`: what each sensor measures, in which unit, at which rate, with which noise
//! and bias.

use super::context::Ctx;
use super::mechanics::body_index;
use super::ranges::{EXPANSION, GAIN, NOISE, POSITION, READING, TEMPERATURE};
use super::spec::{ModelSpec, SensorSpec};
use super::{Bearing, Body, Component, Drive, Joint, JointKind, Section, Sensor, SensorKind};
use crate::error::Result;
use crate::thermal::Thermal;
use crate::wear::WearElement;

/// The parts of the model a sensor can name.
pub(super) struct Parts<'a> {
    pub bodies: &'a [Body],
    pub joints: &'a [Joint],
    pub drives: &'a [Drive],
    pub bearings: &'a [Bearing],
    pub wear: &'a [WearElement],
    pub sections: &'a [Section],
}

/// Every sensor, in file order (a thermal sensor may add a probe or region mean to its grid);
/// names must differ from each other and from the model's inputs.
pub(super) fn compile_sensors(
    cx: &Ctx,
    spec: &ModelSpec,
    parts: &Parts,
    thermal: &mut Thermal,
    dt_mech: f64,
    input_names: &[String],
) -> Result<Vec<Sensor>> {
    let mut sensors: Vec<Sensor> = Vec::new();
    for (name, s) in &spec.sensor {
        sensors.push(compile_sensor(cx, name, s, parts, thermal, dt_mech)?);
    }
    // Sensor names are table keys, so unique among themselves; against the inputs, a set keeps
    // the check linear in the number of sensors.
    let inputs: std::collections::HashSet<&str> = input_names.iter().map(String::as_str).collect();
    for s in &sensors {
        if inputs.contains(s.name.as_str()) {
            return Err(cx.err(
                &["sensor", &s.name],
                "a sensor may not share its name with a model input",
            ));
        }
    }
    Ok(sensors)
}

fn compile_sensor(
    cx: &Ctx,
    name: &str,
    s: &SensorSpec,
    parts: &Parts,
    thermal: &mut Thermal,
    dt_mech: f64,
) -> Result<Sensor> {
    let p = |f: &'static str| ["sensor", name, f];
    let joint = |field: &'static str| -> Result<usize> {
        let n = s.joint.as_deref().ok_or_else(|| {
            cx.err(
                &p(field),
                format!("a {} sensor needs `joint = \"...\"`", s.kind),
            )
        })?;
        parts
            .joints
            .iter()
            .position(|j| j.name == n)
            .ok_or_else(|| {
                let names: Vec<&str> = parts.joints.iter().map(|j| j.name.as_str()).collect();
                cx.err(
                    &p("joint"),
                    format!("no joint named `{n}` (joints: {})", names.join(", ")),
                )
            })
    };
    let drive = || -> Result<usize> {
        let n = s.drive.as_deref().ok_or_else(|| {
            cx.err(
                &p("kind"),
                format!("a {} sensor needs `drive = \"...\"`", s.kind),
            )
        })?;
        parts
            .drives
            .iter()
            .position(|d: &Drive| d.name == n)
            .ok_or_else(|| cx.err(&p("drive"), format!("no drive named `{n}`")))
    };
    let component = || -> Result<Component> {
        Ok(match s.component.as_deref().unwrap_or("magnitude") {
            "x" => Component::X,
            "y" => Component::Y,
            "z" => Component::Z,
            "radial" => Component::Radial,
            "magnitude" => Component::Magnitude,
            other => {
                return Err(cx.err(
                    &p("component"),
                    format!("expected x, y, z, radial or magnitude, got \"{other}\""),
                ));
            }
        })
    };
    let linear = |j: usize| parts.joints[j].kind == JointKind::Prismatic;
    let (kind, unit) = match s.kind.as_str() {
        "joint_position" => { let j = joint("kind")?; (SensorKind::JointPosition(j), if linear(j) { "m" } else { "rad" }) }
        "joint_velocity" => { let j = joint("kind")?; (SensorKind::JointVelocity(j), if linear(j) { "m/s" } else { "rad/s" }) }
        "drive_torque" => (SensorKind::DriveTorque(drive()?), "N·m"),
        "motor_current" => (SensorKind::MotorCurrent(drive()?), "A"),
        "body_acceleration" => {
            let n = s.body.as_deref().ok_or_else(|| cx.err(&p("kind"), "a body_acceleration sensor needs `body = \"...\"`"))?;
            let body = body_index(cx, parts.bodies, &p("body"), n)?;
            let axis = cx.unit(&p("axis"), s.axis.unwrap_or([1.0, 0.0, 0.0]))?;
            (SensorKind::BodyAcceleration { body, axis }, "m/s^2")
        }
        "joint_reaction_force" => (SensorKind::ReactionForce(joint("kind")?, component()?), "N"),
        "joint_reaction_torque" => (SensorKind::ReactionTorque(joint("kind")?, component()?), "N·m"),
        "bearing_load" => {
            let n = s.bearing.as_deref().ok_or_else(|| cx.err(&p("kind"), "a bearing_load sensor needs `bearing = \"...\"`"))?;
            let b = parts.bearings.iter().position(|b| b.name == n).ok_or_else(|| cx.err(&p("bearing"), format!("no bearing named `{n}`")))?;
            (SensorKind::BearingLoad(b), "N")
        }
        "wear" | "vibration" => {
            let n = s.wear.as_deref().ok_or_else(|| cx.err(&p("kind"), format!("a {} sensor needs `wear = \"...\"`", s.kind)))?;
            let e = parts.wear.iter().position(|w| w.name == n).ok_or_else(|| cx.err(&p("wear"), format!("no wear element named `{n}`")))?;
            if s.kind == "wear" {
                (SensorKind::Wear(e), parts.wear[e].unit())
            } else {
                if !matches!(parts.wear[e].law, crate::wear::Law::Bearing { .. }) {
                    return Err(cx.err(&p("wear"), format!("`{n}` is not a bearing wear element (a vibration sensor reads a bearing's defect)")));
                }
                let gain = cx.ranged(&p("gain"), s.gain.unwrap_or(1.0), GAIN)?;
                (SensorKind::Vibration { element: e, gain }, "m/s^2")
            }
        }
        "damage" => {
            let n = s.section.as_deref().ok_or_else(|| cx.err(&p("kind"), "a damage sensor needs `section = \"...\"`"))?;
            let i = parts.sections.iter().position(|x: &super::Section| x.name == n).ok_or_else(|| cx.err(&p("section"), format!("no section named `{n}`")))?;
            (SensorKind::Damage(i), "1")
        }
        "temperature" => (SensorKind::Temperature(super::thermal::temperature_of(cx, name, s, thermal, false)?), "°C"),
        "thermal_growth" => {
            let of = super::thermal::temperature_of(cx, name, s, thermal, true)?;
            let need = |f: &'static str, v: Option<f64>| {
                v.ok_or_else(|| cx.err(&p(f), format!("a thermal_growth sensor needs `{f}`")))
            };
            let alpha = cx.ranged(&p("alpha"), need("alpha", s.alpha)?, EXPANSION)?;
            let length = cx.ranged(&p("length"), need("length", s.length)?, POSITION)?;
            let reference = cx.ranged(&p("reference_temperature"), s.reference_temperature.unwrap_or(super::DEFAULT_TEMPERATURE), TEMPERATURE)?;
            (SensorKind::ThermalGrowth { of, alpha, length, reference }, "m")
        }
        other => return Err(cx.err(&p("kind"), format!(
            "expected joint_position, joint_velocity, drive_torque, motor_current, body_acceleration, joint_reaction_force, joint_reaction_torque, bearing_load, temperature, thermal_growth, wear, vibration or damage, got \"{other}\""
        ))),
    };
    let rate = cx.positive(&p("rate"), s.rate)?;
    if rate * dt_mech > 1.0 + 1e-9 {
        return Err(cx.err(
            &p("rate"),
            format!(
                "expected at most 1/dt_mech = {} Hz, got {rate}",
                1.0 / dt_mech
            ),
        ));
    }
    let range = match s.range {
        Some([lo, hi]) => {
            let lo = cx.finite(&p("range"), lo)?;
            if cx.finite(&p("range"), hi)? <= lo {
                return Err(cx.err(
                    &p("range"),
                    format!("expected [lowest, highest] with lowest < highest, got [{lo}, {hi}]"),
                ));
            }
            [lo, hi]
        }
        None if unit == "°C" => [TEMPERATURE.lo, TEMPERATURE.hi],
        None => [READING.lo, READING.hi],
    };
    Ok(Sensor {
        range,
        name: name.to_string(),
        kind,
        unit,
        rate,
        period_steps: (1.0 / (rate * dt_mech)).round().max(1.0) as u64,
        noise_std: cx.ranged(&p("noise_std"), s.noise_std, NOISE)?,
        bias: cx.ranged(&p("bias"), s.bias, READING)?,
    })
}
