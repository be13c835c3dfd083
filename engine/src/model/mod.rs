//! Machine models: parsed from TOML ([`spec`]), validated and compiled into an immutable
//! [`Model`] that every twin instance shares.

pub(crate) mod compile;
mod context;
pub mod life;
pub mod locate;
mod mechanics;
pub mod params;
pub mod quasi;
mod ranges;
mod sensors;
pub mod spec;
mod thermal;
pub mod wear;

pub use life::{CycleAveraged, Event, Section};
pub use thermal::DEFAULT_TEMPERATURE;

use std::path::Path;
use std::sync::Arc;

use nalgebra::{UnitQuaternion, Vector3};

use crate::error::{Error, Result};
use crate::source::Source;
use params::{ParamTarget, Parameter};

/// A compiled, validated, immutable machine model. Share it through an [`Arc`]: any number of
/// [`Twin`](crate::Twin) instances step the same model with their own parameters and state.
#[derive(Debug, Clone)]
pub struct Model {
    /// Model name (`[model].name`).
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// The file this model was read from (or a label such as `<string>`).
    pub source: String,
    /// Mechanical time step in s.
    pub dt_mech: f64,
    /// Velocity solver iterations per mechanical step.
    pub solver_iterations: usize,
    /// Position-stabilization iterations per mechanical step.
    pub stabilization_iterations: usize,
    /// Gravity in m/s², world frame.
    pub gravity: Vector3<f64>,
    /// Model inputs, in file order.
    pub inputs: Vec<Input>,
    /// Rigid bodies, in file order.
    pub bodies: Vec<Body>,
    /// Joints, in file order.
    pub joints: Vec<Joint>,
    /// Drives, in file order.
    pub drives: Vec<Drive>,
    /// External loads, in file order.
    pub loads: Vec<Load>,
    /// Rolling bearings, in file order.
    pub bearings: Vec<Bearing>,
    /// Sensors, in file order.
    pub sensors: Vec<Sensor>,
    /// The thermal part (empty when the model has none).
    pub thermal: crate::thermal::Thermal,
    /// Wear elements, in file order.
    pub wear: Vec<crate::wear::WearElement>,
    /// Critical stress sections, in file order.
    pub sections: Vec<Section>,
    /// Events the prognosis predicts, in file order.
    pub events: Vec<Event>,
    /// The slow integrator's settings, if the model enables it.
    pub cycle_averaged: Option<CycleAveraged>,
    /// Quasi-steady multi-rate stepping, if the model enables it.
    pub quasi_steady: Option<quasi::QuasiSteady>,
    /// Calibratable parameters, in file order.
    pub parameters: Vec<Parameter>,
    /// Bodies ordered children before parents (for the joint-reaction recursion).
    pub(crate) leaves_first: Vec<usize>,
}

/// A named model input (an operating condition such as spindle speed or radial load).
#[derive(Debug, Clone)]
pub struct Input {
    /// Name, as used in data files.
    pub name: String,
    /// Unit (SI).
    pub unit: String,
    /// Value when nothing drives the input.
    pub default: f64,
    /// What the input can be, `[lowest, highest]` in its unit.
    pub range: [f64; 2],
}

impl Input {
    /// Whether `value` is within the input's range.
    pub fn accepts(&self, value: f64) -> bool {
        (self.range[0]..=self.range[1]).contains(&value)
    }
}

/// A rigid body. Its origin is its centre of mass.
#[derive(Debug, Clone)]
pub struct Body {
    /// Name.
    pub name: String,
    /// Mass in kg.
    pub mass: f64,
    /// Principal moments of inertia in kg·m², body axes.
    pub inertia: Vector3<f64>,
    /// Initial position of the centre of mass in m, world frame.
    pub position: Vector3<f64>,
    /// Initial orientation (body to world).
    pub rotation: UnitQuaternion<f64>,
    /// Initial linear velocity in m/s, world frame.
    pub velocity: Vector3<f64>,
    /// Initial angular velocity in rad/s, world frame.
    pub angular_velocity: Vector3<f64>,
    /// Joint whose child this body is, if any.
    pub parent_joint: Option<usize>,
    /// Joints whose parent this body is.
    pub child_joints: Vec<usize>,
}

/// Kind of joint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JointKind {
    /// One rotational degree of freedom about the axis.
    Revolute,
    /// One translational degree of freedom along the axis.
    Prismatic,
    /// No degree of freedom.
    Fixed,
}

/// A joint between a parent body (or the world) and a child body.
#[derive(Debug, Clone)]
pub struct Joint {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: JointKind,
    /// Parent body index; `None` for the world.
    pub parent: Option<usize>,
    /// Child body index.
    pub child: usize,
    /// Joint frame (x = axis) in the parent's body frame (world frame for the world).
    pub frame_parent: Frame,
    /// Joint frame (x = axis) in the child's body frame.
    pub frame_child: Frame,
    /// Position limits (rad or m).
    pub limits: Option<[f64; 2]>,
    /// Coulomb friction in N·m or N.
    pub coulomb: f64,
    /// Viscous friction in N·m·s/rad or N·s/m.
    pub viscous: f64,
    /// Thermal node whose temperature scales the viscous coefficient, with the coefficient in
    /// 1/K and the reference temperature in °C: `viscous·exp(−β·(T − T_ref))`.
    pub viscous_temperature: Option<(usize, f64, f64)>,
}

/// A rigid frame: a translation and a rotation, relative to some parent frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Origin in m.
    pub translation: Vector3<f64>,
    /// Orientation.
    pub rotation: UnitQuaternion<f64>,
}

/// Drive control mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveMode {
    /// PI control of the motor speed.
    Speed,
    /// PID control of the motor position.
    Position,
    /// Open-loop torque set-point.
    Torque,
}

/// A motor with a controller acting on a revolute or prismatic joint.
#[derive(Debug, Clone)]
pub struct Drive {
    /// Name.
    pub name: String,
    /// Driven joint.
    pub joint: usize,
    /// Control mode.
    pub mode: DriveMode,
    /// Set-point in joint units (rad/s or m/s, rad or m), or motor torque in N·m.
    pub setpoint: Source,
    /// Proportional gain, at the motor (speed: N·m·s/rad; position: N·m/rad).
    pub kp: f64,
    /// Integral gain, at the motor (speed: N·m/rad; position: N·m/(rad·s)).
    pub ki: f64,
    /// Derivative gain, at the motor (position only: N·m·s/rad).
    pub kd: f64,
    /// Motor torque limit in N·m.
    pub max_torque: f64,
    /// Torque constant in N·m/A.
    pub torque_constant: f64,
    /// Motor radians per joint unit: 1 for a direct revolute drive, 2π/lead for a screw.
    pub ratio: f64,
    /// Motor-side inertia in kg·m² (reflected to the joint as `rotor_inertia·ratio²`).
    pub rotor_inertia: f64,
    /// Equivalent winding resistance in Ω (copper loss `R·I²`).
    pub resistance: f64,
}

/// Whether a load is a force or a torque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// A force in N.
    Force,
    /// A torque in N·m.
    Torque,
}

/// An external load on a body.
#[derive(Debug, Clone)]
pub struct Load {
    /// Name.
    pub name: String,
    /// Loaded body.
    pub body: usize,
    /// Force or torque.
    pub kind: LoadKind,
    /// Unit direction.
    pub direction: Vector3<f64>,
    /// Whether `direction` turns with the body.
    pub body_frame: bool,
    /// Magnitude (N or N·m).
    pub magnitude: Source,
    /// Point of application in body coordinates (forces), relative to the centre of mass.
    pub point: Vector3<f64>,
}

/// What a sensor measures (and its unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SensorKind {
    /// Joint position, rad or m.
    JointPosition(usize),
    /// Joint velocity, rad/s or m/s.
    JointVelocity(usize),
    /// Motor torque commanded by a drive, N·m.
    DriveTorque(usize),
    /// Motor current of a drive, A (torque / torque constant).
    MotorCurrent(usize),
    /// Proper acceleration (a − g) along a body-fixed axis, m/s².
    BodyAcceleration {
        /// Body index.
        body: usize,
        /// Unit axis in body coordinates.
        axis: Vector3<f64>,
    },
    /// Reaction force of a joint on its child, N, in the joint frame.
    ReactionForce(usize, Component),
    /// Reaction torque of a joint on its child about the anchor, N·m, in the joint frame.
    ReactionTorque(usize, Component),
    /// Radial load carried by a bearing, N.
    BearingLoad(usize),
    /// A wear element's reported quantity (m of depth or VB, or consumed rating life).
    Wear(usize),
    /// Vibration from a bearing element's defect: gain × severity, m/s² (plus the bias, which
    /// carries the healthy baseline).
    Vibration {
        /// The bearing wear element.
        element: usize,
        /// m/s² per m/s² of severity.
        gain: f64,
    },
    /// Miner damage of a stress section (1 = expected failure).
    Damage(usize),
    /// Temperature, °C.
    Temperature(TemperatureOf),
    /// Thermal growth `alpha·length·(T − reference)`, m.
    ThermalGrowth {
        /// The temperature that drives it.
        of: TemperatureOf,
        /// Expansion coefficient in 1/K.
        alpha: f64,
        /// Growing length in m.
        length: f64,
        /// Temperature of zero growth in °C.
        reference: f64,
    },
}

/// Which temperature a thermal sensor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemperatureOf {
    /// A lumped node.
    Node(usize),
    /// An observable (probe point or region mean) of a grid.
    Grid {
        /// Grid index.
        grid: usize,
        /// Index into the grid's observables.
        observable: usize,
    },
}

/// Which component of a vector a sensor reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Along the joint axis.
    X,
    /// Joint-frame y.
    Y,
    /// Joint-frame z.
    Z,
    /// Perpendicular to the axis: √(y² + z²).
    Radial,
    /// Euclidean norm.
    Magnitude,
}

impl Component {
    /// The component of `v`.
    pub fn of(self, v: &Vector3<f64>) -> f64 {
        match self {
            Component::X => v.x,
            Component::Y => v.y,
            Component::Z => v.z,
            Component::Radial => v.y.hypot(v.z),
            Component::Magnitude => v.norm(),
        }
    }
}

/// A rolling bearing carrying part of a revolute joint's radial load.
#[derive(Debug, Clone)]
pub struct Bearing {
    /// Name.
    pub name: String,
    /// The supported revolute joint.
    pub joint: usize,
    /// Position along the joint axis from the anchor, in m.
    pub offset: f64,
}

/// A sensor.
#[derive(Debug, Clone)]
pub struct Sensor {
    /// Name, as used in data files.
    pub name: String,
    /// What it measures.
    pub kind: SensorKind,
    /// Unit of its readings (SI).
    pub unit: &'static str,
    /// Declared sample rate in Hz.
    pub rate: f64,
    /// Mechanical steps between samples (effective rate `1 / (period_steps·dt_mech)`).
    pub period_steps: u64,
    /// Noise standard deviation, in the sensor's unit.
    pub noise_std: f64,
    /// Bias added to every reading, in the sensor's unit.
    pub bias: f64,
    /// What it can read, `[lowest, highest]` in its unit: readings outside are outliers.
    pub range: [f64; 2],
}

impl Sensor {
    /// Whether `value` (in the sensor's unit) is a reading the sensor can give.
    pub fn reads(&self, value: f64) -> bool {
        (self.range[0]..=self.range[1]).contains(&value)
    }
}

impl Model {
    /// Reads, validates and compiles a model file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Arc<Model>> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|e| Error::io(&label, e))?;
        Self::from_toml(&src, &label)
    }

    /// Validates and compiles model TOML `src`; `label` names it in errors.
    pub fn from_toml(src: &str, label: &str) -> Result<Arc<Model>> {
        compile::compile(src, label).map(Arc::new)
    }

    /// The time in s after `steps` mechanical steps from 0: `steps / (1/dt_mech)` where the
    /// step is a whole fraction of a second (exact at every round time: 350 steps of 1 ms are
    /// 0.35 s, not 0.35000000000000003), else `steps · dt_mech`.
    pub fn step_time(&self, steps: u64) -> f64 {
        let per_second = (1.0 / self.dt_mech).round();
        if per_second >= 1.0 && (1.0 / per_second - self.dt_mech).abs() <= 1e-15 * self.dt_mech {
            steps as f64 / per_second
        } else {
            steps as f64 * self.dt_mech
        }
    }

    /// Index of the input called `name`; the error names the model's inputs.
    pub fn input_index(&self, name: &str) -> Result<usize> {
        self.lookup("input", self.inputs.iter().map(|x| x.name.as_str()), name)
    }

    /// Index of the sensor called `name`; the error names the model's sensors.
    pub fn sensor_index(&self, name: &str) -> Result<usize> {
        self.lookup("sensor", self.sensors.iter().map(|x| x.name.as_str()), name)
    }

    /// Index of the drive called `name`; the error names the model's drives.
    pub fn drive_index(&self, name: &str) -> Result<usize> {
        self.lookup("drive", self.drives.iter().map(|x| x.name.as_str()), name)
    }

    /// Index of the wear element called `name`; the error names the model's wear elements.
    pub fn wear_index(&self, name: &str) -> Result<usize> {
        self.lookup(
            "wear element",
            self.wear.iter().map(|x| x.name.as_str()),
            name,
        )
    }

    /// Index of the stress section called `name`; the error names the model's sections.
    pub fn section_index(&self, name: &str) -> Result<usize> {
        self.lookup(
            "section",
            self.sections.iter().map(|x| x.name.as_str()),
            name,
        )
    }

    /// The index of `name` among `names` (the model's parts of one `kind`), or an error that
    /// lists them.
    fn lookup<'a>(
        &self,
        kind: &'static str,
        names: impl Iterator<Item = &'a str> + Clone,
        name: &str,
    ) -> Result<usize> {
        names.clone().position(|n| n == name).ok_or_else(|| {
            let known: Vec<&str> = names.collect();
            Error::Name {
                model: self.name.clone(),
                kind,
                name: name.to_string(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            }
        })
    }

    /// Radial force (N, joint-frame y and z) on the child at bearing `b`: with one bearing on its
    /// joint, the joint's radial force; with two, the joint's radial force `force` and bending
    /// moment `moment` (about the anchor, joint frame) split between them by statics.
    pub fn bearing_force(
        &self,
        b: usize,
        force: &Vector3<f64>,
        moment: &Vector3<f64>,
    ) -> nalgebra::Vector2<f64> {
        let bearing = &self.bearings[b];
        let partner = self
            .bearings
            .iter()
            .enumerate()
            .find(|(i, o)| *i != b && o.joint == bearing.joint);
        let Some((_, other)) = partner else {
            return nalgebra::Vector2::new(force.y, force.z);
        };
        // R_b + R_o = F⊥ and Σ x_i e_x × R_i = M⊥, i.e. x_b R_b,y + x_o R_o,y = M_z and
        // x_b R_b,z + x_o R_o,z = −M_y.
        let (xb, xo) = (bearing.offset, other.offset);
        let split = |f: f64, m: f64| (m - xo * f) / (xb - xo);
        nalgebra::Vector2::new(split(force.y, moment.z), split(force.z, -moment.y))
    }

    /// Index of the body called `name`; the error names the model's bodies.
    pub fn body_index(&self, name: &str) -> Result<usize> {
        self.lookup("body", self.bodies.iter().map(|x| x.name.as_str()), name)
    }

    /// Index of the joint called `name`; the error names the model's joints.
    pub fn joint_index(&self, name: &str) -> Result<usize> {
        self.lookup("joint", self.joints.iter().map(|x| x.name.as_str()), name)
    }

    /// The bounds `(lower, upper)` of each declared parameter, in declaration order.
    pub fn parameter_bounds(&self) -> Vec<(f64, f64)> {
        self.parameters.iter().map(|p| (p.lower, p.upper)).collect()
    }

    /// The declared parameters' paths, comma-separated (for messages).
    pub fn parameter_paths(&self) -> String {
        self.parameters
            .iter()
            .map(|p| p.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Resolves a parameter path such as `joint.spindle.friction.viscous` to what it sets.
    pub fn resolve(&self, path: &str) -> Result<ParamTarget> {
        params::resolve(self, path)
    }
}
