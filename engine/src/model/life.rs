//! `[section.NAME]`, `[event.NAME]` and `[solver.cycle_averaged]`: stress sections for
//! fatigue, the events a prognosis predicts, and the slow integrator for long horizons; their
//! compilation.

use serde::Deserialize;

use super::context::Ctx;
use super::ranges::{BASQUIN_EXPONENT, DIMENSION, FATIGUE_LIMIT, STRENGTH, STRESS_CONCENTRATION};
use super::{Drive, Joint, JointKind};
use crate::error::Result;
use crate::fatigue::{RoundSection, SnCurve};

/// `[section.NAME]`: a critical round section of the child body of a joint, loaded by the
/// joint's reaction wrench.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionSpec {
    /// The joint whose reaction wrench loads the section.
    pub joint: String,
    /// Outer diameter in m.
    pub diameter: f64,
    /// Bore diameter in m (default 0: solid).
    #[serde(default)]
    pub bore: f64,
    /// Stress-concentration factor in bending (default 1).
    pub kt_bending: Option<f64>,
    /// Stress-concentration factor in torsion (default 1).
    pub kt_torsion: Option<f64>,
    /// Stress-concentration factor under axial load (default 1).
    pub kt_axial: Option<f64>,
    /// Whether the section turns with a revolute joint, so that bending alternates once per
    /// revolution (default: true on a revolute joint).
    pub rotating: Option<bool>,
    /// What loads the section: `"reaction"` (the joint's reaction wrench only) or `"drive"`
    /// (default where a drive acts on the joint): on a revolute joint the drive's torque adds
    /// torsion to the reaction wrench; on a prismatic joint the section is the drive's screw,
    /// carrying the drive's thrust (axial) and motor torque (torsion), without bending.
    pub load: Option<String>,
    /// Ultimate tensile strength in Pa.
    pub ultimate_strength: f64,
    /// Basquin coefficient σ_f′ in Pa.
    pub strength_coefficient: f64,
    /// Basquin exponent b (< 0).
    pub fatigue_exponent: f64,
    /// Endurance limit in Pa (default 0: every cycle damages).
    #[serde(default)]
    pub endurance_limit: f64,
}

/// `[event.NAME]`: a threshold crossing whose time the prognosis predicts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// The sensor whose noise-free prediction is watched.
    pub sensor: String,
    /// The event happens when the prediction exceeds this value (sensor unit).
    pub above: Option<f64>,
    /// ... or falls below this value.
    pub below: Option<f64>,
    /// The wear element whose state measures a unit's age for this event (its consumed
    /// life, wear depth, ...): a fleet's lives to the event are recorded in it and a new unit's
    /// remaining life follows from the fleet's survival at its age. Absent: operating time, s.
    pub life: Option<String>,
    /// Relative standard uncertainty of a unit's recorded age (default 0.1): the width of the
    /// log-normal kernel that smooths the fleet's survival (a bearing's consumed life carries
    /// its load's uncertainty to the power p: 3 % in load is 9 % in life for a ball bearing).
    pub life_uncertainty: Option<f64>,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// `[solver.cycle_averaged]`: the slow integrator for long horizons.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleAveragedSpec {
    /// Fast window in s over which loads are averaged at a new operating point (default 1).
    #[serde(default = "one")]
    pub window: f64,
    /// Largest step of the wear integrator in s (default 60).
    #[serde(default = "sixty")]
    pub step: f64,
    /// Gaps between data points longer than this (s) are bridged by the slow integrator.
    pub after: f64,
}

fn one() -> f64 {
    1.0
}
fn sixty() -> f64 {
    60.0
}

/// A compiled stress section.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Name.
    pub name: String,
    /// The joint whose reaction loads it.
    pub joint: usize,
    /// Geometry and stress-concentration factors.
    pub geometry: RoundSection,
    /// Whether bending alternates with the joint's rotation.
    pub rotating: bool,
    /// The drive whose transmitted load the section carries, if any.
    pub drive: Option<usize>,
    /// The material's S-N curve.
    pub curve: SnCurve,
}

/// A compiled event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Name.
    pub name: String,
    /// Watched sensor.
    pub sensor: usize,
    /// Threshold.
    pub threshold: f64,
    /// Whether the event is an upward crossing (else downward).
    pub rising: bool,
    /// The wear element whose state is a unit's age for this event (`None`: time, s).
    pub life: Option<usize>,
    /// Relative standard uncertainty of a unit's recorded age (the survival's kernel width).
    pub life_uncertainty: f64,
}

/// Compiled `[solver.cycle_averaged]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleAveraged {
    /// Fast averaging window, s.
    pub window: f64,
    /// Largest slow step, s.
    pub step: f64,
    /// Gap length (s) above which `advance_to` uses the slow integrator.
    pub after: f64,
}

pub(super) fn compile_cycle_averaged(cx: &Ctx, s: &CycleAveragedSpec) -> Result<CycleAveraged> {
    let p = |f: &'static str| ["solver", "cycle_averaged", f];
    let window = cx.positive(&p("window"), s.window)?;
    let after = cx.positive(&p("after"), s.after)?;
    if after <= window {
        return Err(cx.err(
            &p("after"),
            format!("expected more than the window ({window} s), got {after}"),
        ));
    }
    Ok(CycleAveraged {
        window,
        step: cx.positive(&p("step"), s.step)?,
        after,
    })
}

pub(super) fn compile_section(
    cx: &Ctx,
    name: &str,
    s: &SectionSpec,
    joints: &[Joint],
    drives: &[Drive],
) -> Result<Section> {
    let p = |f: &'static str| ["section", name, f];
    let joint = joints
        .iter()
        .position(|j| j.name == s.joint)
        .ok_or_else(|| cx.err(&p("joint"), format!("no joint named `{}`", s.joint)))?;
    let diameter = cx.ranged(&p("diameter"), s.diameter, DIMENSION)?;
    let bore = cx.non_negative(&p("bore"), s.bore)?;
    if bore >= diameter {
        return Err(cx.err(
            &p("bore"),
            format!("expected less than the diameter {diameter} m, got {bore}"),
        ));
    }
    let on_joint = drives.iter().position(|d| d.joint == joint);
    let drive = match (s.load.as_deref(), on_joint) {
        (Some("reaction"), _) | (None, None) => None,
        (Some("drive") | None, Some(d)) => Some(d),
        (Some("drive"), None) => {
            return Err(cx.err(
                &p("load"),
                format!(
                    "expected \"reaction\": no drive acts on joint `{}`",
                    s.joint
                ),
            ));
        }
        (Some(other), _) => {
            return Err(cx.err(
                &p("load"),
                format!("expected \"reaction\" or \"drive\", got \"{other}\""),
            ));
        }
    };
    let exponent = s.fatigue_exponent;
    if exponent >= 0.0 {
        return Err(cx.err(
            &p("fatigue_exponent"),
            format!("expected a Basquin exponent < 0, got {exponent}"),
        ));
    }
    cx.ranged(&p("fatigue_exponent"), exponent, BASQUIN_EXPONENT)?;
    Ok(Section {
        name: name.to_string(),
        joint,
        geometry: RoundSection {
            diameter,
            bore,
            kt_bending: cx.ranged(
                &p("kt_bending"),
                s.kt_bending.unwrap_or(1.0),
                STRESS_CONCENTRATION,
            )?,
            kt_torsion: cx.ranged(
                &p("kt_torsion"),
                s.kt_torsion.unwrap_or(1.0),
                STRESS_CONCENTRATION,
            )?,
            kt_axial: cx.ranged(
                &p("kt_axial"),
                s.kt_axial.unwrap_or(1.0),
                STRESS_CONCENTRATION,
            )?,
        },
        rotating: s
            .rotating
            .unwrap_or(joints[joint].kind == JointKind::Revolute),
        drive,
        curve: SnCurve {
            ultimate_strength: cx.ranged(&p("ultimate_strength"), s.ultimate_strength, STRENGTH)?,
            strength_coefficient: cx.ranged(
                &p("strength_coefficient"),
                s.strength_coefficient,
                STRENGTH,
            )?,
            exponent,
            endurance_limit: cx.ranged(&p("endurance_limit"), s.endurance_limit, FATIGUE_LIMIT)?,
        },
    })
}

/// Relative uncertainty of a unit's recorded age when the event does not give one.
const DEFAULT_LIFE_UNCERTAINTY: f64 = 0.1;

pub(super) fn compile_event(
    cx: &Ctx,
    name: &str,
    e: &EventSpec,
    sensors: &[super::Sensor],
    wear: &[crate::wear::WearElement],
) -> Result<Event> {
    let p = |f: &'static str| ["event", name, f];
    let sensor = sensors
        .iter()
        .position(|s| s.name == e.sensor)
        .ok_or_else(|| cx.err(&p("sensor"), format!("no sensor named `{}`", e.sensor)))?;
    let (threshold, rising) = match (e.above, e.below) {
        (Some(a), None) => (cx.finite(&p("above"), a)?, true),
        (None, Some(b)) => (cx.finite(&p("below"), b)?, false),
        _ => return Err(cx.err(&p("above"), "expected exactly one of `above` or `below`")),
    };
    let life =
        match &e.life {
            None => None,
            Some(element) => Some(wear.iter().position(|w| &w.name == element).ok_or_else(
                || {
                    cx.err(
                        &p("life"),
                        format!("expected a wear element's name, got `{element}`"),
                    )
                },
            )?),
        };
    let life_uncertainty = match e.life_uncertainty {
        None => DEFAULT_LIFE_UNCERTAINTY,
        Some(u) if u.is_finite() && (0.0..=2.0).contains(&u) => u,
        Some(u) => {
            return Err(cx.err(
                &p("life_uncertainty"),
                format!("expected a relative uncertainty 0 … 2, got {u}"),
            ));
        }
    };
    Ok(Event {
        name: name.to_string(),
        sensor,
        threshold,
        rising,
        life,
        life_uncertainty,
    })
}
