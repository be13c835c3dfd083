//! A calibration report read back: the posterior that a forecast (`twin predict --params`) or
//! a further calibration (`--prior`) starts from, checked against the model it is used with.

use indexmap::IndexMap;

use super::{Population, UnitEstimate};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::prognosis::FleetLives;

/// The posterior of a model's declared parameters as a calibration report holds it.
pub struct Distribution {
    /// Per declared parameter: mean.
    pub mean: Vec<f64>,
    /// Per declared parameter: standard deviation.
    pub std: Vec<f64>,
    /// Correlation matrix (empty when the report has none).
    pub correlation: Vec<Vec<f64>>,
    /// Per declared parameter: the predictive distribution of a new unit of a fleet report's
    /// per-unit parameter, as mixture components (mean, std) from its units' estimates (see
    /// `Population::components`); empty for a shared parameter or a report of one unit.
    pub units: Vec<Vec<(f64, f64)>>,
    /// A run-to-failure fleet report's lives by event (`lives`): a new unit's remaining life
    /// is the fleet's survival.
    pub lives: Option<IndexMap<String, FleetLives>>,
}

impl Distribution {
    /// Whether the report is a fleet's (it holds units' estimates).
    pub fn is_fleet(&self) -> bool {
        self.units.iter().any(|u| !u.is_empty())
    }
}

/// Reads `parameters.<path>.{mean, std}` for every declared parameter of `model` (and the
/// correlation, the fleet's units and lives) from a report's JSON `text`; `std` must be > 0
/// when `positive_std`, else ≥ 0. Errors name `label` (the report's file) and the field: a
/// report of another model, parameters the model does not declare, means outside the model's
/// bounds, a matrix that is not a correlation matrix.
pub fn read_distribution(
    text: &str,
    label: &str,
    model: &Model,
    positive_std: bool,
) -> Result<Distribution> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid(label, Some(e.line()), None, format!("not JSON: {e}")))?;
    let bad = |field: String, message: String| Error::invalid(label, None, Some(field), message);
    if let Some(name) = v.get("model").and_then(|m| m.as_str())
        && name != model.name
    {
        return Err(bad(
            "model".into(),
            format!("a report of model `{name}`, not of `{}`", model.name),
        ));
    }
    if let Some(given) = v["parameters"].as_object() {
        let extra: Vec<&String> = given
            .keys()
            .filter(|k| !model.parameters.iter().any(|p| &p.path == *k))
            .collect();
        if !extra.is_empty() {
            return Err(bad(
                "parameters".into(),
                format!(
                    "{} not declared by model `{}` (its parameters: {})",
                    extra
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    model.name,
                    model.parameter_paths()
                ),
            ));
        }
    }
    let (mut mean, mut std) = (Vec::new(), Vec::new());
    for p in &model.parameters {
        let entry = &v["parameters"][&p.path];
        match (entry["mean"].as_f64(), entry["std"].as_f64()) {
            (Some(m), _) if !(p.lower..=p.upper).contains(&m) => {
                return Err(bad(
                    format!("parameters.{}.mean", p.path),
                    format!(
                        "{m} is outside the parameter's bounds [{}, {}] in the model",
                        p.lower, p.upper
                    ),
                ));
            }
            (Some(m), Some(s)) if s.is_finite() && (s > 0.0 || (!positive_std && s == 0.0)) => {
                mean.push(m);
                std.push(s);
            }
            _ => {
                let bound = if positive_std { "> 0" } else { "≥ 0" };
                return Err(Error::invalid(
                    label,
                    None,
                    Some(format!("parameters.{}", p.path)),
                    format!(
                        "expected an object with `mean` and `std` {bound} for this parameter of the model"
                    ),
                ));
            }
        }
    }
    let correlation = read_correlation(&v["correlation"], model.parameters.len())
        .map_err(|m| bad("correlation".into(), m))?;
    let units = model
        .parameters
        .iter()
        .map(|p| {
            let Some(list) = v["population"][&p.path]["units"].as_array() else {
                return Ok(Vec::new());
            };
            let estimates = list
                .iter()
                .map(|u| match (u["mean"].as_f64(), u["std"].as_f64()) {
                    (Some(mean), Some(std)) if std >= 0.0 && mean.is_finite() => Ok(UnitEstimate {
                        run: u["run"].as_str().unwrap_or_default().to_string(),
                        mean,
                        std,
                    }),
                    _ => Err(Error::invalid(
                        label,
                        None,
                        Some(format!("population.{}.units", p.path)),
                        "expected objects with a finite `mean` and a `std` ≥ 0",
                    )),
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(if estimates.is_empty() {
                Vec::new()
            } else {
                Population::of(estimates).components()
            })
        })
        .collect::<Result<_>>()?;
    let lives = match v.get("lives") {
        None => None,
        Some(l) => {
            let lives: IndexMap<String, FleetLives> = serde_json::from_value(l.clone())
                .map_err(|e| {
                    bad(
                        "lives".into(),
                        format!(
                            "expected per event {{measure, unit, units: [{{run, age, failed}}]}}: {e}"
                        ),
                    )
                })?;
            check_lives(&lives, model).map_err(|(field, m)| bad(format!("lives.{field}"), m))?;
            Some(lives)
        }
    };
    Ok(Distribution {
        mean,
        std,
        correlation,
        units,
        lives,
    })
}

/// A report's correlation matrix: absent or empty, or `n` × `n`, symmetric, with a unit
/// diagonal and entries within [−1, 1].
fn read_correlation(
    value: &serde_json::Value,
    n: usize,
) -> std::result::Result<Vec<Vec<f64>>, String> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    let rows: Vec<Vec<f64>> = serde_json::from_value(value.clone())
        .map_err(|e| format!("expected a matrix of numbers: {e}"))?;
    if rows.is_empty() {
        return Ok(rows);
    }
    if rows.len() != n || rows.iter().any(|r| r.len() != n) {
        return Err(format!(
            "expected {n} rows of {n} entries (one per declared parameter), got {} rows of {}",
            rows.len(),
            rows.iter()
                .map(|r| r.len().to_string())
                .collect::<Vec<_>>()
                .join("/")
        ));
    }
    for (a, row) in rows.iter().enumerate() {
        for (b, &r) in row.iter().enumerate() {
            let ok = (-1.0 - 1e-9..=1.0 + 1e-9).contains(&r)
                && (a != b || (r - 1.0).abs() < 1e-6)
                && (r - rows[b][a]).abs() < 1e-6;
            if !ok {
                return Err(format!(
                    "entry [{a}][{b}] = {r}: expected a symmetric matrix with a unit diagonal and entries within [-1, 1]"
                ));
            }
        }
    }
    Ok(rows)
}

/// A fleet's recorded lives: each of an event the model declares, with a relative age
/// uncertainty in [0, 1] and ages that are finite and ≥ 0. The error names the field.
fn check_lives(
    lives: &IndexMap<String, FleetLives>,
    model: &Model,
) -> std::result::Result<(), (String, String)> {
    for (event, fleet) in lives {
        if !model.events.iter().any(|e| &e.name == event) {
            let names: Vec<&str> = model.events.iter().map(|e| e.name.as_str()).collect();
            return Err((
                event.clone(),
                format!(
                    "model `{}` has no event named `{event}` (its events: {})",
                    model.name,
                    names.join(", ")
                ),
            ));
        }
        if !(0.0..=1.0).contains(&fleet.uncertainty) {
            return Err((
                format!("{event}.uncertainty"),
                format!(
                    "expected a relative uncertainty from 0 to 1, got {}",
                    fleet.uncertainty
                ),
            ));
        }
        if let Some((i, u)) = fleet
            .units
            .iter()
            .enumerate()
            .find(|(_, u)| !(u.age.is_finite() && u.age >= 0.0))
        {
            return Err((
                format!("{event}.units[{i}].age"),
                format!("expected an age ≥ 0 ({}), got {}", fleet.unit, u.age),
            ));
        }
    }
    Ok(())
}
