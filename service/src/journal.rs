//! A machine's journal: every accepted row, synced to disk before the broker gets its
//! acknowledgement, in segments that a checkpoint lets go of.
//!
//! Each line is `<crc32 of the JSON, 8 hex digits> <JSON>`: `{"s": sequence, "m": whether it
//! carries a measurement, "t": data time in s from the machine's first row, "v": one value
//! per model input then per sensor, null where not given}`. A torn last line (a crash in the
//! middle of a write, before the row was acknowledged) is cut off on open; a bad line
//! anywhere else is refused, naming the file and line. Segment files are named
//! `journal-<first sequence>-<measurement rows before it>.log`; a new one starts at every
//! checkpoint, and the segments wholly before the one a resume reads from are deleted.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One journaled row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Sequence number, from 0 for the machine's first row.
    #[serde(rename = "s")]
    pub seq: u64,
    /// Whether the row carries a measurement the twin can read.
    #[serde(rename = "m")]
    pub measurement: bool,
    /// Data time, s from the machine's first row.
    #[serde(rename = "t")]
    pub time: f64,
    /// Model inputs, then sensors.
    #[serde(rename = "v")]
    pub values: Vec<Option<f64>>,
}

struct Segment {
    path: PathBuf,
    first_seq: u64,
    /// Measurement rows journaled before the segment.
    mrows_before: u64,
}

/// An open journal (see the module doc).
pub struct Journal {
    dir: PathBuf,
    segments: Vec<Segment>,
    file: Option<File>,
    next_seq: u64,
    next_mrow: u64,
    /// Rows appended since the last sync.
    unsynced: bool,
}

fn state_err(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::State(format!("{}: {message}", path.display()))
}

/// Syncs a folder, so that a file created or renamed in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| state_err(dir, e))
}

/// Writes `text` to `path` atomically: a synced temporary file renamed over it.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| state_err(&tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| state_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| state_err(path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn encode(row: &Row) -> Result<String> {
    let json = serde_json::to_string(row)
        .map_err(|e| Error::State(format!("a row cannot be journaled: {e}")))?;
    Ok(format!("{:08x} {json}\n", crc32fast::hash(json.as_bytes())))
}

fn decode(line: &str) -> Option<Row> {
    let (crc, json) = line.split_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (crc32fast::hash(json.as_bytes()) == crc)
        .then(|| serde_json::from_str(json).ok())
        .flatten()
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and returns every row it retains, in order.
    pub fn open(dir: &Path) -> Result<(Self, Vec<Row>)> {
        std::fs::create_dir_all(dir).map_err(|e| state_err(dir, e))?;
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| state_err(dir, e))? {
            let path = entry.map_err(|e| state_err(dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let Some(stem) = name
                .strip_prefix("journal-")
                .and_then(|n| n.strip_suffix(".log"))
            else {
                continue;
            };
            let parsed = stem
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
            let Some((first_seq, mrows_before)) = parsed else {
                return Err(state_err(&path, "not a journal segment name"));
            };
            segments.push(Segment {
                path,
                first_seq,
                mrows_before,
            });
        }
        segments.sort_by_key(|s| s.first_seq);
        let mut rows: Vec<Row> = Vec::new();
        let count = segments.len();
        for (i, seg) in segments.iter().enumerate() {
            let file = File::open(&seg.path).map_err(|e| state_err(&seg.path, e))?;
            let mut reader = BufReader::new(file);
            let mut good_bytes = 0u64;
            let mut line_no = 0;
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader
                    .read_line(&mut line)
                    .map_err(|e| state_err(&seg.path, e))?;
                if n == 0 {
                    break;
                }
                line_no += 1;
                let row = line
                    .ends_with('\n')
                    .then(|| decode(line.trim_end()))
                    .flatten();
                let expected = rows.last().map_or(seg.first_seq, |r| r.seq + 1);
                match row {
                    Some(r) if r.seq == expected => {
                        good_bytes += n as u64;
                        rows.push(r);
                    }
                    _ if i + 1 == count => {
                        // A torn or partial last write: that row was never acknowledged.
                        let f = OpenOptions::new()
                            .write(true)
                            .open(&seg.path)
                            .map_err(|e| state_err(&seg.path, e))?;
                        f.set_len(good_bytes)
                            .and_then(|_| f.sync_all())
                            .map_err(|e| state_err(&seg.path, e))?;
                        tracing::warn!(
                            file = %seg.path.display(),
                            line = line_no,
                            "cut a torn row off the journal's end (never acknowledged)"
                        );
                        break;
                    }
                    _ => {
                        return Err(state_err(
                            &seg.path,
                            format!("line {line_no}: a damaged journal row (checksum or sequence)"),
                        ));
                    }
                }
            }
        }
        let next_seq = rows
            .last()
            .map_or(segments.last().map_or(0, |s| s.first_seq), |r| r.seq + 1);
        let first_mrows = segments.first().map_or(0, |s| s.mrows_before);
        let next_mrow = first_mrows + rows.iter().filter(|r| r.measurement).count() as u64;
        let mut journal = Self {
            dir: dir.to_path_buf(),
            segments,
            file: None,
            next_seq,
            next_mrow,
            unsynced: false,
        };
        if let Some(last) = journal.segments.last() {
            let f = OpenOptions::new()
                .append(true)
                .open(&last.path)
                .map_err(|e| state_err(&last.path, e))?;
            journal.file = Some(f);
        }
        Ok((journal, rows))
    }

    /// The next row's sequence number.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Measurement rows before the first retained segment (those a resume does not read).
    pub fn measurement_rows_dropped(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.mrows_before)
    }

    /// Appends `rows` (numbered from [`Journal::next_seq`]); [`Journal::sync`] makes them
    /// durable (a worker syncs once for all the payloads it took in at once).
    pub fn append(&mut self, rows: &[Row]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            self.rotate()?;
        }
        let mut text = String::new();
        for r in rows {
            if r.seq != self.next_seq {
                return Err(Error::State(format!(
                    "journal row {} appended where {} was expected",
                    r.seq, self.next_seq
                )));
            }
            text.push_str(&encode(r)?);
            self.next_seq += 1;
            self.next_mrow += u64::from(r.measurement);
        }
        let seg = self.segments.last().expect("a segment is open");
        let file = self.file.as_mut().expect("a segment is open");
        file.write_all(text.as_bytes())
            .map_err(|e| state_err(&seg.path, e))?;
        self.unsynced = true;
        Ok(())
    }

    /// Syncs the rows appended since the last sync to disk.
    pub fn sync(&mut self) -> Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        if let (Some(file), Some(seg)) = (self.file.as_mut(), self.segments.last()) {
            file.sync_data().map_err(|e| state_err(&seg.path, e))?;
        }
        self.unsynced = false;
        Ok(())
    }

    /// Starts a new segment at the next row (the rows before are synced first).
    pub fn rotate(&mut self) -> Result<()> {
        self.sync()?;
        if let Some(last) = self.segments.last()
            && last.first_seq == self.next_seq
            && self.file.is_some()
        {
            return Ok(()); // the open segment is still empty
        }
        let path = self.dir.join(format!(
            "journal-{:020}-{:020}.log",
            self.next_seq, self.next_mrow
        ));
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| state_err(&path, e))?;
        sync_dir(&self.dir)?;
        self.segments.push(Segment {
            path,
            first_seq: self.next_seq,
            mrows_before: self.next_mrow,
        });
        self.file = Some(f);
        Ok(())
    }

    /// Deletes the segments before the one holding measurement row `mrow` (counted from 0)
    /// but one: a resume from a checkpoint that has assimilated `mrow + 1` rows reads from
    /// there, with a segment of rows before it whose inputs the rows after may hold (a row
    /// that gives only some inputs holds the others at their last values).
    pub fn release_before(&mut self, mrow: u64) -> Result<()> {
        let keep = self
            .segments
            .iter()
            .rposition(|s| s.mrows_before <= mrow)
            .unwrap_or(0)
            .saturating_sub(1);
        for seg in self.segments.drain(..keep) {
            std::fs::remove_file(&seg.path).map_err(|e| state_err(&seg.path, e))?;
        }
        if keep > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64, measurement: bool) -> Row {
        Row {
            seq,
            measurement,
            time: seq as f64 * 0.1,
            values: vec![Some(1.0 / 3.0), None],
        }
    }

    #[test]
    fn rows_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = std::env::temp_dir().join(format!("twin-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut j, rows) = Journal::open(&dir).unwrap();
        assert!(rows.is_empty());
        j.append(&[row(0, true), row(1, false)]).unwrap();
        j.rotate().unwrap();
        j.append(&[row(2, true), row(3, true)]).unwrap();
        j.sync().unwrap();
        drop(j);
        // A torn write at the end.
        let last = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .max()
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(b"0000abcd {\"s\":4,").unwrap();
        drop(f);
        let (mut j, rows) = Journal::open(&dir).unwrap();
        assert_eq!(
            rows,
            vec![row(0, true), row(1, false), row(2, true), row(3, true)]
        );
        assert_eq!(j.next_seq(), 4);
        // Segments [0, 1], [2, 3], [4]: a checkpoint after 4 measurement rows (row 4 is the
        // fourth) reads from the third segment with the one before it; the first goes.
        j.rotate().unwrap();
        j.append(&[row(4, true)]).unwrap();
        j.sync().unwrap();
        j.release_before(3).unwrap();
        assert_eq!(j.measurement_rows_dropped(), 1);
        drop(j);
        let (_, rows) = Journal::open(&dir).unwrap();
        assert_eq!(rows.first().map(|r| r.seq), Some(2));
        assert_eq!(rows.len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
