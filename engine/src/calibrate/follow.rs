//! Following a growing data file (or standard input) and estimating as rows arrive.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::report::filter_report;
use super::run::readable;
use super::{
    Assimilation, CalibrateOptions, CalibrationReport, Checkpoint, FnSink, Intake, Method, Run,
    TraceRecord,
};
use crate::data::{DataQuality, DataTable, Policy, TimeBasis, gap_error};
use crate::error::{Error, Result};
use crate::model::Model;

/// Reads a data file as it grows: the header first, then complete lines as they are written.
struct Stream {
    reader: Box<dyn BufRead>,
    label: String,
    ndjson: bool,
    header: Option<String>,
    /// Lines delivered before the current part (the header included).
    lines_before: usize,
    /// How the stream's times are read, once its first part has decided it.
    basis: Option<TimeBasis>,
    partial: String,
    stdin: bool,
    ended: bool,
}

impl Stream {
    fn open(path: &str) -> Result<Self> {
        let (reader, stdin): (Box<dyn BufRead>, bool) = if path == "-" {
            (Box::new(BufReader::new(std::io::stdin())), true)
        } else {
            let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            (Box::new(BufReader::new(f)), false)
        };
        let ext = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("");
        Ok(Self {
            reader,
            label: if stdin { "<stdin>".into() } else { path.into() },
            ndjson: matches!(ext, "ndjson" | "jsonl"),
            header: None,
            lines_before: 0,
            basis: None,
            partial: String::new(),
            stdin,
            ended: false,
        })
    }

    /// The complete lines that have arrived since the last call.
    fn lines(&mut self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        loop {
            let mut buf = String::new();
            let n = self
                .reader
                .read_line(&mut buf)
                .map_err(|e| Error::io(&self.label, e))?;
            if n == 0 {
                if self.stdin {
                    self.ended = true;
                }
                break;
            }
            self.partial.push_str(&buf);
            if self.partial.ends_with('\n') {
                let line = std::mem::take(&mut self.partial);
                if self.stdin
                    && self.header.is_none()
                    && out.is_empty()
                    && line.trim_start().starts_with('{')
                {
                    self.ndjson = true;
                }
                out.push(line);
            }
        }
        if self.ended && !self.partial.is_empty() {
            out.push(std::mem::take(&mut self.partial));
        }
        Ok(out)
    }

    /// Parses new lines into a table (CSV lines under the remembered header).
    fn chunk(&mut self, mut lines: Vec<String>) -> Result<Option<DataTable>> {
        if !self.ndjson && self.header.is_none() {
            if lines.is_empty() {
                return Ok(None);
            }
            self.header = Some(lines.remove(0));
            self.lines_before = 1;
        }
        if lines.iter().all(|l| l.trim().is_empty()) {
            self.lines_before += lines.len();
            return Ok(None);
        }
        // A CSV part is parsed under the header, which is its line 1.
        let (text, shift) = match &self.header {
            Some(h) if !self.ndjson => (format!("{h}{}", lines.concat()), self.lines_before - 1),
            _ => (lines.concat(), self.lines_before),
        };
        self.lines_before += lines.len();
        let basis = self.basis.unwrap_or(TimeBasis::Own);
        let table = DataTable::parse_part(
            &text,
            &self.label,
            self.ndjson,
            Policy::Lenient,
            basis,
            shift,
        )?;
        if self.basis.is_none() && !table.times.is_empty() {
            self.basis = Some(TimeBasis::Fixed(table.time_origin));
        }
        Ok(Some(table))
    }
}

/// Follows `path` (`-`: standard input) with an online estimator, calling `on_record` with the
/// estimate about once per second of data, until standard input ends or a file has not grown
/// for `idle_exit`. Rows are assimilated as they arrive through the one assimilation loop
/// ([`Assimilation`]): the work per row does not grow with the stream. Rows that arrive out of
/// order or repeat a time are counted and left out; gaps (intervals over five times the
/// median) are counted over the whole stream.
///
/// `save` receives a [`Checkpoint`] every `options.checkpoint_every` seconds of data; with
/// `options.resume` the filter continues from one, and the rows it had assimilated (the
/// stream read again from its start: the same growing file, or a replay on stdin) are read
/// but not assimilated again, so the result equals an uninterrupted run's.
pub fn follow(
    model: &Arc<Model>,
    path: &str,
    options: &CalibrateOptions,
    idle_exit: Duration,
    on_record: impl FnMut(&TraceRecord) -> Result<()>,
    save: impl FnMut(&Checkpoint) -> Result<()>,
) -> Result<CalibrationReport> {
    if options.method == Method::Batch {
        return Err(Error::Usage(
            "following a stream needs an online method: enkf, ukf or pf".into(),
        ));
    }
    let label = if path == "-" { "<stdin>" } else { path };
    let sources = [label.to_string()];
    let prior = Checkpoint::prior_in_force(model, options, &sources)?;
    let mut assimilation = Assimilation::new(model, options, &sources, &prior)?;
    assimilation.start_run()?;
    let mut sink = FnSink(on_record, save);
    let mut stream = Stream::open(path)?;
    // Every accepted row, for the report's residuals before and after (read once, at the end).
    let mut all = DataTable {
        source: stream.label.clone(),
        ..DataTable::default()
    };
    let start = Instant::now();
    let mut last_growth = Instant::now();
    let mut layout: Option<Layout> = None;
    loop {
        let lines = stream.lines()?;
        let chunk = if lines.is_empty() {
            None
        } else {
            stream.chunk(lines)?
        };
        match chunk {
            Some(table) => {
                last_growth = Instant::now();
                if layout.is_none() {
                    table.check_columns(model)?;
                    all.columns = table.columns.clone();
                    layout = Some(Layout::of(model, &table));
                } else if table.columns != all.columns {
                    return Err(Error::invalid(
                        &all.source,
                        None,
                        None,
                        "the columns changed in the middle of the stream",
                    ));
                }
                let layout = layout.as_ref().expect("set above");
                add_quality(&mut all.quality, &table.quality);
                all.time_origin = table.time_origin;
                all.quality
                    .time_origin
                    .clone_from(&table.quality.time_origin);
                for (r, (t, row)) in table.times.iter().zip(table.rows).enumerate() {
                    let (inputs, z) = layout.split(model, &row);
                    match assimilation.push(*t, &inputs, Some(&z), &mut sink)? {
                        Intake::Accepted => {
                            all.times.push(*t);
                            all.lines.push(table.lines[r]);
                            all.rows.push(row);
                            all.quality.rows_used += 1;
                        }
                        Intake::Duplicate => all.quality.duplicate_times += 1,
                        Intake::OutOfOrder => all.quality.out_of_order += 1,
                        Intake::TooFarAhead => {
                            let previous =
                                all.times.last().map(|&p| (p, all.lines.last().copied()));
                            let line = table.lines.get(r).copied();
                            return Err(gap_error(
                                &all.source,
                                line,
                                *t,
                                previous,
                                options.max_gap,
                            ));
                        }
                    }
                }
            }
            None if stream.ended => break,
            None if last_growth.elapsed() >= idle_exit => break,
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    assimilation.finish_run(&mut sink)?;
    all.count_gaps();
    let run = Run::from_table(model, &all)?;
    if run.times.is_empty() {
        return Err(Error::invalid(
            &all.source,
            None,
            None,
            "no measurement arrived",
        ));
    }
    let mut report = filter_report(
        model,
        &[run],
        options,
        &prior,
        assimilation.filter(),
        &mut |_| {},
    )?;
    report.set_wall(start.elapsed().as_secs_f64());
    Ok(report)
}

/// Which table columns hold each model input and sensor.
pub struct Layout {
    inputs: Vec<Option<usize>>,
    sensors: Vec<Option<usize>>,
}

impl Layout {
    /// The columns of `table` that hold `model`'s inputs and sensors.
    pub fn of(model: &Model, table: &DataTable) -> Self {
        Self {
            inputs: model.inputs.iter().map(|i| table.column(&i.name)).collect(),
            sensors: model
                .sensors
                .iter()
                .map(|s| table.column(&s.name))
                .collect(),
        }
    }

    /// A table row's model inputs and measurements (those its sensor can read: the others
    /// are counted when the report reads the accepted rows again).
    pub fn split(
        &self,
        model: &Model,
        row: &[Option<f64>],
    ) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
        let pick = |c: &Option<usize>| c.and_then(|c| row[c]);
        let inputs = self
            .inputs
            .iter()
            .zip(&model.inputs)
            .map(|(c, input)| pick(c).filter(|v| input.accepts(*v)))
            .collect();
        let z = self
            .sensors
            .iter()
            .zip(&model.sensors)
            .map(|(c, sensor)| readable(sensor, pick(c)))
            .collect();
        (inputs, z)
    }
}

/// Adds what a chunk's reader counted to the stream's counts (rows kept are counted as the
/// assimilation takes them).
fn add_quality(q: &mut DataQuality, c: &DataQuality) {
    q.rows += c.rows;
    q.non_finite += c.non_finite;
    q.empty += c.empty;
    q.duplicate_times += c.duplicate_times;
    q.out_of_order += c.out_of_order;
    for (column, n) in &c.unparsable {
        *q.unparsable.entry(column.clone()).or_insert(0) += n;
    }
}
