//! What a twin carries from step to step ([`State`]), as MuJoCo's `mjData` is to its `mjModel`.

use nalgebra::Vector3;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use super::quasi::QuasiState;
use super::thermal::ThermalState;
use super::wear::DegradationState;
use super::world::RigidWorld;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::params::Tunables;

/// Everything about a twin that changes as it steps. Cloning it is a snapshot; restoring a
/// snapshot (or a deserialized checkpoint) continues the run bit for bit.
#[derive(Clone, Serialize, Deserialize)]
pub struct State {
    /// Simulated time in s.
    pub time: f64,
    /// Mechanical steps taken.
    pub steps: u64,
    /// The model inputs in force (operating conditions), in model order, each in its input's
    /// unit. Empty in checkpoints written before inputs were part of the state: restoring
    /// one keeps the twin's current inputs.
    #[serde(default)]
    pub inputs: Vec<f64>,
    /// The values in force of everything a parameter path can address: the model's own
    /// values, with the declared parameters θ and any `set` overrides applied. θ lives here
    /// and only here ([`super::Twin::params`] reads it back).
    pub tunables: Tunables,
    pub(super) world: RigidWorld,
    /// Per joint: position (rad or m, from the initial pose, unwrapped) and velocity (rad/s or
    /// m/s).
    pub(super) joint_position: Vec<f64>,
    pub(super) joint_velocity: Vec<f64>,
    /// Per drive: controller integral state (rad·s or rad at the motor) and the last motor
    /// torque (N·m).
    pub(super) drive_integral: Vec<f64>,
    pub(super) drive_torque: Vec<f64>,
    /// Per joint: reaction force (N) and torque about the anchor (N·m) on the child, joint frame.
    pub(super) reaction_force: Vec<Vector3<f64>>,
    pub(super) reaction_torque: Vec<Vector3<f64>>,
    /// Per body: linear acceleration (m/s², world) over the last step.
    pub(super) acceleration: Vec<Vector3<f64>>,
    /// The sensor noise generator.
    pub(super) rng: Pcg64,
    /// Temperatures, pending heat and the energy account.
    pub(super) thermal: ThermalState,
    /// Wear states, section damage and the slow integrator's averaged rates.
    #[serde(default)]
    pub(super) degradation: DegradationState,
    /// Quasi-steady stepping's settling clock.
    #[serde(default)]
    pub(super) quasi: QuasiState,
}

impl State {
    /// The initial state of `model` with the values in force `tunables`, sensor noise seeded
    /// by `seed`.
    pub(super) fn initial(model: &Model, tunables: Tunables, seed: u64) -> Self {
        let (nj, nd, nb) = (model.joints.len(), model.drives.len(), model.bodies.len());
        Self {
            time: 0.0,
            steps: 0,
            inputs: model.inputs.iter().map(|i| i.default).collect(),
            world: RigidWorld::build(model, &tunables),
            tunables,
            joint_position: vec![0.0; nj],
            joint_velocity: vec![0.0; nj],
            drive_integral: vec![0.0; nd],
            drive_torque: vec![0.0; nd],
            reaction_force: vec![Vector3::zeros(); nj],
            reaction_torque: vec![Vector3::zeros(); nj],
            acceleration: vec![Vector3::zeros(); nb],
            rng: Pcg64::seed_from_u64(seed),
            thermal: ThermalState::new(model),
            degradation: DegradationState::new(model),
            quasi: QuasiState::default(),
        }
    }

    /// Whether this state belongs to `model` (its parts have the model's sizes).
    pub(super) fn fits(&self, model: &Model) -> bool {
        let m = model;
        let (nb, nj, nd) = (m.bodies.len(), m.joints.len(), m.drives.len());
        let t = &self.tunables;
        self.world.is_whole(nb)
            && self.joint_position.len() == nj
            && self.joint_velocity.len() == nj
            && self.reaction_force.len() == nj
            && self.reaction_torque.len() == nj
            && self.acceleration.len() == nb
            && self.drive_torque.len() == nd
            && self.drive_integral.len() == nd
            && t.coulomb.len() == nj
            && t.viscous.len() == nj
            && t.mass.len() == nb
            && t.drive.len() == nd
            && t.resistance.len() == nd
            && (self.inputs.is_empty() || self.inputs.len() == m.inputs.len())
            && self.tunables.bias.len() == m.sensors.len()
            && self.tunables.load_scale.len() == m.loads.len()
            && self.thermal.nodes.len() == m.thermal.nodes.len()
            && self.thermal.pending.len() == m.thermal.heats.len()
            && self.thermal.grids.len() == m.thermal.grids.len()
            && self
                .thermal
                .grids
                .iter()
                .zip(&m.thermal.grids)
                .all(|(f, g)| f.len() == g.cells())
            && self.degradation.wear.len() == m.wear.len()
            && self.tunables.wear.len() == m.wear.len()
    }

    /// Serializes the state as JSON (exact: floats round-trip).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::output("<state>", e))
    }

    /// Reads a state serialized by [`State::to_json`].
    pub fn from_json(s: &str) -> Result<Self> {
        let state: Self = serde_json::from_str(s)
            .map_err(|e| Error::State(format!("not a valid twin state: {e}")))?;
        state.check_contents()?;
        Ok(state)
    }

    /// Checks what stepping the state relies on: a finite time ≥ 0, positive finite masses,
    /// finite friction ≥ 0 and a generator that can run.
    pub fn check_contents(&self) -> Result<()> {
        let bad = |what: String| Err(Error::State(format!("not a valid twin state: {what}")));
        if !(self.time.is_finite() && self.time >= 0.0) {
            return bad(format!("time {} s; expected a finite time ≥ 0", self.time));
        }
        let t = &self.tunables;
        if let Some(m) = t.mass.iter().find(|m| !(m.is_finite() && **m > 0.0)) {
            return bad(format!("a body mass of {m} kg; expected a finite mass > 0"));
        }
        if let Some(f) = t
            .coulomb
            .iter()
            .chain(&t.viscous)
            .find(|f| !(f.is_finite() && **f >= 0.0))
        {
            return bad(format!("a friction of {f}; expected a finite number ≥ 0"));
        }
        if !crate::stats::generator_is_valid(&self.rng) {
            return bad("its noise generator's state cannot run (an even PCG increment)".into());
        }
        Ok(())
    }
}

/// A joint's motion and reaction after the last step (see [`crate::Twin::joint`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointReading {
    /// Position from the initial pose: rad (revolute) or m (prismatic).
    pub position: f64,
    /// Velocity: rad/s or m/s.
    pub velocity: f64,
    /// Reaction force on the child in N, joint frame (x along the axis).
    pub force: nalgebra::Vector3<f64>,
    /// Reaction moment about the anchor on the child in N·m, joint frame.
    pub moment: nalgebra::Vector3<f64>,
}

/// One sensor's latest reading, in the sensor's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// Measured value: true value + bias + noise.
    pub value: f64,
    /// Noise-free prediction: true value + bias (what an estimator compares data against).
    pub expected: f64,
    /// Whether the sensor sampled during the last step.
    pub fresh: bool,
}
