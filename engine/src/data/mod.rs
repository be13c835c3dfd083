//! Sensor and input data files: a table with a `time` column in seconds and one column per
//! model input or sensor, as CSV or NDJSON (`-` reads standard input). An empty cell (CSV) or
//! `null` (NDJSON) means "not measured at this time".
//!
//! Data problems are counted in [`DataQuality`]: non-finite values, duplicate and out-of-order
//! timestamps, and gaps. Values that cannot be used are never passed on; in
//! [`Policy::Strict`] they are errors instead.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::source::interpolate;

mod reader;
pub mod time;

use reader::Builder;
pub use reader::TimeBasis;

/// How a reader treats unusable values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Any non-finite value or out-of-order timestamp is an error naming the file, line and column.
    Strict,
    /// Such values are counted in [`DataQuality`] and left out.
    Lenient,
}

/// Counts of data problems found while reading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DataQuality {
    /// Rows read (after the header).
    pub rows: usize,
    /// Rows kept.
    pub rows_used: usize,
    /// Cells holding NaN or ±inf (left out).
    pub non_finite: usize,
    /// Empty cells (not measured).
    pub empty: usize,
    /// Rows whose time equals the previous row's (their cells merged into it when not yet set;
    /// conflicting values are left out and counted here).
    pub duplicate_times: usize,
    /// Rows whose time is earlier than the previous row's (left out).
    pub out_of_order: usize,
    /// Intervals between rows longer than five times the median interval.
    pub gaps: usize,
    /// Cells that are not numbers (`abc`, `ERR`, `#N/A` from a logger; left out as not
    /// measured), by column.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub unparsable: std::collections::BTreeMap<String, usize>,
    /// Readings outside what their sensor can read (its `range`; left out), by column.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub out_of_range: std::collections::BTreeMap<String, usize>,
    /// The first row's absolute time (ISO 8601, UTC) where the file stamps rows with absolute
    /// times: its times were taken as offsets from it (see [`time`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_origin: Option<String>,
}

impl DataQuality {
    /// Cells that are not numbers, over every column.
    pub fn unparsable_cells(&self) -> usize {
        self.unparsable.values().sum()
    }
}

/// A data table.
#[derive(Debug, Clone, Default)]
pub struct DataTable {
    /// Where it came from.
    pub source: String,
    /// Column names other than `time`, in file order.
    pub columns: Vec<String>,
    /// Row times in s, strictly increasing (offsets from [`DataTable::time_origin`] where the
    /// file gave absolute times).
    pub times: Vec<f64>,
    /// Row values, one `Option` per column (`None`: not measured).
    pub rows: Vec<Vec<Option<f64>>>,
    /// Per row, the line of the file it came from (empty for tables not read from a file).
    pub lines: Vec<usize>,
    /// Unix time in s of time 0 where the file gave absolute times (Unix seconds or ISO 8601).
    pub time_origin: Option<f64>,
    /// What was found wrong.
    pub quality: DataQuality,
}

impl DataTable {
    /// Reads a CSV or NDJSON file (by extension: `.ndjson`/`.jsonl` are NDJSON, anything else
    /// CSV); `-` reads standard input, as NDJSON if its first byte is `{`.
    pub fn read(path: &str, policy: Policy) -> Result<Self> {
        let mut text = String::new();
        if path == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::io("<stdin>", e))?;
            return Self::parse(&text, "<stdin>", text.trim_start().starts_with('{'), policy);
        }
        std::fs::File::open(path)
            .and_then(|f| BufReader::new(f).read_to_string(&mut text))
            .map_err(|e| Error::io(path, e))?;
        let ext = Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("");
        Self::parse(&text, path, matches!(ext, "ndjson" | "jsonl"), policy)
    }

    /// Parses `text` (CSV, or NDJSON if `ndjson`); `label` names it in errors.
    pub fn parse(text: &str, label: &str, ndjson: bool, policy: Policy) -> Result<Self> {
        Self::parse_part(text, label, ndjson, policy, TimeBasis::Own, 0)
    }

    /// Parses a part of a longer stream: its times on `basis`, its line numbers `line_shift`
    /// after those of `text`.
    pub fn parse_part(
        text: &str,
        label: &str,
        ndjson: bool,
        policy: Policy,
        basis: TimeBasis,
        line_shift: usize,
    ) -> Result<Self> {
        let mut builder = Builder::new(label, policy, line_shift);
        if ndjson {
            builder.ndjson(text)?
        } else {
            builder.csv(text)?
        }
        let mut table = builder.finish(basis);
        table.count_gaps();
        Ok(table)
    }

    /// Refuses an interval between rows longer than `max_gap` s, naming the row: the twin
    /// would step through it (from 0 s for the first row) without data for as long. A row
    /// whose time jumps ahead and comes back is already left out as out of order; this is a
    /// jump the rows after it keep.
    pub fn check_max_gap(&self, max_gap: f64) -> Result<()> {
        let Some(r) = first_gap(self.times.iter().copied(), max_gap) else {
            return Ok(());
        };
        let line = |r: usize| self.lines.get(r).copied();
        let previous = r.checked_sub(1).map(|p| (self.times[p], line(p)));
        Err(gap_error(
            &self.source,
            line(r),
            self.times[r],
            previous,
            max_gap,
        ))
    }

    /// Index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The `(time, value)` points of column `c` where it was measured.
    pub fn series(&self, c: usize) -> Vec<(f64, f64)> {
        self.times
            .iter()
            .zip(&self.rows)
            .filter_map(|(t, r)| r[c].map(|v| (*t, v)))
            .collect()
    }

    /// Counts the intervals between rows longer than five times the median interval.
    pub(crate) fn count_gaps(&mut self) {
        let mut dts: Vec<f64> = self.times.windows(2).map(|w| w[1] - w[0]).collect();
        if dts.len() < 2 {
            return;
        }
        let limit = {
            let mut sorted = dts.clone();
            sorted.sort_by(f64::total_cmp);
            5.0 * sorted[sorted.len() / 2]
        };
        dts.retain(|dt| *dt > limit);
        self.quality.gaps = dts.len();
    }

    /// Checks every column against `model`: each must name a model input or sensor.
    pub fn check_columns(&self, model: &Model) -> Result<()> {
        for c in &self.columns {
            if model.input_index(c).is_err() && model.sensor_index(c).is_err() {
                let mut names: Vec<&str> = model.inputs.iter().map(|i| i.name.as_str()).collect();
                names.extend(model.sensors.iter().map(|s| s.name.as_str()));
                return Err(Error::invalid(
                    &self.source,
                    Some(1),
                    Some(c.clone()),
                    format!(
                        "not an input or sensor of model `{}` (expected one of: time, {})",
                        model.name,
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The index of the first of `times` (increasing, s) more than `max_gap` s after the one
/// before it (after 0 s for the first).
pub(crate) fn first_gap(times: impl IntoIterator<Item = f64>, max_gap: f64) -> Option<usize> {
    let mut before = 0.0;
    times.into_iter().position(|t| {
        let gap = t - before > max_gap;
        before = t;
        gap
    })
}

/// The error for a row at `t` s (on `line` of `source`) that comes more than `max_gap` s after
/// the `previous` row (time, line), or after 0 s where it is the first.
pub(crate) fn gap_error(
    source: &str,
    line: Option<usize>,
    t: f64,
    previous: Option<(f64, Option<usize>)>,
    max_gap: f64,
) -> Error {
    let message = match previous {
        None => format!(
            "the first row is at {t} s and the twin starts at 0 s: it would step {t} s without \
             data, more than the longest gap allowed ({max_gap} s). Absolute times are \
             recognised as Unix seconds (from {:e} s) or ISO 8601 timestamps and counted from \
             the first row; for a longer gap raise --max-gap",
            time::ABSOLUTE_FROM
        ),
        Some((before, before_line)) => format!(
            "time jumps {} s after the previous row{}, more than the longest gap the twin \
             steps through without data ({max_gap} s); raise --max-gap if the machine stood \
             still that long",
            t - before,
            before_line.map_or(String::new(), |l| format!(" (line {l})"))
        ),
    };
    Error::invalid(source, line, Some("time".into()), message)
}

/// Model inputs over time from a data table: linear interpolation between the rows where each
/// input was measured, held constant before the first and after the last.
#[derive(Debug, Clone, Default)]
pub struct InputSeries {
    /// Per model input: its points, or `None` when the table does not drive it.
    tracks: Vec<Option<Vec<(f64, f64)>>>,
}

impl InputSeries {
    /// The inputs of `model` found in `table`.
    pub fn from_table(model: &Model, table: &DataTable) -> Self {
        let tracks = model
            .inputs
            .iter()
            .map(|i| {
                table
                    .column(&i.name)
                    .map(|c| {
                        let mut s = table.series(c);
                        s.retain(|p| i.accepts(p.1));
                        s
                    })
                    .filter(|s| !s.is_empty())
            })
            .collect();
        Self { tracks }
    }

    /// An empty series of `model`'s inputs, for rows that arrive one by one
    /// ([`InputSeries::push`]).
    pub fn new(model: &Model) -> Self {
        Self {
            tracks: vec![None; model.inputs.len()],
        }
    }

    /// Appends the input values a row at time `t` s gives (one entry per model input, `None`
    /// where the row does not give it); `t` must be later than every earlier row's.
    pub fn push(&mut self, t: f64, values: &[Option<f64>]) {
        for (track, v) in self.tracks.iter_mut().zip(values) {
            if let Some(v) = v {
                track.get_or_insert_with(Vec::new).push((t, *v));
            }
        }
    }

    /// Forgets the points that evaluating the series at or after time `t` s no longer needs:
    /// all but the last point at or before `t`. Amortised O(1) per point: a track's dead
    /// prefix is dropped once it is half the track.
    pub fn forget_before(&mut self, t: f64) {
        for points in self.tracks.iter_mut().flatten() {
            let dead = points.partition_point(|p| p.0 <= t).saturating_sub(1);
            if dead >= 16 && 2 * dead >= points.len() {
                points.drain(..dead);
            }
        }
    }

    /// Points held, over all inputs.
    pub fn points(&self) -> usize {
        self.tracks.iter().flatten().map(Vec::len).sum()
    }

    /// Writes the input values at time `t` into `values` (inputs not driven keep their value).
    pub fn values_at(&self, t: f64, values: &mut [f64]) {
        for (v, track) in values.iter_mut().zip(&self.tracks) {
            if let Some(points) = track {
                *v = interpolate(points, t);
            }
        }
    }

    /// Whether every input the table drives holds one value over `[t0, t1]` s.
    pub fn constant_over(&self, t0: f64, t1: f64) -> bool {
        self.tracks.iter().flatten().all(|points| {
            let v = interpolate(points, t0);
            let first = points.partition_point(|p| p.0 <= t0);
            let last = points.partition_point(|p| p.0 < t1);
            interpolate(points, t1) == v && points[first..last.max(first)].iter().all(|p| p.1 == v)
        })
    }

    /// Whether the table drives model input `i`.
    pub fn drives(&self, i: usize) -> bool {
        self.tracks.get(i).is_some_and(Option::is_some)
    }

    /// The last time at which any input is given, in s.
    pub fn end_time(&self) -> Option<f64> {
        self.tracks
            .iter()
            .flatten()
            .filter_map(|p| p.last().map(|x| x.0))
            .reduce(f64::max)
    }
}

/// Writes a trace table (CSV or NDJSON by extension) row by row.
pub struct TraceWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    columns: Vec<String>,
    ndjson: bool,
    label: String,
}

impl TraceWriter {
    /// Creates `path` (`-` for standard output) with a `time` column and `columns`.
    pub fn create(path: &str, columns: Vec<String>) -> Result<Self> {
        let (sink, ndjson): (Box<dyn Write + Send>, bool) = if path == "-" {
            (Box::new(std::io::stdout()), false)
        } else {
            let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
            let ext = Path::new(path)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("");
            (Box::new(file), matches!(ext, "ndjson" | "jsonl"))
        };
        let mut w = Self {
            out: BufWriter::new(sink),
            columns,
            ndjson,
            label: path.to_string(),
        };
        if !ndjson {
            let header = std::iter::once("time")
                .chain(w.columns.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(",");
            writeln!(w.out, "{header}").map_err(|e| Error::io(&w.label, e))?;
        }
        Ok(w)
    }

    /// Writes one row; `None` cells are left empty (CSV) or `null` (NDJSON).
    pub fn row(&mut self, time: f64, values: &[Option<f64>]) -> Result<()> {
        let r = if self.ndjson {
            let mut obj = serde_json::Map::new();
            obj.insert("time".into(), time.into());
            for (c, v) in self.columns.iter().zip(values) {
                obj.insert(c.clone(), v.map_or(serde_json::Value::Null, Into::into));
            }
            writeln!(self.out, "{}", serde_json::Value::Object(obj))
        } else {
            let mut line = format!("{time}");
            for v in values {
                line.push(',');
                if let Some(v) = v {
                    line.push_str(&v.to_string());
                }
            }
            writeln!(self.out, "{line}")
        };
        r.map_err(|e| Error::io(&self.label, e))
    }

    /// Flushes the output.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.label, e))
    }
}
