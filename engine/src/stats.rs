//! Statistics shared by calibration and prognosis: weighted quantiles and moments of samples,
//! correlation from a covariance, and draws from a Gaussian truncated to the parameters'
//! bounds. A leaf: it knows parameters only as bounds.

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;

/// The standard normal's 95th percentile: a Gaussian's 90 % interval is mean ± `Z90`·std.
pub const Z90: f64 = 1.644854;

/// Tries per draw of a [`TruncatedGaussian`] before it clamps the last draw to the bounds.
pub const MAX_TRIES: usize = 1000;

/// Weighted quantile `q` (0 … 1) of `x`, pairs of a value and its weight (weights summing to
/// 1). A `None` value counts as beyond every value (a time to an event not reached), and the
/// quantile is `None` when it falls there. Ties keep their order; a cumulative weight within
/// 1e-12 of `q` reaches it (sums of equal weights such as 1/2000 land a rounding short).
pub fn weighted_quantile(x: &[(Option<f64>, f64)], q: f64) -> Option<f64> {
    let mut v: Vec<(Option<f64>, f64)> = x.to_vec();
    v.sort_by(|a, b| {
        let key = |e: &(Option<f64>, f64)| e.0.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b))
    });
    let mut acc = 0.0;
    for (value, w) in &v {
        acc += w;
        if acc >= q - 1e-12 {
            return *value;
        }
    }
    v.last().and_then(|(value, _)| *value)
}

/// Weighted mean and standard deviation of samples `x` with weights `w` (summing to 1).
pub fn weighted_mean_std(x: &[f64], w: &[f64]) -> (f64, f64) {
    let mean: f64 = x.iter().zip(w).map(|(a, b)| a * b).sum();
    let var: f64 = x.iter().zip(w).map(|(a, b)| b * (a - mean).powi(2)).sum();
    (mean, var.sqrt())
}

/// Weighted covariance of sample vectors `x` (one per member) with weights `w` about `means`.
pub fn weighted_covariance(x: &[Vec<f64>], w: &[f64], means: &[f64]) -> DMatrix<f64> {
    let p = means.len();
    DMatrix::from_fn(p, p, |a, b| {
        x.iter()
            .zip(w)
            .map(|(v, wi)| wi * (v[a] - means[a]) * (v[b] - means[b]))
            .sum()
    })
}

/// The correlation matrix of covariance `c` (a zero variance gives zero correlations).
pub fn correlation(c: &DMatrix<f64>) -> Vec<Vec<f64>> {
    let p = c.nrows();
    (0..p)
        .map(|a| {
            (0..p)
                .map(|b| c[(a, b)] / (c[(a, a)] * c[(b, b)]).sqrt().max(1e-300))
                .collect()
        })
        .collect()
}

/// A Gaussian truncated to a box of bounds, drawn by rejection: a draw outside the bounds is
/// drawn again (up to [`MAX_TRIES`] times, then clamped). Rejection keeps the Gaussian's shape
/// inside the box; clamping each coordinate would pile draws onto the bounds and break the
/// correlation there.
pub struct TruncatedGaussian<'a> {
    mean: &'a [f64],
    /// A square root `L` of the covariance (`L Lᵀ = C`), or the standard deviations where the
    /// coordinates are independent.
    root: Root,
    bounds: Vec<(f64, f64)>,
}

enum Root {
    Independent(Vec<f64>),
    Correlated(DMatrix<f64>),
}

impl<'a> TruncatedGaussian<'a> {
    /// Independent coordinates with means `mean` and standard deviations `std`. Each
    /// coordinate is drawn again on its own until it is inside its bounds: for independent
    /// coordinates that is the same distribution as rejecting whole vectors, with far fewer
    /// draws.
    pub fn independent(mean: &'a [f64], std: &[f64], bounds: Vec<(f64, f64)>) -> Self {
        Self {
            mean,
            root: Root::Independent(std.to_vec()),
            bounds,
        }
    }

    /// Means `mean`, standard deviations `std` and correlation `correlation` (independent when
    /// it is empty; non-finite entries count as zero off the diagonal). Where the covariance's
    /// Cholesky factor fails in rounding (a nearly singular correlation, as calibration gives
    /// parameters the data tie together), the root comes from its eigen-decomposition with
    /// negative eigenvalues set to zero, so that the draws keep the correlation.
    pub fn correlated(
        mean: &'a [f64],
        std: &[f64],
        correlation: &[Vec<f64>],
        bounds: Vec<(f64, f64)>,
    ) -> Self {
        if correlation.is_empty() {
            return Self::independent(mean, std, bounds);
        }
        let p = mean.len();
        let cov = DMatrix::from_fn(p, p, |a, b| {
            let r = correlation
                .get(a)
                .and_then(|row| row.get(b))
                .copied()
                .filter(|r| r.is_finite())
                .unwrap_or(if a == b { 1.0 } else { 0.0 });
            r * std[a] * std[b]
        });
        let diagonal = || DMatrix::from_diagonal(&DVector::from_iterator(p, std.iter().copied()));
        let root = if cov.iter().all(|v| v.is_finite()) {
            cov.clone().cholesky().map(|c| c.l()).unwrap_or_else(|| {
                match cov.try_symmetric_eigen(f64::EPSILON, 1000) {
                    Some(eig) => {
                        let roots = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
                        eig.eigenvectors * DMatrix::from_diagonal(&roots)
                    }
                    None => diagonal(),
                }
            })
        } else {
            diagonal()
        };
        Self {
            mean,
            root: Root::Correlated(root),
            bounds,
        }
    }

    /// `n` draws, seeded by `seed`.
    pub fn draws(&self, n: usize, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Pcg64::seed_from_u64(seed);
        (0..n).map(|_| self.draw(&mut rng)).collect()
    }

    /// One draw.
    pub fn draw(&self, rng: &mut Pcg64) -> Vec<f64> {
        match &self.root {
            Root::Independent(std) => self
                .mean
                .iter()
                .zip(std)
                .zip(&self.bounds)
                .map(|((m, s), &(lo, hi))| {
                    let mut v = *m;
                    for _ in 0..MAX_TRIES {
                        let z: f64 = StandardNormal.sample(rng);
                        v = m + s * z;
                        if v >= lo && v <= hi {
                            return v;
                        }
                    }
                    v.clamp(lo, hi)
                })
                .collect(),
            Root::Correlated(root) => {
                let p = self.mean.len();
                let mut draw = || -> Vec<f64> {
                    let z = DVector::from_iterator(p, (0..p).map(|_| StandardNormal.sample(rng)));
                    let x = root * z;
                    (0..p).map(|j| self.mean[j] + x[j]).collect()
                };
                let mut x = draw();
                for _ in 1..MAX_TRIES {
                    if self.inside(&x) {
                        return x;
                    }
                    x = draw();
                }
                x.iter()
                    .zip(&self.bounds)
                    .map(|(v, &(lo, hi))| v.clamp(lo, hi))
                    .collect()
            }
        }
    }

    fn inside(&self, x: &[f64]) -> bool {
        x.iter()
            .zip(&self.bounds)
            .all(|(v, &(lo, hi))| (lo..=hi).contains(v))
    }
}

/// A draw from an equal-weight mixture of Gaussians `components` (mean, standard deviation)
/// truncated to `[lo, hi]` by rejection (up to [`MAX_TRIES`] times, then clamped): a component
/// is picked at random, then a value drawn from it.
pub fn draw_mixture(rng: &mut Pcg64, components: &[(f64, f64)], (lo, hi): (f64, f64)) -> f64 {
    use rand::Rng;
    let mut v = f64::NAN;
    for _ in 0..MAX_TRIES {
        let (m, s) = components[rng.random_range(0..components.len())];
        let z: f64 = StandardNormal.sample(rng);
        v = m + s * z;
        if v >= lo && v <= hi {
            return v;
        }
    }
    v.clamp(lo, hi)
}

/// Mean and standard deviation of an equal-weight mixture of Gaussians (mean, std).
pub fn mixture_moments(components: &[(f64, f64)]) -> (f64, f64) {
    let n = components.len().max(1) as f64;
    let mean = components.iter().map(|c| c.0).sum::<f64>() / n;
    let var = components
        .iter()
        .map(|(m, s)| s * s + (m - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_count_unreached_values_as_beyond_every_value() {
        let x = [
            (Some(3.0), 0.25),
            (None, 0.25),
            (Some(1.0), 0.25),
            (Some(2.0), 0.25),
        ];
        assert_eq!(weighted_quantile(&x, 0.05), Some(1.0));
        assert_eq!(weighted_quantile(&x, 0.5), Some(2.0));
        assert_eq!(weighted_quantile(&x, 0.95), None);
    }

    #[test]
    fn mixture_draws_come_from_every_component_and_keep_the_moments() {
        let components = [(0.0, 0.1), (10.0, 0.1)];
        let mut rng = Pcg64::seed_from_u64(3);
        let x: Vec<f64> = (0..4000)
            .map(|_| draw_mixture(&mut rng, &components, (-1.0, 11.0)))
            .collect();
        let high = x.iter().filter(|v| **v > 5.0).count() as f64 / x.len() as f64;
        assert!(
            (high - 0.5).abs() < 0.03,
            "share of the upper component {high}"
        );
        let (m, s) = mixture_moments(&components);
        assert!((m - 5.0).abs() < 1e-12 && (s - (25.0f64 + 0.01).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn independent_draws_stay_inside_their_bounds() {
        let mean = [0.0, 10.0];
        let g = TruncatedGaussian::independent(&mean, &[1.0, 5.0], vec![(-0.5, 0.5), (9.0, 30.0)]);
        for x in g.draws(2000, 4) {
            assert!(
                (-0.5..=0.5).contains(&x[0]) && (9.0..=30.0).contains(&x[1]),
                "{x:?}"
            );
        }
    }
}

/// The standard normal quantile Φ⁻¹(p) for 0 < p < 1 (P. J. Acklam's rational approximation,
/// relative error below 1.2e-9), ±∞ at 0 and 1.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const LOW: f64 = 0.02425;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod normal_quantile_tests {
    use super::normal_quantile;

    #[test]
    fn normal_quantiles_match_tables() {
        // Φ⁻¹ at 0.5, 0.95, 0.975, 0.001 (standard tables).
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.95) - 1.6448536269514722).abs() < 1e-8);
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-8);
        assert!((normal_quantile(0.001) + 3.090232306167813).abs() < 1e-8);
    }
}

/// Whether a generator read back from a file can run: a PCG's increment is odd (an even one,
/// such as an all-zero state, gives a degenerate stream that can stall a sampler).
pub(crate) fn generator_is_valid(rng: &Pcg64) -> bool {
    #[derive(serde::Deserialize)]
    struct Parts {
        increment: u128,
    }
    serde_json::to_string(rng)
        .ok()
        .and_then(|text| serde_json::from_str::<Parts>(&text).ok())
        .is_some_and(|p| p.increment % 2 == 1)
}
