//! The mechanical step: joint kinematics, friction and drive forces, external loads, the rapier
//! step, and joint reaction wrenches by Newton–Euler from the resulting accelerations.

use nalgebra::{Matrix3, Vector3};

use super::Twin;
use super::world::{Kinematics, body_inertia, reflected_inertia};
use crate::model::params::Tunables;
use crate::model::{DriveMode, JointKind, LoadKind, Model};

/// Per-step scratch space, sized once per twin.
pub(crate) struct Workspace {
    /// Per body: kinematics before the step.
    before: Vec<Kinematics>,
    /// Per body: kinematics after the step.
    after: Vec<Kinematics>,
    /// Per body: applied force (N) and torque about the centre of mass (N·m), world frame.
    force: Vec<Vector3<f64>>,
    torque: Vec<Vector3<f64>>,
    /// Per body: mass (kg) and principal inertia (kg·m²) as integrated.
    inertia: Vec<(f64, Vector3<f64>)>,
    /// Per joint: generalized drive force this step (N·m or N), and effective inertia.
    pub drive_force: Vec<f64>,
    joint_inertia: Vec<f64>,
    /// Per body: upward force cancelling gravity on reflected drive inertia (N).
    antigravity: Vec<Vector3<f64>>,
    /// Per joint: power dissipated by friction this step (W, ≥ 0).
    pub friction_power: Vec<f64>,
    /// Per heat source: its power in the last step, W (its fraction applied).
    pub heat_power: Vec<f64>,
    /// Per joint: Coulomb friction added by wear (N·m or N), set before each step.
    pub wear_coulomb: Vec<f64>,
    /// Per joint: process load against the motion (a cutting torque, N·m or N).
    pub process_torque: Vec<f64>,
}

impl Workspace {
    pub fn new(model: &Model) -> Self {
        let nb = model.bodies.len();
        let nj = model.joints.len();
        Self {
            before: vec![Kinematics::GROUND; nb],
            after: vec![Kinematics::GROUND; nb],
            force: vec![Vector3::zeros(); nb],
            torque: vec![Vector3::zeros(); nb],
            inertia: vec![(0.0, Vector3::zeros()); nb],
            drive_force: vec![0.0; nj],
            joint_inertia: vec![0.0; nj],
            friction_power: vec![0.0; nj],
            heat_power: vec![0.0; model.thermal.heats.len()],
            wear_coulomb: vec![0.0; nj],
            process_torque: vec![0.0; nj],
            antigravity: (0..nb)
                .map(|b| -model.gravity * reflected_inertia(model, b).0)
                .collect(),
        }
    }

    pub fn refresh_inertia(&mut self, model: &Model, tunables: &Tunables) {
        for b in 0..model.bodies.len() {
            self.inertia[b] = body_inertia(model, tunables, b);
        }
        for (j, joint) in model.joints.iter().enumerate() {
            let (m, i) = self.inertia[joint.child];
            self.joint_inertia[j] = match joint.kind {
                JointKind::Prismatic => m,
                // About the joint axis (through the anchor), in the child's principal axes.
                _ => {
                    let a = joint.frame_child.rotation * Vector3::x();
                    let r = joint.frame_child.translation;
                    let r_perp = r - a * r.dot(&a);
                    a.x * a.x * i.x + a.y * a.y * i.y + a.z * a.z * i.z + m * r_perp.norm_squared()
                }
            };
        }
    }
}

/// Relative motion of a joint, and where its forces act, in world coordinates.
struct JointMotion {
    axis: Vector3<f64>,
    /// Child-side anchor point.
    anchor: Vector3<f64>,
    /// Generalized position (wrapped to (−π, π] for revolute) and velocity.
    position: f64,
    velocity: f64,
}

fn joint_motion(model: &Model, j: usize, kin: &[Kinematics]) -> JointMotion {
    let joint = &model.joints[j];
    let parent = joint.parent.map_or(Kinematics::GROUND, |p| kin[p]);
    let child = &kin[joint.child];
    let (anchor_p, rot_p) = parent.frame(&joint.frame_parent);
    let (anchor_c, rot_c) = child.frame(&joint.frame_child);
    let axis = rot_p * Vector3::x();
    let (position, velocity) = match joint.kind {
        JointKind::Prismatic => (
            (anchor_c - anchor_p).dot(&axis),
            (child.point_velocity(&anchor_c) - parent.point_velocity(&anchor_c)).dot(&axis),
        ),
        _ => {
            let rel = rot_p.inverse() * rot_c;
            (
                2.0 * rel.i.atan2(rel.w),
                (child.angular_velocity - parent.angular_velocity).dot(&axis),
            )
        }
    };
    JointMotion {
        axis,
        anchor: anchor_c,
        position,
        velocity,
    }
}

fn wrap_pi(x: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    x - tau * (x / tau).round()
}

impl Twin {
    /// Reads every body's pose and velocity from the rigid-body world.
    pub(super) fn read_kinematics(&mut self) {
        for b in 0..self.model.bodies.len() {
            self.work.after[b] = self.state.world.kinematics(b);
        }
    }

    /// Updates the joint positions (unwrapped with the velocity over `dt`) and velocities.
    pub(super) fn update_joint_kinematics(&mut self, dt: f64) {
        self.read_kinematics();
        let model = &self.model;
        for j in 0..model.joints.len() {
            let m = joint_motion(model, j, &self.work.after);
            let previous = self.state.joint_position[j];
            self.state.joint_position[j] = match model.joints[j].kind {
                JointKind::Revolute => {
                    let predicted =
                        previous + 0.5 * (self.state.joint_velocity[j] + m.velocity) * dt;
                    predicted + wrap_pi(m.position - predicted)
                }
                _ => m.position,
            };
            self.state.joint_velocity[j] = m.velocity;
        }
    }

    /// One mechanical step.
    pub(super) fn step_mechanics(&mut self) {
        let model = std::sync::Arc::clone(&self.model);
        let dt = model.dt_mech;
        let t = self.state.time;
        let w = &mut self.work;
        std::mem::swap(&mut w.before, &mut w.after);
        for b in 0..model.bodies.len() {
            w.force[b] = w.antigravity[b];
            w.torque[b] = Vector3::zeros();
        }

        // Drives: motor torque from the controller, as a generalized force on the joint.
        w.drive_force.iter_mut().for_each(|f| *f = 0.0);
        for (d, drive) in model.drives.iter().enumerate() {
            let [kp, ki, kd, max_torque, _] = self.state.tunables.drive[d];
            let j = drive.joint;
            let setpoint = drive.setpoint.value(t, &self.state.inputs);
            let speed = drive.ratio * self.state.joint_velocity[j];
            let angle = drive.ratio * self.state.joint_position[j];
            let integral = &mut self.state.drive_integral[d];
            let (error, derivative) = match drive.mode {
                DriveMode::Speed => (drive.ratio * setpoint - speed, 0.0),
                DriveMode::Position => (drive.ratio * setpoint - angle, -speed),
                DriveMode::Torque => (0.0, 0.0),
            };
            let torque = match drive.mode {
                DriveMode::Torque => setpoint.clamp(-max_torque, max_torque),
                _ => {
                    let unclamped = kp * error + ki * (*integral + error * dt) + kd * derivative;
                    let clamped = unclamped.clamp(-max_torque, max_torque);
                    // Conditional integration: no wind-up while saturated.
                    if clamped == unclamped {
                        *integral += error * dt;
                    }
                    clamped
                }
            };
            self.state.drive_torque[d] = torque;
            w.drive_force[j] += torque * drive.ratio;
        }

        // Joint friction (Coulomb with stick, plus viscous) and drive forces.
        for (j, joint) in model.joints.iter().enumerate() {
            if joint.kind == JointKind::Fixed {
                continue;
            }
            let m = joint_motion(&model, j, &w.before);
            let (tc, c) = (
                self.state.tunables.coulomb[j] + w.wear_coulomb[j],
                self.state.tunables.viscous[j] * self.state.thermal.viscous_factor[j],
            );
            let v = m.velocity;
            let inertia = w.joint_inertia[j];
            // Coulomb friction never reverses the joint within one step: below the speed it
            // can stop in one step, it holds the joint (static friction up to `tc`).
            let coulomb = if v.abs() * inertia / dt > tc {
                -tc * v.signum()
            } else {
                (-(inertia * v / dt) - w.drive_force[j]).clamp(-tc, tc)
            };
            let friction = coulomb - c * v;
            w.friction_power[j] = -friction * v;
            let process = if v != 0.0 {
                -w.process_torque[j] * v.signum()
            } else {
                0.0
            };
            let q = w.drive_force[j] + friction + process;
            let child = joint.child;
            let (lin, ang) = match joint.kind {
                JointKind::Prismatic => (m.axis * q, Vector3::zeros()),
                _ => (Vector3::zeros(), m.axis * q),
            };
            w.force[child] += lin;
            w.torque[child] += ang + (m.anchor - w.before[child].position).cross(&lin);
            if let Some(p) = joint.parent {
                w.force[p] -= lin;
                w.torque[p] -= ang + (m.anchor - w.before[p].position).cross(&lin);
            }
        }

        // External loads.
        for (l, load) in model.loads.iter().enumerate() {
            let k = &w.before[load.body];
            let magnitude =
                load.magnitude.value(t, &self.state.inputs) * self.state.tunables.load_scale[l];
            let direction = if load.body_frame {
                k.rotation * load.direction
            } else {
                load.direction
            };
            match load.kind {
                LoadKind::Force => {
                    let f = direction * magnitude;
                    w.force[load.body] += f;
                    w.torque[load.body] += (k.rotation * load.point).cross(&f);
                }
                LoadKind::Torque => w.torque[load.body] += direction * magnitude,
            }
        }

        for b in 0..model.bodies.len() {
            self.state.world.set_wrench(b, &w.force[b], &w.torque[b]);
        }
        self.state
            .world
            .step(&mut self.pipeline, &model.gravity, &self.integration);
        self.state.steps += 1;
        self.state.time = model.step_time(self.state.steps);
        self.update_joint_kinematics(dt);
        let w = &mut self.work;
        for b in 0..model.bodies.len() {
            self.state.acceleration[b] = (w.after[b].velocity - w.before[b].velocity) / dt;
        }
        self.compute_reactions();
    }

    /// Joint reaction wrenches by Newton–Euler, children before parents.
    fn compute_reactions(&mut self) {
        let model = &self.model;
        let dt = model.dt_mech;
        let w = &self.work;
        let st = &mut self.state;
        for &b in &model.leaves_first {
            let Some(j) = model.bodies[b].parent_joint else {
                continue;
            };
            let (before, after) = (&w.before[b], &w.after[b]);
            let (mass, principal) = w.inertia[b];
            let r = after.rotation.to_rotation_matrix();
            let inertia = r * Matrix3::from_diagonal(&principal) * r.transpose();
            let alpha = (after.angular_velocity - before.angular_velocity) / dt;
            let omega = after.angular_velocity;
            // Force and moment about the centre of mass that all joints exert on `b`.
            let mut force = mass * (st.acceleration[b] - model.gravity) - w.force[b];
            let mut moment = inertia * alpha + omega.cross(&(inertia * omega)) - w.torque[b];
            // Children's joints push back on `b` with the opposite of what they exert.
            for &k in &model.bodies[b].child_joints {
                let anchor_k = after.frame(&model.joints[k].frame_parent).0;
                let (rot_k, f_k, m_k) = (
                    joint_rotation(model, k, &w.after),
                    st.reaction_force[k],
                    st.reaction_torque[k],
                );
                let (f_world, m_world) = (rot_k * f_k, rot_k * m_k);
                force += f_world;
                moment += m_world + (anchor_k - after.position).cross(&f_world);
            }
            let joint = &model.joints[j];
            let anchor = after.frame(&joint.frame_child).0;
            let moment_at_anchor = moment - (anchor - after.position).cross(&force);
            let rot = joint_rotation(model, j, &w.after);
            st.reaction_force[j] = rot.inverse() * force;
            st.reaction_torque[j] = rot.inverse() * moment_at_anchor;
        }
    }
}

/// World orientation of joint `j`'s parent-side frame.
fn joint_rotation(model: &Model, j: usize, kin: &[Kinematics]) -> nalgebra::UnitQuaternion<f64> {
    let joint = &model.joints[j];
    joint
        .parent
        .map_or(Kinematics::GROUND, |p| kin[p])
        .frame(&joint.frame_parent)
        .1
}
