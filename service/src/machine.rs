//! One machine's live twin, synchronous: payloads in; rows assimilated, journaled and synced;
//! estimates, status and alarms out. A worker thread owns it (see [`crate::serve`]).
//!
//! State on disk, in `<state_dir>/<machine>/`: `meta.json` (the Unix time of the machine's
//! first row, once it is known), the journal ([`crate::journal`]) and `checkpoint.json` (the
//! engine's calibration checkpoint with the counts and how many measurement rows it covers).
//! Opening a machine resumes from the checkpoint and feeds it the journal's rows after it: the
//! twin stands where it stood before the crash, bit for bit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use machine_twin::Model;
use machine_twin::calibrate::follow::Layout;
use machine_twin::calibrate::{
    Assimilation, CalibrateOptions, Checkpoint, Innovation, Intake, Sink, TraceRecord,
    read_distribution,
};
use machine_twin::data::DataTable;
use machine_twin::data::time::format_timestamp;
use serde::{Deserialize, Serialize};

use crate::config::{MachineConfig, ServiceConfig};
use crate::error::{Error, Result};
use crate::journal::{Journal, Row, write_atomic};
use crate::messages::{Alarm, Counts, Estimate, Status};
use crate::payload::{self, Limits};
use crate::reorder::{Reorder, Waiting};

/// A message to publish on `<prefix>/<machine>/<kind>`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// `estimate`, `status` or `alarm`.
    pub kind: &'static str,
    /// JSON.
    pub payload: String,
    /// Whether the broker keeps it for later subscribers.
    pub retain: bool,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    /// The Unix time of the machine's first row, where its rows carry absolute times.
    origin: Option<f64>,
}

#[derive(Serialize, Deserialize)]
struct SavedCheckpoint {
    /// Measurement rows the engine checkpoint has assimilated, since the machine's first row.
    assimilated: u64,
    /// The journal's next sequence number when it was written.
    journal_seq: u64,
    counts: Counts,
    /// The engine's checkpoint file text.
    engine: String,
}

/// What the assimilation hands out while a payload is taken in.
#[derive(Default)]
struct Collected {
    checkpoint: Option<Checkpoint>,
    /// Per sensor: (time, innovation).
    innovations: Vec<(f64, Vec<Option<Innovation>>)>,
}

impl Sink for Collected {
    fn record(&mut self, _: &TraceRecord) -> machine_twin::Result<()> {
        Ok(())
    }
    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> machine_twin::Result<()> {
        self.checkpoint = Some(checkpoint.clone());
        Ok(())
    }
    fn innovations(&mut self, t: f64, v: &[Option<Innovation>]) -> machine_twin::Result<()> {
        self.innovations.push((t, v.to_vec()));
        Ok(())
    }
}

/// Per sensor: the residuals since the last estimate and how long the innovations have been
/// outside their band.
#[derive(Default, Clone)]
struct Watch {
    sum_squares: f64,
    count: usize,
    outside_since: Option<f64>,
    alarmed: bool,
}

/// One machine's live twin (see the module doc).
pub struct MachineTwin {
    config: MachineConfig,
    model: Arc<Model>,
    options: CalibrateOptions,
    assimilation: Assimilation,
    journal: Journal,
    reorder: Reorder,
    dir: PathBuf,
    limits: Limits,
    /// `None` until the first row; then the Unix time of time 0 (or `None`: relative times).
    origin: Option<Option<f64>>,
    /// Measurement rows before the rows fed to this session's assimilation.
    base_mrows: u64,
    counts: Counts,
    watch: Vec<Watch>,
    rul_alarmed: BTreeMap<String, bool>,
    next_publish: Option<f64>,
    published_time: Option<f64>,
    error: Option<String>,
}

impl MachineTwin {
    /// Opens machine `config` with its state in `service.state_dir`: new, or resumed from its
    /// checkpoint and journal.
    pub fn open(config: &MachineConfig, service: &ServiceConfig) -> Result<Self> {
        let model = Model::from_file(&config.model)?;
        let mut options = CalibrateOptions {
            method: config.method,
            members: config.members,
            seed: config.seed,
            checkpoint_every: config.checkpoint_every,
            horizon: Some(config.horizon),
            max_gap: config.max_gap,
            ..CalibrateOptions::default()
        };
        if let Some(prior) = &config.prior {
            let label = prior.display().to_string();
            let text = std::fs::read_to_string(prior)
                .map_err(|e| Error::Config(format!("{label}: {e}")))?;
            let d = read_distribution(&text, &label, &model, true)?;
            options.use_prior(d);
        }
        let dir = service.state_dir.join(&config.id);
        let (journal, rows) = Journal::open(&dir)?;
        let meta_path = dir.join("meta.json");
        let origin = match std::fs::read_to_string(&meta_path) {
            Ok(text) => Some(
                serde_json::from_str::<Meta>(&text)
                    .map_err(|e| Error::State(format!("{}: {e}", meta_path.display())))?
                    .origin,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::State(format!("{}: {e}", meta_path.display()))),
        };
        let saved = read_checkpoint(&dir.join("checkpoint.json"))?;
        let base_mrows = journal.measurement_rows_dropped();
        let (counts, journal_seq) = match &saved {
            Some(s) => (s.counts.clone(), s.journal_seq),
            None => (Counts::default(), 0),
        };
        if let Some(s) = &saved {
            if s.assimilated < base_mrows {
                return Err(Error::State(format!(
                    "{}: the checkpoint covers {} measurement rows but the journal starts after {}",
                    dir.display(),
                    s.assimilated,
                    base_mrows
                )));
            }
            let label = dir.join("checkpoint.json").display().to_string();
            let mut cp = Checkpoint::from_json(&s.engine, &label)?;
            cp.position.1 = (s.assimilated - base_mrows) as usize;
            options.resume = Some(cp);
        } else if base_mrows > 0 {
            return Err(Error::State(format!(
                "{}: the journal starts after {base_mrows} measurement rows but there is no checkpoint",
                dir.display()
            )));
        }
        let sources = [config.id.clone()];
        let prior = Checkpoint::prior_in_force(&model, &options, &sources)?;
        let mut assimilation = Assimilation::new(&model, &options, &sources, &prior)?;
        assimilation.track_innovations(true);
        assimilation.start_run()?;
        options.resume = None;
        let mut twin = Self {
            config: config.clone(),
            watch: vec![Watch::default(); model.sensors.len()],
            model,
            options,
            assimilation,
            journal,
            reorder: Reorder::new(config.reorder_window),
            dir,
            limits: Limits {
                max_bytes: service.max_payload_bytes,
                max_rows: service.max_batch_rows,
            },
            origin,
            base_mrows,
            counts,
            rul_alarmed: BTreeMap::new(),
            next_publish: None,
            published_time: None,
            error: None,
        };
        let mut sink = Collected::default();
        for row in rows {
            let (inputs, z) = row.values.split_at(twin.model.inputs.len());
            let intake = twin
                .assimilation
                .push(row.time, inputs, Some(z), &mut sink)?;
            if intake != Intake::Accepted {
                return Err(Error::State(format!(
                    "{}: journal row {} was not taken again ({intake:?})",
                    twin.dir.display(),
                    row.seq
                )));
            }
            if row.seq >= journal_seq {
                twin.counts.rows += 1;
                twin.counts.accepted += 1;
            }
        }
        if let Some(cp) = sink.checkpoint.take() {
            twin.save_checkpoint(&cp)?;
        }
        Ok(twin)
    }

    /// The machine's id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// Takes in payload number `tag` (numbers increase with arrival; see [`crate::payload`]);
    /// `redelivered`: the broker says it delivered it before (MQTT's DUP flag), so rows at or
    /// before the last one taken are counted as redelivered, not as the machine's repeats. Its
    /// rows wait in the reorder window ([`crate::reorder`]) or are assimilated and journaled.
    /// Returns what to publish; an `Err` only when the journal or checkpoint cannot be written.
    /// Acknowledge a payload only once [`MachineTwin::finished_payloads`] has named it and
    /// [`MachineTwin::sync`] has returned since: its rows are durable then.
    pub fn ingest(&mut self, payload: &[u8], redelivered: bool, tag: u64) -> Result<Vec<Outgoing>> {
        self.reorder.open(tag);
        self.counts.payloads += 1;
        let label = format!(
            "machine {} payload {}",
            self.config.id, self.counts.payloads
        );
        let table = match payload::read(payload, &self.model, &label, self.origin, self.limits) {
            Ok(t) => t,
            Err((reason, message)) => {
                *self
                    .counts
                    .rejected
                    .entry(reason.name().to_string())
                    .or_insert(0) += 1;
                tracing::warn!(machine = %self.config.id, reason = reason.name(), "payload left out: {message}");
                return Ok(Vec::new());
            }
        };
        self.count_cells(&table);
        if table.times.is_empty() {
            return Ok(Vec::new());
        }
        if self.origin.is_none() {
            let meta = Meta {
                origin: table.time_origin,
            };
            let text = serde_json::to_string(&meta).expect("meta serialises");
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| Error::State(format!("{}: {e}", self.dir.display())))?;
            write_atomic(&self.dir.join("meta.json"), &text)?;
            self.origin = Some(table.time_origin);
        }
        let layout = Layout::of(&self.model, &table);
        for (t, row) in table.times.iter().zip(&table.rows) {
            let (inputs, z) = layout.split(&self.model, row);
            self.counts.rows += 1;
            let given = row.iter().filter(|v| v.is_some()).count();
            let kept = inputs.iter().chain(&z).filter(|v| v.is_some()).count();
            // Readings outside their sensor's range are left out by the split.
            self.counts.out_of_range += given.saturating_sub(kept) as u64;
            if !self.reorder.hold(tag, *t, inputs, z, redelivered) {
                if redelivered {
                    self.counts.redelivered += 1;
                } else {
                    self.counts.duplicate += 1;
                }
            }
        }
        let due = self.reorder.due(false);
        self.assimilate(due)
    }

    /// Assimilates every row still waiting in the reorder window (the stream has gone quiet)
    /// and returns what to publish.
    pub fn flush(&mut self) -> Result<Vec<Outgoing>> {
        if self.reorder.is_empty() {
            return Ok(Vec::new());
        }
        let due = self.reorder.due(true);
        self.assimilate(due)
    }

    /// The payloads (their `tag`s) none of whose rows wait any longer: acknowledge them after
    /// the next [`MachineTwin::sync`].
    pub fn finished_payloads(&mut self) -> Vec<u64> {
        self.reorder.finished()
    }

    /// Assimilates rows in time order, journals the ones taken and publishes what is due.
    fn assimilate(&mut self, rows: Vec<Waiting>) -> Result<Vec<Outgoing>> {
        let mut sink = Collected::default();
        let mut accepted = Vec::new();
        for row in rows {
            let Waiting {
                time: t,
                inputs,
                measurements: z,
                redelivered,
                ..
            } = row;
            let intake = match self.assimilation.push(t, &inputs, Some(&z), &mut sink) {
                Ok(i) => i,
                Err(e) => {
                    // The twin could not step through this row: keep what came before it.
                    self.error = Some(e.to_string());
                    tracing::error!(machine = %self.config.id, "the twin failed on a row: {e}");
                    *self
                        .counts
                        .rejected
                        .entry("engine_error".into())
                        .or_insert(0) += 1;
                    break;
                }
            };
            match intake {
                Intake::Accepted => {
                    let mut values = inputs;
                    values.extend_from_slice(&z);
                    accepted.push(Row {
                        seq: self.journal.next_seq() + accepted.len() as u64,
                        measurement: z.iter().any(Option::is_some),
                        time: t,
                        values,
                    });
                }
                Intake::Duplicate | Intake::OutOfOrder if redelivered => {
                    self.counts.redelivered += 1
                }
                Intake::Duplicate => self.counts.duplicate += 1,
                Intake::OutOfOrder => self.counts.out_of_order += 1,
                Intake::TooFarAhead => self.counts.too_far_ahead += 1,
            }
        }
        self.journal.append(&accepted)?;
        self.counts.accepted += accepted.len() as u64;
        if let Some(cp) = sink.checkpoint.take() {
            self.save_checkpoint(&cp)?;
        }
        let mut out = self.watch_innovations(&sink.innovations);
        if let Some(t) = self.assimilation.last_assimilated() {
            let due = self.next_publish.is_none_or(|next| t >= next);
            if due {
                out.extend(self.publish()?);
            }
        }
        Ok(out)
    }

    /// Makes every row taken so far durable (one sync for all the payloads taken in since).
    pub fn sync(&mut self) -> Result<()> {
        self.journal.sync()
    }

    /// The estimate and alarms now, if rows were assimilated since the last estimate (a
    /// machine gone quiet publishes what it has).
    pub fn publish_if_new(&mut self) -> Result<Vec<Outgoing>> {
        match self.assimilation.last_assimilated() {
            Some(t) if self.published_time != Some(t) => self.publish(),
            _ => Ok(Vec::new()),
        }
    }

    /// The estimate now, with its RUL alarms.
    fn publish(&mut self) -> Result<Vec<Outgoing>> {
        let Some(standing) = self.assimilation.standing(&self.options)? else {
            return Ok(Vec::new());
        };
        let t = standing.time;
        self.published_time = Some(t);
        self.next_publish = Some(t + self.config.publish_every);
        let residual_rms = self
            .model
            .sensors
            .iter()
            .zip(&mut self.watch)
            .filter(|(_, w)| w.count > 0)
            .map(|(s, w)| {
                let rms = (w.sum_squares / w.count as f64).sqrt();
                (w.sum_squares, w.count) = (0.0, 0);
                (s.name.clone(), rms)
            })
            .collect();
        let unix = self.origin.flatten().map(|o| o + t);
        let estimate = Estimate {
            machine: self.config.id.clone(),
            model: self.model.name.clone(),
            method: self.config.method.name().into(),
            time: t,
            time_unix: unix,
            time_iso: unix.map(format_timestamp),
            parameters: standing.parameters,
            wear: standing.wear,
            damage: standing.damage,
            rul: standing.rul,
            residual_rms,
            data_quality: self.counts.clone(),
        };
        let mut out = vec![Outgoing {
            kind: "estimate",
            payload: json(&estimate)?,
            retain: true,
        }];
        for (event, &limit) in &self.config.alarm.rul_p05_below {
            let Some(p05) = estimate.rul.get(event).and_then(|r| r.p05) else {
                continue;
            };
            let below = p05 < limit;
            let was = self
                .rul_alarmed
                .insert(event.clone(), below)
                .unwrap_or(false);
            if below && !was {
                out.push(self.alarm(
                    "rul",
                    event,
                    t,
                    p05,
                    limit,
                    format!("remaining life to `{event}` p05 {p05:.0} s is below {limit:.0} s"),
                )?);
            }
        }
        Ok(out)
    }

    /// The status now; `rows_per_second` and `lag` are the caller's to measure.
    pub fn status(&self, rows_per_second: f64, lag: Option<f64>) -> Status {
        let last = self.assimilation.latest();
        Status {
            machine: self.config.id.clone(),
            state: "online".into(),
            last_data_time: last,
            last_data_unix: last.and_then(|t| self.origin.flatten().map(|o| o + t)),
            lag,
            rows_per_second,
            data_quality: self.counts.clone(),
            error: self.error.clone(),
        }
    }

    /// The counts since the machine's first row.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Adds the residuals to each sensor's window and raises an alarm for a sensor whose
    /// normalised innovations have stayed outside the band for `alarm.innovation_for` s.
    fn watch_innovations(&mut self, seen: &[(f64, Vec<Option<Innovation>>)]) -> Vec<Outgoing> {
        let (band, hold) = (
            self.config.alarm.innovation_band,
            self.config.alarm.innovation_for,
        );
        let mut out = Vec::new();
        for (t, innovations) in seen {
            for (s, inn) in innovations.iter().enumerate() {
                let Some(inn) = inn else { continue };
                let w = &mut self.watch[s];
                w.sum_squares += inn.residual * inn.residual;
                w.count += 1;
                if inn.normalised.abs() <= band {
                    w.outside_since = None;
                    w.alarmed = false;
                    continue;
                }
                let since = *w.outside_since.get_or_insert(*t);
                if t - since >= hold && !w.alarmed {
                    w.alarmed = true;
                    let name = self.model.sensors[s].name.clone();
                    let message = format!(
                        "`{name}` has stayed {:.0} s outside ±{band} predicted standard deviations: the twin no longer explains it (a drifting sensor or a changed machine)",
                        t - since
                    );
                    if let Ok(a) =
                        self.alarm("innovation", &name, *t, inn.normalised, band, message)
                    {
                        out.push(a);
                    }
                }
            }
        }
        out
    }

    fn alarm(
        &self,
        kind: &str,
        subject: &str,
        time: f64,
        value: f64,
        limit: f64,
        message: String,
    ) -> Result<Outgoing> {
        tracing::warn!(machine = %self.config.id, kind, subject, "{message}");
        let alarm = Alarm {
            machine: self.config.id.clone(),
            kind: kind.into(),
            subject: subject.into(),
            time,
            value,
            limit,
            message,
        };
        Ok(Outgoing {
            kind: "alarm",
            payload: json(&alarm)?,
            retain: false,
        })
    }

    /// Writes an engine checkpoint with the counts, starts a journal segment and lets go of
    /// the segments a resume no longer reads.
    fn save_checkpoint(&mut self, cp: &Checkpoint) -> Result<()> {
        let assimilated = self.base_mrows + cp.position.1 as u64;
        // The rows the checkpoint counts as journaled are on disk before it is.
        self.journal.sync()?;
        let saved = SavedCheckpoint {
            assimilated,
            journal_seq: self.journal.next_seq(),
            counts: self.counts.clone(),
            engine: cp.to_json()?,
        };
        write_atomic(&self.dir.join("checkpoint.json"), &json(&saved)?)?;
        self.journal.rotate()?;
        if assimilated > 0 {
            self.journal.release_before(assimilated - 1)?;
        }
        Ok(())
    }

    fn count_cells(&mut self, table: &DataTable) {
        let q = &table.quality;
        self.counts.non_finite += q.non_finite as u64;
        self.counts.unparsable += q.unparsable_cells() as u64;
        self.counts.out_of_range += q.out_of_range.values().sum::<usize>() as u64;
        self.counts.duplicate += q.duplicate_times as u64;
        self.counts.out_of_order += q.out_of_order as u64;
    }
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::State(format!("cannot write JSON: {e}")))
}

fn read_checkpoint(path: &Path) -> Result<Option<SavedCheckpoint>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::State(format!("{}: not a service checkpoint: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::State(format!("{}: {e}", path.display()))),
    }
}
