//! The machine model file format (TOML), as plain serde structs.
//!
//! Every table rejects unknown fields so that a typo is an error, not a silently ignored
//! setting. Units are SI throughout and are stated on each field; `models/README.md`
//! documents the format field by field for users.

use indexmap::IndexMap;
use serde::Deserialize;

/// A whole model file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name and description.
    pub model: ModelInfo,
    /// Solver settings (time step, iterations, gravity).
    #[serde(default)]
    pub solver: SolverSpec,
    /// Named model inputs (operating conditions that data files can drive over time).
    #[serde(default)]
    pub input: IndexMap<String, InputSpec>,
    /// Rigid bodies by name.
    #[serde(default)]
    pub body: IndexMap<String, BodySpec>,
    /// Joints by name.
    #[serde(default)]
    pub joint: IndexMap<String, JointSpec>,
    /// Drives (motors with controllers) by name.
    #[serde(default)]
    pub drive: IndexMap<String, DriveSpec>,
    /// External loads by name.
    #[serde(default)]
    pub load: IndexMap<String, LoadSpec>,
    /// Rolling bearings that share a revolute joint's load, by name.
    #[serde(default)]
    pub bearing: IndexMap<String, BearingSpec>,
    /// Sensors by name.
    #[serde(default)]
    pub sensor: IndexMap<String, SensorSpec>,
    /// Wear elements by name.
    #[serde(default)]
    pub wear: IndexMap<String, super::wear::WearSpec>,
    /// Critical stress sections by name.
    #[serde(default)]
    pub section: IndexMap<String, super::life::SectionSpec>,
    /// Events (threshold crossings) whose time the prognosis predicts, by name.
    #[serde(default)]
    pub event: IndexMap<String, super::life::EventSpec>,
    /// The thermal half: lumped network and conduction grids (absent: no thermal model).
    #[serde(default)]
    pub thermal: Option<ThermalSpec>,
    /// Calibratable parameters.
    #[serde(default)]
    pub parameter: Vec<ParameterSpec>,
}

/// `[model]`: identification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Short name of the model.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// `[solver]`: the mechanical time step and rapier settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SolverSpec {
    /// Mechanical time step in s (default 0.001).
    pub dt_mech: f64,
    /// Velocity solver iterations per step (default 4).
    pub iterations: usize,
    /// Position-stabilization iterations per step (default 0: joint drift stays below 1e-5 m over
    /// long runs without them, and they dissipate energy).
    pub stabilization_iterations: usize,
    /// Gravity in m/s², world frame (default `[0, 0, -9.81]`).
    pub gravity: [f64; 3],
    /// The cycle-averaged slow integrator for long gaps (absent: always step).
    pub cycle_averaged: Option<super::life::CycleAveragedSpec>,
    /// Quasi-steady multi-rate stepping at steady operating points (absent: step every interval).
    pub quasi_steady: Option<super::quasi::QuasiSteadySpec>,
}

impl Default for SolverSpec {
    fn default() -> Self {
        Self {
            dt_mech: 1e-3,
            iterations: 4,
            stabilization_iterations: 0,
            gravity: [0.0, 0.0, -9.81],
            cycle_averaged: None,
            quasi_steady: None,
        }
    }
}

/// `[input.NAME]`: a model input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Unit, for documentation and reports (SI, e.g. `"rad/s"`).
    pub unit: String,
    /// Value used when no data file drives the input (default 0).
    #[serde(default)]
    pub default: f64,
    /// What the input can be, `[lowest, highest]` in its unit (default ±1e9; temperatures
    /// −273.15 to 10000 °C). A value outside (a hostile or broken stream's 1e308) is counted
    /// as out of range (`data_quality.out_of_range`) and never reaches the twin: the input
    /// holds its last value.
    pub range: Option<[f64; 2]>,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// `[body.NAME]`: a rigid body. Its origin is its centre of mass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    /// Mass in kg (give `mass` and `inertia`, or `shape`).
    pub mass: Option<f64>,
    /// Principal moments of inertia about the centre of mass in kg·m², body axes.
    pub inertia: Option<[f64; 3]>,
    /// A primitive shape whose mass and inertia are computed from its density.
    pub shape: Option<ShapeSpec>,
    /// Position of the centre of mass in m, world frame (default origin).
    #[serde(default)]
    pub position: [f64; 3],
    /// Orientation as a rotation vector (axis × angle, rad), world frame (default none).
    #[serde(default)]
    pub rotation: [f64; 3],
    /// Initial linear velocity in m/s, world frame.
    #[serde(default)]
    pub velocity: [f64; 3],
    /// Initial angular velocity in rad/s, world frame.
    #[serde(default)]
    pub angular_velocity: [f64; 3],
}

/// A primitive shape with a density.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeSpec {
    /// `"box"`, `"cylinder"` or `"sphere"`.
    pub kind: String,
    /// Density in kg/m³.
    pub density: f64,
    /// Box edge lengths in m (box only).
    pub size: Option<[f64; 3]>,
    /// Radius in m (cylinder, sphere).
    pub radius: Option<f64>,
    /// Length in m along `axis` (cylinder).
    pub length: Option<f64>,
    /// Cylinder axis in body axes: `"x"`, `"y"` or `"z"` (default `"x"`).
    pub axis: Option<String>,
}

/// `[joint.NAME]`: a joint between a parent (a body or `"world"`) and a child body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointSpec {
    /// `"revolute"`, `"prismatic"` or `"fixed"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Parent body name, or `"world"`.
    pub parent: String,
    /// Child body name.
    pub child: String,
    /// Anchor point in m, world frame, at the initial pose.
    #[serde(default)]
    pub anchor: [f64; 3],
    /// Joint axis (unit vector, world frame, initial pose); required for revolute and prismatic.
    pub axis: Option<[f64; 3]>,
    /// Position limits `[lower, upper]` in rad (revolute) or m (prismatic).
    pub limits: Option<[f64; 2]>,
    /// Joint friction.
    #[serde(default)]
    pub friction: FrictionSpec,
}

/// Joint friction: Coulomb plus viscous, applied as a torque (revolute) or force (prismatic).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrictionSpec {
    /// Coulomb friction in N·m (revolute) or N (prismatic), ≥ 0.
    #[serde(default)]
    pub coulomb: f64,
    /// Viscous coefficient in N·m·s/rad (revolute) or N·s/m (prismatic), ≥ 0.
    #[serde(default)]
    pub viscous: f64,
    /// Thermal node whose temperature scales the viscous coefficient (lubricant viscosity):
    /// `viscous · exp(−temperature_coefficient · (T − reference_temperature))`.
    pub temperature_node: Option<String>,
    /// Viscosity temperature coefficient in 1/K (default 0: no dependence).
    #[serde(default)]
    pub temperature_coefficient: f64,
    /// Temperature in °C at which `viscous` holds (default 20).
    pub reference_temperature: Option<f64>,
}

/// Where a time-varying value comes from: a constant, a model input, or a schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SourceSpec {
    /// A constant.
    Constant(f64),
    /// A table form.
    Table(SourceTable),
}

/// The table form of a value source; exactly one of `value`, `input`, `schedule`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceTable {
    /// A constant value.
    pub value: Option<f64>,
    /// The name of a model input.
    pub input: Option<String>,
    /// Piecewise-linear schedule of `[time s, value]` points, held constant outside.
    pub schedule: Option<Vec<[f64; 2]>>,
    /// Multiplier applied to the value (default 1).
    pub scale: Option<f64>,
}

/// `[drive.NAME]`: a motor with a controller acting on one joint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveSpec {
    /// The driven joint (revolute or prismatic).
    pub joint: String,
    /// `"speed"`, `"position"` or `"torque"`.
    pub mode: String,
    /// Set-point in joint units: rad/s or m/s (speed), rad or m (position); motor torque in
    /// N·m (torque mode).
    pub setpoint: SourceSpec,
    /// Proportional gain (speed: N·m·s/rad; position: N·m/rad), at the motor.
    #[serde(default)]
    pub kp: f64,
    /// Integral gain (speed: N·m/rad; position: N·m/(rad·s)).
    #[serde(default)]
    pub ki: f64,
    /// Derivative gain (position only: N·m·s/rad).
    #[serde(default)]
    pub kd: f64,
    /// Torque limit of the motor in N·m (default unlimited).
    pub max_torque: Option<f64>,
    /// Motor torque constant in N·m/A (current = torque / kt; default 1).
    pub torque_constant: Option<f64>,
    /// Ball-screw or rack transmission for a prismatic joint: lead in m per motor revolution.
    pub lead: Option<f64>,
    /// Inertia of the motor rotor plus screw in kg·m², reflected through the transmission.
    #[serde(default)]
    pub rotor_inertia: f64,
    /// Equivalent winding resistance in Ω: copper loss `resistance · current²` in W (default 0).
    #[serde(default)]
    pub resistance: f64,
}

/// `[load.NAME]`: an external force or torque on a body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// The loaded body.
    pub body: String,
    /// `"force"` (N) or `"torque"` (N·m).
    pub kind: String,
    /// Direction (normalised on load), in `frame`.
    pub direction: [f64; 3],
    /// `"world"` (default) or `"body"`.
    pub frame: Option<String>,
    /// Magnitude in N or N·m.
    pub magnitude: SourceSpec,
    /// Point of application of a force in m, world frame at the initial pose; moves with the
    /// body (default: the centre of mass).
    pub point: Option<[f64; 3]>,
}

/// `[bearing.NAME]`: a rolling bearing carrying part of a revolute joint's radial load. One or
/// two bearings per joint; with two, the joint's radial force and bending moment split between
/// them by statics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearingSpec {
    /// The revolute joint it supports.
    pub joint: String,
    /// Position along the joint axis from the joint's anchor, in m (default 0).
    #[serde(default)]
    pub offset: f64,
}

/// `[sensor.NAME]`: a sensor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorSpec {
    /// What it measures: `joint_position`, `joint_velocity`, `drive_torque`, `motor_current`,
    /// `body_acceleration`, `joint_reaction_force`, `joint_reaction_torque`, `bearing_load`,
    /// `temperature` (°C, of a node or at a grid point), `thermal_growth` (m), `wear` (the wear
    /// element's quantity), `vibration` (m/s², from a bearing element's defect), `damage`
    /// (Miner damage of a section).
    pub kind: String,
    /// The joint (joint sensors).
    pub joint: Option<String>,
    /// The drive (drive sensors).
    pub drive: Option<String>,
    /// The body (acceleration).
    pub body: Option<String>,
    /// The bearing (bearing_load).
    pub bearing: Option<String>,
    /// The wear element (wear, vibration).
    pub wear: Option<String>,
    /// The stress section (damage).
    pub section: Option<String>,
    /// Vibration per unit of defect severity (vibration; default 1).
    pub gain: Option<f64>,
    /// Measuring axis in body axes (acceleration; default `[1, 0, 0]`).
    pub axis: Option<[f64; 3]>,
    /// Component of a reaction: `"x"`, `"y"`, `"z"` (joint frame; x is the joint axis),
    /// `"radial"` or `"magnitude"` (default `"magnitude"`).
    pub component: Option<String>,
    /// The thermal node (temperature, thermal_growth).
    pub node: Option<String>,
    /// The conduction grid (temperature at `point`, thermal_growth over `region`).
    pub grid: Option<String>,
    /// Probe point in the grid's own coordinates, m from its corner (temperature).
    pub point: Option<[f64; 3]>,
    /// Box of the grid whose mean temperature drives a thermal_growth sensor (default: all).
    pub region: Option<RegionSpec>,
    /// Linear expansion coefficient in 1/K (thermal_growth).
    pub alpha: Option<f64>,
    /// Length that grows, in m (thermal_growth).
    pub length: Option<f64>,
    /// Temperature in °C at which the growth is zero (thermal_growth; default 20).
    pub reference_temperature: Option<f64>,
    /// Sample rate in Hz.
    pub rate: f64,
    /// Standard deviation of the additive Gaussian noise, in the sensor's unit (default 0).
    #[serde(default)]
    pub noise_std: f64,
    /// Constant bias, in the sensor's unit (default 0).
    #[serde(default)]
    pub bias: f64,
    /// What the sensor can read, `[lowest, highest]` in its unit (default ±1e9; temperatures
    /// −273.15 to 10000 °C). A reading outside is counted as out of range
    /// (`data_quality.out_of_range`) and never reaches an estimator.
    pub range: Option<[f64; 2]>,
}

/// `[[parameter]]`: a calibratable parameter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    /// Path of the value in the model, e.g. `joint.spindle.friction.viscous`.
    pub path: String,
    /// Prior mean (default: the model's own value at `path`).
    pub mean: Option<f64>,
    /// Prior standard deviation (> 0), in the parameter's unit.
    pub std: f64,
    /// Bounds `[lower, upper]` (default unbounded).
    pub bounds: Option<[f64; 2]>,
    /// Whether the value differs from unit to unit (tool, bearing, machine) of one kind of
    /// machine: calibrating several runs then estimates one value per run and the population
    /// they come from (default false: one value shared by every unit).
    #[serde(default)]
    pub per_unit: bool,
}

/// `[thermal]`: the thermal half of a model. Temperatures are in °C (differences in K).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThermalSpec {
    /// Thermal time step `dt_thermal` in s (default 0.1); a whole number of mechanical steps.
    pub dt: Option<f64>,
    /// Ambient and coolant temperatures by name.
    #[serde(default)]
    pub ambient: IndexMap<String, AmbientSpec>,
    /// Lumped nodes by name.
    #[serde(default)]
    pub node: IndexMap<String, NodeSpec>,
    /// Conductances between nodes, or from a node to an ambient (convection h·A), by name.
    #[serde(default)]
    pub link: IndexMap<String, LinkSpec>,
    /// Heat sources by name.
    #[serde(default)]
    pub heat: IndexMap<String, HeatSpec>,
    /// 3-D conduction grids by name.
    #[serde(default)]
    pub grid: IndexMap<String, GridSpec>,
}

/// `[thermal.ambient.NAME]`: a temperature imposed from outside (air, coolant).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmbientSpec {
    /// Temperature in °C: a number, `{ input = "..." }` or a schedule.
    pub temperature: SourceSpec,
}

/// `[thermal.node.NAME]`: a lumped thermal mass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Heat capacity in J/K (> 0).
    pub capacity: f64,
    /// Initial temperature in °C (default 20).
    pub initial: Option<f64>,
    /// The body this node belongs to (for reports; optional).
    pub body: Option<String>,
}

/// `[thermal.link.NAME]`: a thermal conductance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The two ends: two node names, or a node and an ambient or a grid name.
    pub between: [String; 2],
    /// Conductance in W/K (≥ 0); for convection, h·A.
    pub conductance: f64,
    /// For a link to a grid: the box of the grid it touches, grid coordinates in m (default:
    /// all of it). Heat flows with the box's mean temperature and spreads over the box.
    pub region: Option<RegionSpec>,
}

/// `[thermal.heat.NAME]`: heat put into a node or into a box of a grid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatSpec {
    /// The receiving node.
    pub node: Option<String>,
    /// The receiving grid (the heat spreads uniformly over `region`).
    pub grid: Option<String>,
    /// Box of the grid that receives the heat, grid coordinates in m (default: all of it).
    pub region: Option<RegionSpec>,
    /// Mechanical origin: `joint.NAME.friction` (friction power) or `drive.NAME.copper_loss`.
    pub from: Option<String>,
    /// Or a prescribed power in W: a number, `{ input = "..." }` or a schedule.
    pub power: Option<SourceSpec>,
    /// Share of the origin's power that goes here (default 1). The shares of one origin must
    /// add up to 1, so no heat is lost unaccounted.
    pub fraction: Option<f64>,
}

/// `[thermal.grid.NAME]`: a box discretised into nodes (vertex-centred finite volumes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Edge lengths in m (x, y, z).
    pub size: [f64; 3],
    /// Nodes along each axis (≥ 1; 1 makes the axis a slab of thickness `size`).
    pub nodes: [usize; 3],
    /// Material of the whole box unless a region overrides it.
    pub material: MaterialSpec,
    /// Initial temperature in °C (default 20).
    pub initial: Option<f64>,
    /// Material regions; later ones override earlier ones.
    #[serde(default)]
    pub region: Vec<MaterialRegionSpec>,
    /// Boundary conditions by name; faces no condition names are insulated, and later
    /// conditions override earlier ones where they overlap.
    #[serde(default)]
    pub boundary: IndexMap<String, BoundarySpec>,
}

/// A material's conductivity, density and specific heat.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    /// Thermal conductivity in W/(m·K).
    pub k: f64,
    /// Density in kg/m³.
    pub rho: f64,
    /// Specific heat in J/(kg·K).
    pub cp: f64,
}

/// An axis-aligned box in a grid's coordinates (m from its corner); bounds included.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Lower corner in m.
    pub min: [f64; 3],
    /// Upper corner in m.
    pub max: [f64; 3],
}

/// `[[thermal.grid.NAME.region]]`: a box of another material.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialRegionSpec {
    /// Lower corner in m.
    pub min: [f64; 3],
    /// Upper corner in m.
    pub max: [f64; 3],
    /// Its material.
    pub material: MaterialSpec,
}

/// `[thermal.grid.NAME.boundary.BNAME]`: a boundary condition on faces of the box.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundarySpec {
    /// Faces: `x_min`, `x_max`, `y_min`, `y_max`, `z_min`, `z_max`.
    pub faces: Vec<String>,
    /// `"convection"`, `"fixed"`, `"flux"` or `"insulated"`.
    pub kind: String,
    /// Convection: heat-transfer coefficient in W/(m²·K).
    pub h: Option<f64>,
    /// Convection: the ambient's name.
    pub ambient: Option<String>,
    /// Fixed: temperature in °C (a number, `{ input = "..." }` or a schedule).
    pub temperature: Option<SourceSpec>,
    /// Flux: heat flux into the body in W/m².
    pub flux: Option<SourceSpec>,
    /// Only the part of the faces inside this box (default: the whole faces).
    pub region: Option<RegionSpec>,
}
