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

impl Checkpoint {
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
    pub(crate) fn prior_in_force(
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
