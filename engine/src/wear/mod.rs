//! Degradation laws: sliding wear (Archard), rolling-bearing life consumption with defect
//! growth (ISO 281 with Palmgren–Miner over the load spectrum), and cutting-tool flank wear.
//!
//! Every law splits its rate into an *intensity* that depends on the operating point (loads,
//! speeds, cutting conditions) and a factor that depends on the wear state, so that the
//! cycle-averaged slow integrator can average the operating statistics over a short fast
//! window and then take long steps in the wear state (ARCHITECTURE.md, "Multi-rate
//! stepping").

use crate::source::Source;

/// ln of the largest vibration severity (1000 m/s², about 100 g): beyond it the bearing has
/// long failed, and the exponential would only overflow.
const MAX_LOG_SEVERITY: f64 = 6.907755278982137;

/// Which part of a joint's reaction force presses the sliding surfaces together (Archard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactLoad {
    /// The force perpendicular to the joint axis (guideways, journal surfaces).
    Radial,
    /// The force along the joint axis.
    Axial,
    /// The drive's thrust on the joint (a ball-screw nut carries the drive force; the joint's
    /// reaction has no component along its free axis).
    Thrust,
}

/// A wear law and what drives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Law {
    /// Archard sliding wear, V = K·W·s/H (V worn volume m³, K dimensionless wear coefficient,
    /// W normal load N, s sliding distance m, H hardness of the softer surface Pa). Parameters
    /// `coefficient` (K), `hardness` (H, Pa), `friction_gain` (added Coulomb friction per m of
    /// wear depth, N/m or N·m/m). State: worn volume (m³), sliding distance (m).
    Archard {
        /// The sliding joint.
        joint: usize,
        /// The reaction component that is the normal load.
        load: ContactLoad,
        /// Sliding radius in m for a revolute joint (sliding speed = |ω|·radius); 1 for a
        /// prismatic joint (sliding speed = |v|).
        radius: f64,
        /// Apparent contact area in m² (wear depth = V / area).
        area: f64,
    },
    /// Rolling-bearing damage. Life consumption after ISO 281: with the basic rating life
    /// L10 = (C/P)^p million revolutions, each revolution at equivalent load P consumes
    /// (P/C)^p / 10⁶ of L10 (Palmgren–Miner over the load spectrum), so L = 1 is the rating
    /// life. A spall initiates when the consumed life reaches the onset L_on, raising the
    /// vibration severity to a_on (m/s²), and then grows exponentially with consumed life:
    /// a = 0 for L < L_on, a = a_on·exp(g·(L − L_on)) after. Parameters `load_rating` (C, N),
    /// `life_exponent` (p: 3 ball, 10/3 roller), `onset` (L_on, fraction of L10),
    /// `log_onset_severity` (ln a_on), `growth` (g per L10). State: L, revolutions.
    Bearing {
        /// The `[bearing]` element whose radial load is P.
        bearing: usize,
        /// Its joint (speed).
        joint: usize,
    },
    /// Cutting-tool flank wear VB (m):
    /// dVB/dt = K_m·(v/v₀)^p·(f/f₀)^a·(d/d₀)^b·(1 + B·e^(−VB/w_b))·e^(min(VB, VB_max)/w_a),
    /// with cutting speed v = |ω|·R, feed per revolution f, depth of cut d, K_m per work
    /// material m, a break-in term and an accelerating term; VB stops at `max_wear`. Parameters `log_rate.M`
    /// (ln K_m, K_m in m/s, one per material code M = 1, 2, ...), `speed_exponent` (p),
    /// `feed_exponent` (a), `depth_exponent` (b), `log_break_in` (ln B), `break_in_scale`
    /// (w_b, m), `acceleration_scale` (w_a, m). State: VB (m), cutting time (s).
    /// A worn tool cuts harder: each engaged insert pushes back with
    /// F = d·(k_c,m·f/z + σ_flank·VB), a torque `engaged·R·F` against the spindle.
    FlankWear {
        /// The spindle joint.
        joint: usize,
        /// Cutter radius in m.
        radius: f64,
        /// Feed per revolution in m.
        feed: Source,
        /// Depth of cut in m.
        depth: Source,
        /// Work-material code (1, 2, ...; 0 = not cutting).
        material: Source,
        /// Reference speed v₀ (m/s), feed f₀ (m), depth d₀ (m).
        reference: [f64; 3],
        /// Inserts on the cutter (z).
        inserts: f64,
        /// Mean number of inserts in the cut.
        engaged: f64,
        /// Specific cutting force k_c per material code, Pa.
        cutting_pressure: Vec<f64>,
        /// Flank contact pressure σ_flank, Pa.
        flank_pressure: f64,
        /// VB at which wear stops (the insert is destroyed), m.
        max_wear: f64,
    },
}

/// Sign constraint of a law parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Sign {
    /// Any finite value.
    Any,
    /// ≥ 0.
    NonNegative,
    /// > 0.
    Positive,
}

impl Law {
    /// Names of the law's calibratable parameters (`wear.<element>.<name>`), with their sign.
    pub fn parameter_names(&self) -> Vec<(String, Sign)> {
        let fixed = |names: &[(&str, Sign)]| -> Vec<(String, Sign)> {
            names.iter().map(|(n, s)| (n.to_string(), *s)).collect()
        };
        match self {
            Law::Archard { .. } => fixed(&[
                ("coefficient", Sign::NonNegative),
                ("hardness", Sign::Positive),
                ("friction_gain", Sign::NonNegative),
            ]),
            Law::Bearing { .. } => fixed(&[
                ("load_rating", Sign::Positive),
                ("life_exponent", Sign::Positive),
                ("onset", Sign::NonNegative),
                ("log_onset_severity", Sign::Any),
                ("growth", Sign::NonNegative),
            ]),
            Law::FlankWear {
                cutting_pressure, ..
            } => {
                let mut v: Vec<(String, Sign)> = (1..=cutting_pressure.len())
                    .map(|m| (format!("log_rate.{m}"), Sign::Any))
                    .collect();
                v.extend(fixed(&[
                    ("speed_exponent", Sign::Any),
                    ("feed_exponent", Sign::Any),
                    ("depth_exponent", Sign::Any),
                    ("log_break_in", Sign::Any),
                    ("break_in_scale", Sign::Positive),
                    ("acceleration_scale", Sign::Positive),
                ]));
                v
            }
        }
    }

    /// Rate of the primary wear state given the operating point's intensity (see
    /// [`WearElement::intensity`]) and the current state `w`.
    pub fn rate(&self, params: &[f64], intensity: f64, w: f64) -> f64 {
        match self {
            Law::Archard { .. } => params[0] / params[1] * intensity,
            Law::Bearing { .. } => intensity,
            Law::FlankWear {
                cutting_pressure,
                max_wear,
                ..
            } => {
                if w >= *max_wear {
                    return 0.0;
                }
                let n = cutting_pressure.len();
                let (break_in, wb, wa) = (params[n + 3].exp(), params[n + 4], params[n + 5]);
                intensity * (1.0 + break_in * (-w / wb).exp()) * (w / wa).exp()
            }
        }
    }

    /// Keeps a state within the law's range: flank wear stops at `max_wear` (the insert is
    /// destroyed; the exponential stage would otherwise run away in finite time).
    pub fn saturate(&self, w: f64) -> f64 {
        match self {
            Law::FlankWear { max_wear, .. } => w.min(*max_wear),
            _ => w,
        }
    }
}

/// A declared wear element.
#[derive(Debug, Clone, PartialEq)]
pub struct WearElement {
    /// Name (`[wear.NAME]`).
    pub name: String,
    /// Its law.
    pub law: Law,
    /// The law's parameter values as declared (θ may override them).
    pub defaults: Vec<f64>,
}

/// What the mechanics of one step offer a wear law.
pub struct Operating<'a> {
    /// Joint velocities (rad/s or m/s).
    pub joint_velocity: &'a [f64],
    /// Joint reaction forces (N, joint frame).
    pub reaction_force: &'a [nalgebra::Vector3<f64>],
    /// Per joint: the drives' generalized force this step (N or N·m).
    pub drive_force: &'a [f64],
    /// Radial load of each `[bearing]` element (N).
    pub bearing_load: &'a dyn Fn(usize) -> f64,
    /// Time (s) and model inputs, for value sources.
    pub time: f64,
    /// Model inputs.
    pub inputs: &'a [f64],
}

impl WearElement {
    /// The operating statistics a law needs from one step, independent of its parameters:
    /// Archard: normal load × sliding speed (W) and sliding speed (m/s); bearing: revolutions
    /// per s and radial load (N); flank wear: cutting speed (m/s). The slow integrator averages
    /// these over its window.
    pub fn stats(&self, op: &Operating) -> [f64; 2] {
        match &self.law {
            Law::Archard {
                joint,
                load,
                radius,
                ..
            } => {
                let f = op.reaction_force[*joint];
                let normal = match load {
                    ContactLoad::Radial => f.y.hypot(f.z),
                    ContactLoad::Axial => f.x.abs(),
                    ContactLoad::Thrust => op.drive_force[*joint].abs(),
                };
                let speed = op.joint_velocity[*joint].abs() * radius;
                [normal * speed, speed]
            }
            Law::Bearing { bearing, joint } => [
                op.joint_velocity[*joint].abs() / std::f64::consts::TAU,
                (op.bearing_load)(*bearing),
            ],
            Law::FlankWear { joint, radius, .. } => [op.joint_velocity[*joint].abs() * radius, 0.0],
        }
    }

    /// The state-independent part of the wear rate at operating statistics `stats` (see
    /// [`WearElement::stats`]), with model inputs `inputs` at time `time`, and the rate of the
    /// secondary state (sliding distance m/s, revolutions/s, cutting s/s).
    pub fn intensity(
        &self,
        params: &[f64],
        stats: [f64; 2],
        time: f64,
        inputs: &[f64],
    ) -> (f64, f64) {
        match &self.law {
            Law::Archard { .. } => (stats[0], stats[1]),
            Law::Bearing { .. } => {
                let [revs, p] = stats;
                (revs * (p / params[0]).powf(params[1]) * 1e-6, revs)
            }
            Law::FlankWear { reference, .. } => match self.cutting(stats[0], time, inputs) {
                Some((m, v, f, d)) => {
                    let n = self.materials();
                    let [v0, f0, d0] = *reference;
                    let rate = params[m - 1].exp()
                        * (v / v0).powf(params[n])
                        * (f / f0).powf(params[n + 1])
                        * (d / d0).powf(params[n + 2]);
                    (rate, 1.0)
                }
                None => (0.0, 0.0),
            },
        }
    }

    /// Number of work-material codes (flank wear), else 0.
    fn materials(&self) -> usize {
        match &self.law {
            Law::FlankWear {
                cutting_pressure, ..
            } => cutting_pressure.len(),
            _ => 0,
        }
    }

    /// For flank wear at cutting speed `v`: whether the tool cuts now, and (material code,
    /// cutting speed m/s, feed m, depth m).
    fn cutting(&self, v: f64, time: f64, inputs: &[f64]) -> Option<(usize, f64, f64, f64)> {
        let Law::FlankWear {
            feed,
            depth,
            material,
            cutting_pressure,
            ..
        } = &self.law
        else {
            return None;
        };
        let code = material.value(time, inputs).round();
        let (f, d) = (feed.value(time, inputs), depth.value(time, inputs));
        let valid = code >= 1.0 && code <= cutting_pressure.len() as f64;
        (valid && f > 0.0 && d > 0.0 && v > 0.0).then_some((code as usize, v, f, d))
    }

    /// The generalized force (N·m or N) this element adds against the motion of its joint now:
    /// Coulomb friction from Archard wear depth, or the cutting torque of a flank-worn tool.
    /// Returns `(joint, extra Coulomb friction, process torque magnitude)`.
    pub fn joint_load(&self, params: &[f64], w: f64, op: &Operating) -> Option<(usize, f64, f64)> {
        match &self.law {
            Law::Archard { joint, area, .. } => Some((*joint, params[2] * w / area, 0.0)),
            Law::Bearing { .. } => None,
            Law::FlankWear {
                joint,
                radius,
                inserts,
                engaged,
                cutting_pressure,
                flank_pressure,
                ..
            } => {
                let v = op.joint_velocity[*joint].abs() * radius;
                let (m, _, f, d) = self.cutting(v, op.time, op.inputs)?;
                let per_insert = d * (cutting_pressure[m - 1] * f / inserts + flank_pressure * w);
                Some((*joint, 0.0, engaged * radius * per_insert))
            }
        }
    }

    /// The reported wear quantity: Archard depth (m), bearing consumed life (fraction of L10),
    /// flank wear VB (m).
    pub fn reported(&self, w: f64) -> f64 {
        match &self.law {
            Law::Archard { area, .. } => w / area,
            _ => w,
        }
    }

    /// Vibration severity of a bearing element in m/s² (0 before the onset, then
    /// a_on·e^(g·(L − L_on))); 0 for other laws.
    pub fn severity(&self, params: &[f64], w: f64) -> f64 {
        match &self.law {
            Law::Bearing { .. } if w >= params[2] => (params[3] + params[4] * (w - params[2]))
                .min(MAX_LOG_SEVERITY)
                .exp(),
            _ => 0.0,
        }
    }

    /// What [`WearElement::reported`] measures, in words: `depth`, `consumed L10`, `VB`.
    pub fn quantity(&self) -> &'static str {
        match &self.law {
            Law::Archard { .. } => "depth",
            Law::Bearing { .. } => "consumed L10",
            Law::FlankWear { .. } => "VB",
        }
    }

    /// Unit of [`WearElement::reported`].
    pub fn unit(&self) -> &'static str {
        match &self.law {
            Law::Bearing { .. } => "1",
            _ => "m",
        }
    }
}

/// ISO 281 basic rating life L10 in million revolutions, (C/P)^p, for dynamic load rating `c`
/// and equivalent load `p` (N), life exponent `exponent` (3 ball, 10/3 roller).
pub fn basic_rating_life(c: f64, p: f64, exponent: f64) -> f64 {
    (c / p).powf(exponent)
}

/// The catalogue rating C10 (N) a bearing needs to survive `life_ratio` rating lives (desired
/// life over the catalogue's L10 basis) at reliability `reliability` under design load
/// `design_load` (N, application factor included), with the three-parameter Weibull
/// `(x0, theta, shape)` of the maker's life data (Shigley, Mechanical Engineering Design,
/// eq. 11-9): C10 = F_D·(x_D / (x0 + (θ − x0)·ln(1/R)^(1/b)))^(1/a).
pub fn required_rating(
    design_load: f64,
    life_ratio: f64,
    reliability: f64,
    (x0, theta, shape): (f64, f64, f64),
    exponent: f64,
) -> f64 {
    let spread = x0 + (theta - x0) * (1.0 / reliability).ln().powf(1.0 / shape);
    design_load * (life_ratio / spread).powf(1.0 / exponent)
}
