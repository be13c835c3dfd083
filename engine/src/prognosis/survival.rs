//! Fleet survival: the remaining life of a unit from the lives of a fleet's units.
//!
//! A fleet's run-to-failure records give each unit's age at its event, measured in the
//! event's life measure (`[event.NAME] life`: a wear element's state such as a bearing's
//! consumed ISO 281 life, which puts units run at different loads and speeds on one scale, or
//! operating time). A unit that has survived to age `a` has a remaining life distributed as the
//! fleet's lives beyond `a`, less `a`: the Kaplan–Meier estimate conditional on survival, where
//! units whose records did not end at the event are censored. The remaining age becomes time
//! along the forecast of the unit's own age under its operating conditions.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::{Prognosis, RulLoss, RulSummary};
use crate::model::Model;
use crate::stats::weighted_quantile;

/// One unit's age at the end of its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitLife {
    /// The unit's run (its data file).
    pub run: String,
    /// Its age at the end of the record, in the fleet's life measure.
    pub age: f64,
    /// Whether the record ended at the event (else the unit was still running: censored).
    pub failed: bool,
}

/// The lives of a fleet's units to one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetLives {
    /// The life measure: `wear.NAME` (that element's reported quantity) or `time`.
    pub measure: String,
    /// Unit of the measure.
    pub unit: String,
    /// Relative standard uncertainty of each recorded age: the width of the log-normal kernel
    /// that smooths the survival (0: the plain product-limit estimate).
    #[serde(default)]
    pub uncertainty: f64,
    /// Every unit's record.
    pub units: Vec<UnitLife>,
}

/// Pseudo-units each unit's record is spread over by the kernel.
const KERNEL_POINTS: usize = 64;

impl FleetLives {
    /// The distribution of the remaining age of a unit that has survived to `age`: atoms
    /// (remaining age, probability) at the failures of the units that lived longer, by
    /// Kaplan–Meier (a censored unit's share passes to the units that outlived it), each record
    /// spread over its age's uncertainty by a log-normal kernel, and the probability of
    /// outliving every recorded failure. Empty with 0 when no unit lived longer.
    pub fn remaining(&self, age: f64) -> (Vec<(f64, f64)>, f64) {
        // Each record spread over its age's uncertainty: pseudo-units at the log-normal
        // kernel's quantiles (one, the record itself, without uncertainty).
        let spread: Vec<UnitLife> = if self.uncertainty > 0.0 {
            let sigma = self.uncertainty.ln_1p();
            self.units
                .iter()
                .flat_map(|u| {
                    (0..KERNEL_POINTS).map(move |k| {
                        let z =
                            crate::stats::normal_quantile((k as f64 + 0.5) / KERNEL_POINTS as f64);
                        UnitLife {
                            age: u.age * (sigma * z).exp(),
                            ..u.clone()
                        }
                    })
                })
                .collect()
        } else {
            self.units.clone()
        };
        let mut at_risk: Vec<&UnitLife> = spread.iter().filter(|u| u.age > age).collect();
        at_risk.sort_by(|a, b| a.age.total_cmp(&b.age).then(b.failed.cmp(&a.failed)));
        let n = at_risk.len();
        let mut mass = vec![1.0 / n.max(1) as f64; n];
        let mut tail = 0.0;
        let mut atoms = Vec::new();
        for i in 0..n {
            if at_risk[i].failed {
                atoms.push((at_risk[i].age - age, mass[i]));
            } else if i + 1 < n {
                let share = mass[i] / (n - i - 1) as f64;
                mass[i + 1..].iter_mut().for_each(|m| *m += share);
            } else {
                tail += mass[i];
            }
        }
        (atoms, tail)
    }
}

/// Where a forecast's remaining life of an event came from.
fn basis(lives: &FleetLives, age: f64, units: usize) -> String {
    format!(
        "fleet survival: {units} of {} units outlived this unit's age {} in {}",
        lives.units.len(),
        age_text(lives, age),
        lives.measure
    )
}

/// An age with its unit (none for a dimensionless measure).
fn age_text(lives: &FleetLives, age: f64) -> String {
    match lives.unit.as_str() {
        "1" => format!("{age:.4}"),
        unit => format!("{age:.4} {unit}"),
    }
}

/// The time (s after the forecast's start) at which the age, following `trajectory` (time,
/// age) from its start, has grown by `grown`; `None` beyond the trajectory's end.
fn time_to_grow(trajectory: &[(f64, f64)], grown: f64) -> Option<f64> {
    let target = trajectory.first()?.1 + grown;
    trajectory.windows(2).find_map(|w| {
        let ((t0, a0), (t1, a1)) = (w[0], w[1]);
        (a1 >= target).then(|| {
            if a1 > a0 {
                t0 + (t1 - t0) * ((target - a0) / (a1 - a0)).clamp(0.0, 1.0)
            } else {
                t1
            }
        })
    })
}

/// Replaces the forecast's remaining life of each event of `model` that has fleet `lives` by
/// the fleet's survival at the members' present age (their weighted median), converted to time
/// along the forecast's median age. An event whose unit is older than every unit of the fleet
/// keeps the physics forecast (its basis says so).
pub fn apply_fleet_survival(
    outlook: &mut Prognosis,
    model: &Model,
    lives: &IndexMap<String, FleetLives>,
    loss: Option<RulLoss>,
) {
    for (e, event) in model.events.iter().enumerate() {
        let (Some(fleet), Some(rul)) = (lives.get(&event.name), outlook.rul.get_mut(&event.name))
        else {
            continue;
        };
        let age = outlook.start_age[e];
        let ages: Vec<f64> = match event.life {
            Some(w) => outlook.wear[w].iter().map(|b| b.p50).collect(),
            None => outlook.times.iter().map(|t| age + t).collect(),
        };
        let trajectory: Vec<(f64, f64)> = std::iter::once((0.0, age))
            .chain(outlook.times.iter().copied().zip(ages))
            .collect();
        let (atoms, tail) = fleet.remaining(age);
        if atoms.is_empty() {
            rul.basis = Some(format!(
                "physics forecast: the unit (age {} in {}) is older than every failed unit of the fleet",
                age_text(fleet, age),
                fleet.measure
            ));
            continue;
        }
        let mut times: Vec<(Option<f64>, f64)> = atoms
            .iter()
            .map(|(grown, p)| (time_to_grow(&trajectory, *grown), *p))
            .collect();
        if tail > 0.0 {
            times.push((None, tail));
        }
        let units = fleet.units.iter().filter(|u| u.age > age).count();
        if units == 0 {
            rul.basis = Some(format!(
                "physics forecast: the unit (age {} in {}) is older than every failed unit of the fleet",
                age_text(fleet, age),
                fleet.measure
            ));
            continue;
        }
        *rul = RulSummary {
            basis: Some(basis(fleet, age, units)),
            ..RulSummary::of(&times, rul.horizon, loss)
        };
    }
}

/// The weighted median of `values` (each with its weight), 0 when empty.
pub(crate) fn weighted_median(values: &[(f64, f64)]) -> f64 {
    let v: Vec<(Option<f64>, f64)> = values.iter().map(|(x, w)| (Some(*x), *w)).collect();
    weighted_quantile(&v, 0.5).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(age: f64, failed: bool) -> UnitLife {
        UnitLife {
            run: String::new(),
            age,
            failed,
        }
    }

    #[test]
    fn remaining_life_is_the_fleets_beyond_the_present_age() {
        let fleet = FleetLives {
            measure: "time".into(),
            unit: "s".into(),
            uncertainty: 0.0,
            units: vec![
                unit(10.0, true),
                unit(20.0, true),
                unit(30.0, false),
                unit(40.0, true),
            ],
        };
        // At age 0: failures at 10, 20 with 1/4 each; the unit censored at 30 passes its
        // quarter to the one failing at 40.
        let (atoms, tail) = fleet.remaining(0.0);
        assert_eq!(atoms, vec![(10.0, 0.25), (20.0, 0.25), (40.0, 0.5)]);
        assert_eq!(tail, 0.0);
        // Having survived to 15: the unit failing at 10 is ruled out.
        let (atoms, _) = fleet.remaining(15.0);
        let third = 1.0 / 3.0;
        assert_eq!(atoms.len(), 2);
        assert!((atoms[0].0 - 5.0).abs() < 1e-12 && (atoms[0].1 - third).abs() < 1e-12);
        assert!((atoms[1].0 - 25.0).abs() < 1e-12 && (atoms[1].1 - 2.0 * third).abs() < 1e-12);
        // Past every unit: nothing to say.
        assert_eq!(fleet.remaining(50.0), (vec![], 0.0));
        // A last unit still running leaves its share beyond every failure.
        let open = FleetLives {
            units: vec![unit(10.0, true), unit(30.0, false)],
            ..fleet
        };
        assert_eq!(open.remaining(0.0), (vec![(10.0, 0.5)], 0.5));
    }

    #[test]
    fn each_record_is_spread_over_its_ages_uncertainty() {
        let fleet = FleetLives {
            measure: "time".into(),
            unit: "s".into(),
            uncertainty: 0.1,
            units: vec![unit(100.0, true)],
        };
        let (atoms, tail) = fleet.remaining(0.0);
        assert_eq!(tail, 0.0);
        let times: Vec<(Option<f64>, f64)> = atoms.iter().map(|(r, p)| (Some(*r), *p)).collect();
        let q = |p| weighted_quantile(&times, p).unwrap();
        // A log-normal about 100 with σ = ln 1.1: median 100, 5th percentile 100/1.1^1.645.
        assert!((q(0.5) - 100.0).abs() < 1.0, "{}", q(0.5));
        assert!(
            (q(0.05) - 100.0 / 1.1f64.powf(1.645)).abs() < 1.5,
            "{}",
            q(0.05)
        );
        // Having survived to 100, half the kernel remains: the remaining age is positive.
        let (atoms, _) = fleet.remaining(100.0);
        assert!(atoms.iter().all(|(r, _)| *r > 0.0));
        assert!((atoms.iter().map(|(_, p)| p).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn remaining_age_becomes_time_along_the_ages_trajectory() {
        // Age grows at 0.5 per s for 10 s, then at 1 per s.
        let trajectory = [(0.0, 1.0), (10.0, 6.0), (20.0, 16.0)];
        assert_eq!(time_to_grow(&trajectory, 2.5), Some(5.0));
        assert_eq!(time_to_grow(&trajectory, 10.0), Some(15.0));
        assert_eq!(time_to_grow(&trajectory, 20.0), None);
    }
}
