//! Following a growing data file (or standard input) and estimating as rows arrive.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    CalibrateOptions, CalibrationReport, Checkpoint, Method, Run, TraceRecord, before_after,
    filter_posterior, finish, open_filter,
};
use crate::data::{DataQuality, DataTable, Policy};
use crate::error::{Error, Result};
use crate::model::Model;

/// Reads a data file as it grows: the header first, then complete lines as they are written.
struct Stream {
    reader: Box<dyn BufRead>,
    label: String,
    ndjson: bool,
    header: Option<String>,
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
        }
        if lines.iter().all(|l| l.trim().is_empty()) {
            return Ok(None);
        }
        let text = match &self.header {
            Some(h) if !self.ndjson => format!("{h}{}", lines.concat()),
            _ => lines.concat(),
        };
        DataTable::parse(&text, &self.label, self.ndjson, Policy::Lenient).map(Some)
    }
}

/// Follows `path` (`-`: standard input) with an online estimator, calling `on_record` with the
/// estimate about once per second of data, until standard input ends or a file has not grown
/// for `idle_exit`. Rows that arrive out of order or repeat a time are counted and left out;
/// gaps (intervals over five times the median) are counted over the whole stream.
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
    mut on_record: impl FnMut(&TraceRecord) -> Result<()>,
    mut save: impl FnMut(&Checkpoint) -> Result<()>,
) -> Result<CalibrationReport> {
    if options.method == Method::Batch {
        return Err(Error::State(
            "following a stream needs an online method: enkf, ukf or pf".into(),
        ));
    }
    let label = if path == "-" { "<stdin>" } else { path };
    let sources = [label.to_string()];
    let prior = Checkpoint::prior_in_force(model, options, &sources)?;
    let (mut filter, (_, resumed_rows)) = open_filter(model, options, &prior)?;
    let mut stream = Stream::open(path)?;
    let mut all = DataTable {
        source: stream.label.clone(),
        columns: Vec::new(),
        times: Vec::new(),
        rows: Vec::new(),
        quality: DataQuality::default(),
    };
    let paths: Vec<String> = model.parameters.iter().map(|p| p.path.clone()).collect();
    let start = Instant::now();
    let mut last_growth = Instant::now();
    let mut next_record = 0.0;
    let mut next_save = f64::NEG_INFINITY;
    let every = options.checkpoint_every.max(1e-9);
    // Rows a resumed filter has already assimilated (the stream is read again from its start).
    let mut processed = resumed_rows;
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
                if all.columns.is_empty() {
                    table.check_columns(model)?;
                    all.columns = table.columns.clone();
                } else if table.columns != all.columns {
                    return Err(Error::invalid(
                        &all.source,
                        None,
                        None,
                        "the columns changed in the middle of the stream",
                    ));
                }
                merge(&mut all, table);
                let run = Run::from_table(model, &all)?;
                for i in processed..run.times.len() {
                    filter.estimate(run.times[i], &run.inputs, &run.z[i])?;
                    if run.times[i] >= next_record {
                        let (s, _) = filter_posterior(filter.as_ref(), &prior);
                        on_record(&TraceRecord {
                            run: 0,
                            time: run.times[i],
                            mean: paths
                                .iter()
                                .cloned()
                                .zip(s.iter().map(|p| p.mean))
                                .collect(),
                            std: paths.iter().cloned().zip(s.iter().map(|p| p.std)).collect(),
                            cost: None,
                        })?;
                        next_record = run.times[i] + 1.0;
                    }
                    if next_save == f64::NEG_INFINITY {
                        next_save = run.times[i] + every;
                    } else if run.times[i] >= next_save {
                        save(&Checkpoint::new(
                            model,
                            options,
                            &sources,
                            &prior,
                            (0, i + 1),
                            Some(filter.checkpoint()),
                            None,
                        ))?;
                        next_save = run.times[i] + every;
                    }
                }
                processed = processed.max(run.times.len());
            }
            None if stream.ended => break,
            None if last_growth.elapsed() >= idle_exit => break,
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    if processed == 0 {
        return Err(Error::invalid(
            &all.source,
            None,
            None,
            "no measurement arrived",
        ));
    }
    all.count_gaps();
    let run = Run::from_table(model, &all)?;
    let (summaries, correlation) = filter_posterior(filter.as_ref(), &prior);
    let members = filter.samples().0.len();
    let runs = [run];
    let sums = before_after(model, &runs, &prior, &summaries)?;
    let mut report = finish(
        model,
        &runs,
        options.method,
        summaries,
        correlation,
        (None, None),
        members,
        sums,
    )?;
    report.set_wall(start.elapsed().as_secs_f64());
    Ok(report)
}

/// Appends `chunk`'s rows to `all`, leaving out (and counting) rows not later than the last.
fn merge(all: &mut DataTable, chunk: DataTable) {
    let q = &mut all.quality;
    let c = &chunk.quality;
    q.rows += c.rows;
    q.non_finite += c.non_finite;
    q.empty += c.empty;
    q.duplicate_times += c.duplicate_times;
    q.out_of_order += c.out_of_order;
    for (t, row) in chunk.times.into_iter().zip(chunk.rows) {
        match all.times.last() {
            Some(last) if t == *last => q.duplicate_times += 1,
            Some(last) if t < *last => q.out_of_order += 1,
            _ => {
                all.times.push(t);
                all.rows.push(row);
                q.rows_used += 1;
            }
        }
    }
}
