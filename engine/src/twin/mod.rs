//! A twin instance: one [`Model`] with its own parameter values and state, stepped in time.

mod mechanics;
mod quasi;
mod thermal;
mod wear;
mod world;

pub use quasi::QuasiState;
pub use thermal::{EnergyAccount, ThermalState};
pub use wear::DegradationState;

use std::sync::Arc;

use nalgebra::Vector3;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use rapier3d::prelude::{IntegrationParameters, PhysicsPipeline};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Model, SensorKind};
use crate::params::{ParamTarget, Params, Tunables, check_value};
use world::RigidWorld;

/// Everything about a twin that changes as it steps. Cloning it is a snapshot; restoring a
/// snapshot (or a deserialized checkpoint) continues the run bit for bit.
#[derive(Clone, Serialize, Deserialize)]
pub struct State {
    /// Simulated time in s.
    pub time: f64,
    /// Mechanical steps taken.
    pub steps: u64,
    /// The parameter-dependent values in force (θ applied onto the model's own values).
    pub tunables: Tunables,
    world: RigidWorld,
    /// Per joint: position (rad or m, from the initial pose, unwrapped) and velocity.
    joint_position: Vec<f64>,
    joint_velocity: Vec<f64>,
    /// Per drive: controller integral state and the last motor torque (N·m).
    drive_integral: Vec<f64>,
    drive_torque: Vec<f64>,
    /// Per joint: reaction force (N) and torque about the anchor (N·m) on the child, joint frame.
    reaction_force: Vec<Vector3<f64>>,
    reaction_torque: Vec<Vector3<f64>>,
    /// Per body: linear acceleration (m/s², world) over the last step.
    acceleration: Vec<Vector3<f64>>,
    /// The sensor noise generator.
    rng: Pcg64,
    /// Temperatures, pending heat and the energy account.
    thermal: ThermalState,
    /// Wear states, section damage and the slow integrator's averaged rates.
    #[serde(default)]
    degradation: DegradationState,
    /// Quasi-steady stepping's settling clock.
    #[serde(default)]
    quasi: QuasiState,
}

impl State {
    /// Serializes the state as JSON (exact: floats round-trip).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::State(e.to_string()))
    }

    /// Reads a state serialized by [`State::to_json`].
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::State(format!("not a valid twin state: {e}")))
    }
}

/// One sensor's latest reading.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reading {
    /// Measured value: true value + bias + noise, in the sensor's unit.
    pub value: f64,
    /// Noise-free prediction: true value + bias (what an estimator compares data against).
    pub expected: f64,
    /// Whether the sensor sampled during the last step.
    pub fresh: bool,
}

/// A twin: a shared [`Model`], its own [`Params`] and [`State`], and the workspaces to step it.
/// `step` does not allocate.
pub struct Twin {
    model: Arc<Model>,
    params: Params,
    inputs: Vec<f64>,
    state: State,
    readings: Vec<Reading>,
    pipeline: PhysicsPipeline,
    integration: IntegrationParameters,
    work: mechanics::Workspace,
    thermal: thermal::ThermalRuntime,
    /// Sums over the averaging part of a slow integrator's fast window, while one runs.
    window: Option<wear::WindowSums>,
    /// Mechanical steps integrated by this twin, and simulated seconds it sub-stepped.
    integrated_steps: u64,
    substepped_seconds: f64,
    fault: Option<Error>,
    /// Whether an owner steps this twin's grids (see [`Twin::detach_grids`]).
    grids_detached: bool,
    /// With detached grids: a thermal step waits for them; the step count after which sensors
    /// are due once it completes.
    awaiting_grids: Option<u64>,
}

impl Twin {
    /// A twin of `model` with the prior-mean parameters and sensor noise seeded by `seed`.
    pub fn new(model: Arc<Model>, seed: u64) -> Self {
        let params = Params::prior_mean(&model);
        Self::with_params(model, params, seed)
            .expect("prior means are validated when the model compiles")
    }

    /// A twin of `model` with parameter values `params`.
    pub fn with_params(model: Arc<Model>, params: Params, seed: u64) -> Result<Self> {
        if params.values.len() != model.parameters.len() {
            return Err(Error::Parameter {
                path: "<all>".into(),
                message: format!(
                    "expected {} values, got {}",
                    model.parameters.len(),
                    params.values.len()
                ),
            });
        }
        for (p, v) in model.parameters.iter().zip(&params.values) {
            check_value(&p.path, p.target, *v)?;
        }
        let mut tunables = Tunables::from_model(&model);
        params.apply(&model, &mut tunables);
        let world = RigidWorld::build(&model, &tunables);
        let (nj, nd, nb) = (model.joints.len(), model.drives.len(), model.bodies.len());
        let state = State {
            time: 0.0,
            steps: 0,
            tunables,
            world,
            joint_position: vec![0.0; nj],
            joint_velocity: vec![0.0; nj],
            drive_integral: vec![0.0; nd],
            drive_torque: vec![0.0; nd],
            reaction_force: vec![Vector3::zeros(); nj],
            reaction_torque: vec![Vector3::zeros(); nj],
            acceleration: vec![Vector3::zeros(); nb],
            rng: Pcg64::seed_from_u64(seed),
            thermal: ThermalState::new(&model),
            degradation: DegradationState::new(&model),
            quasi: QuasiState::default(),
        };
        let mut twin = Self {
            integration: world::integration_parameters(&model),
            work: mechanics::Workspace::new(&model),
            readings: vec![Reading::default(); model.sensors.len()],
            inputs: model.inputs.iter().map(|i| i.default).collect(),
            pipeline: PhysicsPipeline::new(),
            thermal: thermal::ThermalRuntime::new(&model, &crate::thermal::Backend::Cpu)?,
            window: None,
            integrated_steps: 0,
            substepped_seconds: 0.0,
            fault: None,
            grids_detached: false,
            awaiting_grids: None,
            model,
            params,
            state,
        };
        twin.work.refresh_inertia(&twin.model, &twin.state.tunables);
        twin.update_joint_kinematics(0.0);
        Ok(twin)
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The calibratable parameter values.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Sets all calibratable parameters (takes effect from the next step).
    pub fn set_params(&mut self, params: &Params) -> Result<()> {
        for (i, (p, v)) in self.model.parameters.iter().zip(&params.values).enumerate() {
            check_value(&p.path, p.target, *v)?;
            self.params.values[i] = *v;
        }
        let model = Arc::clone(&self.model);
        for (p, v) in model.parameters.iter().zip(&params.values) {
            self.set_target(p.target, *v);
        }
        Ok(())
    }

    /// Sets the model value at `path` (any resolvable path, calibratable or not), e.g.
    /// `joint.spindle.friction.viscous`. A declared parameter's θ follows.
    pub fn set(&mut self, path: &str, value: f64) -> Result<()> {
        let target = self.model.resolve(path)?;
        check_value(path, target, value)?;
        if let Some(i) = self
            .model
            .parameters
            .iter()
            .position(|p| p.target == target)
        {
            self.params.values[i] = value;
        }
        self.set_target(target, value);
        Ok(())
    }

    /// The value in force at `path`.
    pub fn get(&self, path: &str) -> Result<f64> {
        Ok(self.state.tunables.get(self.model.resolve(path)?))
    }

    fn set_target(&mut self, target: ParamTarget, value: f64) {
        let mechanical = !matches!(
            target,
            ParamTarget::Wear(..) | ParamTarget::SensorBias(_) | ParamTarget::SensorNoise(_)
        );
        if mechanical && self.state.tunables.get(target) != value {
            self.state.degradation.clear_cache();
        }
        self.state.tunables.set(target, value);
        if let ParamTarget::BodyMass(b) = target {
            self.state
                .world
                .set_mass(&self.model, &self.state.tunables, b);
            self.work.refresh_inertia(&self.model, &self.state.tunables);
        }
    }

    /// Current model input values, in model order.
    pub fn inputs(&self) -> &[f64] {
        &self.inputs
    }

    /// Simulated time in s.
    pub fn time(&self) -> f64 {
        self.state.time
    }

    /// The state (clone it for a snapshot).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Restores a snapshot or checkpoint of this model; the run continues bit for bit.
    pub fn restore(&mut self, state: &State) -> Result<()> {
        let m = &self.model;
        let fits = state.world.handles.len() == m.bodies.len()
            && state.joint_position.len() == m.joints.len()
            && state.drive_torque.len() == m.drives.len()
            && state.tunables.bias.len() == m.sensors.len()
            && state.tunables.load_scale.len() == m.loads.len()
            && state.thermal.nodes.len() == m.thermal.nodes.len()
            && state.thermal.pending.len() == m.thermal.heats.len()
            && state
                .thermal
                .grids
                .iter()
                .zip(&m.thermal.grids)
                .all(|(f, g)| f.len() == g.cells())
            && state.thermal.grids.len() == m.thermal.grids.len()
            && state.degradation.wear.len() == m.wear.len()
            && state.tunables.wear.len() == m.wear.len();
        if !fits {
            return Err(Error::State(format!(
                "the state does not belong to model `{}`",
                m.name
            )));
        }
        self.state = state.clone();
        self.awaiting_grids = None;
        for (i, p) in self.model.parameters.iter().enumerate() {
            self.params.values[i] = self.state.tunables.get(p.target);
        }
        self.work.refresh_inertia(&self.model, &self.state.tunables);
        self.read_kinematics();
        self.pipeline = PhysicsPipeline::new();
        self.upload_fields()
    }

    /// The latest reading of every sensor, in model order.
    pub fn readings(&self) -> &[Reading] {
        &self.readings
    }

    /// Joint position (rad or m from the initial pose) of joint `j`.
    pub fn joint_position(&self, j: usize) -> f64 {
        self.state.joint_position[j]
    }

    /// Joint velocity (rad/s or m/s) of joint `j`.
    pub fn joint_velocity(&self, j: usize) -> f64 {
        self.state.joint_velocity[j]
    }

    /// Reaction force (N) and torque about the anchor (N·m) that joint `j` exerts on its child
    /// during the last step, in the joint frame (x along the axis).
    pub fn joint_reaction(&self, j: usize) -> (Vector3<f64>, Vector3<f64>) {
        (self.state.reaction_force[j], self.state.reaction_torque[j])
    }

    /// Motor torque (N·m) of drive `d` during the last step.
    pub fn drive_torque(&self, d: usize) -> f64 {
        self.state.drive_torque[d]
    }

    /// Position (m, world) of the centre of mass of body `b`.
    pub fn body_position(&self, b: usize) -> Vector3<f64> {
        self.state.world.kinematics(b).position
    }

    /// Advances one mechanical step of `dt_mech` (and the thermal part when a thermal step is
    /// due), then samples the sensors that are due. Returns whether any sensor sampled.
    ///
    /// A failure of the GPU backend stops the thermal part and is kept for
    /// [`Twin::take_fault`].
    pub fn step(&mut self) -> bool {
        self.integrated_steps += 1;
        self.wear_loads();
        self.step_mechanics();
        self.step_degradation();
        if !self.model.thermal.is_empty() {
            self.accumulate_heat();
            let every = self.model.thermal.steps_per_update;
            if self.fault.is_none() && self.state.steps.is_multiple_of(every) {
                if self.grids_detached {
                    self.begin_detached_thermal(self.state.steps.saturating_sub(1));
                    return false;
                }
                if let Err(e) = self.step_thermal() {
                    self.fault = Some(e);
                }
            }
        }
        self.sample_sensors()
    }

    /// The error that stopped the thermal part, if any (a GPU failure); taking it clears it.
    pub fn take_fault(&mut self) -> Option<Error> {
        self.fault.take()
    }

    /// Advances to time `t` s with the inputs held: where the model enables
    /// `[solver.cycle_averaged]` and the gap is longer than its `after`, bridges the gap with
    /// [`Twin::advance_cycle_averaged`]; otherwise advances until the simulated time reaches `t`
    /// (to within half a step), by whole thermal intervals where `[solver.quasi_steady]` allows
    /// (see [`Twin::advance_held`]).
    pub fn advance_to(&mut self, t: f64) {
        match self.model.cycle_averaged {
            Some(ca) if t - self.state.time > ca.after => self.advance_cycle_averaged(t),
            _ => {
                let dt = self.model.dt_mech;
                while self.state.time + 0.5 * dt < t {
                    self.advance_held(t);
                }
            }
        }
    }

    /// Steps until the simulated time reaches `t` s (to within half a step), whatever the gap:
    /// every mechanical step, never an averaged one.
    pub fn step_to(&mut self, t: f64) {
        let dt = self.model.dt_mech;
        while self.state.time + 0.5 * dt < t {
            self.step();
        }
    }

    /// Samples the sensors due at this step.
    fn sample_sensors(&mut self) -> bool {
        self.sample_since(self.state.steps.saturating_sub(1))
    }

    /// Samples every sensor now, due or not.
    fn sample_all_sensors(&mut self) {
        self.sample(|_| true);
    }

    /// Samples, once, every sensor due at some step after step `before` up to now.
    fn sample_since(&mut self, before: u64) -> bool {
        let now = self.state.steps;
        self.sample(|period| now / period > before / period || now == 0)
    }

    fn sample(&mut self, due: impl Fn(u64) -> bool) -> bool {
        let mut any = false;
        let model = Arc::clone(&self.model);
        for (i, s) in model.sensors.iter().enumerate() {
            let fresh = due(s.period_steps);
            self.readings[i].fresh = fresh;
            if !fresh {
                continue;
            }
            any = true;
            let expected = self.true_value(&s.kind) + self.state.tunables.bias[i];
            let std = self.state.tunables.noise_std[i];
            let noise = if std > 0.0 {
                let z: f64 = StandardNormal.sample(&mut self.state.rng);
                std * z
            } else {
                0.0
            };
            self.readings[i] = Reading {
                value: expected + noise,
                expected,
                fresh,
            };
        }
        any
    }

    /// Noise-free prediction of sensor `s` now (true value plus bias), whether or not it is due
    /// to sample: what an estimator compares a measurement with.
    pub fn predict(&self, s: usize) -> f64 {
        self.true_value(&self.model.sensors[s].kind) + self.state.tunables.bias[s]
    }

    /// Sets the temperature of thermal node `n` in °C (an estimator's state update).
    pub fn set_node_temperature(&mut self, n: usize, value: f64) {
        self.state.thermal.nodes[n] = value;
    }

    /// Noise- and bias-free value of a sensor quantity now.
    fn true_value(&self, kind: &SensorKind) -> f64 {
        let st = &self.state;
        match *kind {
            SensorKind::JointPosition(j) => st.joint_position[j],
            SensorKind::JointVelocity(j) => st.joint_velocity[j],
            SensorKind::DriveTorque(d) => st.drive_torque[d],
            SensorKind::MotorCurrent(d) => st.drive_torque[d] / st.tunables.drive[d][4],
            SensorKind::BodyAcceleration { body, axis } => {
                let k = st.world.kinematics(body);
                let specific = st.acceleration[body] - self.model.gravity;
                (k.rotation.inverse() * specific).dot(&axis)
            }
            SensorKind::ReactionForce(j, c) => c.of(&st.reaction_force[j]),
            SensorKind::ReactionTorque(j, c) => c.of(&st.reaction_torque[j]),
            SensorKind::BearingLoad(b) => {
                let j = self.model.bearings[b].joint;
                self.model
                    .bearing_force(b, &st.reaction_force[j], &st.reaction_torque[j])
                    .norm()
            }
            SensorKind::Temperature(of) => st.thermal.temperature(&self.model, of),
            SensorKind::ThermalGrowth {
                of,
                alpha,
                length,
                reference,
            } => alpha * length * (st.thermal.temperature(&self.model, of) - reference),
            SensorKind::Wear(e) => self.wear(e),
            SensorKind::Vibration { element, gain } => gain * self.severity(element),
            SensorKind::Damage(s) => self.damage(s),
        }
    }
}
