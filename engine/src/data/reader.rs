//! The CSV and NDJSON readers behind [`DataTable::parse`]: cells to numbers, rows to a table
//! in time order, what is wrong counted in [`DataQuality`].

use super::time::{ABSOLUTE_FROM, ordered_rows, parse_timestamp};
use super::{DataQuality, DataTable, Policy};
use crate::error::{Error, Result};

/// How the times of a part of a stream relate to the parts before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeBasis {
    /// Decided by this text: absolute times become offsets from its first row.
    Own,
    /// Given: times are offsets from this Unix time (absolute), or used as they are (`None`).
    Fixed(Option<f64>),
}

/// One row as read, before the rows are put in time order.
struct RawRow {
    time: f64,
    line: usize,
    values: Vec<Option<f64>>,
}

pub(super) struct Builder<'a> {
    label: &'a str,
    policy: Policy,
    /// Added to the line numbers of the text (a part of a longer stream).
    line_shift: usize,
    /// Every column, `time` included, in file order.
    columns: Vec<String>,
    quality: DataQuality,
    raw: Vec<RawRow>,
    /// Whether the time column holds ISO 8601 timestamps, and the line that decided it.
    timestamps: Option<(bool, usize)>,
    /// CSV with `;` between cells: `1,5` is one and a half.
    decimal_comma: bool,
}

impl<'a> Builder<'a> {
    pub(super) fn new(label: &'a str, policy: Policy, line_shift: usize) -> Self {
        Self {
            label,
            policy,
            line_shift,
            columns: Vec::new(),
            quality: DataQuality::default(),
            raw: Vec::new(),
            timestamps: None,
            decimal_comma: false,
        }
    }

    fn err(&self, line: usize, field: Option<&str>, message: impl Into<String>) -> Error {
        Error::invalid(
            self.label,
            Some(line + self.line_shift),
            field.map(str::to_string),
            message,
        )
    }

    fn time_column(&self) -> usize {
        self.columns.iter().position(|c| c == "time").unwrap_or(0)
    }

    fn start(&mut self, columns: Vec<String>, line: usize) -> Result<()> {
        if !columns.iter().any(|c| c == "time") {
            return Err(self.err(
                line,
                None,
                "expected a `time` column (seconds, Unix seconds or ISO 8601 timestamps)",
            ));
        }
        for (i, c) in columns.iter().enumerate() {
            if columns[..i].contains(c) {
                return Err(self.err(line, Some(c), "column named twice"));
            }
        }
        self.columns = columns;
        Ok(())
    }

    /// Adds one row of `(column, cell)`; `cell` is `None` for empty. `stamped`: the time cell
    /// was an ISO 8601 timestamp (its value in Unix seconds).
    fn row(&mut self, line: usize, cells: Vec<(usize, Option<f64>)>, stamped: bool) -> Result<()> {
        let time_col = self.time_column();
        let mut time = None;
        let mut values = vec![None; self.columns.len() - 1];
        for (c, v) in cells {
            match v {
                None => self.quality.empty += 1,
                Some(x) if !x.is_finite() => {
                    if self.policy == Policy::Strict {
                        return Err(self.err(
                            line,
                            Some(&self.columns[c]),
                            format!("expected a finite number, got {x}"),
                        ));
                    }
                    self.quality.non_finite += 1;
                }
                Some(x) if c == time_col => time = Some(x),
                Some(x) => values[if c < time_col { c } else { c - 1 }] = Some(x),
            }
        }
        self.quality.rows += 1;
        let Some(t) = time else {
            if self.policy == Policy::Strict {
                return Err(self.err(line, Some("time"), "expected a finite time"));
            }
            return Ok(());
        };
        match self.timestamps {
            None => self.timestamps = Some((stamped, line)),
            Some((kind, first)) if kind != stamped => {
                let (want, got) = if kind {
                    ("an ISO 8601 timestamp", "a number")
                } else {
                    ("a number of seconds", "a timestamp")
                };
                return Err(self.err(
                    line,
                    Some("time"),
                    format!(
                        "expected {want} as on line {}, got {got}",
                        first + self.line_shift
                    ),
                ));
            }
            Some(_) => {}
        }
        if let Some(last) = self.raw.last().map(|r| r.time)
            && t < last
            && self.policy == Policy::Strict
        {
            return Err(self.err(
                line,
                Some("time"),
                format!("time {t} s is earlier than the previous row's {last} s"),
            ));
        }
        self.raw.push(RawRow {
            time: t,
            line,
            values,
        });
        Ok(())
    }

    /// A cell of column `c` on `line` that is not a number: an error under the strict policy,
    /// else counted by column and left out.
    fn unparsable(&mut self, line: usize, c: usize, shown: &str) -> Result<()> {
        if self.policy == Policy::Strict || self.columns[c] == "time" {
            // A row without a time cannot be placed: the time column is always strict.
            let expected = if self.columns[c] == "time" {
                "seconds or an ISO 8601 timestamp"
            } else {
                "a number"
            };
            return Err(self.err(
                line,
                Some(&self.columns[c]),
                format!("expected {expected}, got {shown}"),
            ));
        }
        *self
            .quality
            .unparsable
            .entry(self.columns[c].clone())
            .or_insert(0) += 1;
        Ok(())
    }

    /// A CSV cell's number: `.` as decimal point, or `,` where cells are separated by `;`.
    fn number(&self, cell: &str) -> Option<f64> {
        match cell.parse::<f64>() {
            Ok(v) => Some(v),
            Err(_)
                if self.decimal_comma && cell.matches(',').count() == 1 && !cell.contains('.') =>
            {
                cell.replace(',', ".").parse().ok()
            }
            Err(_) => None,
        }
    }

    pub(super) fn csv(&mut self, text: &str) -> Result<()> {
        let delimiter = separator(text);
        self.decimal_comma = delimiter == b';';
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .delimiter(delimiter)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut started = false;
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(i + 1, |p| p.line() as usize);
                self.err(line, None, format!("malformed CSV: {e}"))
            })?;
            let line = record.position().map_or(i + 1, |p| p.line() as usize);
            if !started {
                if record.iter().all(|c| c.is_empty() || c.starts_with('#')) {
                    continue;
                }
                self.start(record.iter().map(str::to_string).collect(), line)?;
                started = true;
                continue;
            }
            let time_col = self.time_column();
            let mut cells = Vec::with_capacity(record.len());
            let mut stamped = false;
            for (c, cell) in record.iter().enumerate() {
                let value = if cell.is_empty() {
                    None
                } else if let Some(v) = self.number(cell) {
                    Some(v)
                } else if let Some(t) = (c == time_col).then(|| parse_timestamp(cell)).flatten() {
                    stamped = true;
                    Some(t)
                } else {
                    self.unparsable(line, c, &format!("\"{}\"", clip(cell)))?;
                    continue;
                };
                cells.push((c, value));
            }
            self.row(line, cells, stamped)?;
        }
        Ok(())
    }

    pub(super) fn ndjson(&mut self, text: &str) -> Result<()> {
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw)
                .map_err(|e| {
                    self.err(line, None, format!("expected a JSON object per line: {e}"))
                })?;
            if self.columns.is_empty() {
                let mut cols = vec!["time".to_string()];
                cols.extend(obj.keys().filter(|k| *k != "time").cloned());
                self.start(cols, line)?;
            }
            let mut cells = Vec::with_capacity(obj.len());
            let mut stamped = false;
            for (k, v) in &obj {
                let c = match self.columns.iter().position(|c| c == k) {
                    Some(c) => c,
                    None => {
                        self.columns.push(k.clone());
                        self.raw.iter_mut().for_each(|r| r.values.push(None));
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
                    serde_json::Value::String(s) if k == "time" => match parse_timestamp(s) {
                        Some(t) => {
                            stamped = true;
                            Some(t)
                        }
                        None => {
                            self.unparsable(line, c, &clip(&v.to_string()))?;
                            continue;
                        }
                    },
                    other => {
                        self.unparsable(line, c, &clip(&other.to_string()))?;
                        continue;
                    }
                };
                cells.push((c, value));
            }
            self.row(line, cells, stamped)?;
        }
        Ok(())
    }

    /// The table: the rows that agree on the order of time (the others counted as out of
    /// order), rows of one time merged, absolute times made offsets from `basis`'s origin.
    pub(super) fn finish(self, basis: TimeBasis) -> DataTable {
        let mut quality = self.quality;
        let times: Vec<f64> = self.raw.iter().map(|r| r.time).collect();
        let kept = ordered_rows(&times);
        quality.out_of_order = self.raw.len() - kept.len();
        let origin = match basis {
            TimeBasis::Fixed(origin) => origin,
            TimeBasis::Own => kept.first().map(|&i| times[i]).filter(|&t0| {
                self.timestamps.is_some_and(|(stamped, _)| stamped) || t0 >= ABSOLUTE_FROM
            }),
        };
        let mut table = DataTable {
            source: self.label.to_string(),
            columns: self
                .columns
                .iter()
                .filter(|c| *c != "time")
                .cloned()
                .collect(),
            time_origin: origin,
            ..DataTable::default()
        };
        let mut raw: Vec<Option<RawRow>> = self.raw.into_iter().map(Some).collect();
        for i in kept {
            let row = raw[i].take().expect("each row kept once");
            if table.times.last() == Some(&row.time) {
                quality.duplicate_times += 1;
                let prev = table.rows.last_mut().expect("a row exists");
                for (p, v) in prev.iter_mut().zip(row.values) {
                    if p.is_none() {
                        *p = v;
                    }
                }
                continue;
            }
            table.times.push(row.time);
            table.lines.push(row.line + self.line_shift);
            table.rows.push(row.values);
        }
        if let Some(origin) = origin {
            table.times.iter_mut().for_each(|t| *t -= origin);
        }
        quality.rows_used = table.times.len();
        quality.time_origin = origin.map(super::time::format_timestamp);
        table.quality = quality;
        table
    }
}

/// The CSV separator: `;` (European spreadsheets, with decimal commas) or a tab where the
/// first line that is not a comment holds one, else `,`.
fn separator(text: &str) -> u8 {
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .unwrap_or("");
    if header.contains(';') {
        b';'
    } else if header.contains('\t') && !header.contains(',') {
        b'\t'
    } else {
        b','
    }
}

/// `text` cut to 40 characters for a message.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
