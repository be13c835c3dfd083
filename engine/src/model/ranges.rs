//! The physical range of each kind of model value, in SI units: what a machine's parts can
//! have. A value outside its range is refused when the model is checked, so that no value a
//! solver cannot step (a bearing 1e308 m from its joint, a capacity of 1e308 J/K) reaches a
//! result as `inf` or NaN. The ranges are wide: from a watch part to a rolling mill.

/// A closed range of a model value and its unit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    /// Lowest value.
    pub lo: f64,
    /// Highest value.
    pub hi: f64,
    /// The unit, as messages print it.
    pub unit: &'static str,
}

const fn range(lo: f64, hi: f64, unit: &'static str) -> Range {
    Range { lo, hi, unit }
}

/// A temperature, °C: from absolute zero to well above any furnace.
pub(super) const TEMPERATURE: Range = range(-273.15, 1e4, "°C");
/// A coordinate or offset, m.
pub(super) const POSITION: Range = range(-1e4, 1e4, "m");
/// A joint's travel limit, m (prismatic) or rad (revolute).
pub(super) const TRAVEL: Range = range(-1e4, 1e4, "m or rad");
/// A body's speed, m/s.
pub(super) const SPEED: Range = range(-1e4, 1e4, "m/s");
/// A body's angular speed, rad/s (about a million rpm).
pub(super) const ANGULAR_SPEED: Range = range(-1e5, 1e5, "rad/s");
/// A body's mass, kg: a milligram to a million tonnes.
pub(super) const MASS: Range = range(1e-6, 1e9, "kg");
/// A principal moment of inertia, kg·m².
pub(super) const INERTIA: Range = range(1e-15, 1e12, "kg·m²");
/// A dimension of a part (a radius, a length, a grid's size), m: a micrometre to a kilometre.
pub(super) const DIMENSION: Range = range(1e-6, 1e3, "m");
/// A density, kg/m³: from gases to the densest metals.
pub(super) const DENSITY: Range = range(1e-2, 1e5, "kg/m³");
/// A rotation vector's length, rad.
pub(super) const ROTATION: Range = range(-1e3, 1e3, "rad");
/// A drive's setpoint (rad, rad/s, m or m/s), or a load magnitude's scale.
pub(super) const SETPOINT: Range = range(-1e6, 1e6, "rad, rad/s, m or m/s");
/// A force or torque, N or N·m (a load, a friction torque, a drive's torque limit).
pub(super) const FORCE: Range = range(0.0, 1e9, "N or N·m");
/// A load's magnitude, N or N·m (either sign).
pub(super) const LOAD: Range = range(-1e9, 1e9, "N or N·m");
/// A viscous friction coefficient, N·m·s/rad or N·s/m.
pub(super) const VISCOUS: Range = range(0.0, 1e9, "N·m·s/rad or N·s/m");
/// A temperature coefficient, 1/K.
pub(super) const PER_KELVIN: Range = range(-1.0, 1.0, "1/K");
/// A controller gain (per the drive's mode), or a vibration sensor's gain.
pub(super) const GAIN: Range = range(0.0, 1e9, "(controller units)");
/// A motor's torque constant, N·m/A (or N/A).
pub(super) const TORQUE_CONSTANT: Range = range(1e-4, 1e3, "N·m/A");
/// A winding resistance, Ω.
pub(super) const RESISTANCE: Range = range(0.0, 1e4, "Ω");
/// A heat capacity, J/K.
pub(super) const HEAT_CAPACITY: Range = range(1e-6, 1e12, "J/K");
/// A thermal conductance, W/K.
pub(super) const CONDUCTANCE: Range = range(0.0, 1e6, "W/K");
/// A thermal conductivity, W/(m·K) (diamond: about 2000).
pub(super) const CONDUCTIVITY: Range = range(0.0, 1e4, "W/(m·K)");
/// A specific heat capacity, J/(kg·K) (hydrogen: about 14000).
pub(super) const SPECIFIC_HEAT: Range = range(1.0, 1e5, "J/(kg·K)");
/// A heat-transfer coefficient, W/(m²·K) (boiling water: about 1e5).
pub(super) const HEAT_TRANSFER: Range = range(0.0, 1e6, "W/(m²·K)");
/// A heat flux, W/m².
pub(super) const HEAT_FLUX: Range = range(-1e9, 1e9, "W/m²");
/// A heat flow, W.
pub(super) const POWER: Range = range(-1e9, 1e9, "W");
/// A stress concentration factor (1: none).
pub(super) const STRESS_CONCENTRATION: Range = range(1.0, 20.0, "");
/// A strength or fatigue strength, Pa: a polymer's to beyond any steel's.
pub(super) const STRENGTH: Range = range(1e6, 1e11, "Pa");
/// A fatigue limit, Pa.
pub(super) const FATIGUE_LIMIT: Range = range(0.0, 1e11, "Pa");
/// A Basquin exponent.
pub(super) const BASQUIN_EXPONENT: Range = range(-1.0, -1e-3, "");
/// A bearing's dynamic load rating C, N.
pub(super) const LOAD_RATING: Range = range(1.0, 1e8, "N");
/// A linear expansion coefficient, 1/K.
pub(super) const EXPANSION: Range = range(-1e-3, 1e-3, "1/K");
/// A sensor's bias (in the sensor's unit), or a model input's default.
pub(super) const READING: Range = range(-1e9, 1e9, "(the quantity's unit)");
/// A sensor's noise standard deviation (in the sensor's unit).
pub(super) const NOISE: Range = range(0.0, 1e9, "(the quantity's unit)");
