//! The mechanical part of a model file, compiled: bodies (with their mass from a shape or
//! given), joints and their frames, drives, loads and bearings, and the order of the body tree.

use nalgebra::{UnitQuaternion, Vector3};

use super::context::{Ctx, compile_source_in};
use super::ranges::{
    ANGULAR_SPEED, DENSITY, DIMENSION, FORCE, GAIN, INERTIA, LOAD, MASS, PER_KELVIN, POSITION,
    RESISTANCE, ROTATION, SETPOINT, SPEED, TEMPERATURE, TORQUE_CONSTANT, TRAVEL, VISCOUS,
};
use super::spec::{BearingSpec, BodySpec, DriveSpec, JointSpec, LoadSpec, ModelSpec, ShapeSpec};
use super::{Bearing, Body, Drive, DriveMode, Frame, Input, Joint, JointKind, Load, LoadKind};
use crate::error::Result;

/// Index of the body called `name`, or an error at `path` listing the bodies.
pub(super) fn body_index(cx: &Ctx, bodies: &[Body], path: &[&str], name: &str) -> Result<usize> {
    bodies.iter().position(|b| b.name == name).ok_or_else(|| {
        let names: Vec<&str> = bodies.iter().map(|b| b.name.as_str()).collect();
        cx.err(
            path,
            format!("no body named `{name}` (bodies: {})", names.join(", ")),
        )
    })
}

/// `[body.NAME]` of every body, in file order.
pub(super) fn compile_bodies(cx: &Ctx, spec: &ModelSpec) -> Result<Vec<Body>> {
    let mut bodies = Vec::new();
    for (name, b) in &spec.body {
        if name == "world" {
            return Err(cx.err(&["body", name], "`world` is reserved for the fixed ground"));
        }
        bodies.push(compile_body(cx, name, b)?);
    }
    Ok(bodies)
}

/// `[joint.NAME]` of every joint, in file order; links each body to its parent and child
/// joints.
pub(super) fn compile_joints(
    cx: &Ctx,
    spec: &ModelSpec,
    bodies: &mut [Body],
) -> Result<Vec<Joint>> {
    let mut joints: Vec<Joint> = Vec::new();
    for (name, j) in &spec.joint {
        let joint = compile_joint(cx, name, j, bodies, &joints)?;
        joints.push(joint);
    }
    for (j, joint) in joints.iter().enumerate() {
        bodies[joint.child].parent_joint = Some(j);
        if let Some(p) = joint.parent {
            bodies[p].child_joints.push(j);
        }
    }
    Ok(joints)
}

/// One joint; `earlier` are the joints compiled before it (a body has one parent joint).
fn compile_joint(
    cx: &Ctx,
    name: &str,
    j: &JointSpec,
    bodies: &[Body],
    earlier: &[Joint],
) -> Result<Joint> {
    let p = |f: &'static str| ["joint", name, f];
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
        Some(body_index(cx, bodies, &p("parent"), &j.parent)?)
    };
    let child = body_index(cx, bodies, &p("child"), &j.child)?;
    if parent == Some(child) {
        return Err(cx.err(&p("child"), "a joint cannot connect a body to itself"));
    }
    if let Some(other) = earlier.iter().find(|o| o.child == child) {
        return Err(cx.err(&p("child"), format!(
            "body `{}` is already the child of joint `{}`: joints must form a tree (one parent joint per body)",
            j.child, other.name
        )));
    }
    let anchor = cx.vector_within(&p("anchor"), j.anchor, POSITION.hi, "m")?;
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
        cx.ranged(&p("limits"), lo, TRAVEL)?;
        cx.ranged(&p("limits"), hi, TRAVEL)?;
        if lo >= hi || kind == JointKind::Fixed {
            return Err(cx.err(
                &p("limits"),
                "expected [lower, upper] with lower < upper on a revolute or prismatic joint",
            ));
        }
    }
    let coulomb = cx.ranged(
        &["joint", name, "friction", "coulomb"],
        j.friction.coulomb,
        FORCE,
    )?;
    let viscous = cx.ranged(
        &["joint", name, "friction", "viscous"],
        j.friction.viscous,
        VISCOUS,
    )?;
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
    Ok(Joint {
        name: name.to_string(),
        kind,
        parent,
        child,
        frame_parent: relative_to(parent),
        frame_child: relative_to(Some(child)),
        limits: j.limits,
        coulomb,
        viscous,
        viscous_temperature: None,
    })
}

/// `[drive.NAME]` of every drive, in file order.
pub(super) fn compile_drives(
    cx: &Ctx,
    spec: &ModelSpec,
    joints: &[Joint],
    inputs: &[Input],
) -> Result<Vec<Drive>> {
    spec.drive
        .iter()
        .map(|(name, d)| compile_drive(cx, name, d, joints, inputs))
        .collect()
}

fn compile_drive(
    cx: &Ctx,
    name: &str,
    d: &DriveSpec,
    joints: &[Joint],
    inputs: &[Input],
) -> Result<Drive> {
    let p = |f: &'static str| ["drive", name, f];
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
            // From a micrometre per turn (a fine lead screw) to a few metres (a belt or rack).
            std::f64::consts::TAU / cx.between(&p("lead"), lead, [1e-6, 10.0], "m")?
        }
        (JointKind::Prismatic, None) => 1.0,
    };
    Ok(Drive {
        name: name.to_string(),
        joint,
        mode,
        setpoint: compile_source_in(cx, &p("setpoint"), &d.setpoint, inputs, SETPOINT)?,
        kp: cx.ranged(&p("kp"), d.kp, GAIN)?,
        ki: cx.ranged(&p("ki"), d.ki, GAIN)?,
        kd: cx.ranged(&p("kd"), d.kd, GAIN)?,
        max_torque: d
            .max_torque
            .map(|v| {
                cx.positive(&p("max_torque"), v)
                    .and_then(|v| cx.ranged(&p("max_torque"), v, FORCE))
            })
            .transpose()?
            .unwrap_or(f64::INFINITY),
        torque_constant: d
            .torque_constant
            .map(|v| cx.ranged(&p("torque_constant"), v, TORQUE_CONSTANT))
            .transpose()?
            .unwrap_or(1.0),
        ratio,
        // Up to the rotor of a multi-megawatt motor.
        rotor_inertia: cx.between(&p("rotor_inertia"), d.rotor_inertia, [0.0, 1e5], "kg·m²")?,
        resistance: cx.ranged(&p("resistance"), d.resistance, RESISTANCE)?,
    })
}

/// `[load.NAME]` of every external load, in file order.
pub(super) fn compile_loads(
    cx: &Ctx,
    spec: &ModelSpec,
    bodies: &[Body],
    inputs: &[Input],
) -> Result<Vec<Load>> {
    spec.load
        .iter()
        .map(|(name, l)| compile_load(cx, name, l, bodies, inputs))
        .collect()
}

fn compile_load(
    cx: &Ctx,
    name: &str,
    l: &LoadSpec,
    bodies: &[Body],
    inputs: &[Input],
) -> Result<Load> {
    let p = |f: &'static str| ["load", name, f];
    let body = body_index(cx, bodies, &p("body"), &l.body)?;
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
        Some(pt) => {
            b.rotation.inverse()
                * (cx.vector_within(&p("point"), pt, POSITION.hi, "m")? - b.position)
        }
        None => Vector3::zeros(),
    };
    Ok(Load {
        name: name.to_string(),
        body,
        kind,
        direction: cx.unit(&p("direction"), l.direction)?,
        body_frame,
        magnitude: compile_source_in(cx, &p("magnitude"), &l.magnitude, inputs, LOAD)?,
        point,
    })
}

/// `[bearing.NAME]` of every bearing, in file order.
pub(super) fn compile_bearings(
    cx: &Ctx,
    spec: &ModelSpec,
    joints: &[Joint],
) -> Result<Vec<Bearing>> {
    let mut bearings = Vec::new();
    for (name, b) in &spec.bearing {
        let bearing = compile_bearing(cx, name, b, joints, &bearings)?;
        bearings.push(bearing);
    }
    Ok(bearings)
}

/// One bearing; `earlier` are the bearings compiled before it (at most two per joint).
fn compile_bearing(
    cx: &Ctx,
    name: &str,
    b: &BearingSpec,
    joints: &[Joint],
    earlier: &[Bearing],
) -> Result<Bearing> {
    let p = |f: &'static str| ["bearing", name, f];
    let joint = joints
        .iter()
        .position(|j| j.name == b.joint && j.kind == JointKind::Revolute)
        .ok_or_else(|| {
            cx.err(
                &p("joint"),
                format!("no revolute joint named `{}`", b.joint),
            )
        })?;
    let offset = cx.ranged(&p("offset"), b.offset, POSITION)?;
    let on_joint: Vec<&Bearing> = earlier.iter().filter(|o| o.joint == joint).collect();
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
    Ok(Bearing {
        name: name.to_string(),
        joint,
        offset,
    })
}

/// The joints' temperature-dependent viscous friction (`friction.temperature_node`), once the
/// thermal nodes are known.
pub(super) fn compile_friction_temperature(
    cx: &Ctx,
    spec: &ModelSpec,
    joints: &mut [Joint],
    thermal: &crate::thermal::Thermal,
) -> Result<()> {
    for (name, j) in &spec.joint {
        let f = &j.friction;
        let p = |x: &'static str| ["joint", name.as_str(), "friction", x];
        let beta = cx.ranged(
            &p("temperature_coefficient"),
            f.temperature_coefficient,
            PER_KELVIN,
        )?;
        let reference = cx.ranged(
            &p("reference_temperature"),
            f.reference_temperature
                .unwrap_or(super::DEFAULT_TEMPERATURE),
            TEMPERATURE,
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
    Ok(())
}

fn compile_body(cx: &Ctx, name: &str, b: &BodySpec) -> Result<Body> {
    let p = |f: &'static str| ["body", name, f];
    let (mass, inertia) = match (&b.shape, b.mass, b.inertia) {
        (Some(shape), None, None) => shape_mass(cx, name, shape)?,
        (None, Some(m), Some(i)) => {
            let m = cx.ranged(&p("mass"), m, MASS)?;
            for x in i {
                cx.ranged(&p("inertia"), x, INERTIA)?;
            }
            (m, Vector3::from(i))
        }
        (None, Some(m), None) => {
            // A point mass: a tiny inertia keeps the rigid-body solver well conditioned.
            let m = cx.ranged(&p("mass"), m, MASS)?;
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
    cx.ranged(&p("mass"), mass, MASS)?;
    for x in inertia.iter() {
        cx.ranged(&p("inertia"), *x, INERTIA)?;
    }
    let rotation = UnitQuaternion::from_scaled_axis(cx.vector_within(
        &p("rotation"),
        b.rotation,
        ROTATION.hi,
        "rad",
    )?);
    Ok(Body {
        name: name.to_string(),
        mass,
        inertia,
        position: cx.vector_within(&p("position"), b.position, POSITION.hi, "m")?,
        rotation,
        velocity: cx.vector_within(&p("velocity"), b.velocity, SPEED.hi, SPEED.unit)?,
        angular_velocity: cx.vector_within(
            &p("angular_velocity"),
            b.angular_velocity,
            ANGULAR_SPEED.hi,
            ANGULAR_SPEED.unit,
        )?,
        parent_joint: None,
        child_joints: Vec::new(),
    })
}

/// Mass and principal inertia of a uniform primitive.
fn shape_mass(cx: &Ctx, name: &str, s: &ShapeSpec) -> Result<(f64, Vector3<f64>)> {
    let p = |f: &'static str| ["body", name, "shape", f];
    let rho = cx.ranged(&p("density"), s.density, DENSITY)?;
    let need = |v: Option<f64>, field: &'static str| {
        v.ok_or_else(|| cx.err(&p(field), format!("a {} needs `{field}`", s.kind)))
            .and_then(|x| cx.ranged(&p(field), x, DIMENSION))
    };
    match s.kind.as_str() {
        "box" => {
            let [a, b, c] = s
                .size
                .ok_or_else(|| cx.err(&p("size"), "a box needs `size = [x, y, z]` in m"))?;
            for x in [a, b, c] {
                cx.ranged(&p("size"), x, DIMENSION)?;
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

/// Rotation taking the x axis to `axis` (the shortest arc).
pub(crate) fn rotation_from_x(axis: &Vector3<f64>) -> UnitQuaternion<f64> {
    UnitQuaternion::rotation_between(&Vector3::x(), axis).unwrap_or_else(|| {
        UnitQuaternion::from_axis_angle(&Vector3::z_axis(), std::f64::consts::PI)
    })
}

/// Bodies ordered so that every body comes before its parent.
pub(super) fn order_leaves_first(
    cx: &Ctx,
    bodies: &[Body],
    joints: &[Joint],
) -> Result<Vec<usize>> {
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
