//! The compilation context: errors at field paths of one source file (with the line, found
//! from the path), checks of numbers and vectors, and value sources.

use nalgebra::Vector3;

use super::Input;
use super::locate;
use super::ranges::Range;
use super::spec::SourceSpec;
use crate::error::{Error, Result};
use crate::source::Source;

/// Reports errors at field paths of one source file.
pub(super) struct Ctx<'a> {
    src: &'a str,
    label: &'a str,
    /// The path of the first time schedule compiled, if any.
    pub(super) schedule: std::cell::RefCell<Option<String>>,
}

impl<'a> Ctx<'a> {
    /// A context for the source `src` named `label` in errors.
    pub(super) fn new(src: &'a str, label: &'a str) -> Self {
        Self {
            src,
            label,
            schedule: Default::default(),
        }
    }
}

impl Ctx<'_> {
    pub(super) fn err(&self, path: &[&str], message: impl Into<String>) -> Error {
        Error::invalid(
            self.label,
            locate::line_of(self.src, path),
            Some(path.join(".")),
            message,
        )
    }

    pub(super) fn finite(&self, path: &[&str], v: f64) -> Result<f64> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.err(path, format!("expected a finite number, got {}", show(v))))
        }
    }

    pub(super) fn positive(&self, path: &[&str], v: f64) -> Result<f64> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(path, format!("expected a number > 0, got {}", show(v))))
        }
    }

    pub(super) fn non_negative(&self, path: &[&str], v: f64) -> Result<f64> {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(self.err(path, format!("expected a number ≥ 0, got {}", show(v))))
        }
    }

    pub(super) fn vector(&self, path: &[&str], v: [f64; 3]) -> Result<Vector3<f64>> {
        for x in v {
            self.finite(path, x)?;
        }
        Ok(Vector3::from(v))
    }

    /// A vector whose components lie within ±`limit` (in `unit`): what the rigid-body solver's
    /// single precision can step (a machine's positions, speeds and masses).
    pub(super) fn vector_within(
        &self,
        path: &[&str],
        v: [f64; 3],
        limit: f64,
        unit: &str,
    ) -> Result<Vector3<f64>> {
        for x in v {
            self.within(path, x, limit, unit)?;
        }
        Ok(Vector3::from(v))
    }

    /// A finite number within ±`limit` (in `unit`).
    pub(super) fn within(&self, path: &[&str], v: f64, limit: f64, unit: &str) -> Result<f64> {
        if v.is_finite() && v.abs() <= limit {
            Ok(v)
        } else {
            Err(self.err(
                path,
                format!("expected a number within ±{limit:e} {unit} (the range a machine's rigid-body solver steps), got {}", show(v)),
            ))
        }
    }

    /// A finite number in `[lowest, highest]` (in `unit`), the range a machine's part has.
    pub(super) fn between(
        &self,
        path: &[&str],
        v: f64,
        [lowest, highest]: [f64; 2],
        unit: &str,
    ) -> Result<f64> {
        if v.is_finite() && (lowest..=highest).contains(&v) {
            Ok(v)
        } else {
            Err(self.err(
                path,
                format!(
                    "expected a number from {} to {}{}, got {}",
                    show(lowest),
                    show(highest),
                    if unit.is_empty() {
                        String::new()
                    } else {
                        format!(" {unit}")
                    },
                    show(v)
                ),
            ))
        }
    }

    /// A finite number in the physical range `r` of its kind of value.
    pub(super) fn ranged(&self, path: &[&str], v: f64, r: Range) -> Result<f64> {
        self.between(path, v, [r.lo, r.hi], r.unit)
    }

    pub(super) fn unit(&self, path: &[&str], v: [f64; 3]) -> Result<Vector3<f64>> {
        let v = self.vector(path, v)?;
        let n = v.norm();
        if n < 1e-12 {
            return Err(self.err(path, "expected a non-zero direction vector"));
        }
        Ok(v / n)
    }
}

/// A value source (`value`, `input` or `schedule`, each times an optional `scale`) at `path`.
pub(super) fn compile_source(
    cx: &Ctx,
    path: &[&str],
    s: &SourceSpec,
    inputs: &[Input],
) -> Result<Source> {
    let t = match s {
        SourceSpec::Constant(v) => return Ok(Source::Constant(cx.finite(path, *v)?)),
        SourceSpec::Table(t) => t,
    };
    let scale = cx.finite(path, t.scale.unwrap_or(1.0))?;
    match (&t.value, &t.input, &t.schedule) {
        (Some(v), None, None) => Ok(Source::Constant(cx.finite(path, *v)? * scale)),
        (None, Some(name), None) => {
            let index = inputs.iter().position(|i| &i.name == name).ok_or_else(|| {
                let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
                cx.err(
                    path,
                    format!(
                        "no model input named `{name}` (inputs: {})",
                        names.join(", ")
                    ),
                )
            })?;
            Ok(Source::Input { index, scale })
        }
        (None, None, Some(points)) => {
            if points.is_empty() {
                return Err(cx.err(
                    path,
                    "expected at least one [time, value] point in the schedule",
                ));
            }
            for w in points.windows(2) {
                if w[1][0] <= w[0][0] || w[1][0].is_nan() {
                    return Err(
                        cx.err(path, "expected schedule times in strictly increasing order")
                    );
                }
            }
            for pt in points {
                cx.finite(path, pt[0])?;
                cx.finite(path, pt[1])?;
            }
            cx.schedule
                .borrow_mut()
                .get_or_insert_with(|| path.join("."));
            Ok(Source::Schedule {
                points: points.iter().map(|p| (p[0], p[1])).collect(),
                scale,
            })
        }
        _ => Err(cx.err(
            path,
            "expected exactly one of `value`, `input` or `schedule`",
        )),
    }
}

/// A value source as [`compile_source`] compiles it, whose constant or scheduled values lie in
/// the range `r` (values read from an input are not checked here).
pub(super) fn compile_source_in(
    cx: &Ctx,
    path: &[&str],
    s: &SourceSpec,
    inputs: &[Input],
    r: Range,
) -> Result<Source> {
    let source = compile_source(cx, path, s, inputs)?;
    match &source {
        Source::Constant(v) => {
            cx.ranged(path, *v, r)?;
        }
        Source::Schedule { points, scale } => {
            for (_, v) in points {
                cx.ranged(path, v * scale, r)?;
            }
        }
        Source::Input { .. } => {}
    }
    Ok(source)
}

/// `v` as a message shows it: plainly where that is short (`0.016`, `300`), else in scientific
/// notation (`1e308`, `1e-300`), never as hundreds of digits.
pub(crate) fn show(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e6).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}
