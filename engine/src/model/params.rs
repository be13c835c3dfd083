//! Calibratable parameters (θ): what they address in a model, their priors, and the per-instance
//! values that a twin reads.

use serde::{Deserialize, Serialize};

use super::Model;
use crate::error::{Error, Result};
use crate::thermal::grid::BoundaryKind;

/// What a parameter path sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamTarget {
    /// `joint.NAME.friction.coulomb` (N·m or N).
    JointCoulomb(usize),
    /// `joint.NAME.friction.viscous` (N·m·s/rad or N·s/m).
    JointViscous(usize),
    /// `body.NAME.mass` (kg; the inertia scales with it).
    BodyMass(usize),
    /// `drive.NAME.kp`.
    DriveKp(usize),
    /// `drive.NAME.ki`.
    DriveKi(usize),
    /// `drive.NAME.kd`.
    DriveKd(usize),
    /// `drive.NAME.max_torque` (N·m).
    DriveMaxTorque(usize),
    /// `drive.NAME.torque_constant` (N·m/A).
    DriveTorqueConstant(usize),
    /// `drive.NAME.resistance` (Ω): the winding resistance behind the copper loss.
    DriveResistance(usize),
    /// `load.NAME.scale` (dimensionless multiplier on the magnitude, default 1).
    LoadScale(usize),
    /// `sensor.NAME.bias` (sensor unit).
    SensorBias(usize),
    /// `sensor.NAME.noise_std` (sensor unit).
    SensorNoise(usize),
    /// `thermal.node.NAME.capacity` (J/K).
    ThermalCapacity(usize),
    /// `thermal.link.NAME.conductance` (W/K).
    ThermalConductance(usize),
    /// `thermal.grid.NAME.boundary.NAME.h` (W/(m²·K)), by grid and boundary index.
    GridConvection(usize, usize),
    /// `wear.NAME.<law parameter>`, by element and parameter index, with its sign constraint.
    Wear(usize, usize, crate::wear::Sign),
}

/// The grammar of parameter paths, for error messages and docs.
pub const PATH_GRAMMAR: &str = "joint.<name>.friction.{coulomb,viscous} | body.<name>.mass | \
drive.<name>.{kp,ki,kd,max_torque,torque_constant,resistance} | load.<name>.scale | sensor.<name>.{bias,noise_std} | \
thermal.node.<name>.capacity | thermal.link.<name>.conductance | thermal.grid.<name>.boundary.<name>.h | \
wear.<name>.<law parameter>";

/// A declared calibratable parameter with its prior.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Path, e.g. `joint.spindle.friction.viscous`.
    pub path: String,
    /// What it sets.
    pub target: ParamTarget,
    /// Prior mean, in the parameter's unit (that of the field its path addresses, see
    /// [`ParamTarget`]).
    pub mean: f64,
    /// Prior standard deviation, in the parameter's unit.
    pub std: f64,
    /// Lower bound, in the parameter's unit.
    pub lower: f64,
    /// Upper bound, in the parameter's unit.
    pub upper: f64,
    /// Whether the value differs from unit to unit (a per-unit effect drawn from a population)
    /// rather than being one constant shared by every unit.
    pub per_unit: bool,
}

/// Resolves `path` against `model`.
pub(crate) fn resolve(model: &Model, path: &str) -> Result<ParamTarget> {
    let r = Resolver { model, path };
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        ["joint", name, "friction", field] => r.joint_friction(name, field),
        ["body", name, "mass"] => Ok(ParamTarget::BodyMass(r.find(
            model.bodies.iter().map(|b| b.name.as_str()),
            "body",
            name,
        )?)),
        ["drive", name, field] => r.drive(name, field),
        ["load", name, "scale"] => Ok(ParamTarget::LoadScale(r.find(
            model.loads.iter().map(|l| l.name.as_str()),
            "load",
            name,
        )?)),
        ["sensor", name, field] => r.sensor(name, field),
        ["thermal", "node", name, "capacity"] => Ok(ParamTarget::ThermalCapacity(r.find(
            model.thermal.nodes.iter().map(|n| n.name.as_str()),
            "thermal node",
            name,
        )?)),
        ["thermal", "link", name, "conductance"] => Ok(ParamTarget::ThermalConductance(r.find(
            model.thermal.links.iter().map(|l| l.name.as_str()),
            "thermal link",
            name,
        )?)),
        ["thermal", "grid", grid, "boundary", name, "h"] => r.grid_convection(grid, name),
        ["wear", name, rest @ ..] if !rest.is_empty() => r.wear(name, &rest.join(".")),
        _ => Err(r.err(format!(
            "not a parameter path; expected one of: {PATH_GRAMMAR}"
        ))),
    }
}

/// Resolves one parameter path, naming it in errors.
struct Resolver<'a> {
    model: &'a Model,
    path: &'a str,
}

impl Resolver<'_> {
    fn err(&self, message: String) -> Error {
        Error::Parameter {
            path: self.path.to_string(),
            message,
        }
    }

    /// The index of `name` among a kind's `names`, or an error listing them.
    fn find<'n>(
        &self,
        names: impl Iterator<Item = &'n str>,
        kind: &str,
        name: &str,
    ) -> Result<usize> {
        let names: Vec<&str> = names.collect();
        names.iter().position(|n| *n == name).ok_or_else(|| {
            self.err(format!(
                "the model has no {kind} named `{name}` (it has: {})",
                names.join(", ")
            ))
        })
    }

    fn joint_friction(&self, name: &str, field: &str) -> Result<ParamTarget> {
        let joints = self.model.joints.iter().map(|j| j.name.as_str());
        let j = self.find(joints, "joint", name)?;
        match field {
            "coulomb" => Ok(ParamTarget::JointCoulomb(j)),
            "viscous" => Ok(ParamTarget::JointViscous(j)),
            _ => Err(self.err(format!(
                "expected friction.coulomb or friction.viscous, got friction.{field}"
            ))),
        }
    }

    fn drive(&self, name: &str, field: &str) -> Result<ParamTarget> {
        let d = self.find(
            self.model.drives.iter().map(|d| d.name.as_str()),
            "drive",
            name,
        )?;
        match field {
            "kp" => Ok(ParamTarget::DriveKp(d)),
            "ki" => Ok(ParamTarget::DriveKi(d)),
            "kd" => Ok(ParamTarget::DriveKd(d)),
            "max_torque" => Ok(ParamTarget::DriveMaxTorque(d)),
            "torque_constant" => Ok(ParamTarget::DriveTorqueConstant(d)),
            "resistance" => Ok(ParamTarget::DriveResistance(d)),
            _ => Err(self.err(format!(
                "expected kp, ki, kd, max_torque, torque_constant or resistance, got {field}"
            ))),
        }
    }

    fn sensor(&self, name: &str, field: &str) -> Result<ParamTarget> {
        let s = self.find(
            self.model.sensors.iter().map(|s| s.name.as_str()),
            "sensor",
            name,
        )?;
        match field {
            "bias" => Ok(ParamTarget::SensorBias(s)),
            "noise_std" => Ok(ParamTarget::SensorNoise(s)),
            _ => Err(self.err(format!("expected bias or noise_std, got {field}"))),
        }
    }

    fn grid_convection(&self, grid: &str, name: &str) -> Result<ParamTarget> {
        let grids = &self.model.thermal.grids;
        let g = self.find(grids.iter().map(|g| g.name.as_str()), "grid", grid)?;
        let bounds = &grids[g].boundaries;
        let b = self.find(bounds.iter().map(|b| b.name.as_str()), "boundary", name)?;
        if !matches!(bounds[b].kind, BoundaryKind::Convection { .. }) {
            return Err(self.err(format!("boundary `{name}` is not a convection boundary")));
        }
        Ok(ParamTarget::GridConvection(g, b))
    }

    fn wear(&self, name: &str, field: &str) -> Result<ParamTarget> {
        let wear = &self.model.wear;
        let e = self.find(wear.iter().map(|w| w.name.as_str()), "wear element", name)?;
        let names = wear[e].law.parameter_names();
        let i = names.iter().position(|(n, _)| *n == field).ok_or_else(|| {
            let known: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
            self.err(format!(
                "wear element `{name}` has no parameter `{field}` (it has: {})",
                known.join(", ")
            ))
        })?;
        Ok(ParamTarget::Wear(e, i, names[i].1))
    }
}

/// The numbers of a model that parameters may change, one copy per twin instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tunables {
    /// Per joint: Coulomb friction in N·m (revolute) or N (prismatic).
    pub coulomb: Vec<f64>,
    /// Per joint: viscous friction in N·m·s/rad (revolute) or N·s/m (prismatic).
    pub viscous: Vec<f64>,
    /// Per body: mass in kg.
    pub mass: Vec<f64>,
    /// Per drive: `[kp, ki, kd, max_torque, torque_constant]` at the motor (speed mode:
    /// N·m·s/rad, N·m/rad, –; position mode: N·m/rad, N·m/(rad·s), N·m·s/rad; then N·m and
    /// N·m/A; an unlimited torque is infinite, written `"inf"` in JSON).
    #[serde(with = "non_finite")]
    pub drive: Vec<[f64; 5]>,
    /// Per drive: winding resistance in Ω (the copper loss is R·I²).
    pub resistance: Vec<f64>,
    /// Per load: magnitude multiplier (dimensionless).
    pub load_scale: Vec<f64>,
    /// Per sensor: bias, in the sensor's unit.
    pub bias: Vec<f64>,
    /// Per sensor: noise standard deviation, in the sensor's unit.
    pub noise_std: Vec<f64>,
    /// Per thermal node: heat capacity in J/K.
    pub capacity: Vec<f64>,
    /// Per thermal link: conductance in W/K.
    pub conductance: Vec<f64>,
    /// Per grid, per boundary: convection coefficient in W/(m²·K) (0 for other kinds).
    pub convection: Vec<Vec<f64>>,
    /// Per wear element: its law's parameters (see [`crate::wear::Law::parameter_names`]).
    #[serde(default)]
    pub wear: Vec<Vec<f64>>,
}

impl Tunables {
    /// The model's own values.
    pub fn from_model(model: &Model) -> Self {
        Self {
            coulomb: model.joints.iter().map(|j| j.coulomb).collect(),
            viscous: model.joints.iter().map(|j| j.viscous).collect(),
            mass: model.bodies.iter().map(|b| b.mass).collect(),
            drive: model
                .drives
                .iter()
                .map(|d| [d.kp, d.ki, d.kd, d.max_torque, d.torque_constant])
                .collect(),
            resistance: model.drives.iter().map(|d| d.resistance).collect(),
            load_scale: vec![1.0; model.loads.len()],
            bias: model.sensors.iter().map(|s| s.bias).collect(),
            noise_std: model.sensors.iter().map(|s| s.noise_std).collect(),
            capacity: model.thermal.nodes.iter().map(|n| n.capacity).collect(),
            conductance: model.thermal.links.iter().map(|l| l.conductance).collect(),
            convection: model
                .thermal
                .grids
                .iter()
                .map(|g| {
                    g.boundaries
                        .iter()
                        .map(|b| match b.kind {
                            BoundaryKind::Convection { h, .. } => h,
                            _ => 0.0,
                        })
                        .collect()
                })
                .collect(),
            wear: model.wear.iter().map(|w| w.defaults.clone()).collect(),
        }
    }

    /// The value at `target`.
    pub fn get(&self, target: ParamTarget) -> f64 {
        match target {
            ParamTarget::JointCoulomb(i) => self.coulomb[i],
            ParamTarget::JointViscous(i) => self.viscous[i],
            ParamTarget::BodyMass(i) => self.mass[i],
            ParamTarget::DriveKp(i) => self.drive[i][0],
            ParamTarget::DriveKi(i) => self.drive[i][1],
            ParamTarget::DriveKd(i) => self.drive[i][2],
            ParamTarget::DriveMaxTorque(i) => self.drive[i][3],
            ParamTarget::DriveTorqueConstant(i) => self.drive[i][4],
            ParamTarget::DriveResistance(i) => self.resistance[i],
            ParamTarget::LoadScale(i) => self.load_scale[i],
            ParamTarget::SensorBias(i) => self.bias[i],
            ParamTarget::SensorNoise(i) => self.noise_std[i],
            ParamTarget::ThermalCapacity(i) => self.capacity[i],
            ParamTarget::ThermalConductance(i) => self.conductance[i],
            ParamTarget::GridConvection(g, b) => self.convection[g][b],
            ParamTarget::Wear(e, i, _) => self.wear[e][i],
        }
    }

    /// Sets the value at `target`.
    pub fn set(&mut self, target: ParamTarget, value: f64) {
        let slot = match target {
            ParamTarget::JointCoulomb(i) => &mut self.coulomb[i],
            ParamTarget::JointViscous(i) => &mut self.viscous[i],
            ParamTarget::BodyMass(i) => &mut self.mass[i],
            ParamTarget::DriveKp(i) => &mut self.drive[i][0],
            ParamTarget::DriveKi(i) => &mut self.drive[i][1],
            ParamTarget::DriveKd(i) => &mut self.drive[i][2],
            ParamTarget::DriveMaxTorque(i) => &mut self.drive[i][3],
            ParamTarget::DriveTorqueConstant(i) => &mut self.drive[i][4],
            ParamTarget::DriveResistance(i) => &mut self.resistance[i],
            ParamTarget::LoadScale(i) => &mut self.load_scale[i],
            ParamTarget::SensorBias(i) => &mut self.bias[i],
            ParamTarget::SensorNoise(i) => &mut self.noise_std[i],
            ParamTarget::ThermalCapacity(i) => &mut self.capacity[i],
            ParamTarget::ThermalConductance(i) => &mut self.conductance[i],
            ParamTarget::GridConvection(g, b) => &mut self.convection[g][b],
            ParamTarget::Wear(e, i, _) => &mut self.wear[e][i],
        };
        *slot = value;
    }
}

impl Model {
    /// The SI unit of the value at `target` (`1` for multipliers; empty where it depends on the
    /// law or controller: wear-law parameters and PID gains).
    pub fn parameter_unit(&self, target: ParamTarget) -> &str {
        use super::JointKind::Prismatic;
        let prismatic = |j: usize| self.joints[j].kind == Prismatic;
        match target {
            ParamTarget::JointCoulomb(j) if prismatic(j) => "N",
            ParamTarget::JointCoulomb(_) => "N·m",
            ParamTarget::JointViscous(j) if prismatic(j) => "N·s/m",
            ParamTarget::JointViscous(_) => "N·m·s/rad",
            ParamTarget::BodyMass(_) => "kg",
            ParamTarget::DriveKp(_) | ParamTarget::DriveKi(_) | ParamTarget::DriveKd(_) => "",
            ParamTarget::DriveMaxTorque(_) => "N·m",
            ParamTarget::DriveTorqueConstant(_) => "N·m/A",
            ParamTarget::DriveResistance(_) => "Ω",
            ParamTarget::LoadScale(_) => "1",
            ParamTarget::SensorBias(s) | ParamTarget::SensorNoise(s) => self.sensors[s].unit,
            ParamTarget::ThermalCapacity(_) => "J/K",
            ParamTarget::ThermalConductance(_) => "W/K",
            ParamTarget::GridConvection(..) => "W/(m²·K)",
            ParamTarget::Wear(..) => "",
        }
    }
}

/// Checks that `value` is allowed at `target` (finite; non-negative where physics demands it).
pub(crate) fn check_value(path: &str, target: ParamTarget, value: f64) -> Result<()> {
    use crate::wear::Sign;
    let non_negative = !matches!(
        target,
        ParamTarget::SensorBias(_) | ParamTarget::LoadScale(_) | ParamTarget::Wear(_, _, Sign::Any)
    );
    let positive = matches!(
        target,
        ParamTarget::BodyMass(_)
            | ParamTarget::DriveTorqueConstant(_)
            | ParamTarget::DriveMaxTorque(_)
            | ParamTarget::ThermalCapacity(_)
            | ParamTarget::Wear(_, _, Sign::Positive)
    );
    let message = if !value.is_finite() {
        Some("expected a finite number")
    } else if positive && value <= 0.0 {
        Some("expected a number > 0")
    } else if non_negative && value < 0.0 {
        Some("expected a number ≥ 0")
    } else {
        None
    };
    match message {
        Some(m) => Err(Error::Parameter {
            path: path.to_string(),
            message: format!("{m}, got {value}"),
        }),
        None => Ok(()),
    }
}

/// Values of a model's calibratable parameters for one instance, in declaration order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// One value per [`Model::parameters`] entry.
    pub values: Vec<f64>,
}

impl Params {
    /// The prior means.
    pub fn prior_mean(model: &Model) -> Self {
        Self {
            values: model.parameters.iter().map(|p| p.mean).collect(),
        }
    }

    /// Sets the declared parameter at `path`.
    pub fn set(&mut self, model: &Model, path: &str, value: f64) -> Result<()> {
        let i = model
            .parameters
            .iter()
            .position(|p| p.path == path)
            .ok_or_else(|| Error::Parameter {
                path: path.to_string(),
                message: format!(
                    "not a calibratable parameter of this model (declared: {})",
                    model.parameter_paths()
                ),
            })?;
        check_value(path, model.parameters[i].target, value)?;
        self.values[i] = value;
        Ok(())
    }

    /// Writes these values into `tunables`.
    pub fn apply(&self, model: &Model, tunables: &mut Tunables) {
        for (p, v) in model.parameters.iter().zip(&self.values) {
            tunables.set(p.target, *v);
        }
    }
}

/// Serde for drive values that may be infinite: JSON has no infinity, so non-finite numbers
/// are written as the strings `"inf"`, `"-inf"` or `"NaN"` and read back exactly.
mod non_finite {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Value {
        Number(f64),
        Text(String),
    }

    fn wrap(x: f64) -> Value {
        if x.is_finite() {
            Value::Number(x)
        } else {
            Value::Text(x.to_string())
        }
    }

    pub fn serialize<S: Serializer>(v: &[[f64; 5]], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|a| a.map(wrap))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[f64; 5]>, D::Error> {
        let rows: Vec<[Value; 5]> = Vec::deserialize(d)?;
        rows.into_iter()
            .map(|row| {
                let mut out = [0.0; 5];
                for (o, v) in out.iter_mut().zip(row) {
                    *o = match v {
                        Value::Number(x) => x,
                        Value::Text(t) => t.parse().map_err(|_| {
                            serde::de::Error::custom(format!(
                                "expected a number, \"inf\" or \"-inf\", got \"{t}\""
                            ))
                        })?,
                    };
                }
                Ok(out)
            })
            .collect()
    }
}
