//! Stress-life fatigue: streaming [`rainflow`] counting, Goodman mean-stress correction, Basquin
//! S-N curves and Palmgren–Miner damage, and the stress at a shaft section from a joint's
//! reaction wrench. Stresses in Pa.

pub mod rainflow;

use serde::{Deserialize, Serialize};

use rainflow::{Cycle, Rainflow};

/// Stress-life properties of a material.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnCurve {
    /// Ultimate tensile strength σ_u in Pa (Goodman line).
    pub ultimate_strength: f64,
    /// Basquin fatigue strength coefficient σ_f′ in Pa: σ_ar = σ_f′·(2N)^b.
    pub strength_coefficient: f64,
    /// Basquin exponent b (negative, typically −0.05 to −0.12).
    pub exponent: f64,
    /// Fully reversed amplitude (Pa) below which a cycle does no damage; 0 for none.
    pub endurance_limit: f64,
}

impl SnCurve {
    /// The fully reversed amplitude equivalent to a cycle of amplitude `amplitude` about mean
    /// `mean` by the Goodman line, σ_ar = σ_a/(1 − σ_m/σ_u); compressive means are not
    /// credited (σ_ar = σ_a). Infinite when the mean reaches the ultimate strength.
    pub fn goodman(&self, amplitude: f64, mean: f64) -> f64 {
        if mean <= 0.0 {
            amplitude
        } else if mean >= self.ultimate_strength {
            f64::INFINITY
        } else {
            amplitude / (1.0 - mean / self.ultimate_strength)
        }
    }

    /// Cycles to failure at a fully reversed amplitude (Basquin), N = ½·(σ_ar/σ_f′)^(1/b);
    /// infinite at or below the endurance limit.
    pub fn cycles_to_failure(&self, reversed_amplitude: f64) -> f64 {
        if reversed_amplitude <= self.endurance_limit || reversed_amplitude <= 0.0 {
            f64::INFINITY
        } else {
            0.5 * (reversed_amplitude / self.strength_coefficient).powf(1.0 / self.exponent)
        }
    }

    /// Miner damage of one counted cycle (count / N), with the Goodman correction.
    pub fn damage(&self, cycle: &Cycle) -> f64 {
        let n = self.cycles_to_failure(self.goodman(0.5 * cycle.range, cycle.mean));
        cycle.count / n
    }
}

/// Streaming Miner damage of one stress history: rainflow-counted cycles, Goodman-corrected,
/// summed over the S-N curve. Damage 1 is the expected failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DamageCounter {
    rainflow: Rainflow,
    /// Damage of the cycles already closed.
    closed: f64,
    /// Cycles counted so far (full = 1, half = 0.5).
    cycles: f64,
}

impl DamageCounter {
    /// Adds one stress sample (Pa).
    #[inline]
    pub fn push(&mut self, stress: f64, curve: &SnCurve) {
        let (closed, cycles) = (&mut self.closed, &mut self.cycles);
        self.rainflow.push(stress, &mut |c: Cycle| {
            *closed += curve.damage(&c);
            *cycles += c.count;
        });
    }

    /// Adds `n` identical full cycles counted elsewhere (the cycle-averaged slow integrator).
    pub fn add_cycles(&mut self, cycle: Cycle, n: f64, curve: &SnCurve) {
        self.closed += n * curve.damage(&cycle);
        self.cycles += n * cycle.count;
    }

    /// Adds damage and cycles accumulated elsewhere (the cycle-averaged slow integrator's
    /// averaged rates over a long interval).
    pub fn add_damage(&mut self, damage: f64, cycles: f64) {
        self.closed += damage;
        self.cycles += cycles;
    }

    /// Miner damage so far: closed cycles plus what the open residue adds if the history ends
    /// now.
    pub fn damage(&self, curve: &SnCurve) -> f64 {
        self.closed
            + self
                .rainflow
                .residue()
                .iter()
                .map(|c| curve.damage(c))
                .sum::<f64>()
    }

    /// Miner damage of the cycles closed so far (without the open residue).
    pub fn closed_damage(&self) -> f64 {
        self.closed
    }

    /// Cycles counted so far (closed ones; full = 1, half = 0.5).
    pub fn cycles(&self) -> f64 {
        self.cycles
    }
}

/// Nominal stresses at a solid or hollow round section carrying a wrench: axial force `fx` (N),
/// torque `mx` (N·m) about the section's axis, bending moments `my`, `mz` (N·m).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundSection {
    /// Outer diameter in m.
    pub diameter: f64,
    /// Bore diameter in m (0 for a solid shaft).
    pub bore: f64,
    /// Stress-concentration factors for bending, torsion and axial load.
    pub kt_bending: f64,
    /// See `kt_bending`.
    pub kt_torsion: f64,
    /// See `kt_bending`.
    pub kt_axial: f64,
}

/// The surface stresses of a section: the normal stress from axial load alone, the bending
/// stress amplitude at the outer fibre, and the torsional shear stress (Pa).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SurfaceStress {
    /// σ_axial = K_a·F/A.
    pub axial: f64,
    /// σ_bending = K_t·|M_b|·c/I.
    pub bending: f64,
    /// τ = K_ts·T·r/J.
    pub shear: f64,
}

impl SurfaceStress {
    /// Signed von Mises stress sqrt(σ² + 3τ²) at a fibre whose normal stress is
    /// σ = axial + `cos_angle`·bending, carrying the sign of σ (so that rainflow sees
    /// tension–compression reversals), or of τ where σ = 0 (so that reversed torsion is seen).
    pub fn signed_von_mises(&self, cos_angle: f64) -> f64 {
        let s = self.axial + cos_angle * self.bending;
        let vm = (s * s + 3.0 * self.shear * self.shear).sqrt();
        let sign = if s != 0.0 { s } else { self.shear };
        if sign < 0.0 { -vm } else { vm }
    }
}

impl RoundSection {
    /// Surface stresses under a wrench (N, N·m; x along the section's axis).
    pub fn stress(&self, fx: f64, mx: f64, my: f64, mz: f64) -> SurfaceStress {
        let (d, b) = (self.diameter, self.bore);
        let area = std::f64::consts::FRAC_PI_4 * (d * d - b * b);
        let second_moment = std::f64::consts::PI / 64.0 * (d.powi(4) - b.powi(4));
        let c = 0.5 * d;
        SurfaceStress {
            axial: self.kt_axial * fx / area,
            bending: self.kt_bending * my.hypot(mz) * c / second_moment,
            shear: self.kt_torsion * mx * c / (2.0 * second_moment),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steel() -> SnCurve {
        // Shigley 9e Table A-20 / Fig. 6-18 style values for a 1050 steel: σ_u = 690 MPa,
        // σ_f′ ≈ σ_u + 345 MPa, b = −0.1.
        SnCurve {
            ultimate_strength: 690e6,
            strength_coefficient: 1035e6,
            exponent: -0.1,
            endurance_limit: 0.0,
        }
    }

    /// Constant amplitude: n fully reversed cycles at σ_a give damage n/N exactly.
    #[test]
    fn miner_constant_amplitude() {
        let sn = steel();
        let amp = 400e6;
        let n_f = 0.5 * (amp / 1035e6f64).powf(-10.0);
        let mut d = DamageCounter::default();
        for i in 0..2001 {
            d.push(if i % 2 == 0 { amp } else { -amp }, &sn);
        }
        // 2001 alternating samples: 999 full cycles, and two half cycles in the residue.
        let expected = 1000.0 / n_f;
        assert!((d.damage(&sn) / expected - 1.0).abs() < 1e-12);
    }

    #[test]
    fn goodman_and_section() {
        let sn = steel();
        assert_eq!(sn.goodman(100e6, 345e6), 200e6);
        assert_eq!(sn.goodman(100e6, -345e6), 100e6);
        let s = RoundSection {
            diameter: 0.05,
            bore: 0.0,
            kt_bending: 1.0,
            kt_torsion: 1.0,
            kt_axial: 1.0,
        }
        .stress(0.0, 100.0, 300.0, 400.0);
        // M = 500 N·m on d = 50 mm: 32M/(πd³) = 40.74 MPa; τ = 16T/(πd³) = 4.074 MPa.
        assert!(
            (s.bending / (32.0 * 500.0 / (std::f64::consts::PI * 0.05f64.powi(3))) - 1.0).abs()
                < 1e-12
        );
        assert!(
            (s.shear / (16.0 * 100.0 / (std::f64::consts::PI * 0.05f64.powi(3))) - 1.0).abs()
                < 1e-12
        );
    }
}
