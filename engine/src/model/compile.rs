//! Validation and compilation of a [`ModelSpec`] into a [`Model`].

use nalgebra::{UnitQuaternion, Vector3};

use super::params::{Parameter, check_value};
use super::spec::{BodySpec, ModelSpec, ShapeSpec, SourceSpec};
use super::{
    Body, Component, Drive, DriveMode, Frame, Input, Joint, JointKind, Load, LoadKind, Model,
    Sensor, SensorKind, locate,
};
use crate::error::{Error, Result};
use crate::source::Source;

/// Reports errors at field paths of one source file.
pub(super) struct Ctx<'a> {
    src: &'a str,
    label: &'a str,
    /// The path of the first time schedule compiled, if any.
    schedule: std::cell::RefCell<Option<String>>,
}

impl Ctx<'_> {
    pub(super) fn err(&self, path: &[&str], message: impl Into<String>) -> Error {
        Error::invalid(
            self.label,
            locate::line_of(self.src, path),
            Some(path.join(".")),
            message,
        )
    }

    pub(super) fn finite(&self, path: &[&str], v: f64) -> Result<f64> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.err(path, format!("expected a finite number, got {v}")))
        }
    }

    pub(super) fn positive(&self, path: &[&str], v: f64) -> Result<f64> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(path, format!("expected a number > 0, got {v}")))
        }
    }

    pub(super) fn non_negative(&self, path: &[&str], v: f64) -> Result<f64> {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(self.err(path, format!("expected a number ≥ 0, got {v}")))
        }
    }

    fn vector(&self, path: &[&str], v: [f64; 3]) -> Result<Vector3<f64>> {
        for x in v {
            self.finite(path, x)?;
        }
        Ok(Vector3::from(v))
    }

    fn unit(&self, path: &[&str], v: [f64; 3]) -> Result<Vector3<f64>> {
        let v = self.vector(path, v)?;
        let n = v.norm();
        if n < 1e-12 {
            return Err(self.err(path, "expected a non-zero direction vector"));
        }
        Ok(v / n)
    }
}

pub(super) fn compile(src: &str, label: &str) -> Result<Model> {
    let spec: ModelSpec = toml::from_str(src).map_err(|e| {
        let line = e
            .span()
            .map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
        Error::invalid(label, line, None, e.message().trim().to_string())
    })?;
    let cx = Ctx {
        src,
        label,
        schedule: Default::default(),
    };

    let s = &spec.solver;
    let dt_mech = cx.positive(&["solver", "dt_mech"], s.dt_mech)?;
    if s.iterations == 0 {
        return Err(cx.err(&["solver", "iterations"], "expected an integer ≥ 1, got 0"));
    }
    let gravity = cx.vector(&["solver", "gravity"], s.gravity)?;

    let mut inputs = Vec::new();
    for (name, i) in &spec.input {
        let default = cx.finite(&["input", name, "default"], i.default)?;
        inputs.push(Input {
            name: name.clone(),
            unit: i.unit.clone(),
            default,
        });
    }

    let mut bodies = Vec::new();
    for (name, b) in &spec.body {
        if name == "world" {
            return Err(cx.err(&["body", name], "`world` is reserved for the fixed ground"));
        }
        bodies.push(compile_body(&cx, name, b)?);
    }
    let body_index = |bodies: &[Body], path: &[&str], name: &str| {
        bodies.iter().position(|b| b.name == name).ok_or_else(|| {
            let names: Vec<&str> = bodies.iter().map(|b| b.name.as_str()).collect();
            cx.err(
                path,
                format!("no body named `{name}` (bodies: {})", names.join(", ")),
            )
        })
    };

    let mut joints: Vec<Joint> = Vec::new();
    for (name, j) in &spec.joint {
        let p = |f: &'static str| ["joint", name.as_str(), f];
        let kind = match j.kind.as_str() {
            "revolute" => JointKind::Revolute,
            "prismatic" => JointKind::Prismatic,
            "fixed" => JointKind::Fixed,
            other => {
                return Err(cx.err(
                    &p("type"),
                    format!("expected \"revolute\", \"prismatic\" or \"fixed\", got \"{other}\""),
                ));
            }
        };
        let parent = if j.parent == "world" {
            None
        } else {
            Some(body_index(&bodies, &p("parent"), &j.parent)?)
        };
        let child = body_index(&bodies, &p("child"), &j.child)?;
        if parent == Some(child) {
            return Err(cx.err(&p("child"), "a joint cannot connect a body to itself"));
        }
        if let Some(other) = joints.iter().find(|o| o.child == child) {
            return Err(cx.err(&p("child"), format!(
                "body `{}` is already the child of joint `{}`: joints must form a tree (one parent joint per body)",
                j.child, other.name
            )));
        }
        let anchor = cx.vector(&p("anchor"), j.anchor)?;
        let axis = match (kind, j.axis) {
            (JointKind::Fixed, a) => a
                .map(|a| cx.unit(&p("axis"), a))
                .transpose()?
                .unwrap_or_else(Vector3::x),
            (_, Some(a)) => cx.unit(&p("axis"), a)?,
            (_, None) => {
                return Err(cx.err(
                    &p("axis"),
                    "expected an axis [x, y, z] for a revolute or prismatic joint",
                ));
            }
        };
        if let Some([lo, hi]) = j.limits {
            cx.finite(&p("limits"), lo)?;
            cx.finite(&p("limits"), hi)?;
            if lo >= hi || kind == JointKind::Fixed {
                return Err(cx.err(
                    &p("limits"),
                    "expected [lower, upper] with lower < upper on a revolute or prismatic joint",
                ));
            }
        }
        let coulomb =
            cx.non_negative(&["joint", name, "friction", "coulomb"], j.friction.coulomb)?;
        let viscous =
            cx.non_negative(&["joint", name, "friction", "viscous"], j.friction.viscous)?;
        // The joint frame: origin at the anchor, x along the axis, the same in world for both
        // bodies at the initial pose.
        let world = Frame {
            translation: anchor,
            rotation: rotation_from_x(&axis),
        };
        let relative_to = |b: Option<usize>| match b {
            None => world,
            Some(i) => {
                let body = &bodies[i];
                let inv = body.rotation.inverse();
                Frame {
                    translation: inv * (anchor - body.position),
                    rotation: inv * world.rotation,
                }
            }
        };
        joints.push(Joint {
            name: name.clone(),
            kind,
            parent,
            child,
            frame_parent: relative_to(parent),
            frame_child: relative_to(Some(child)),
            limits: j.limits,
            coulomb,
            viscous,
            viscous_temperature: None,
        });
    }
    for (j, joint) in joints.iter().enumerate() {
        bodies[joint.child].parent_joint = Some(j);
        if let Some(p) = joint.parent {
            bodies[p].child_joints.push(j);
        }
    }
    let leaves_first = order_leaves_first(&cx, &bodies, &joints)?;

    let source = |path: &[&str], s: &SourceSpec| compile_source(&cx, path, s, &inputs);

    let mut drives = Vec::new();
    for (name, d) in &spec.drive {
        let p = |f: &'static str| ["drive", name.as_str(), f];
        let joint = joints
            .iter()
            .position(|j| j.name == d.joint)
            .ok_or_else(|| cx.err(&p("joint"), format!("no joint named `{}`", d.joint)))?;
        let mode = match d.mode.as_str() {
            "speed" => DriveMode::Speed,
            "position" => DriveMode::Position,
            "torque" => DriveMode::Torque,
            other => {
                return Err(cx.err(
                    &p("mode"),
                    format!("expected \"speed\", \"position\" or \"torque\", got \"{other}\""),
                ));
            }
        };
        let ratio = match (joints[joint].kind, d.lead) {
            (JointKind::Fixed, _) => {
                return Err(cx.err(&p("joint"), "a drive needs a revolute or prismatic joint"));
            }
            (JointKind::Revolute, None) => 1.0,
            (JointKind::Revolute, Some(_)) => {
                return Err(cx.err(&p("lead"), "a lead applies to a prismatic joint only"));
            }
            (JointKind::Prismatic, Some(lead)) => {
                std::f64::consts::TAU / cx.positive(&p("lead"), lead)?
            }
            (JointKind::Prismatic, None) => 1.0,
        };
        drives.push(Drive {
            name: name.clone(),
            joint,
            mode,
            setpoint: source(&p("setpoint"), &d.setpoint)?,
            kp: cx.non_negative(&p("kp"), d.kp)?,
            ki: cx.non_negative(&p("ki"), d.ki)?,
            kd: cx.non_negative(&p("kd"), d.kd)?,
            max_torque: d
                .max_torque
                .map(|v| cx.positive(&p("max_torque"), v))
                .transpose()?
                .unwrap_or(f64::INFINITY),
            torque_constant: d
                .torque_constant
                .map(|v| cx.positive(&p("torque_constant"), v))
                .transpose()?
                .unwrap_or(1.0),
            ratio,
            rotor_inertia: cx.non_negative(&p("rotor_inertia"), d.rotor_inertia)?,
            resistance: cx.non_negative(&p("resistance"), d.resistance)?,
        });
    }

    let mut loads = Vec::new();
    for (name, l) in &spec.load {
        let p = |f: &'static str| ["load", name.as_str(), f];
        let body = body_index(&bodies, &p("body"), &l.body)?;
        let kind = match l.kind.as_str() {
            "force" => LoadKind::Force,
            "torque" => LoadKind::Torque,
            other => {
                return Err(cx.err(
                    &p("kind"),
                    format!("expected \"force\" or \"torque\", got \"{other}\""),
                ));
            }
        };
        let body_frame = match l.frame.as_deref().unwrap_or("world") {
            "world" => false,
            "body" => true,
            other => {
                return Err(cx.err(
                    &p("frame"),
                    format!("expected \"world\" or \"body\", got \"{other}\""),
                ));
            }
        };
        let b = &bodies[body];
        let point = match l.point {
            Some(pt) => b.rotation.inverse() * (cx.vector(&p("point"), pt)? - b.position),
            None => Vector3::zeros(),
        };
        loads.push(Load {
            name: name.clone(),
            body,
            kind,
            direction: cx.unit(&p("direction"), l.direction)?,
            body_frame,
            magnitude: source(&p("magnitude"), &l.magnitude)?,
            point,
        });
    }

    let mut bearings: Vec<super::Bearing> = Vec::new();
    for (name, b) in &spec.bearing {
        let p = |f: &'static str| ["bearing", name.as_str(), f];
        let joint = joints
            .iter()
            .position(|j| j.name == b.joint && j.kind == JointKind::Revolute)
            .ok_or_else(|| {
                cx.err(
                    &p("joint"),
                    format!("no revolute joint named `{}`", b.joint),
                )
            })?;
        let offset = cx.finite(&p("offset"), b.offset)?;
        let on_joint: Vec<&super::Bearing> = bearings.iter().filter(|o| o.joint == joint).collect();
        if on_joint.len() >= 2 {
            return Err(cx.err(
                &p("joint"),
                "at most two bearings per joint (more would be statically indeterminate)",
            ));
        }
        if on_joint.iter().any(|o| (o.offset - offset).abs() < 1e-9) {
            return Err(cx.err(
                &p("offset"),
                "two bearings of one joint need different offsets",
            ));
        }
        bearings.push(super::Bearing {
            name: name.clone(),
            joint,
            offset,
        });
    }

    let mut thermal = match &spec.thermal {
        Some(t) => super::thermal::compile_thermal(&cx, t, dt_mech, &inputs, &joints, &drives)?,
        None => crate::thermal::Thermal::default(),
    };
    for (name, j) in &spec.joint {
        let f = &j.friction;
        let p = |x: &'static str| ["joint", name.as_str(), "friction", x];
        let beta = cx.finite(&p("temperature_coefficient"), f.temperature_coefficient)?;
        let reference = cx.finite(
            &p("reference_temperature"),
            f.reference_temperature
                .unwrap_or(super::DEFAULT_TEMPERATURE),
        )?;
        if let Some(node) = &f.temperature_node {
            let n = thermal
                .nodes
                .iter()
                .position(|x| &x.name == node)
                .ok_or_else(|| {
                    cx.err(
                        &p("temperature_node"),
                        format!("no thermal node named `{node}`"),
                    )
                })?;
            let ji = joints
                .iter()
                .position(|x| &x.name == name)
                .expect("compiled above");
            joints[ji].viscous_temperature = Some((n, beta, reference));
        } else if beta != 0.0 {
            return Err(cx.err(
                &p("temperature_node"),
                "a temperature_coefficient needs `temperature_node = \"NODE\"`",
            ));
        }
    }

    let mut wear = Vec::new();
    for (name, w) in &spec.wear {
        wear.push(super::wear::compile_wear(
            &cx, name, w, &joints, &bearings, &inputs,
        )?);
    }
    let mut sections = Vec::new();
    for (name, s) in &spec.section {
        sections.push(super::wear::compile_section(
            &cx, name, s, &joints, &drives,
        )?);
    }
    let cycle_averaged = match &spec.solver.cycle_averaged {
        Some(c) => Some(super::wear::compile_cycle_averaged(&cx, c)?),
        None => None,
    };

    let mut sensors = Vec::new();
    for (name, s) in &spec.sensor {
        let p = |f: &'static str| ["sensor", name.as_str(), f];
        let joint = |field: &'static str| -> Result<usize> {
            let n = s.joint.as_deref().ok_or_else(|| {
                cx.err(
                    &p(field),
                    format!("a {} sensor needs `joint = \"...\"`", s.kind),
                )
            })?;
            joints.iter().position(|j| j.name == n).ok_or_else(|| {
                let names: Vec<&str> = joints.iter().map(|j| j.name.as_str()).collect();
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
            drives
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
        let linear = |j: usize| joints[j].kind == JointKind::Prismatic;
        let (kind, unit) = match s.kind.as_str() {
            "joint_position" => { let j = joint("kind")?; (SensorKind::JointPosition(j), if linear(j) { "m" } else { "rad" }) }
            "joint_velocity" => { let j = joint("kind")?; (SensorKind::JointVelocity(j), if linear(j) { "m/s" } else { "rad/s" }) }
            "drive_torque" => (SensorKind::DriveTorque(drive()?), "N·m"),
            "motor_current" => (SensorKind::MotorCurrent(drive()?), "A"),
            "body_acceleration" => {
                let n = s.body.as_deref().ok_or_else(|| cx.err(&p("kind"), "a body_acceleration sensor needs `body = \"...\"`"))?;
                let body = body_index(&bodies, &p("body"), n)?;
                let axis = cx.unit(&p("axis"), s.axis.unwrap_or([1.0, 0.0, 0.0]))?;
                (SensorKind::BodyAcceleration { body, axis }, "m/s^2")
            }
            "joint_reaction_force" => (SensorKind::ReactionForce(joint("kind")?, component()?), "N"),
            "joint_reaction_torque" => (SensorKind::ReactionTorque(joint("kind")?, component()?), "N·m"),
            "bearing_load" => {
                let n = s.bearing.as_deref().ok_or_else(|| cx.err(&p("kind"), "a bearing_load sensor needs `bearing = \"...\"`"))?;
                let b = bearings.iter().position(|b| b.name == n).ok_or_else(|| cx.err(&p("bearing"), format!("no bearing named `{n}`")))?;
                (SensorKind::BearingLoad(b), "N")
            }
            "wear" | "vibration" => {
                let n = s.wear.as_deref().ok_or_else(|| cx.err(&p("kind"), format!("a {} sensor needs `wear = \"...\"`", s.kind)))?;
                let e = wear.iter().position(|w| w.name == n).ok_or_else(|| cx.err(&p("wear"), format!("no wear element named `{n}`")))?;
                if s.kind == "wear" {
                    (SensorKind::Wear(e), wear[e].unit())
                } else {
                    if !matches!(wear[e].law, crate::wear::Law::Bearing { .. }) {
                        return Err(cx.err(&p("wear"), format!("`{n}` is not a bearing wear element (a vibration sensor reads a bearing's defect)")));
                    }
                    let gain = cx.non_negative(&p("gain"), s.gain.unwrap_or(1.0))?;
                    (SensorKind::Vibration { element: e, gain }, "m/s^2")
                }
            }
            "damage" => {
                let n = s.section.as_deref().ok_or_else(|| cx.err(&p("kind"), "a damage sensor needs `section = \"...\"`"))?;
                let i = sections.iter().position(|x: &super::Section| x.name == n).ok_or_else(|| cx.err(&p("section"), format!("no section named `{n}`")))?;
                (SensorKind::Damage(i), "1")
            }
            "temperature" => (SensorKind::Temperature(super::thermal::temperature_of(&cx, name, s, &mut thermal, false)?), "°C"),
            "thermal_growth" => {
                let of = super::thermal::temperature_of(&cx, name, s, &mut thermal, true)?;
                let need = |f: &'static str, v: Option<f64>| {
                    v.ok_or_else(|| cx.err(&p(f), format!("a thermal_growth sensor needs `{f}`")))
                };
                let alpha = cx.finite(&p("alpha"), need("alpha", s.alpha)?)?;
                let length = cx.finite(&p("length"), need("length", s.length)?)?;
                let reference = cx.finite(&p("reference_temperature"), s.reference_temperature.unwrap_or(super::DEFAULT_TEMPERATURE))?;
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
        sensors.push(Sensor {
            name: name.clone(),
            kind,
            unit,
            rate,
            period_steps: (1.0 / (rate * dt_mech)).round().max(1.0) as u64,
            noise_std: cx.non_negative(&p("noise_std"), s.noise_std)?,
            bias: cx.finite(&p("bias"), s.bias)?,
        });
    }
    for (i, s) in sensors.iter().enumerate() {
        if inputs.iter().any(|inp| inp.name == s.name)
            || sensors[..i].iter().any(|o| o.name == s.name)
        {
            return Err(cx.err(
                &["sensor", &s.name],
                "a sensor may not share its name with a model input",
            ));
        }
    }

    let quasi_steady = match &spec.solver.quasi_steady {
        Some(q) => Some(super::quasi::compile_quasi_steady(
            &cx,
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
        let event = super::wear::compile_event(&cx, name, e, &model.sensors)?;
        model.events.push(event);
    }

    let defaults = super::params::Tunables::from_model(&model);
    for (i, ps) in spec.parameter.iter().enumerate() {
        let idx = i.to_string();
        let p = |f: &'static str| ["parameter", idx.as_str(), f];
        let target = model
            .resolve(&ps.path)
            .map_err(|e| cx.err(&p("path"), e.to_string()))?;
        if model
            .parameters
            .iter()
            .any(|q: &Parameter| q.path == ps.path)
        {
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
        model.parameters.push(Parameter {
            path: ps.path.clone(),
            target,
            mean,
            std,
            lower,
            upper,
        });
    }
    Ok(model)
}

fn compile_body(cx: &Ctx, name: &str, b: &BodySpec) -> Result<Body> {
    let p = |f: &'static str| ["body", name, f];
    let (mass, inertia) = match (&b.shape, b.mass, b.inertia) {
        (Some(shape), None, None) => shape_mass(cx, name, shape)?,
        (None, Some(m), Some(i)) => {
            let m = cx.positive(&p("mass"), m)?;
            for x in i {
                cx.positive(&p("inertia"), x)?;
            }
            (m, Vector3::from(i))
        }
        (None, Some(m), None) => {
            // A point mass: a tiny inertia keeps the rigid-body solver well conditioned.
            let m = cx.positive(&p("mass"), m)?;
            (m, Vector3::repeat(m * 1e-6))
        }
        (None, None, _) => {
            return Err(cx.err(
                &p("mass"),
                "expected `mass` (kg) with `inertia`, or a `shape` with a density",
            ));
        }
        (Some(_), _, _) => {
            return Err(cx.err(
                &p("shape"),
                "give either `shape` or `mass`/`inertia`, not both",
            ));
        }
    };
    let rotation = UnitQuaternion::from_scaled_axis(cx.vector(&p("rotation"), b.rotation)?);
    Ok(Body {
        name: name.to_string(),
        mass,
        inertia,
        position: cx.vector(&p("position"), b.position)?,
        rotation,
        velocity: cx.vector(&p("velocity"), b.velocity)?,
        angular_velocity: cx.vector(&p("angular_velocity"), b.angular_velocity)?,
        parent_joint: None,
        child_joints: Vec::new(),
    })
}

/// Mass and principal inertia of a uniform primitive.
fn shape_mass(cx: &Ctx, name: &str, s: &ShapeSpec) -> Result<(f64, Vector3<f64>)> {
    let p = |f: &'static str| ["body", name, "shape", f];
    let rho = cx.positive(&p("density"), s.density)?;
    let need = |v: Option<f64>, field: &'static str| {
        v.ok_or_else(|| cx.err(&p(field), format!("a {} needs `{field}`", s.kind)))
            .and_then(|x| cx.positive(&p(field), x))
    };
    match s.kind.as_str() {
        "box" => {
            let [a, b, c] = s
                .size
                .ok_or_else(|| cx.err(&p("size"), "a box needs `size = [x, y, z]` in m"))?;
            for x in [a, b, c] {
                cx.positive(&p("size"), x)?;
            }
            let m = rho * a * b * c;
            Ok((
                m,
                Vector3::new(b * b + c * c, a * a + c * c, a * a + b * b) * (m / 12.0),
            ))
        }
        "cylinder" => {
            let (r, l) = (need(s.radius, "radius")?, need(s.length, "length")?);
            let m = rho * std::f64::consts::PI * r * r * l;
            let (axial, transverse) = (m * r * r / 2.0, m * (3.0 * r * r + l * l) / 12.0);
            let i = match s.axis.as_deref().unwrap_or("x") {
                "x" => Vector3::new(axial, transverse, transverse),
                "y" => Vector3::new(transverse, axial, transverse),
                "z" => Vector3::new(transverse, transverse, axial),
                other => {
                    return Err(cx.err(
                        &p("axis"),
                        format!("expected \"x\", \"y\" or \"z\", got \"{other}\""),
                    ));
                }
            };
            Ok((m, i))
        }
        "sphere" => {
            let r = need(s.radius, "radius")?;
            let m = rho * 4.0 / 3.0 * std::f64::consts::PI * r.powi(3);
            Ok((m, Vector3::repeat(0.4 * m * r * r)))
        }
        other => Err(cx.err(
            &p("kind"),
            format!("expected \"box\", \"cylinder\" or \"sphere\", got \"{other}\""),
        )),
    }
}

pub(super) fn compile_source(
    cx: &Ctx,
    path: &[&str],
    s: &SourceSpec,
    inputs: &[Input],
) -> Result<Source> {
    let t = match s {
        SourceSpec::Constant(v) => return Ok(Source::Constant(cx.finite(path, *v)?)),
        SourceSpec::Table(t) => t,
    };
    let scale = cx.finite(path, t.scale.unwrap_or(1.0))?;
    match (&t.value, &t.input, &t.schedule) {
        (Some(v), None, None) => Ok(Source::Constant(cx.finite(path, *v)? * scale)),
        (None, Some(name), None) => {
            let index = inputs.iter().position(|i| &i.name == name).ok_or_else(|| {
                let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
                cx.err(
                    path,
                    format!(
                        "no model input named `{name}` (inputs: {})",
                        names.join(", ")
                    ),
                )
            })?;
            Ok(Source::Input { index, scale })
        }
        (None, None, Some(points)) => {
            if points.is_empty() {
                return Err(cx.err(
                    path,
                    "expected at least one [time, value] point in the schedule",
                ));
            }
            for w in points.windows(2) {
                if w[1][0] <= w[0][0] || w[1][0].is_nan() {
                    return Err(
                        cx.err(path, "expected schedule times in strictly increasing order")
                    );
                }
            }
            for pt in points {
                cx.finite(path, pt[0])?;
                cx.finite(path, pt[1])?;
            }
            cx.schedule
                .borrow_mut()
                .get_or_insert_with(|| path.join("."));
            Ok(Source::Schedule {
                points: points.iter().map(|p| (p[0], p[1])).collect(),
                scale,
            })
        }
        _ => Err(cx.err(
            path,
            "expected exactly one of `value`, `input` or `schedule`",
        )),
    }
}

/// Rotation taking the x axis to `axis` (the shortest arc).
pub(crate) fn rotation_from_x(axis: &Vector3<f64>) -> UnitQuaternion<f64> {
    UnitQuaternion::rotation_between(&Vector3::x(), axis).unwrap_or_else(|| {
        UnitQuaternion::from_axis_angle(&Vector3::z_axis(), std::f64::consts::PI)
    })
}

/// Bodies ordered so that every body comes before its parent.
fn order_leaves_first(cx: &Ctx, bodies: &[Body], joints: &[Joint]) -> Result<Vec<usize>> {
    // Depth of each body in the tree (roots: bodies without a parent joint, or on the world).
    let mut depth = vec![usize::MAX; bodies.len()];
    for _ in 0..=bodies.len() {
        let mut changed = false;
        for (b, body) in bodies.iter().enumerate() {
            let d = match body.parent_joint.map(|j| joints[j].parent) {
                None | Some(None) => 0,
                Some(Some(p)) if depth[p] != usize::MAX => depth[p] + 1,
                Some(Some(_)) => continue,
            };
            if depth[b] != d {
                depth[b] = d;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    if let Some(b) = depth
        .iter()
        .position(|d| *d == usize::MAX || *d > bodies.len())
    {
        return Err(cx.err(
            &["body", &bodies[b].name],
            "the joints form a loop through this body; they must form a tree",
        ));
    }
    let mut order: Vec<usize> = (0..bodies.len()).collect();
    order.sort_by_key(|b| std::cmp::Reverse(depth[*b]));
    Ok(order)
}
