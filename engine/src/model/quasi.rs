//! `[solver.quasi_steady]`: multi-rate stepping at steady operating points (ARCHITECTURE.md,
//! "Multi-rate stepping"). Once the inputs have held for `settle` seconds, each thermal interval
//! over which they keep holding integrates only `substeps` mechanical steps; the losses, wear
//! statistics and damage rates of those steps stand for the whole interval.

use serde::Deserialize;

use super::context::Ctx;
use crate::error::Result;

/// `[solver.quasi_steady]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuasiSteadySpec {
    /// Time in s after the last change of an input during which every mechanical step is
    /// taken, for the mechanics to settle (default 1).
    #[serde(default = "one")]
    pub settle: f64,
    /// Mechanical steps integrated per thermal interval once settled (default 5).
    #[serde(default = "five")]
    pub substeps: u64,
}

fn one() -> f64 {
    1.0
}
fn five() -> u64 {
    5
}

/// Compiled `[solver.quasi_steady]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuasiSteady {
    /// Settling time after an input change, s.
    pub settle: f64,
    /// Mechanical steps integrated per settled thermal interval.
    pub substeps: u64,
}

/// Checks `[solver.quasi_steady]`: it needs a thermal model (its unit of time is the thermal
/// interval, of `steps_per_update` mechanical steps) and no time schedules (they change the
/// operating point while the inputs hold).
pub(super) fn compile_quasi_steady(
    cx: &Ctx,
    s: &QuasiSteadySpec,
    steps_per_update: Option<u64>,
    schedule: Option<&str>,
) -> Result<QuasiSteady> {
    let p = |f: &'static str| ["solver", "quasi_steady", f];
    let table = ["solver", "quasi_steady"];
    let Some(per_interval) = steps_per_update else {
        return Err(cx.err(
            &table,
            "expected a [thermal] section: quasi-steady stepping works in whole thermal intervals",
        ));
    };
    if let Some(at) = schedule {
        return Err(cx.err(
            &table,
            format!(
                "expected every time-varying value to come from an input, but `{at}` is a time \
                 schedule, which changes the operating point while the inputs hold"
            ),
        ));
    }
    if s.substeps == 0 || s.substeps >= per_interval {
        return Err(cx.err(
            &p("substeps"),
            format!(
                "expected 1 to {} (fewer than the {per_interval} mechanical steps of a thermal \
                 interval), got {}",
                per_interval - 1,
                s.substeps
            ),
        ));
    }
    Ok(QuasiSteady {
        settle: cx.non_negative(&p("settle"), s.settle)?,
        substeps: s.substeps,
    })
}
