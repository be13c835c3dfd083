//! Twin instances: one [`Model`] with its own parameter values and [`State`], stepped in time
//! ([`Twin`]), and many of them stepped together ([`Ensemble`]).
//!
//! Time verbs, each with one meaning:
//! - [`Twin::step`]: one mechanical step; [`Twin::step_to`]: every mechanical step up to a
//!   time, never an averaged one.
//! - [`Twin::advance_to`]: to a time with the inputs held, by the model's multi-rate rules.
//! - [`Twin::drive_to`] / [`Twin::drive`] / [`Ensemble::drive_to`]: to a time with the inputs
//!   from a series, by the multi-rate rules ([`Rules`]); the one stepping loop that
//!   simulation, calibration and prognosis share (`drive.rs`).

mod drive;
mod ensemble;
mod mechanics;
mod quasi;
mod sensors;
mod state;
mod step;
mod thermal;
mod wear;
mod world;

pub use drive::Rules;
pub use ensemble::Ensemble;
pub use quasi::QuasiState;
pub use state::{JointReading, Reading, State};
pub use thermal::{EnergyAccount, ThermalState};
pub use wear::DegradationState;

use std::sync::Arc;

use nalgebra::Vector3;
use rapier3d::prelude::{IntegrationParameters, PhysicsPipeline};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::params::{ParamTarget, Params, Tunables, check_value};

/// A twin: a shared [`Model`], its own [`State`] (which holds its parameter values θ among the
/// values in force), and the workspaces to step it. `step` does not allocate.
pub struct Twin {
    model: Arc<Model>,
    state: State,
    readings: Vec<Reading>,
    pipeline: PhysicsPipeline,
    integration: IntegrationParameters,
    work: mechanics::Workspace,
    thermal: thermal::ThermalRuntime,
    /// Sums over the averaging part of a slow integrator's fast window, while one runs.
    window: Option<wear::WindowSums>,
    /// Scratch for input values read from a series.
    input_scratch: Vec<f64>,
    /// Mechanical steps integrated by this twin, and simulated seconds it sub-stepped.
    integrated_steps: u64,
    substepped_seconds: f64,
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
        let mut twin = Self {
            integration: world::integration_parameters(&model),
            work: mechanics::Workspace::new(&model),
            readings: vec![Reading::default(); model.sensors.len()],
            pipeline: PhysicsPipeline::new(),
            thermal: thermal::ThermalRuntime::new(&model, &crate::thermal::Backend::Cpu)?,
            window: None,
            input_scratch: vec![0.0; model.inputs.len()],
            integrated_steps: 0,
            substepped_seconds: 0.0,
            state: State::initial(&model, tunables, seed),
            model,
        };
        twin.work.refresh_inertia(&twin.model, &twin.state.tunables);
        twin.update_joint_kinematics(0.0);
        Ok(twin)
    }

    /// A fresh twin of `model` with parameter values `theta` (in declaration order).
    pub fn with_theta(model: &Arc<Model>, theta: &[f64], seed: u64) -> Result<Self> {
        let params = Params {
            values: theta.to_vec(),
        };
        Self::with_params(Arc::clone(model), params, seed)
    }

    /// The shared model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The calibratable parameter values θ, read from the values in force.
    pub fn params(&self) -> Params {
        Params {
            values: (0..self.model.parameters.len())
                .map(|i| self.param(i))
                .collect(),
        }
    }

    /// The value of declared parameter `i` (in its unit, see [`Model::parameters`]).
    pub fn param(&self, i: usize) -> f64 {
        self.state.tunables.get(self.model.parameters[i].target)
    }

    /// Sets all calibratable parameters (takes effect from the next step).
    pub fn set_params(&mut self, params: &Params) -> Result<()> {
        for (p, v) in self.model.parameters.iter().zip(&params.values) {
            check_value(&p.path, p.target, *v)?;
        }
        let model = Arc::clone(&self.model);
        for (p, v) in model.parameters.iter().zip(&params.values) {
            self.set_target(p.target, *v);
        }
        Ok(())
    }

    /// Sets the model value at `path` (any resolvable path, calibratable or not), e.g.
    /// `joint.spindle.friction.viscous`, in the unit of that field. A declared parameter's θ
    /// is that value.
    pub fn set(&mut self, path: &str, value: f64) -> Result<()> {
        let target = self.model.resolve(path)?;
        check_value(path, target, value)?;
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

    /// Current model input values, in model order (each in its input's unit).
    pub fn inputs(&self) -> &[f64] {
        &self.state.inputs
    }

    /// Sets model input `index` (in the input's unit); a new value restarts the settling time
    /// of quasi-steady stepping.
    pub fn set_input(&mut self, index: usize, value: f64) {
        if self.state.inputs[index] != value {
            self.state.inputs[index] = value;
            self.state.quasi.inputs_changed_at = self.state.time;
        }
    }

    /// Simulated time in s.
    pub fn time(&self) -> f64 {
        self.state.time
    }

    /// The state (clone it for a snapshot).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Restores a snapshot or checkpoint of this model: time, inputs, parameters and every other
    /// tunable value, bodies, controllers, temperatures, wear and the noise generator (the
    /// thermal backend stays this twin's); the run continues bit for bit.
    pub fn restore(&mut self, state: &State) -> Result<()> {
        if !state.fits(&self.model) {
            return Err(Error::State(format!(
                "the state does not belong to model `{}`",
                self.model.name
            )));
        }
        let inputs = std::mem::take(&mut self.state.inputs);
        self.state = state.clone();
        if self.state.inputs.is_empty() {
            self.state.inputs = inputs;
        }
        self.work.refresh_inertia(&self.model, &self.state.tunables);
        self.read_kinematics();
        self.thermal.fields_replaced();
        Ok(())
    }

    /// The latest reading of the sensor called `name` (measured value, noise-free expected
    /// value, whether it sampled in the last step); the error names the model's sensors.
    pub fn sensor(&self, name: &str) -> Result<Reading> {
        Ok(self.readings()[self.model.sensor_index(name)?])
    }

    /// The joint called `name`: its position, velocity and reaction; the error names the
    /// model's joints.
    pub fn joint(&self, name: &str) -> Result<JointReading> {
        let j = self.model.joint_index(name)?;
        let (force, moment) = self.joint_reaction(j);
        Ok(JointReading {
            position: self.joint_position(j),
            velocity: self.joint_velocity(j),
            force,
            moment,
        })
    }

    /// Sets the model input called `name` (in its declared unit), held until set again; the
    /// error names the model's inputs.
    pub fn set_input_by_name(&mut self, name: &str, value: f64) -> Result<()> {
        let i = self.model.input_index(name)?;
        self.set_input(i, value);
        Ok(())
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

    /// Sets the temperature of thermal node `n` in °C (an estimator's state update).
    pub fn set_node_temperature(&mut self, n: usize, value: f64) {
        self.state.thermal.nodes[n] = value;
    }
}
