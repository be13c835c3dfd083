//! Reading calibration reports back, and printing remaining-life summaries.

use std::path::Path;

use machine_twin::calibrate::Distribution;
use machine_twin::prognosis::RulSummary;
use machine_twin::{Error, Model, Result};
/// Reads the report at `path` as the posterior of `model`'s declared parameters (see
/// [`machine_twin::calibrate::read_distribution`]).
pub fn read_distribution(path: &Path, model: &Model, positive_std: bool) -> Result<Distribution> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(&label, e))?;
    machine_twin::calibrate::read_distribution(&text, &label, model, positive_std)
}

/// Prints `line` and, on the next, where a remaining-life distribution came from when it is
/// not the members' own forecast.
pub fn print_rul(line: String, r: &RulSummary) {
    eprintln!("{line}");
    if let Some(basis) = &r.basis {
        eprintln!("    from {basis}");
    }
}

/// `RUL EVENT: median … (90 % interval … … )`, times as durations or "beyond the horizon".
pub fn rul_line(event: &str, r: &RulSummary) -> String {
    let secs =
        |x: Option<f64>| x.map_or_else(|| "beyond the horizon".to_string(), crate::human::duration);
    let point = match &r.loss {
        Some(loss) => format!("; for the loss {loss}: {}", secs(r.point)),
        None => String::new(),
    };
    format!(
        "RUL {event}: median {} (90 % interval {} … {}){point}",
        secs(r.p50),
        secs(r.p05),
        secs(r.p95)
    )
}
