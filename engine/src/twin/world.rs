//! The boundary with rapier: building its world from a [`Model`] and converting between our
//! f64 nalgebra types and rapier's f32 glam types. This is the only module that knows rapier's
//! math types.

use nalgebra::{Quaternion, UnitQuaternion, Vector3};
use rapier3d::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::params::Tunables;
use crate::model::{Frame, JointKind, Model};

/// rapier's state-bearing sets: everything that changes as it steps. Cloned for snapshots and
/// serialized for checkpoints.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RigidWorld {
    pub bodies: RigidBodySet,
    pub colliders: ColliderSet,
    pub impulse_joints: ImpulseJointSet,
    pub multibody_joints: MultibodyJointSet,
    pub islands: IslandManager,
    pub broad_phase: BroadPhaseBvh,
    pub narrow_phase: NarrowPhase,
    pub soft_bodies: SoftBodySet,
    pub ccd: CCDSolver,
    /// rapier handle of each model body, in model order.
    pub handles: Vec<RigidBodyHandle>,
}

/// Pose and velocity of a body in f64, world frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kinematics {
    pub position: Vector3<f64>,
    pub rotation: UnitQuaternion<f64>,
    pub velocity: Vector3<f64>,
    pub angular_velocity: Vector3<f64>,
}

impl Kinematics {
    /// The world itself: at rest at the origin.
    pub const GROUND: Kinematics = Kinematics {
        position: Vector3::new(0.0, 0.0, 0.0),
        rotation: UnitQuaternion::new_unchecked(Quaternion::new(1.0, 0.0, 0.0, 0.0)),
        velocity: Vector3::new(0.0, 0.0, 0.0),
        angular_velocity: Vector3::new(0.0, 0.0, 0.0),
    };

    /// World position and orientation of a frame attached to this body.
    pub fn frame(&self, f: &Frame) -> (Vector3<f64>, UnitQuaternion<f64>) {
        (
            self.position + self.rotation * f.translation,
            self.rotation * f.rotation,
        )
    }

    /// Velocity of the body-fixed point at world position `p`.
    pub fn point_velocity(&self, p: &Vector3<f64>) -> Vector3<f64> {
        self.velocity + self.angular_velocity.cross(&(p - self.position))
    }
}

pub(crate) fn v3(v: &Vector3<f64>) -> Vector {
    Vector::new(v.x as f32, v.y as f32, v.z as f32)
}

fn from_v3(v: Vector) -> Vector3<f64> {
    Vector3::new(v.x as f64, v.y as f64, v.z as f64)
}

fn rot(q: &UnitQuaternion<f64>) -> Rotation {
    Rotation::from_xyzw(q.i as f32, q.j as f32, q.k as f32, q.w as f32).normalize()
}

fn pose(f: &Frame) -> Pose {
    Pose::from_parts(v3(&f.translation), rot(&f.rotation))
}

/// Reflected drive inertia added to body `b`: `(extra mass kg, extra inertia kg·m²)`.
pub(crate) fn reflected_inertia(model: &Model, b: usize) -> (f64, f64) {
    let mut extra = (0.0, 0.0);
    for d in model
        .drives
        .iter()
        .filter(|d| model.joints[d.joint].child == b)
    {
        let reflected = d.rotor_inertia * d.ratio * d.ratio;
        match model.joints[d.joint].kind {
            JointKind::Prismatic => extra.0 += reflected,
            _ => extra.1 += reflected,
        }
    }
    extra
}

/// Mass (kg) and principal inertia (kg·m², body axes) that body `b` is integrated with: its
/// own, scaled with a changed mass, plus reflected drive inertia.
pub(crate) fn body_inertia(model: &Model, tunables: &Tunables, b: usize) -> (f64, Vector3<f64>) {
    let body = &model.bodies[b];
    let (extra_mass, extra_inertia) = reflected_inertia(model, b);
    let scale = tunables.mass[b] / body.mass;
    (
        tunables.mass[b] + extra_mass,
        body.inertia * scale + Vector3::repeat(extra_inertia),
    )
}

fn mass_properties(model: &Model, tunables: &Tunables, b: usize) -> MassProperties {
    let (mass, inertia) = body_inertia(model, tunables, b);
    MassProperties::new(Vector::ZERO, mass as f32, v3(&inertia))
}

impl RigidWorld {
    /// Builds rapier's world for `model` with the masses in `tunables`.
    pub fn build(model: &Model, tunables: &Tunables) -> Self {
        let mut bodies = RigidBodySet::new();
        let mut impulse_joints = ImpulseJointSet::new();
        let ground = bodies.insert(RigidBodyBuilder::fixed());
        let handles: Vec<RigidBodyHandle> = model
            .bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                bodies.insert(
                    RigidBodyBuilder::dynamic()
                        .pose(Pose::from_parts(v3(&b.position), rot(&b.rotation)))
                        .linvel(v3(&b.velocity))
                        .angvel(v3(&b.angular_velocity))
                        .additional_mass_properties(mass_properties(model, tunables, i))
                        .can_sleep(false)
                        .allow_fast_rotation(true),
                )
            })
            .collect();
        for j in &model.joints {
            let mask = match j.kind {
                JointKind::Revolute => JointAxesMask::LOCKED_REVOLUTE_AXES,
                JointKind::Prismatic => JointAxesMask::LOCKED_PRISMATIC_AXES,
                JointKind::Fixed => JointAxesMask::LOCKED_FIXED_AXES,
            };
            let mut builder = GenericJointBuilder::new(mask)
                .local_frame1(pose(&j.frame_parent))
                .local_frame2(pose(&j.frame_child))
                .contacts_enabled(false);
            if let Some([lo, hi]) = j.limits {
                let axis = if j.kind == JointKind::Prismatic {
                    JointAxis::LinX
                } else {
                    JointAxis::AngX
                };
                builder = builder.limits(axis, [lo as f32, hi as f32]);
            }
            let parent = j.parent.map_or(ground, |p| handles[p]);
            impulse_joints.insert(parent, handles[j.child], builder.build(), true);
        }
        Self {
            bodies,
            colliders: ColliderSet::new(),
            impulse_joints,
            multibody_joints: MultibodyJointSet::new(),
            islands: IslandManager::new(),
            broad_phase: BroadPhaseBvh::new(),
            narrow_phase: NarrowPhase::new(),
            soft_bodies: SoftBodySet::new(),
            ccd: CCDSolver::new(),
            handles,
        }
    }

    /// Whether the world read back from a file is whole for `bodies` model bodies: a handle per
    /// body naming a body held, and joints that join bodies held.
    pub fn is_whole(&self, bodies: usize) -> bool {
        self.handles.len() == bodies
            && self.handles.iter().all(|h| self.bodies.get(*h).is_some())
            && self.impulse_joints.iter().all(|(_, j)| {
                self.bodies.get(j.body1()).is_some() && self.bodies.get(j.body2()).is_some()
            })
    }

    /// Updates rapier's mass properties of body `b` after its mass changed.
    pub fn set_mass(&mut self, model: &Model, tunables: &Tunables, b: usize) {
        let props = mass_properties(model, tunables, b);
        self.bodies[self.handles[b]].set_additional_mass_properties(props, false);
    }

    /// Pose and velocity of body `b`.
    pub fn kinematics(&self, b: usize) -> Kinematics {
        let rb = &self.bodies[self.handles[b]];
        let p = rb.position();
        let q = p.rotation;
        Kinematics {
            position: from_v3(p.translation),
            rotation: UnitQuaternion::new_normalize(Quaternion::new(
                q.w as f64, q.x as f64, q.y as f64, q.z as f64,
            )),
            velocity: from_v3(rb.linvel()),
            angular_velocity: from_v3(rb.angvel()),
        }
    }

    /// Replaces the external force and torque (about the centre of mass) on body `b`.
    pub fn set_wrench(&mut self, b: usize, force: &Vector3<f64>, torque: &Vector3<f64>) {
        let rb = &mut self.bodies[self.handles[b]];
        rb.reset_forces(false);
        rb.reset_torques(false);
        rb.add_force(v3(force), false);
        rb.add_torque(v3(torque), false);
    }

    /// Advances rapier by one step.
    pub fn step(
        &mut self,
        pipeline: &mut PhysicsPipeline,
        gravity: &Vector3<f64>,
        params: &IntegrationParameters,
    ) {
        pipeline.step(
            v3(gravity),
            params,
            &mut self.islands,
            &mut self.broad_phase,
            &mut self.narrow_phase,
            &mut self.bodies,
            &mut self.colliders,
            &mut self.impulse_joints,
            &mut self.multibody_joints,
            &mut self.soft_bodies,
            &mut self.ccd,
            &(),
            &(),
        );
    }
}

/// rapier's integration parameters for `model`.
pub(crate) fn integration_parameters(model: &Model) -> IntegrationParameters {
    IntegrationParameters {
        dt: model.dt_mech as f32,
        num_solver_iterations: model.solver_iterations,
        num_internal_stabilization_iterations: model.stabilization_iterations,
        ..IntegrationParameters::default()
    }
}
