//! Closed-form reference solutions.

/// Complete elliptic integral of the first kind K(k), modulus `k` in [0, 1), by the
/// arithmetic-geometric mean: K(k) = π / (2 AGM(1, √(1 − k²))). Exact to rounding.
pub fn complete_elliptic_k(k: f64) -> f64 {
    let (mut a, mut b) = (1.0_f64, (1.0 - k * k).sqrt());
    while (a - b).abs() > 1e-15 * a {
        let next = 0.5 * (a + b);
        b = (a * b).sqrt();
        a = next;
    }
    std::f64::consts::PI / (2.0 * a)
}

/// Exact period in s of a simple pendulum of length `l` m under gravity `g` m/s² released from
/// rest at amplitude `theta0` rad: T = 4 √(l/g) K(sin(θ0/2)).
pub fn pendulum_period(l: f64, g: f64, theta0: f64) -> f64 {
    4.0 * (l / g).sqrt() * complete_elliptic_k((theta0 / 2.0).sin())
}

/// Speed in rad/s at time `t` s of a rotor of inertia `j` kg·m² coasting down from `w0` rad/s
/// under viscous `c` N·m·s/rad and Coulomb `tc` N·m friction:
/// ω(t) = (ω0 + Tc/c) e^(−c t / J) − Tc/c, until it stops.
pub fn rundown_speed(j: f64, c: f64, tc: f64, w0: f64, t: f64) -> f64 {
    ((w0 + tc / c) * (-c * t / j).exp() - tc / c).max(0.0)
}

/// Time in s the rotor of [`rundown_speed`] takes to stop: t = (J/c) ln(1 + c ω0 / Tc).
pub fn rundown_stop_time(j: f64, c: f64, tc: f64, w0: f64) -> f64 {
    j / c * (1.0 + c * w0 / tc).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn elliptic_k_matches_tabulated_values() {
        // Abramowitz & Stegun Table 17.1: K(m = 0.5) = 1.854074677; K(0) = π/2.
        assert_relative_eq!(
            complete_elliptic_k(0.5f64.sqrt()),
            1.854_074_677_301_372,
            epsilon = 1e-12
        );
        assert_relative_eq!(
            complete_elliptic_k(0.0),
            std::f64::consts::FRAC_PI_2,
            epsilon = 1e-15
        );
    }

    #[test]
    fn small_amplitude_period_is_the_linear_one() {
        let t = pendulum_period(1.0, 9.81, 1e-4);
        assert_relative_eq!(
            t,
            std::f64::consts::TAU * (1.0f64 / 9.81).sqrt(),
            max_relative = 1e-8
        );
    }

    #[test]
    fn rundown_reaches_zero_at_the_stop_time() {
        let ts = rundown_stop_time(0.004, 1e-4, 0.05, 1000.0);
        assert!(rundown_speed(0.004, 1e-4, 0.05, 1000.0, ts).abs() < 1e-9);
    }
}
