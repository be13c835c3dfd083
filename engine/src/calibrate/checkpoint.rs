//! Checkpoints of calibrations: everything an interrupted calibration needs to end with the
//! same result as an uninterrupted one.

use serde::{Deserialize, Serialize};

use super::batch::BatchIteration;
use super::filters::FilterCheckpoint;
use super::{CalibrateOptions, CalibrationReport, prior_of};
use crate::error::{Error, Result};
use crate::model::Model;

/// Everything needed to continue an interrupted calibration and end with the same result as
/// an uninterrupted one.
#[derive(Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Model name.
    pub model: String,
    /// Method name.
    pub method: String,
    /// The data files.
    pub runs: Vec<String>,
    /// Seed.
    pub seed: u64,
    /// Prior in force (mean, std per parameter).
    pub prior: Vec<(f64, f64)>,
    /// Filters: the next row to process, as (run, row).
    pub position: (usize, usize),
    /// Filters: their state.
    pub filter: Option<FilterCheckpoint>,
    /// Batch: the iterations made.
    pub batch: Option<Vec<BatchIteration>>,
    /// A fleet calibration: the reports of the units already calibrated (the unit in progress
    /// is `position.0`).
    #[serde(default)]
    pub units: Vec<CalibrationReport>,
    /// A fleet calibration: the joint calibration of all runs (its first stage) once done.
    #[serde(default)]
    pub joint: Option<Box<CalibrationReport>>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Checkpoint({} {} at run {} row {})",
            self.model, self.method, self.position.0, self.position.1
        )
    }
}

/// A checkpoint as a file holds it: the checkpoint's JSON text and its CRC-32, so that a
/// corrupted file is refused instead of resumed.
#[derive(Deserialize)]
struct Envelope<'a> {
    crc32: String,
    #[serde(borrow)]
    checkpoint: &'a serde_json::value::RawValue,
}

impl Checkpoint {
    /// The checkpoint as file text: `{"crc32": "…", "checkpoint": {…}}`.
    pub fn to_json(&self) -> Result<String> {
        let body = serde_json::to_string(self)
            .map_err(|e| Error::State(format!("the checkpoint cannot be written: {e}")))?;
        let crc = crc32fast::hash(body.as_bytes());
        Ok(format!(
            "{{\"crc32\":\"{crc:08x}\",\"checkpoint\":{body}}}\n"
        ))
    }

    /// Reads file text written by [`Checkpoint::to_json`] (`label` names it in errors): the
    /// checksum must match, and the contents must be consistent (see [`Checkpoint::validate`]).
    pub fn from_json(text: &str, label: &str) -> Result<Self> {
        let bad = |message: String| Error::State(format!("{label}: {message}"));
        let envelope: Envelope = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not a calibration checkpoint (expected {{\"crc32\": ..., \"checkpoint\": ...}}): {e}"
            ))
        })?;
        let body = envelope.checkpoint.get();
        let crc = format!("{:08x}", crc32fast::hash(body.as_bytes()));
        if crc != envelope.crc32 {
            return Err(bad(format!(
                "the checkpoint is corrupted: its checksum is {crc}, the file says {}",
                envelope.crc32
            )));
        }
        let checkpoint: Checkpoint = serde_json::from_str(body)
            .map_err(|e| bad(format!("not a calibration checkpoint: {e}")))?;
        checkpoint.validate().map_err(|e| bad(e.to_string()))?;
        Ok(checkpoint)
    }

    /// Checks what a resumed calibration relies on: a finite prior with positive standard
    /// deviations, and a filter state that [`FilterCheckpoint::check_contents`] accepts.
    pub fn validate(&self) -> Result<()> {
        if let Some((i, (m, s))) = self
            .prior
            .iter()
            .enumerate()
            .find(|(_, (m, s))| !m.is_finite() || !s.is_finite() || *s <= 0.0)
        {
            return Err(Error::State(format!(
                "prior entry {i} is mean {m} ± {s}: expected finite numbers, std > 0"
            )));
        }
        if let Some(f) = &self.filter {
            f.check_contents()?;
        }
        Ok(())
    }

    /// A checkpoint of a calibration of `model` with `options` on the data `sources` under
    /// `prior`, to continue at `position` with the filter's or the batch's state.
    pub(crate) fn new(
        model: &Model,
        options: &CalibrateOptions,
        sources: &[String],
        prior: &[(f64, f64)],
        position: (usize, usize),
        filter: Option<FilterCheckpoint>,
        batch: Option<Vec<BatchIteration>>,
    ) -> Self {
        Self {
            model: model.name.clone(),
            method: options.method.name().to_string(),
            runs: sources.to_vec(),
            seed: options.seed,
            prior: prior.to_vec(),
            position,
            filter,
            batch,
            units: Vec::new(),
            joint: None,
        }
    }

    /// The prior of a calibration: the resumed checkpoint's (after checking that it belongs
    /// to this model, method, seed and data), else the one `options` give.
    pub fn prior_in_force(
        model: &Model,
        options: &CalibrateOptions,
        sources: &[String],
    ) -> Result<Vec<(f64, f64)>> {
        match &options.resume {
            Some(cp) => {
                cp.check(model, options, sources)?;
                Ok(cp.prior.clone())
            }
            None => prior_of(model, options),
        }
    }

    fn check(&self, model: &Model, options: &CalibrateOptions, sources: &[String]) -> Result<()> {
        if self.model != model.name
            || self.method != options.method.name()
            || self.runs != sources
            || self.seed != options.seed
        {
            return Err(Error::State(format!(
                "the checkpoint is of model `{}`, method {}, seed {}, data {:?}; this run is model `{}`, method {}, seed {}, data {:?}",
                self.model,
                self.method,
                self.seed,
                self.runs,
                model.name,
                options.method.name(),
                options.seed,
                sources
            )));
        }
        Ok(())
    }
}
