//! Time-varying values: a constant, a model input, or a piecewise-linear schedule, and the
//! linear interpolation they share with input series. A leaf: the physics laws
//! ([`crate::thermal`], [`crate::wear`]) read their values through it without knowing the
//! model format.

/// A time-varying value: a constant, a model input, or a piecewise-linear schedule. The value's
/// unit is that of the field holding it (W, °C, m, …).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A constant.
    Constant(f64),
    /// Model input `index`, times `scale`.
    Input {
        /// Input index.
        index: usize,
        /// Multiplier.
        scale: f64,
    },
    /// Piecewise-linear in time over `(t s, value)` points sorted by time, held outside, times `scale`.
    Schedule {
        /// The points.
        points: Vec<(f64, f64)>,
        /// Multiplier.
        scale: f64,
    },
}

impl Source {
    /// The value at time `t` s with model inputs `inputs`.
    pub fn value(&self, t: f64, inputs: &[f64]) -> f64 {
        match self {
            Source::Constant(v) => *v,
            Source::Input { index, scale } => inputs[*index] * scale,
            Source::Schedule { points, scale } => interpolate(points, t) * scale,
        }
    }
}

/// Linear interpolation in sorted `(x, y)` points, holding the end values outside.
pub fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    match points.partition_point(|p| p.0 <= x) {
        i if i == points.len() => points.last().map_or(0.0, |p| p.1),
        0 => points[0].1,
        i => {
            let (x0, y0) = points[i - 1];
            let (x1, y1) = points[i];
            y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        }
    }
}
