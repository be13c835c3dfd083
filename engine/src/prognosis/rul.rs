//! Remaining useful life: the distribution of the time to an event over an ensemble's
//! members, and the point estimate a maintenance decision takes from it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::stats::weighted_quantile;

/// The distribution of the time to an event, in s from the start of the forecast. A quantile
/// is `None` when fewer members than it needs reach the event within the horizon (the time is
/// then longer than the horizon).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulSummary {
    /// 5th percentile, s.
    pub p05: Option<f64>,
    /// Median, s.
    pub p50: Option<f64>,
    /// 95th percentile, s.
    pub p95: Option<f64>,
    /// Weighted fraction of members that reach the event within the horizon.
    pub reached: f64,
    /// The forecast horizon, s.
    pub horizon: f64,
    /// The point estimate that minimises the expected loss `loss` over the distribution, s
    /// (`None`: beyond the horizon), where a loss was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<f64>,
    /// The loss the point estimate minimises (`early=A,late=B` or `phm2012`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<String>,
    /// Where the distribution comes from when it is not the members' own forecast (the fleet's
    /// survival; see `prognosis::survival`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

impl RulSummary {
    /// The summary of `times` (per member: its time to the event in s, `None` if not reached
    /// within `horizon`, with its weight; weights summing to 1), with the point estimate of
    /// `loss` where given.
    pub fn of(times: &[(Option<f64>, f64)], horizon: f64, loss: Option<RulLoss>) -> Self {
        // (+ 0.0: an empty sum of floats is −0.)
        let reached = times
            .iter()
            .filter(|(t, _)| t.is_some())
            .map(|(_, w)| w)
            .sum::<f64>()
            + 0.0;
        Self {
            p05: weighted_quantile(times, 0.05),
            p50: weighted_quantile(times, 0.5),
            p95: weighted_quantile(times, 0.95),
            reached,
            horizon,
            point: loss.and_then(|l| l.point(times, horizon)),
            loss: loss.map(|l| l.to_string()),
            basis: None,
        }
    }
}

/// What a wrong remaining-life estimate costs, for the point estimate a decision takes
/// (`--rul-loss`). In maintenance a late estimate (the machine fails before the planned stop)
/// costs more than an early one (a part replaced with life left).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RulLoss {
    /// `early=A,late=B`: a cost of A per second the estimate is early (before the event) and B
    /// per second it is late. The expected cost is smallest at the A/(A+B) quantile of the
    /// distribution: `early=1,late=4` takes its 20th percentile.
    Linear {
        /// Cost per second of an early estimate.
        early: f64,
        /// Cost per second of a late estimate.
        late: f64,
    },
    /// `phm2012`: the IEEE PHM 2012 challenge's score of a relative error
    /// Er = 100·(actual − estimate)/actual, exp(−ln(0.5)·Er/5) for a late estimate (Er ≤ 0) and
    /// exp(ln(0.5)·Er/20) for an early one, maximised in expectation (members that do not reach
    /// the event count as reaching it at the horizon).
    Phm2012,
}

impl RulLoss {
    /// Parses `early=A,late=B` (A, B > 0, either order) or `phm2012`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "--rul-loss",
                None,
                None,
                format!(
                    "expected `early=A,late=B` with costs A, B > 0 per second (for example early=1,late=4) or `phm2012`, got `{text}`"
                ),
            )
        };
        if text.trim() == "phm2012" {
            return Ok(RulLoss::Phm2012);
        }
        let (mut early, mut late) = (None, None);
        for part in text.split(',') {
            let (key, value) = part.split_once('=').ok_or_else(bad)?;
            let v: f64 = value.trim().parse().map_err(|_| bad())?;
            if !(v.is_finite() && v > 0.0) {
                return Err(bad());
            }
            match key.trim() {
                "early" => early = Some(v),
                "late" => late = Some(v),
                _ => return Err(bad()),
            }
        }
        match (early, late) {
            (Some(early), Some(late)) => Ok(RulLoss::Linear { early, late }),
            _ => Err(bad()),
        }
    }

    /// The point estimate of minimal expected loss over `times` (see [`RulSummary::of`]).
    pub fn point(&self, times: &[(Option<f64>, f64)], horizon: f64) -> Option<f64> {
        match *self {
            RulLoss::Linear { early, late } => weighted_quantile(times, early / (early + late)),
            RulLoss::Phm2012 => {
                let actual: Vec<(f64, f64)> = times
                    .iter()
                    .map(|(t, w)| (t.unwrap_or(horizon).max(1e-9), *w))
                    .collect();
                let expected = |estimate: f64| -> f64 {
                    actual
                        .iter()
                        .map(|(a, w)| w * phm2012_score(*a, estimate))
                        .sum()
                };
                actual
                    .iter()
                    .map(|(a, _)| *a)
                    .max_by(|x, y| expected(*x).total_cmp(&expected(*y)))
            }
        }
    }
}

impl std::fmt::Display for RulLoss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulLoss::Linear { early, late } => write!(f, "early={early},late={late}"),
            RulLoss::Phm2012 => write!(f, "phm2012"),
        }
    }
}

/// The PHM 2012 score of one prediction: Er = 100·(actual − estimate)/actual;
/// A = exp(−ln(0.5)·Er/5) for Er ≤ 0 (late), exp(ln(0.5)·Er/20) for Er > 0 (early).
pub fn phm2012_score(actual: f64, estimate: f64) -> f64 {
    let er = 100.0 * (actual - estimate) / actual;
    if er <= 0.0 {
        (-(0.5f64.ln()) * er / 5.0).exp()
    } else {
        (0.5f64.ln() * er / 20.0).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_loss_takes_its_quantile_and_parses() {
        let times: Vec<(Option<f64>, f64)> = (1..=10).map(|k| (Some(k as f64), 0.1)).collect();
        let loss = RulLoss::parse("late=4, early=1").unwrap();
        assert_eq!(
            loss,
            RulLoss::Linear {
                early: 1.0,
                late: 4.0
            }
        );
        assert_eq!(loss.point(&times, 100.0), Some(2.0));
        assert!(RulLoss::parse("early=0,late=1").is_err());
        assert!(RulLoss::parse("soon").is_err());
    }

    #[test]
    fn phm_point_estimate_leans_early() {
        // Actual times spread evenly over 900 … 1100 s: the score's late penalty is four times
        // steeper, so the best estimate is below the median.
        let times: Vec<(Option<f64>, f64)> = (0..=20)
            .map(|k| (Some(900.0 + 10.0 * k as f64), 1.0 / 21.0))
            .collect();
        let point = RulLoss::Phm2012.point(&times, 1e4).unwrap();
        assert!((900.0..1000.0).contains(&point), "{point}");
        assert_eq!(phm2012_score(100.0, 100.0), 1.0);
        assert!((phm2012_score(100.0, 105.0) - 0.5).abs() < 1e-12);
        assert!((phm2012_score(100.0, 80.0) - 0.5).abs() < 1e-12);
    }
}
