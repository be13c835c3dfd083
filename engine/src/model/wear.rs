//! `[wear.NAME]`, `[section.NAME]`, `[event.NAME]` and `[solver.cycle_averaged]`: the
//! degradation part of a model file, and its compilation.

use serde::Deserialize;

use super::context::{Ctx, compile_source};
use super::spec::SourceSpec;
use super::{Bearing, Drive, Input, Joint, JointKind};
use crate::error::Result;
use crate::fatigue::{RoundSection, SnCurve};
use crate::wear::{ContactLoad, Law, WearElement};

/// `[wear.NAME]`: a wear element. Which fields apply depends on `law`; see `models/README.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WearSpec {
    /// `"archard"`, `"bearing"` or `"flank_wear"`.
    pub law: String,
    /// The joint (archard, flank_wear).
    pub joint: Option<String>,
    /// The `[bearing]` element (bearing).
    pub bearing: Option<String>,
    /// Archard: the normal load: `"radial"` or `"axial"` reaction force, or `"thrust"` (the
    /// drive's force on the joint, for a screw nut); default radial.
    pub load: Option<String>,
    /// Archard: sliding radius in m on a revolute joint; flank_wear: cutter radius in m.
    pub radius: Option<f64>,
    /// Archard: apparent contact area in m².
    pub area: Option<f64>,
    /// Archard: wear coefficient K (dimensionless).
    pub coefficient: Option<f64>,
    /// Archard: hardness of the softer surface in Pa.
    pub hardness: Option<f64>,
    /// Archard: Coulomb friction added per m of wear depth (N/m or N·m/m; default 0).
    pub friction_gain: Option<f64>,
    /// Bearing: basic dynamic load rating C in N.
    pub load_rating: Option<f64>,
    /// Bearing: life exponent p (3 ball, 10/3 roller; default 3).
    pub life_exponent: Option<f64>,
    /// Bearing: consumed rating life (fraction of L10) at which a spall initiates.
    pub onset: Option<f64>,
    /// Bearing: ln of the vibration severity a_on (m/s²) at the onset.
    pub log_onset_severity: Option<f64>,
    /// Bearing: defect growth g per rating life consumed.
    pub growth: Option<f64>,
    /// Flank wear: feed per revolution in m.
    pub feed: Option<SourceSpec>,
    /// Flank wear: depth of cut in m.
    pub depth: Option<SourceSpec>,
    /// Flank wear: work-material code (1, 2, ...; 0 = not cutting).
    pub material: Option<SourceSpec>,
    /// Flank wear: reference cutting speed (m/s), feed (m), depth of cut (m).
    pub reference: Option<[f64; 3]>,
    /// Flank wear: inserts on the cutter.
    pub inserts: Option<f64>,
    /// Flank wear: mean number of inserts in the cut (default 1).
    pub engaged: Option<f64>,
    /// Flank wear: specific cutting force per material code, Pa.
    pub cutting_pressure: Option<Vec<f64>>,
    /// Flank wear: flank contact pressure in Pa (default 0).
    pub flank_pressure: Option<f64>,
    /// Flank wear: VB in m at which wear stops, the insert destroyed (default 3 mm).
    pub max_wear: Option<f64>,
    /// Flank wear: ln K per material code (K in m/s).
    pub log_rate: Option<Vec<f64>>,
    /// Flank wear: exponent of v/v₀.
    pub speed_exponent: Option<f64>,
    /// Flank wear: exponent of f/f₀.
    pub feed_exponent: Option<f64>,
    /// Flank wear: exponent of d/d₀.
    pub depth_exponent: Option<f64>,
    /// Flank wear: ln of the break-in amplitude B.
    pub log_break_in: Option<f64>,
    /// Flank wear: wear scale of the break-in, m.
    pub break_in_scale: Option<f64>,
    /// Flank wear: wear scale of the acceleration, m.
    pub acceleration_scale: Option<f64>,
}

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

pub(super) fn compile_wear(
    cx: &Ctx,
    name: &str,
    w: &WearSpec,
    joints: &[Joint],
    bearings: &[Bearing],
    inputs: &[Input],
) -> Result<WearElement> {
    let path = |f: &str| -> Vec<String> { vec!["wear".into(), name.into(), f.into()] };
    let err = |f: &str, m: String| {
        let v = path(f);
        let r: Vec<&str> = v.iter().map(String::as_str).collect();
        cx.err(&r, m)
    };
    let need = |f: &str, v: Option<f64>| -> Result<f64> {
        let v = v.ok_or_else(|| err(f, format!("a `{}` wear element needs `{f}`", w.law)))?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(err(f, format!("expected a finite number, got {v}")))
        }
    };
    let positive = |f: &str, v: f64| -> Result<f64> {
        if v > 0.0 {
            Ok(v)
        } else {
            Err(err(f, format!("expected a number > 0, got {v}")))
        }
    };
    let joint = || -> Result<usize> {
        let n = w.joint.as_deref().ok_or_else(|| {
            err(
                "joint",
                format!("a `{}` wear element needs `joint = \"...\"`", w.law),
            )
        })?;
        joints
            .iter()
            .position(|j| j.name == n)
            .ok_or_else(|| err("joint", format!("no joint named `{n}`")))
    };
    let source = |f: &str, s: &Option<SourceSpec>| -> Result<crate::source::Source> {
        let s = s
            .as_ref()
            .ok_or_else(|| err(f, format!("a `{}` wear element needs `{f}`", w.law)))?;
        let v = path(f);
        let r: Vec<&str> = v.iter().map(String::as_str).collect();
        compile_source(cx, &r, s, inputs)
    };
    let (law, defaults) = match w.law.as_str() {
        "archard" => {
            let j = joint()?;
            let load = match w.load.as_deref().unwrap_or("radial") {
                "radial" => ContactLoad::Radial,
                "axial" => ContactLoad::Axial,
                "thrust" => ContactLoad::Thrust,
                other => {
                    return Err(err(
                        "load",
                        format!("expected \"radial\", \"axial\" or \"thrust\", got \"{other}\""),
                    ));
                }
            };
            let radius = match joints[j].kind {
                JointKind::Revolute => positive("radius", need("radius", w.radius)?)?,
                JointKind::Prismatic => 1.0,
                JointKind::Fixed => {
                    return Err(err("joint", "a fixed joint does not slide".into()));
                }
            };
            let law = Law::Archard {
                joint: j,
                load,
                radius,
                area: positive("area", need("area", w.area)?)?,
            };
            let k = need("coefficient", w.coefficient)?;
            if k < 0.0 {
                return Err(err(
                    "coefficient",
                    format!("expected a number ≥ 0, got {k}"),
                ));
            }
            let gain = need("friction_gain", Some(w.friction_gain.unwrap_or(0.0)))?;
            (
                law,
                vec![
                    k,
                    positive("hardness", need("hardness", w.hardness)?)?,
                    gain.max(0.0),
                ],
            )
        }
        "bearing" => {
            let n = w.bearing.as_deref().ok_or_else(|| {
                err(
                    "bearing",
                    "a `bearing` wear element needs `bearing = \"...\"`".into(),
                )
            })?;
            let b = bearings
                .iter()
                .position(|b| b.name == n)
                .ok_or_else(|| err("bearing", format!("no [bearing] named `{n}`")))?;
            let defaults = vec![
                positive("load_rating", need("load_rating", w.load_rating)?)?,
                positive(
                    "life_exponent",
                    need("life_exponent", Some(w.life_exponent.unwrap_or(3.0)))?,
                )?,
                need("onset", w.onset)?.max(0.0),
                need("log_onset_severity", w.log_onset_severity)?,
                need("growth", w.growth)?.max(0.0),
            ];
            (
                Law::Bearing {
                    bearing: b,
                    joint: bearings[b].joint,
                },
                defaults,
            )
        }
        "flank_wear" => {
            let j = joint()?;
            let pressures = w.cutting_pressure.clone().ok_or_else(|| {
                err(
                    "cutting_pressure",
                    "a `flank_wear` element needs `cutting_pressure = [Pa per material code]`"
                        .into(),
                )
            })?;
            let rates = w.log_rate.clone().ok_or_else(|| {
                err(
                    "log_rate",
                    "a `flank_wear` element needs `log_rate = [ln(m/s) per material code]`".into(),
                )
            })?;
            if pressures.is_empty() || rates.len() != pressures.len() {
                return Err(err(
                    "log_rate",
                    format!(
                        "expected one value per material code ({} cutting pressures), got {}",
                        pressures.len(),
                        rates.len()
                    ),
                ));
            }
            for &k in &pressures {
                positive("cutting_pressure", k)?;
            }
            let reference = w.reference.ok_or_else(|| {
                err(
                    "reference",
                    "expected `reference = [speed m/s, feed m, depth m]`".into(),
                )
            })?;
            for r in reference {
                positive("reference", r)?;
            }
            let law = Law::FlankWear {
                joint: j,
                radius: positive("radius", need("radius", w.radius)?)?,
                feed: source("feed", &w.feed)?,
                depth: source("depth", &w.depth)?,
                material: source("material", &w.material)?,
                reference,
                inserts: positive("inserts", need("inserts", w.inserts)?)?,
                engaged: positive("engaged", need("engaged", Some(w.engaged.unwrap_or(1.0)))?)?,
                cutting_pressure: pressures,
                flank_pressure: need("flank_pressure", Some(w.flank_pressure.unwrap_or(0.0)))?
                    .max(0.0),
                max_wear: positive(
                    "max_wear",
                    need("max_wear", Some(w.max_wear.unwrap_or(3e-3)))?,
                )?,
            };
            let mut defaults = Vec::new();
            for r in rates {
                defaults.push(need("log_rate", Some(r))?);
            }
            defaults.extend([
                need("speed_exponent", w.speed_exponent)?,
                need("feed_exponent", w.feed_exponent)?,
                need("depth_exponent", w.depth_exponent)?,
                need("log_break_in", w.log_break_in)?,
                positive("break_in_scale", need("break_in_scale", w.break_in_scale)?)?,
                positive(
                    "acceleration_scale",
                    need("acceleration_scale", w.acceleration_scale)?,
                )?,
            ]);
            (law, defaults)
        }
        other => {
            return Err(err(
                "law",
                format!("expected \"archard\", \"bearing\" or \"flank_wear\", got \"{other}\""),
            ));
        }
    };
    Ok(WearElement {
        name: name.to_string(),
        law,
        defaults,
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
    let diameter = cx.positive(&p("diameter"), s.diameter)?;
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
    let exponent = cx.finite(&p("fatigue_exponent"), s.fatigue_exponent)?;
    if exponent >= 0.0 {
        return Err(cx.err(
            &p("fatigue_exponent"),
            format!("expected a Basquin exponent < 0, got {exponent}"),
        ));
    }
    Ok(Section {
        name: name.to_string(),
        joint,
        geometry: RoundSection {
            diameter,
            bore,
            kt_bending: cx.positive(&p("kt_bending"), s.kt_bending.unwrap_or(1.0))?,
            kt_torsion: cx.positive(&p("kt_torsion"), s.kt_torsion.unwrap_or(1.0))?,
            kt_axial: cx.positive(&p("kt_axial"), s.kt_axial.unwrap_or(1.0))?,
        },
        rotating: s
            .rotating
            .unwrap_or(joints[joint].kind == JointKind::Revolute),
        drive,
        curve: SnCurve {
            ultimate_strength: cx.positive(&p("ultimate_strength"), s.ultimate_strength)?,
            strength_coefficient: cx
                .positive(&p("strength_coefficient"), s.strength_coefficient)?,
            exponent,
            endurance_limit: cx.non_negative(&p("endurance_limit"), s.endurance_limit)?,
        },
    })
}

pub(super) fn compile_event(
    cx: &Ctx,
    name: &str,
    e: &EventSpec,
    sensors: &[super::Sensor],
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
    Ok(Event {
        name: name.to_string(),
        sensor,
        threshold,
        rising,
    })
}
