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
}

impl DataQuality {
    /// Cells that are not numbers, over every column.
    pub fn unparsable_cells(&self) -> usize {
        self.unparsable.values().sum()
    }
}

/// A data table.
#[derive(Debug, Clone)]
pub struct DataTable {
    /// Where it came from.
    pub source: String,
    /// Column names other than `time`, in file order.
    pub columns: Vec<String>,
    /// Row times in s, strictly increasing.
    pub times: Vec<f64>,
    /// Row values, one `Option` per column (`None`: not measured).
    pub rows: Vec<Vec<Option<f64>>>,
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
        let mut builder = Builder {
            label,
            policy,
            columns: Vec::new(),
            table: None,
        };
        if ndjson {
            builder.ndjson(text)?
        } else {
            builder.csv(text)?
        }
        let mut table = builder.table.unwrap_or_else(|| DataTable {
            source: label.to_string(),
            columns: Vec::new(),
            times: Vec::new(),
            rows: Vec::new(),
            quality: DataQuality::default(),
        });
        table.count_gaps();
        Ok(table)
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
            if model.input_index(c).is_none() && model.sensor_index(c).is_none() {
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

struct Builder<'a> {
    label: &'a str,
    policy: Policy,
    columns: Vec<String>,
    table: Option<DataTable>,
}

impl Builder<'_> {
    fn err(&self, line: usize, field: Option<&str>, message: impl Into<String>) -> Error {
        Error::invalid(self.label, Some(line), field.map(str::to_string), message)
    }

    fn start(&mut self, columns: Vec<String>, line: usize) -> Result<()> {
        if !columns.iter().any(|c| c == "time") {
            return Err(self.err(line, None, "expected a `time` column (seconds)"));
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(self.err(line, Some(c), "column named twice"));
            }
        }
        self.table = Some(DataTable {
            source: self.label.to_string(),
            columns: columns.iter().filter(|c| *c != "time").cloned().collect(),
            times: Vec::new(),
            rows: Vec::new(),
            quality: DataQuality::default(),
        });
        self.columns = columns;
        Ok(())
    }

    /// Adds one row of `(column, cell)`; `cell` is `None` for empty.
    fn row(&mut self, line: usize, cells: Vec<(usize, Option<f64>)>) -> Result<()> {
        let time_col = self.columns.iter().position(|c| c == "time").unwrap_or(0);
        let ncols = self.columns.len();
        let policy = self.policy;
        let mut time = None;
        let mut values = vec![None; ncols - 1];
        let mut non_finite = 0;
        let mut empty = 0;
        for (c, v) in cells {
            match v {
                None => empty += 1,
                Some(x) if !x.is_finite() => {
                    if policy == Policy::Strict {
                        return Err(self.err(
                            line,
                            Some(&self.columns[c]),
                            format!("expected a finite number, got {x}"),
                        ));
                    }
                    non_finite += 1;
                }
                Some(x) if c == time_col => time = Some(x),
                Some(x) => values[if c < time_col { c } else { c - 1 }] = Some(x),
            }
        }
        let table = self.table.as_mut().expect("header read first");
        let q = &mut table.quality;
        q.rows += 1;
        q.non_finite += non_finite;
        q.empty += empty;
        let Some(t) = time else {
            if policy == Policy::Strict {
                return Err(Error::invalid(
                    self.label,
                    Some(line),
                    Some("time".into()),
                    "expected a finite time in seconds",
                ));
            }
            return Ok(());
        };
        match table.times.last().copied() {
            Some(last) if t < last => {
                if policy == Policy::Strict {
                    return Err(Error::invalid(
                        self.label,
                        Some(line),
                        Some("time".into()),
                        format!("time {t} s is earlier than the previous row's {last} s"),
                    ));
                }
                q.out_of_order += 1;
            }
            Some(last) if t == last => {
                q.duplicate_times += 1;
                let prev = table.rows.last_mut().expect("a row exists");
                for (p, v) in prev.iter_mut().zip(values) {
                    if p.is_none() {
                        *p = v;
                    }
                }
            }
            _ => {
                table.times.push(t);
                table.rows.push(values);
                q.rows_used += 1;
            }
        }
        Ok(())
    }

    /// A cell of column `c` on `line` that is not a number: an error under the strict policy,
    /// else counted by column and left out.
    fn unparsable(&mut self, line: usize, c: usize, shown: &str) -> Result<()> {
        if self.policy == Policy::Strict || self.columns[c] == "time" {
            // A row without a time cannot be placed: the time column is always strict.
            return Err(self.err(
                line,
                Some(&self.columns[c]),
                format!("expected a number, got {shown}"),
            ));
        }
        let column = self.columns[c].clone();
        let t = self.table.as_mut().expect("started");
        *t.quality.unparsable.entry(column).or_insert(0) += 1;
        Ok(())
    }

    fn csv(&mut self, text: &str) -> Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(i + 1, |p| p.line() as usize);
                self.err(line, None, format!("malformed CSV: {e}"))
            })?;
            let line = record.position().map_or(i + 1, |p| p.line() as usize);
            if self.table.is_none() {
                if record.iter().all(|c| c.is_empty() || c.starts_with('#')) {
                    continue;
                }
                self.start(record.iter().map(str::to_string).collect(), line)?;
                continue;
            }
            let mut cells = Vec::with_capacity(record.len());
            for (c, cell) in record.iter().enumerate() {
                let value = if cell.is_empty() {
                    None
                } else {
                    match cell.parse::<f64>() {
                        Ok(v) => Some(v),
                        Err(_) => {
                            self.unparsable(line, c, &format!("\"{}\"", clip(cell)))?;
                            continue;
                        }
                    }
                };
                cells.push((c, value));
            }
            self.row(line, cells)?;
        }
        Ok(())
    }

    fn ndjson(&mut self, text: &str) -> Result<()> {
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw)
                .map_err(|e| {
                    self.err(line, None, format!("expected a JSON object per line: {e}"))
                })?;
            if self.table.is_none() {
                let mut cols = vec!["time".to_string()];
                cols.extend(obj.keys().filter(|k| *k != "time").cloned());
                self.start(cols, line)?;
            }
            let mut cells = Vec::with_capacity(obj.len());
            for (k, v) in &obj {
                let c = match self.columns.iter().position(|c| c == k) {
                    Some(c) => c,
                    None => {
                        self.columns.push(k.clone());
                        let t = self.table.as_mut().expect("started");
                        t.columns.push(k.clone());
                        t.rows.iter_mut().for_each(|r| r.push(None));
                        self.columns.len() - 1
                    }
                };
                let value = match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::Number(n) => n.as_f64(),
                    // JSON has no NaN: accept the usual spellings so they can be counted.
                    serde_json::Value::String(s)
                        if matches!(
                            s.to_ascii_lowercase().as_str(),
                            "nan" | "inf" | "-inf" | "infinity" | "-infinity"
                        ) =>
                    {
                        s.parse::<f64>().ok()
                    }
                    other => {
                        self.unparsable(line, c, &clip(&other.to_string()))?;
                        continue;
                    }
                };
                cells.push((c, value));
            }
            self.row(line, cells)?;
        }
        Ok(())
    }
}

/// `text` cut to 40 characters for a message.
fn clip(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
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
                    .map(|c| table.series(c))
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
