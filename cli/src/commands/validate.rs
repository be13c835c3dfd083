//! `twin validate`: run the validation cases and print a table.

use std::path::Path;
use std::process::ExitCode;

use machine_twin::validation::{self, Check, Status};
use machine_twin::{Error, Result};

use super::{progress_bar, write_json};

/// Runs `twin validate`.
pub fn validate(dir: &Path, report: Option<&Path>) -> Result<ExitCode> {
    if !dir.is_dir() {
        let cwd = std::env::current_dir().map_or_else(|_| "?".into(), |d| d.display().to_string());
        return Err(Error::invalid(
            dir.display().to_string(),
            None,
            None,
            format!(
                "no such folder of validation cases (looked from {cwd}); run from the repository root or name the folder: twin validate PATH/TO/machine-twin/validation"
            ),
        ));
    }
    let cases = validation::discover(dir)?;
    if cases.is_empty() {
        return Err(Error::invalid(
            dir.display().to_string(),
            None,
            None,
            "no validation cases found (folders with case.toml)",
        ));
    }
    let bar = progress_bar(cases.len() as u64);
    let mut results = Vec::new();
    for case in &cases {
        bar.set_message(case.display().to_string());
        results.push(validation::run_case(case));
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "{:<22} {:<58} {:>14} {:>14} {:>10} {:>6}",
        "case", "metric", "value", "expected", "tolerance", "result"
    );
    for r in &results {
        let status = match r.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        if r.metrics.is_empty() {
            println!(
                "{:<22} {:<58} {:>14} {:>14} {:>10} {:>6}",
                r.case,
                r.message.as_deref().unwrap_or(""),
                "-",
                "-",
                "-",
                status
            );
        }
        for m in &r.metrics {
            let tol = match m.check {
                Check::AtMost => "max".to_string(),
                Check::AtLeast => "min".to_string(),
                Check::Report => "info".to_string(),
                Check::Tolerance if m.relative => format!("{:.2}%", m.tolerance * 100.0),
                Check::Tolerance => format!("{}", m.tolerance),
            };
            let mark = if r.status == Status::Skip {
                "skip"
            } else if m.passes() {
                "pass"
            } else {
                "FAIL"
            };
            println!(
                "{:<22} {:<58} {:>14.6} {:>14.6} {:>10} {:>6}",
                r.case, m.name, m.value, m.expected, tol, mark
            );
        }
    }
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let (passed, failed, skipped) = (
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip),
    );
    println!("\nvalidation: {passed} passed, {failed} failed, {skipped} skipped");
    if let Some(path) = report {
        write_json(
            path,
            &serde_json::json!({ "passed": passed, "failed": failed, "skipped": skipped, "cases": results }),
        )?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
