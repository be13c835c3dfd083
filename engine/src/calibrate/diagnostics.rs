//! Whether an ensemble filter's intervals can be trusted: enough members for its parameters,
//! an ensemble that still spans every parameter direction, and (particle filter) enough
//! effective samples. A filter's means can be good where its intervals are far too narrow; the
//! report says so instead of letting a user read overconfident intervals.

use nalgebra::{DMatrix, SymmetricEigen};

use super::Method;

/// Members per calibrated parameter below which an ensemble filter's intervals are not
/// trusted (sampling error in the ensemble covariance makes them too narrow).
pub const MEMBERS_PER_PARAMETER: usize = 10;

/// The least members that `method` needs for `parameters` calibrated parameters (`None`: the
/// UKF and batch fits do not sample).
pub fn minimum_members(method: Method, parameters: usize) -> Option<usize> {
    match method {
        Method::EnKF | Method::ParticleFilter => Some((MEMBERS_PER_PARAMETER * parameters).max(20)),
        Method::Ukf | Method::Batch => None,
    }
}

/// The warnings for a filter's posterior: too few `members` for the parameters, an ensemble
/// collapsed onto fewer directions than it has parameters (the smallest eigenvalue of its
/// `correlation` below 1e-6 of the largest), a particle filter whose effective sample size
/// (from the normalised `weights`) fell under 10 % of its members.
pub fn filter_warnings(
    method: Method,
    members: usize,
    correlation: &[Vec<f64>],
    weights: &[f64],
) -> Vec<String> {
    let p = correlation.len();
    let mut warnings = Vec::new();
    if let Some(least) = minimum_members(method, p)
        && members < least
    {
        warnings.push(format!(
            "{members} members for {p} parameters: the {} needs at least {least} ({MEMBERS_PER_PARAMETER} per parameter) for intervals to trust; its means may be good, its intervals are too narrow (more --members)",
            method.name()
        ));
    }
    if p > 1 && matches!(method, Method::EnKF | Method::ParticleFilter) {
        let c = DMatrix::from_fn(p, p, |i, j| correlation[i][j]);
        let eig = SymmetricEigen::new(c).eigenvalues;
        let (lo, hi) = eig
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
        let rank = eig.iter().filter(|x| **x > 1e-6 * hi).count();
        let spans_every_direction = lo > 1e-6 * hi;
        if !spans_every_direction {
            warnings.push(format!(
                "the ensemble has collapsed onto {rank} of its {p} parameter directions: the intervals of the parameters along the others are not estimates (more --members, or a wider prior)"
            ));
        }
    }
    if method == Method::ParticleFilter && !weights.is_empty() {
        let ess = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        if ess < 0.1 * weights.len() as f64 {
            warnings.push(format!(
                "the particle filter ended with an effective sample size of {ess:.0} of {} particles: its intervals rest on a few particles (more --members)",
                weights.len()
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_or_collapsed_ensembles_are_named() {
        let identity = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let even = vec![0.25; 4];
        assert!(filter_warnings(Method::EnKF, 64, &identity, &even).is_empty());
        let w = filter_warnings(Method::EnKF, 12, &identity, &even);
        assert!(w[0].contains("at least 20"), "{w:?}");
        let collapsed = vec![vec![1.0, 1.0], vec![1.0, 1.0]];
        let w = filter_warnings(Method::EnKF, 64, &collapsed, &even);
        assert!(w[0].contains("collapsed onto 1 of its 2"), "{w:?}");
        let mut degenerate = vec![0.001; 100];
        degenerate[0] = 0.901;
        let w = filter_warnings(Method::ParticleFilter, 100, &identity, &degenerate);
        assert!(w[0].contains("effective sample size of 1"), "{w:?}");
        assert!(filter_warnings(Method::Ukf, 3, &identity, &even).is_empty());
        assert_eq!(minimum_members(Method::EnKF, 6), Some(60));
    }
}
