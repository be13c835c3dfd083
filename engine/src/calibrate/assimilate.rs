//! The one assimilation loop: rows in, one at a time, estimates out. `twin calibrate` feeds
//! it the rows of recorded runs, `--follow` the rows of a growing file or standard input, and
//! a live service the rows of a stream. The work per row does not depend on how long the
//! stream has run: the inputs are kept as a rolling series and forgotten behind the twins.
//!
//! A measurement row is assimilated once the rows received reach one thermal interval past it
//! (where the model enables quasi-steady stepping; else at once), or its run ends: a
//! sub-stepped interval may end past the row, and whether the inputs hold over it is read from
//! the rows after it. So a stream gives exactly what the same rows give as a file. An input
//! that no row has given since is held at its last value.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{CalibrateOptions, Checkpoint, Estimator, TraceRecord, open_filter};
use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::stats::weighted_mean_std;

/// Where an assimilation hands what it produces as it goes.
pub trait Sink {
    /// An estimate, about once per second of data.
    fn record(&mut self, record: &TraceRecord) -> Result<()>;
    /// A checkpoint, every `checkpoint_every` seconds of data.
    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()>;
    /// With [`Assimilation::track_innovations`]: a measurement row's innovations at data time
    /// `t` s, before it is assimilated (one entry per sensor, `None` where the row has no
    /// measurement): the residual, measured − the members' mean prediction (in the sensor's
    /// unit), and the normalised innovation, the residual / √(the members' variance + the
    /// sensor's noise variance), about N(0, 1) while the twin explains the data.
    fn innovations(&mut self, t: f64, innovations: &[Option<Innovation>]) -> Result<()> {
        let _ = (t, innovations);
        Ok(())
    }
}

/// One sensor's innovation (see [`Sink::innovations`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Innovation {
    /// Measured − predicted, in the sensor's unit.
    pub residual: f64,
    /// The residual over its predicted standard deviation.
    pub normalised: f64,
}

/// A [`Sink`] of two closures.
pub struct FnSink<R, C>(pub R, pub C);

impl<R, C> Sink for FnSink<R, C>
where
    R: FnMut(&TraceRecord) -> Result<()>,
    C: FnMut(&Checkpoint) -> Result<()>,
{
    fn record(&mut self, record: &TraceRecord) -> Result<()> {
        (self.0)(record)
    }
    fn checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        (self.1)(checkpoint)
    }
}

/// What became of a row offered to [`Assimilation::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Taken (assimilated now or once the rows after it arrive).
    Accepted,
    /// Left out: its time equals the previous row's.
    Duplicate,
    /// Left out: its time is earlier than the previous row's.
    OutOfOrder,
    /// Left out: its time is more than [`CalibrateOptions::max_gap`] after the previous row's
    /// (after 0 s for a run's first row); the twin would step that long without data.
    TooFarAhead,
}

/// An online estimator fed rows one at a time (see the module doc).
pub struct Assimilation {
    model: Arc<Model>,
    filter: Box<dyn Estimator>,
    paths: Vec<String>,
    /// A checkpoint with everything but the position and the filter's state.
    template: Checkpoint,
    every: f64,
    /// The longest interval between rows stepped through, s.
    max_gap: f64,
    /// Data time a measurement row waits for the rows after it, s.
    lookahead: f64,
    /// The run being fed, and whether [`Assimilation::start_run`] has been called.
    run: usize,
    started: bool,
    /// Measurement rows of this run taken so far (assimilated or skipped).
    row: usize,
    /// Measurement rows still to skip: assimilated before the checkpoint resumed from.
    skip: usize,
    inputs: InputSeries,
    pending: VecDeque<(f64, Vec<Option<f64>>)>,
    latest: Option<f64>,
    next_trace: Option<f64>,
    next_save: Option<f64>,
    prior: Vec<(f64, f64)>,
    /// Data time of the last measurement row assimilated, s.
    last_assimilated: Option<f64>,
    innovations: bool,
}

impl Assimilation {
    /// An assimilation of `model` with the online method of `options`, new from `prior` or
    /// resumed from `options.resume` (it then continues at the run and row the checkpoint
    /// records: feed the rows again from that run's start, and those already assimilated are
    /// skipped). `sources` name the runs, as checkpoints record them.
    pub fn new(
        model: &Arc<Model>,
        options: &CalibrateOptions,
        sources: &[String],
        prior: &[(f64, f64)],
    ) -> Result<Self> {
        let (filter, (run, row)) = open_filter(model, options, prior)?;
        let lookahead = match model.quasi_steady {
            Some(_) => model.thermal.dt,
            None => 0.0,
        };
        Ok(Self {
            model: Arc::clone(model),
            filter,
            paths: model.parameters.iter().map(|p| p.path.clone()).collect(),
            template: Checkpoint::new(model, options, sources, prior, (0, 0), None, None),
            every: options.checkpoint_every.max(1e-9),
            max_gap: options.max_gap,
            lookahead,
            run,
            started: false,
            row: 0,
            skip: row,
            inputs: InputSeries::new(model),
            pending: VecDeque::new(),
            latest: None,
            next_trace: None,
            next_save: None,
            prior: prior.to_vec(),
            last_assimilated: None,
            innovations: false,
        })
    }

    /// Hands every measurement row's normalised innovations to the sink
    /// ([`Sink::innovations`]) before assimilating it (a live service watches them for a
    /// drifting sensor or a changed machine). The members are advanced to the row first, as
    /// the filter would: the estimates are the same with it on or off.
    pub fn track_innovations(&mut self, on: bool) {
        self.innovations = on;
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The prior in force (mean, std per declared parameter).
    pub fn prior(&self) -> &[(f64, f64)] {
        &self.prior
    }

    /// Time of the last row taken (accepted), s.
    pub fn latest(&self) -> Option<f64> {
        self.latest
    }

    /// Data time of the last measurement row assimilated, s.
    pub fn last_assimilated(&self) -> Option<f64> {
        self.last_assimilated
    }

    /// Measurement rows of the current run taken so far (assimilated, skipped on a resume, or
    /// waiting for the rows after them): a checkpoint's position counts these.
    pub fn rows_taken(&self) -> usize {
        self.row + self.pending.len()
    }

    /// The run the next rows belong to (resumed: the checkpoint's).
    pub fn run(&self) -> usize {
        self.run
    }

    /// Starts feeding a run: the first run of this assimilation (where a resumed one
    /// continues), or the next one, whose hidden states start from the model's initial state.
    /// Finish the run before with [`Assimilation::finish_run`].
    pub fn start_run(&mut self) -> Result<()> {
        if self.started {
            self.run += 1;
            self.row = 0;
            self.skip = 0;
            self.filter.start_run()?;
        } else {
            self.started = true;
            if self.run > 0 && self.skip == 0 {
                self.filter.start_run()?;
            }
        }
        self.inputs = InputSeries::new(&self.model);
        self.pending.clear();
        self.latest = None;
        self.last_assimilated = None;
        self.next_trace = None;
        self.next_save = None;
        Ok(())
    }

    /// Offers one row at time `time` s: the model inputs it gives (one entry per input) and
    /// its measurements (one entry per sensor; `None` for a row without any). A row not later
    /// than the previous one, or more than `max_gap` after it, is left out.
    pub fn push(
        &mut self,
        time: f64,
        inputs: &[Option<f64>],
        z: Option<&[Option<f64>]>,
        sink: &mut dyn Sink,
    ) -> Result<Intake> {
        match self.latest {
            Some(last) if time == last => return Ok(Intake::Duplicate),
            Some(last) if time < last => return Ok(Intake::OutOfOrder),
            last if time - last.unwrap_or(0.0) > self.max_gap => return Ok(Intake::TooFarAhead),
            _ => {}
        }
        self.latest = Some(time);
        self.inputs.push(time, inputs);
        if let Some(z) = z.filter(|z| z.iter().any(Option::is_some)) {
            if self.skip > 0 {
                self.skip -= 1;
                self.row += 1;
                self.inputs.forget_before(time - self.model.dt_mech);
            } else {
                self.pending.push_back((time, z.to_vec()));
            }
        }
        self.assimilate(false, sink)?;
        Ok(Intake::Accepted)
    }

    /// Assimilates the rows still waiting for rows after them: the run's data end here.
    pub fn finish_run(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if self.skip > 0 {
            return Err(Error::State(format!(
                "the checkpoint resumed from is {} measurement rows past the end of run {} of the data: it is not a checkpoint of these data",
                self.skip, self.run
            )));
        }
        self.assimilate(true, sink)
    }

    /// The estimator.
    pub fn filter(&self) -> &dyn Estimator {
        self.filter.as_ref()
    }

    /// Brings the grid fields in the members' states up to date with their batched steppers
    /// ([`crate::twin::Ensemble::sync_fields`]), before the states are read.
    pub fn sync_fields(&mut self) -> Result<()> {
        self.filter.ensemble_mut().sync_fields()
    }

    /// Input points and measurement rows held (bounded however long the stream runs).
    pub fn retained(&self) -> usize {
        self.inputs.points() + self.pending.len()
    }

    /// Assimilates the waiting rows that the rows received reach one look-ahead past (all of
    /// them with `flush`).
    fn assimilate(&mut self, flush: bool, sink: &mut dyn Sink) -> Result<()> {
        let latest = self.latest.unwrap_or(f64::NEG_INFINITY);
        while let Some(&(t, _)) = self.pending.front() {
            if !flush && latest < t + self.lookahead {
                break;
            }
            let (t, z) = self.pending.pop_front().expect("a row waits");
            if self.innovations {
                let nu = self.normalised_innovations(t, &z)?;
                sink.innovations(t, &nu)?;
            }
            self.filter.estimate(t, &self.inputs, &z)?;
            self.row += 1;
            self.last_assimilated = Some(t);
            if self.next_trace.is_none_or(|next| t >= next) {
                sink.record(&self.record(t))?;
                self.next_trace = Some(t + 1.0);
            }
            match self.next_save {
                None => self.next_save = Some(t + self.every),
                Some(next) if t >= next => {
                    self.sync_fields()?;
                    sink.checkpoint(&Checkpoint {
                        position: (self.run, self.row),
                        filter: Some(self.filter.checkpoint()),
                        ..self.template.clone()
                    })?;
                    self.next_save = Some(t + self.every);
                }
                Some(_) => {}
            }
            self.inputs.forget_before(t - self.model.dt_mech);
        }
        Ok(())
    }

    /// Advances the members to `t` and compares their predictions with the row `z`.
    fn normalised_innovations(
        &mut self,
        t: f64,
        z: &[Option<f64>],
    ) -> Result<Vec<Option<Innovation>>> {
        self.filter.ensemble_mut().drive_to(t, &self.inputs)?;
        let weights = self.filter.member_weights();
        let twins = self.filter.ensemble().members();
        Ok(z.iter()
            .enumerate()
            .map(|(s, v)| {
                let v = (*v)?;
                let predictions: Vec<f64> = twins.iter().map(|m| m.predict(s)).collect();
                let (mean, std) = weighted_mean_std(&predictions, &weights);
                let noise = twins
                    .first()
                    .map_or(0.0, |m| m.state().tunables.noise_std[s]);
                let scale = (std * std + noise * noise).sqrt();
                (scale > 0.0).then(|| Innovation {
                    residual: v - mean,
                    normalised: (v - mean) / scale,
                })
            })
            .collect())
    }

    /// The estimate now, at data time `t`: the members' weighted mean and spread.
    fn record(&self, t: f64) -> TraceRecord {
        let (x, w) = self.filter.samples();
        let (mean, std): (Vec<f64>, Vec<f64>) = (0..self.paths.len())
            .map(|j| weighted_mean_std(&x.iter().map(|v| v[j]).collect::<Vec<_>>(), &w))
            .unzip();
        TraceRecord {
            run: self.run,
            time: t,
            mean: self.paths.iter().cloned().zip(mean).collect(),
            std: self.paths.iter().cloned().zip(std).collect(),
            cost: None,
        }
    }
}
