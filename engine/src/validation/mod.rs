//! The validation harness: each case in `validation/<case>/case.toml` runs the engine on a
//! problem with a known answer (an analytical solution, a published reference value, or real
//! data) and compares within a stated tolerance.
//!
//! A case whose data is absent is reported as skipped, never as passed.

mod analytic;
mod calibration;
mod fatigue;
mod mechanics;
mod multirate;
mod prognostics;
mod thermal;
mod wear;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use analytic::{complete_elliptic_k, pendulum_period};

/// A case description (`case.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    /// Which check runs (e.g. `pendulum_period`).
    pub kind: String,
    /// What the case shows.
    pub description: String,
    /// Where the expected value comes from (a citation or the closed form).
    pub source: String,
    /// The model file, relative to the case directory.
    pub model: Option<String>,
    /// Tolerance on each metric: relative unless the metric says absolute.
    pub tolerance: f64,
    /// Kind-specific settings.
    #[serde(default)]
    pub settings: toml::Table,
}

/// One compared quantity.
#[derive(Debug, Clone, Serialize)]
pub struct Metric {
    /// What was measured (with its unit).
    pub name: String,
    /// The engine's value.
    pub value: f64,
    /// The expected value.
    pub expected: f64,
    /// Tolerance.
    pub tolerance: f64,
    /// Whether `tolerance` is relative to `expected` (else absolute).
    pub relative: bool,
    /// How the value is judged: within `tolerance` of `expected`, or `expected` is a ceiling or
    /// a floor, or the value is reported only.
    pub check: Check,
}

/// How a metric is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// |value − expected| within the tolerance (relative or absolute).
    Tolerance,
    /// value ≤ expected.
    AtMost,
    /// value ≥ expected.
    AtLeast,
    /// Reported for the reader, not judged (a case always has judged metrics besides).
    Report,
}

impl Metric {
    /// A metric compared with a relative tolerance.
    pub fn relative(name: impl Into<String>, value: f64, expected: f64, tolerance: f64) -> Self {
        Self {
            name: name.into(),
            value,
            expected,
            tolerance,
            relative: true,
            check: Check::Tolerance,
        }
    }

    /// A metric compared with an absolute tolerance.
    pub fn absolute(name: impl Into<String>, value: f64, expected: f64, tolerance: f64) -> Self {
        Self {
            name: name.into(),
            value,
            expected,
            tolerance,
            relative: false,
            check: Check::Tolerance,
        }
    }

    /// A metric whose value must not exceed `ceiling`.
    pub fn at_most(name: impl Into<String>, value: f64, ceiling: f64) -> Self {
        Self {
            check: Check::AtMost,
            ..Self::absolute(name, value, ceiling, 0.0)
        }
    }

    /// A metric whose value must reach `floor`.
    pub fn at_least(name: impl Into<String>, value: f64, floor: f64) -> Self {
        Self {
            check: Check::AtLeast,
            ..Self::absolute(name, value, floor, 0.0)
        }
    }

    /// A value reported for the reader, not judged (`expected` holds a reference, if any).
    pub fn report(name: impl Into<String>, value: f64, reference: f64) -> Self {
        Self {
            check: Check::Report,
            ..Self::absolute(name, value, reference, 0.0)
        }
    }

    /// The error: relative or absolute as declared.
    pub fn error(&self) -> f64 {
        let e = (self.value - self.expected).abs();
        if self.relative {
            e / self.expected.abs().max(f64::MIN_POSITIVE)
        } else {
            e
        }
    }

    /// Whether the value passes its check (NaN never does).
    pub fn passes(&self) -> bool {
        match self.check {
            Check::Tolerance => self.error() <= self.tolerance,
            Check::AtMost => self.value <= self.expected,
            Check::AtLeast => self.value >= self.expected,
            Check::Report => !self.value.is_nan(),
        }
    }
}

/// Outcome of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every metric within tolerance.
    Pass,
    /// A metric out of tolerance, or the case could not run for a reason other than absent data.
    Fail,
    /// The case's data is absent.
    Skip,
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Case name (its directory).
    pub case: String,
    /// Kind of check.
    pub kind: String,
    /// Where the expected values come from.
    pub source: String,
    /// Outcome.
    pub status: Status,
    /// Why it failed or was skipped, if it did not run to the end.
    pub message: Option<String>,
    /// The compared quantities.
    pub metrics: Vec<Metric>,
    /// Wall time in s.
    pub wall_seconds: f64,
}

/// What a case run produced: metrics, or a reason to skip.
pub enum Outcome {
    /// The compared quantities.
    Metrics(Vec<Metric>),
    /// Why the case could not run (data absent).
    Skipped(String),
}

/// The context a case runs in.
pub struct CaseContext<'a> {
    /// The case directory.
    pub dir: &'a Path,
    /// The case description.
    pub spec: &'a CaseSpec,
}

impl CaseContext<'_> {
    /// The case's model file path.
    pub fn model_path(&self) -> Result<PathBuf> {
        let m = self.spec.model.as_deref().ok_or_else(|| {
            Error::invalid(
                self.dir.join("case.toml").display().to_string(),
                None,
                Some("model".into()),
                "this kind of case needs `model = \"...\"`",
            )
        })?;
        Ok(self.dir.join(m))
    }

    /// A number from `[settings]`, or `default`.
    pub fn setting(&self, key: &str, default: f64) -> Result<f64> {
        match self.spec.settings.get(key) {
            None => Ok(default),
            Some(toml::Value::Float(f)) => Ok(*f),
            Some(toml::Value::Integer(i)) => Ok(*i as f64),
            Some(other) => Err(Error::invalid(
                self.dir.join("case.toml").display().to_string(),
                None,
                Some(format!("settings.{key}")),
                format!("expected a number, got {other}"),
            )),
        }
    }
}

type CaseFn = fn(&CaseContext) -> Result<Outcome>;

/// The kinds of case the harness knows.
pub fn kinds() -> Vec<(&'static str, CaseFn)> {
    vec![
        ("pendulum_period", mechanics::pendulum_period_case as CaseFn),
        ("rundown", mechanics::rundown_case),
        ("static_reactions", mechanics::static_reactions_case),
        ("determinism", mechanics::determinism_case),
        ("lumped_cooling", thermal::lumped_cooling_case),
        ("semi_infinite", thermal::semi_infinite_case),
        ("plane_wall", thermal::plane_wall_case),
        ("nafems_t4", thermal::nafems_t4_case),
        ("steady_block", thermal::steady_block_case),
        ("energy_balance", thermal::energy_balance_case),
        ("synthetic_recovery", calibration::synthetic_recovery_case),
        ("interval_coverage", calibration::interval_coverage_case),
        ("rainflow_astm", fatigue::rainflow_astm_case),
        ("rainflow_oracle", fatigue::rainflow_oracle_case),
        ("miner_blocks", fatigue::miner_blocks_case),
        ("milling_leave_one_out", wear::milling_leave_one_out_case),
        ("bearing_life", wear::bearing_life_case),
        ("slow_vs_stepping", wear::slow_vs_stepping_case),
        ("archard_hand", wear::archard_hand_case),
        ("pronostia_leave_one_out", prognostics::pronostia_case),
        ("quasi_vs_stepping", multirate::quasi_vs_stepping_case),
    ]
}

/// Finds the case directories under `root` (a directory holding `case.toml` is a case itself).
pub fn discover(root: &Path) -> Result<Vec<PathBuf>> {
    if root.join("case.toml").is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let label = root.display().to_string();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(|e| Error::io(&label, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Runs the case in `dir`.
pub fn run_case(dir: &Path) -> CaseResult {
    let start = std::time::Instant::now();
    let case = dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let file = dir.join("case.toml");
    let label = file.display().to_string();
    let spec: Result<CaseSpec> = std::fs::read_to_string(&file)
        .map_err(|e| Error::io(&label, e))
        .and_then(|src| {
            toml::from_str(&src).map_err(|e| {
                let line = e
                    .span()
                    .map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
                Error::invalid(&label, line, None, e.message().trim().to_string())
            })
        });
    let mut result = CaseResult {
        case,
        kind: String::new(),
        source: String::new(),
        status: Status::Fail,
        message: None,
        metrics: Vec::new(),
        wall_seconds: 0.0,
    };
    let outcome = spec.and_then(|spec| {
        result.kind = spec.kind.clone();
        result.source = spec.source.clone();
        let run = kinds()
            .into_iter()
            .find(|(k, _)| *k == spec.kind)
            .map(|(_, f)| f)
            .ok_or_else(|| {
                let known: Vec<&str> = kinds().iter().map(|(k, _)| *k).collect();
                Error::invalid(
                    &label,
                    None,
                    Some("kind".into()),
                    format!("unknown kind `{}` (known: {})", spec.kind, known.join(", ")),
                )
            })?;
        run(&CaseContext { dir, spec: &spec })
    });
    match outcome {
        Ok(Outcome::Metrics(m)) => {
            let judged = m.iter().any(|x| x.check != Check::Report);
            result.status = if judged && m.iter().all(Metric::passes) {
                Status::Pass
            } else {
                Status::Fail
            };
            result.metrics = m;
        }
        Ok(Outcome::Skipped(why)) => {
            result.status = Status::Skip;
            result.message = Some(why);
        }
        Err(e) => result.message = Some(e.to_string()),
    }
    result.wall_seconds = start.elapsed().as_secs_f64();
    result
}

/// The folders where a case looks for the shared validation datasets, in order:
/// `$TWIN_DATA_DIR` if set, else `shared/validation-data` beside the case's folder and each
/// of its parents (the repository's `../shared/validation-data` wherever `twin validate` is
/// run from), then beside the current directory.
pub fn data_dirs(case_dir: &Path) -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("TWIN_DATA_DIR") {
        return vec![PathBuf::from(dir)];
    }
    let absolute = std::path::absolute(case_dir).unwrap_or_else(|_| case_dir.to_path_buf());
    let mut dirs: Vec<PathBuf> = absolute
        .ancestors()
        .map(|a| a.join("shared").join("validation-data"))
        .collect();
    dirs.push(PathBuf::from("../shared/validation-data"));
    dirs
}

impl CaseContext<'_> {
    /// The shared dataset file at `relative` in the first of [`data_dirs`] that holds it, or
    /// the skip outcome that says where the case looked.
    pub fn shared_data(&self, relative: &str) -> std::result::Result<PathBuf, Outcome> {
        let dirs = data_dirs(self.dir);
        if let Some(path) = dirs.iter().map(|d| d.join(relative)).find(|p| p.is_file()) {
            return Ok(path);
        }
        let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        Err(Outcome::Skipped(format!(
            "the shared validation data file {relative} is absent (looked in {}; set TWIN_DATA_DIR to the folder that holds it)",
            looked.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: a real-data case run from another folder skipped although the data were
    /// there; the case's own folder and its parents are searched.
    #[test]
    fn shared_data_is_found_from_the_case_folder() {
        let root = std::env::temp_dir().join(format!("twin-data-dirs-{}", std::process::id()));
        let case = root.join("repo/validation/some_case");
        let data = root.join("shared/validation-data/set");
        std::fs::create_dir_all(&case).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("file.csv"), "x\n1\n").unwrap();
        let spec: CaseSpec =
            toml::from_str("kind = \"k\"\ndescription = \"d\"\nsource = \"s\"\ntolerance = 0.0\n")
                .unwrap();
        let ctx = CaseContext {
            dir: &case,
            spec: &spec,
        };
        if std::env::var_os("TWIN_DATA_DIR").is_none() {
            let found = ctx.shared_data("set/file.csv").ok().unwrap();
            assert_eq!(found, data.join("file.csv"));
        }
        let Err(Outcome::Skipped(why)) = ctx.shared_data("set/absent.csv") else {
            panic!("an absent file is a skip")
        };
        assert!(
            why.contains("set/absent.csv") && why.contains("looked in"),
            "{why}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
