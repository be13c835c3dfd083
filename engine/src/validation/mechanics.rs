//! Rigid-body validation cases: pendulum period, rotor run-down, static joint reactions and
//! determinism.

use std::sync::Arc;

use nalgebra::Vector3;

use super::analytic::{pendulum_period, rundown_speed, rundown_stop_time};
use super::{CaseContext, Metric, Outcome};
use crate::error::{Error, Result};
use crate::model::{JointKind, LoadKind, Model};
use crate::twin::Twin;

fn first_joint(model: &Model, kind: JointKind, ctx: &CaseContext) -> Result<usize> {
    model
        .joints
        .iter()
        .position(|j| j.kind == kind)
        .ok_or_else(|| {
            Error::invalid(
                ctx.model_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                None,
                None,
                format!("the case needs a {kind:?} joint"),
            )
        })
}

/// World axis and anchor of joint `j` at the initial pose.
fn initial_axis_anchor(model: &Model, j: usize) -> (Vector3<f64>, Vector3<f64>) {
    let joint = &model.joints[j];
    let (p, r) = match joint.parent {
        None => (Vector3::zeros(), nalgebra::UnitQuaternion::identity()),
        Some(b) => (model.bodies[b].position, model.bodies[b].rotation),
    };
    (
        r * joint.frame_parent.rotation * Vector3::x(),
        p + r * joint.frame_parent.translation,
    )
}

/// Period of a pendulum (the model's first revolute joint) against the exact elliptic-integral
/// value for its length, gravity and release angle.
pub fn pendulum_period_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let j = first_joint(&model, JointKind::Revolute, ctx)?;
    let (axis, anchor) = initial_axis_anchor(&model, j);
    let r = model.bodies[model.joints[j].child].position - anchor;
    let r = r - axis * r.dot(&axis);
    let g = model.gravity.norm();
    let theta0 = r.angle(&model.gravity);
    let exact = pendulum_period(r.norm(), g, theta0);
    let periods = ctx.setting("periods", 5.0)? as usize;

    let mut twin = Twin::new(Arc::clone(&model), 0);
    let end = (periods as f64 + 1.5) * exact;
    let mut crossings = Vec::new();
    let mut direction = 0.0;
    let mut previous = 0.0;
    while twin.time() < end {
        twin.step()?;
        let q = twin.joint_position(j);
        if direction == 0.0 && q.abs() > 1e-6 {
            direction = q.signum();
        }
        // Distance past the bottom (the midpoint of the swing), in the direction of release.
        let x = direction * q - theta0;
        if previous < 0.0 && x >= 0.0 {
            let dt = model.dt_mech;
            crossings.push(twin.time() - dt * x / (x - previous));
        }
        previous = x;
    }
    if crossings.len() < periods + 1 {
        return Ok(Outcome::Metrics(vec![Metric::relative(
            "period (s)",
            f64::NAN,
            exact,
            ctx.spec.tolerance,
        )]));
    }
    let measured = (crossings[periods] - crossings[0]) / periods as f64;
    Ok(Outcome::Metrics(vec![Metric::relative(
        format!(
            "period (s), mean of {periods}, θ0 = {:.1}°",
            theta0.to_degrees()
        ),
        measured,
        exact,
        ctx.spec.tolerance,
    )]))
}

/// A rotor coasting down under viscous plus Coulomb friction against the closed form.
pub fn rundown_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let j = first_joint(&model, JointKind::Revolute, ctx)?;
    let joint = &model.joints[j];
    let body = &model.bodies[joint.child];
    let (axis, _) = initial_axis_anchor(&model, j);
    let a = joint.frame_child.rotation * Vector3::x();
    let inertia =
        a.x * a.x * body.inertia.x + a.y * a.y * body.inertia.y + a.z * a.z * body.inertia.z;
    let (c, tc) = (joint.viscous, joint.coulomb);
    let w0 = body.angular_velocity.dot(&axis);
    let stop = rundown_stop_time(inertia, c, tc, w0);
    let half = 0.5 * stop;

    let mut twin = Twin::new(Arc::clone(&model), 0);
    twin.advance_to(half)?;
    let w_half = twin.joint_velocity(j);
    let mut stopped_at = f64::NAN;
    while twin.time() < 2.0 * stop {
        twin.step()?;
        if twin.joint_velocity(j) <= 1e-9 * w0 {
            stopped_at = twin.time();
            break;
        }
    }
    Ok(Outcome::Metrics(vec![
        Metric::relative("stop time (s)", stopped_at, stop, ctx.spec.tolerance),
        Metric::relative(
            format!("speed at t = {half:.2} s (rad/s)"),
            w_half,
            rundown_speed(inertia, c, tc, w0, half),
            ctx.spec.tolerance,
        ),
    ]))
}

/// Joint reaction forces and moments of a loaded, drive-held arm at rest against hand statics
/// (sums of weights and loads over each joint's subtree, moments about its anchor).
pub fn static_reactions_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let duration = ctx.setting("duration", 5.0)?;
    let average_over = ctx.setting("average_over", 1.0)?;
    let tol = ctx.spec.tolerance;
    let mut twin = Twin::new(Arc::clone(&model), 0);
    twin.advance_to(duration - average_over)?;
    let nj = model.joints.len();
    let (mut force, mut moment, mut drive) = (
        vec![Vector3::zeros(); nj],
        vec![Vector3::zeros(); nj],
        vec![0.0; model.drives.len()],
    );
    let mut n = 0.0;
    while twin.time() < duration - 0.5 * model.dt_mech {
        twin.step()?;
        for j in 0..nj {
            let (f, m) = twin.joint_reaction(j);
            force[j] += f;
            moment[j] += m;
        }
        for (d, v) in drive.iter_mut().enumerate() {
            *v += twin.drive_torque(d);
        }
        n += 1.0;
    }
    let inputs: Vec<f64> = model.inputs.iter().map(|i| i.default).collect();
    let mut metrics = Vec::new();
    for (j, joint) in model.joints.iter().enumerate() {
        // External forces on the subtree below joint j, and their moment about its anchor.
        let (axis, anchor) = initial_axis_anchor(&model, j);
        let (mut f_ext, mut m_ext) = (Vector3::zeros(), Vector3::zeros());
        for (b, body) in model.bodies.iter().enumerate() {
            if !in_subtree(&model, joint.child, b) {
                continue;
            }
            let w = model.gravity * body.mass;
            f_ext += w;
            m_ext += (body.position - anchor).cross(&w);
            for load in model.loads.iter().filter(|l| l.body == b) {
                let v = load.direction * load.magnitude.value(0.0, &inputs);
                match load.kind {
                    LoadKind::Force => {
                        f_ext += v;
                        m_ext += (body.position + body.rotation * load.point - anchor).cross(&v);
                    }
                    LoadKind::Torque => m_ext += v,
                }
            }
        }
        let f = force[j] / n;
        let m = moment[j] / n;
        metrics.push(Metric::relative(
            format!("{}: reaction force |F| (N)", joint.name),
            f.norm(),
            f_ext.norm(),
            tol,
        ));
        let m_perp = m_ext - axis * m_ext.dot(&axis);
        match joint.kind {
            JointKind::Fixed => metrics.push(Metric::relative(
                format!("{}: reaction moment |M| (N·m)", joint.name),
                m.norm(),
                m_ext.norm(),
                tol,
            )),
            _ => {
                // Zero when the loads act in the plane normal to the axis: compare absolutely,
                // on the scale of the joint's total moment.
                let scale = m_ext.norm().max(1.0);
                metrics.push(Metric::absolute(
                    format!("{}: bending moment |M⊥| (N·m)", joint.name),
                    m.yz().norm(),
                    m_perp.norm(),
                    tol * scale,
                ));
                if let Some(d) = model.drives.iter().position(|d| d.joint == j) {
                    metrics.push(Metric::relative(
                        format!("{}: holding torque (N·m)", model.drives[d].name),
                        drive[d].abs() / n,
                        m_ext.dot(&axis).abs(),
                        tol,
                    ));
                }
            }
        }
    }
    Ok(Outcome::Metrics(metrics))
}

fn in_subtree(model: &Model, root: usize, mut b: usize) -> bool {
    loop {
        if b == root {
            return true;
        }
        match model.bodies[b]
            .parent_joint
            .and_then(|j| model.joints[j].parent)
        {
            Some(p) => b = p,
            None => return false,
        }
    }
}

/// Same seed, identical traces; and a run restored from a serialized mid-run checkpoint
/// continues bit for bit.
pub fn determinism_case(ctx: &CaseContext) -> Result<Outcome> {
    let model = Model::from_file(ctx.model_path()?)?;
    let duration = ctx.setting("duration", 2.0)?;
    let seed = ctx.setting("seed", 7.0)? as u64;
    let run = |twin: &mut Twin, until: f64, out: &mut Vec<u64>| -> Result<()> {
        while twin.time() < until - 0.5 * model.dt_mech {
            if twin.step()? {
                out.extend(
                    twin.readings()
                        .iter()
                        .filter(|r| r.fresh)
                        .map(|r| r.value.to_bits()),
                );
            }
        }
        Ok(())
    };
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    run(&mut Twin::new(Arc::clone(&model), seed), duration, &mut a)?;
    let mut first = Twin::new(Arc::clone(&model), seed);
    run(&mut first, 0.5 * duration, &mut b)?;
    let checkpoint = first.state().to_json()?;
    drop(first);
    let mut resumed = Twin::new(Arc::clone(&model), seed + 1);
    resumed.restore(&crate::twin::State::from_json(&checkpoint)?)?;
    run(&mut resumed, duration, &mut c)?;
    let half = b.len();
    let differ = |x: &[u64], y: &[u64]| {
        if x.len() != y.len() {
            f64::INFINITY
        } else {
            x.iter().zip(y).filter(|(p, q)| p != q).count() as f64
        }
    };
    let mut rerun = Vec::new();
    run(
        &mut Twin::new(Arc::clone(&model), seed),
        duration,
        &mut rerun,
    )?;
    Ok(Outcome::Metrics(vec![
        Metric::absolute(
            format!("differing samples, same seed ({} samples)", a.len()),
            differ(&a, &rerun),
            0.0,
            0.0,
        ),
        Metric::absolute(
            format!(
                "differing samples after checkpoint restore ({} samples)",
                a.len() - half
            ),
            differ(&a[half..], &c),
            0.0,
            0.0,
        ),
    ]))
}
