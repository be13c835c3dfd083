//! `[wear.NAME]`: wear elements of a model file (Archard sliding wear, rolling-bearing life
//! and defect growth, cutting-tool flank wear), and their compilation.

use serde::Deserialize;

use super::context::{Ctx, compile_source, show};
use super::ranges::LOAD_RATING;
use super::spec::SourceSpec;
use super::{Bearing, Input, Joint, JointKind};
use crate::error::Result;
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

pub(super) fn compile_wear(
    cx: &Ctx,
    name: &str,
    w: &WearSpec,
    joints: &[Joint],
    bearings: &[Bearing],
    inputs: &[Input],
) -> Result<WearElement> {
    let e = Element {
        cx,
        name,
        w,
        joints,
        inputs,
    };
    let (law, defaults) = match w.law.as_str() {
        "archard" => archard(&e)?,
        "bearing" => bearing(&e, bearings)?,
        "flank_wear" => flank_wear(&e)?,
        other => {
            return Err(e.err(
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

/// One `[wear.NAME]` being compiled, with what its fields may name.
struct Element<'a> {
    cx: &'a Ctx<'a>,
    name: &'a str,
    w: &'a WearSpec,
    joints: &'a [Joint],
    inputs: &'a [Input],
}

impl Element<'_> {
    fn err(&self, field: &str, message: String) -> crate::error::Error {
        self.cx.err(&["wear", self.name, field], message)
    }

    /// A field the law needs, within its bound (see [`Element::bounded`]).
    fn need(&self, field: &str, v: Option<f64>) -> Result<f64> {
        let v = v.ok_or_else(|| {
            self.err(
                field,
                format!("a `{}` wear element needs `{field}`", self.w.law),
            )
        })?;
        self.bounded(field, v)
    }

    /// `v` where it is finite and within ±100 for a logarithm or an exponent (`e^100` is
    /// already 2.7e43), ±1e12 for any other wear-law value (pressures and hardnesses in Pa,
    /// lengths in m, counts), so that no law computes `inf` from a model value.
    fn bounded(&self, field: &str, v: f64) -> Result<f64> {
        let limit = if field.starts_with("log_") || field.ends_with("_exponent") {
            100.0
        } else {
            1e12
        };
        if v.is_finite() && v.abs() <= limit {
            Ok(v)
        } else {
            Err(self.err(
                field,
                format!("expected a number within ±{}, got {}", show(limit), show(v)),
            ))
        }
    }

    /// `v` where it is within its bound and > 0.
    fn positive(&self, field: &str, v: f64) -> Result<f64> {
        if self.bounded(field, v)? > 0.0 {
            Ok(v)
        } else {
            Err(self.err(field, format!("expected a number > 0, got {}", show(v))))
        }
    }

    /// The joint the element names.
    fn joint(&self) -> Result<usize> {
        let n = self.w.joint.as_deref().ok_or_else(|| {
            self.err(
                "joint",
                format!("a `{}` wear element needs `joint = \"...\"`", self.w.law),
            )
        })?;
        self.joints
            .iter()
            .position(|j| j.name == n)
            .ok_or_else(|| self.err("joint", format!("no joint named `{n}`")))
    }

    /// A value source the law needs.
    fn source(&self, field: &str, s: &Option<SourceSpec>) -> Result<crate::source::Source> {
        let s = s.as_ref().ok_or_else(|| {
            self.err(
                field,
                format!("a `{}` wear element needs `{field}`", self.w.law),
            )
        })?;
        compile_source(self.cx, &["wear", self.name, field], s, self.inputs)
    }
}

/// Archard sliding wear: the joint, the normal load, radius and area; K, H, friction gain.
fn archard(e: &Element) -> Result<(Law, Vec<f64>)> {
    let w = e.w;
    let joints = e.joints;
    let j = e.joint()?;
    let load = match w.load.as_deref().unwrap_or("radial") {
        "radial" => ContactLoad::Radial,
        "axial" => ContactLoad::Axial,
        "thrust" => ContactLoad::Thrust,
        other => {
            return Err(e.err(
                "load",
                format!("expected \"radial\", \"axial\" or \"thrust\", got \"{other}\""),
            ));
        }
    };
    let radius = match joints[j].kind {
        JointKind::Revolute => e.positive("radius", e.need("radius", w.radius)?)?,
        JointKind::Prismatic => 1.0,
        JointKind::Fixed => {
            return Err(e.err("joint", "a fixed joint does not slide".into()));
        }
    };
    let law = Law::Archard {
        joint: j,
        load,
        radius,
        area: e.positive("area", e.need("area", w.area)?)?,
    };
    let k = e.need("coefficient", w.coefficient)?;
    if k < 0.0 {
        return Err(e.err("coefficient", format!("expected a number ≥ 0, got {k}")));
    }
    let gain = e.need("friction_gain", Some(w.friction_gain.unwrap_or(0.0)))?;
    Ok((
        law,
        vec![
            k,
            e.positive("hardness", e.need("hardness", w.hardness)?)?,
            gain.max(0.0),
        ],
    ))
}

/// Rolling-bearing life consumption and defect growth: the `[bearing]` element; C, p, onset,
/// onset severity, growth.
fn bearing(e: &Element, bearings: &[Bearing]) -> Result<(Law, Vec<f64>)> {
    let w = e.w;
    let n = w.bearing.as_deref().ok_or_else(|| {
        e.err(
            "bearing",
            "a `bearing` wear element needs `bearing = \"...\"`".into(),
        )
    })?;
    let b = bearings
        .iter()
        .position(|b| b.name == n)
        .ok_or_else(|| e.err("bearing", format!("no [bearing] named `{n}`")))?;
    let defaults = vec![
        e.cx.ranged(
            &["wear", e.name, "load_rating"],
            e.need("load_rating", w.load_rating)?,
            LOAD_RATING,
        )?,
        e.positive(
            "life_exponent",
            e.need("life_exponent", Some(w.life_exponent.unwrap_or(3.0)))?,
        )?,
        e.need("onset", w.onset)?.max(0.0),
        e.need("log_onset_severity", w.log_onset_severity)?,
        e.need("growth", w.growth)?.max(0.0),
    ];
    Ok((
        Law::Bearing {
            bearing: b,
            joint: bearings[b].joint,
        },
        defaults,
    ))
}

/// Cutting-tool flank wear: the spindle joint, cutter and cutting conditions; per-material
/// rates and the exponents and scales of the law.
fn flank_wear(e: &Element) -> Result<(Law, Vec<f64>)> {
    let w = e.w;
    let j = e.joint()?;
    let pressures = w.cutting_pressure.clone().ok_or_else(|| {
        e.err(
            "cutting_pressure",
            "a `flank_wear` element needs `cutting_pressure = [Pa per material code]`".into(),
        )
    })?;
    let rates = w.log_rate.clone().ok_or_else(|| {
        e.err(
            "log_rate",
            "a `flank_wear` element needs `log_rate = [ln(m/s) per material code]`".into(),
        )
    })?;
    if pressures.is_empty() || rates.len() != pressures.len() {
        return Err(e.err(
            "log_rate",
            format!(
                "expected one value per material code ({} cutting pressures), got {}",
                pressures.len(),
                rates.len()
            ),
        ));
    }
    for &k in &pressures {
        e.positive("cutting_pressure", k)?;
    }
    let reference = w.reference.ok_or_else(|| {
        e.err(
            "reference",
            "expected `reference = [speed m/s, feed m, depth m]`".into(),
        )
    })?;
    for r in reference {
        e.positive("reference", r)?;
    }
    let law = Law::FlankWear {
        joint: j,
        radius: e.positive("radius", e.need("radius", w.radius)?)?,
        feed: e.source("feed", &w.feed)?,
        depth: e.source("depth", &w.depth)?,
        material: e.source("material", &w.material)?,
        reference,
        inserts: e.positive("inserts", e.need("inserts", w.inserts)?)?,
        engaged: e.positive(
            "engaged",
            e.need("engaged", Some(w.engaged.unwrap_or(1.0)))?,
        )?,
        cutting_pressure: pressures,
        flank_pressure: e
            .need("flank_pressure", Some(w.flank_pressure.unwrap_or(0.0)))?
            .max(0.0),
        max_wear: e.positive(
            "max_wear",
            e.need("max_wear", Some(w.max_wear.unwrap_or(3e-3)))?,
        )?,
    };
    let mut defaults = Vec::new();
    for r in rates {
        defaults.push(e.need("log_rate", Some(r))?);
    }
    defaults.extend([
        e.need("speed_exponent", w.speed_exponent)?,
        e.need("feed_exponent", w.feed_exponent)?,
        e.need("depth_exponent", w.depth_exponent)?,
        e.need("log_break_in", w.log_break_in)?,
        e.positive(
            "break_in_scale",
            e.need("break_in_scale", w.break_in_scale)?,
        )?,
        e.positive(
            "acceleration_scale",
            e.need("acceleration_scale", w.acceleration_scale)?,
        )?,
    ]);
    Ok((law, defaults))
}
