//! Ensembles: many twins of one model with their own parameters, stepped in parallel.

use std::sync::Arc;

use rayon::prelude::*;

use super::drive::{Driven, Rules};
use super::step::{Grids, Pending};
use super::{State, Twin};
use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::params::Params;
use crate::thermal::{Backend, GridStepper};

/// `members` twins of one model, each with its own parameters and state, stepped in parallel
/// across members with rayon (each member is deterministic, so the result does not depend on
/// the thread count).
///
/// With [`Ensemble::set_backend`] the thermal grids of all members are stepped together: one
/// stepper per grid holds every member, so on a GPU each thermal step of the whole ensemble is
/// one dispatch sequence per grid (ARCHITECTURE.md: kernels are batched across members).
///
/// The batched steppers keep the members' fields between thermal steps (on a GPU they stay on
/// the device): a step sends up only the fields of members restored since, and brings back
/// only the observables and the heat through the faces. The fields in the members' states
/// then lag behind; [`Ensemble::sync_fields`] brings them up to date (checkpoints, resampling
/// and forecasts call it), and a member's [`Twin::restore`] sends its new fields up before
/// the next step.
pub struct Ensemble {
    model: Arc<Model>,
    members: Vec<Twin>,
    seed: u64,
    /// The batched steppers and their workspace, where the grids are batched.
    batched: Option<Batched>,
}

/// One stepper per grid holding every member, and the space a batched thermal step uses
/// (sized once: a step allocates nothing).
struct Batched {
    steppers: Vec<Box<dyn GridStepper>>,
    /// Per member: its pending thermal step, once its drive paused there.
    pending: Vec<Option<Pending>>,
    /// Per member: heat in J that entered through the faces of the grid being stepped.
    inflow: Vec<f64>,
    /// Every member's field of the grid being stepped (member-major), and its observables.
    fields: Vec<f32>,
    observations: Vec<f64>,
    /// Per member, per grid: (sub-steps, inflow J).
    results: Vec<(usize, f64)>,
    /// Per member: whether its state's fields were replaced since the steppers took them.
    replaced: Vec<bool>,
    /// Whether the fields in the members' states equal the steppers' (false after a step).
    host_current: bool,
}

impl Batched {
    fn new(model: &Model, backend: &Backend, n: usize) -> Result<Self> {
        let grids = &model.thermal.grids;
        let cells = grids.iter().map(|g| g.cells()).max().unwrap_or(0);
        let observables = grids.iter().map(|g| g.observables.len()).max().unwrap_or(0);
        Ok(Self {
            steppers: grids
                .iter()
                .map(|g| backend.stepper(g, n))
                .collect::<Result<_>>()?,
            pending: vec![None; n],
            inflow: vec![0.0; n],
            fields: vec![0.0; n * cells],
            observations: vec![0.0; n * observables],
            results: vec![(0, 0.0); n * grids.len()],
            replaced: vec![true; n],
            host_current: true,
        })
    }

    /// Copies the steppers' fields into the states of the members not restored since (their
    /// own fields are newer), when the states lag behind.
    fn pull(&mut self, model: &Model, members: &mut [Twin]) -> Result<()> {
        if self.host_current {
            return Ok(());
        }
        for (g, stepper) in self.steppers.iter_mut().enumerate() {
            let cells = model.thermal.grids[g].cells();
            let fields = &mut self.fields[..members.len() * cells];
            stepper.read_fields(fields)?;
            for (i, m) in members.iter_mut().enumerate() {
                if !m.thermal.replaced() {
                    m.state.thermal.grids[g].copy_from_slice(&fields[i * cells..(i + 1) * cells]);
                }
            }
        }
        self.host_current = true;
        Ok(())
    }

    /// One thermal step of every member's grids: the fields of members restored since the
    /// last step up from their states, conditions, the step, observables back (the fields stay
    /// with the steppers); then each member completes its thermal step.
    fn step(&mut self, model: &Model, members: &mut [Twin]) -> Result<()> {
        let dt = model.thermal.dt;
        let n = members.len();
        let ng = self.steppers.len();
        for (flag, m) in self.replaced.iter_mut().zip(members.iter_mut()) {
            *flag = m.thermal.take_replaced();
        }
        for (g, stepper) in self.steppers.iter_mut().enumerate() {
            let n_obs = model.thermal.grids[g].observables.len();
            for (i, m) in members.iter().enumerate() {
                if self.replaced[i] {
                    stepper.write_field(i, &m.state.thermal.grids[g])?;
                }
                stepper.set_conditions(i, m.grid_conditions(g));
            }
            self.inflow.iter_mut().for_each(|x| *x = 0.0);
            let substeps = stepper.advance(dt, &mut self.inflow)?;
            let observations = &mut self.observations[..n * n_obs];
            stepper.observe(observations)?;
            for (i, m) in members.iter_mut().enumerate() {
                let st = &mut m.state.thermal;
                st.observations[g].copy_from_slice(&observations[i * n_obs..(i + 1) * n_obs]);
                self.results[i * ng + g] = (substeps, self.inflow[i]);
            }
        }
        self.host_current = false;
        members
            .par_iter_mut()
            .zip(self.pending.par_iter_mut())
            .zip(self.results.par_chunks(ng.max(1)))
            .for_each(|((m, p), r)| {
                if let Some(p) = p.take() {
                    m.complete_thermal(p, r);
                }
            });
        Ok(())
    }
}

impl Ensemble {
    /// One member per parameter vector, each from the model's initial state.
    pub fn new(model: &Arc<Model>, thetas: &[Vec<f64>], seed: u64) -> Result<Self> {
        let members = thetas
            .iter()
            .enumerate()
            .map(|(i, th)| Twin::with_theta(model, th, seed.wrapping_add(i as u64)))
            .collect::<Result<_>>()?;
        Ok(Self {
            model: Arc::clone(model),
            members,
            seed,
            batched: None,
        })
    }

    /// Steps the members' thermal grids on `backend`, all members of a grid in one batched
    /// stepper. Models whose slow integrator (`[solver.cycle_averaged]`) steps windows of its
    /// own, or without grids, move each member to `backend` instead.
    ///
    /// A batched stepper takes the sub-step count the most demanding member needs, so members
    /// advance in the same (or smaller) stable sub-steps as alone: results agree with
    /// one-by-one stepping to the explicit scheme's time discretisation, and a batch on the CPU
    /// and on a GPU agree with each other (tested).
    pub fn set_backend(&mut self, backend: &Backend) -> Result<()> {
        self.sync_fields()?;
        if self.model.thermal.grids.is_empty() || self.model.cycle_averaged.is_some() {
            for m in &mut self.members {
                m.set_backend(backend)?;
            }
            self.batched = None;
            return Ok(());
        }
        self.batched = Some(Batched::new(&self.model, backend, self.members.len())?);
        Ok(())
    }

    /// Which backend steps the grids (`cpu`, `gpu: ADAPTER`), and whether batched.
    pub fn backend(&self) -> Option<String> {
        match &self.batched {
            Some(b) => b
                .steppers
                .first()
                .map(|s| format!("{} (batched)", s.backend())),
            None => self.members.first().and_then(Twin::backend),
        }
    }

    /// Forks `state` (a calibrated twin's snapshot) into one member per parameter vector: every
    /// member continues from that state with its own parameters.
    pub fn fork(model: &Arc<Model>, state: &State, thetas: &[Vec<f64>], seed: u64) -> Result<Self> {
        let mut e = Self::new(model, thetas, seed)?;
        for (m, th) in e.members.iter_mut().zip(thetas) {
            m.restore(state)?;
            m.set_params(&Params { values: th.clone() })?;
        }
        Ok(e)
    }

    /// Members continuing from saved states (a checkpoint), one per state.
    pub fn resume(model: &Arc<Model>, states: &[State], seed: u64) -> Result<Self> {
        let prior = Params::prior_mean(model).values;
        let mut e = Self::new(model, &vec![prior; states.len()], seed)?;
        for (m, s) in e.members.iter_mut().zip(states) {
            m.restore(s)?;
        }
        Ok(e)
    }

    /// The members. With batched grids their states' fields may lag behind the steppers'
    /// (see [`Ensemble::sync_fields`]); everything else in them is current.
    pub fn members(&self) -> &[Twin] {
        &self.members
    }

    /// The members, mutably. A member's [`Twin::restore`] is taken up by the batched steppers
    /// before the next step; read its fields only after [`Ensemble::sync_fields`].
    pub fn members_mut(&mut self) -> &mut [Twin] {
        &mut self.members
    }

    /// Brings the fields in the members' states up to date with the batched steppers (one
    /// transfer per grid from a GPU; nothing where they are current or not batched).
    pub fn sync_fields(&mut self) -> Result<()> {
        match &mut self.batched {
            Some(b) => b.pull(&self.model, &mut self.members),
            None => Ok(()),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Puts every member back to the model's initial state, keeping its parameters (the start
    /// of another recorded run).
    pub fn restart(&mut self) -> Result<()> {
        let model = &self.model;
        let seed = self.seed;
        for (i, m) in self.members.iter_mut().enumerate() {
            let theta = m.params().values;
            *m = Twin::with_theta(model, &theta, seed.wrapping_add(i as u64))?;
        }
        Ok(())
    }

    /// Drives every member to time `t` s with inputs from `inputs` ([`Twin::drive_to`]); with
    /// batched grids, in parallel up to each thermal step, then the grids of all members at
    /// once.
    pub fn drive_to(&mut self, t: f64, inputs: &InputSeries) -> Result<()> {
        // Rows closer together than a sub-stepped interval often find every member there
        // already: nothing to hand to the thread pool.
        let half_step = 0.5 * self.model.dt_mech;
        if self.members.iter().all(|m| m.state().time + half_step >= t) {
            return Ok(());
        }
        let grids = match self.batched {
            Some(_) => Grids::Deferred,
            None => Grids::Own,
        };
        loop {
            let mut paused = 0usize;
            match &mut self.batched {
                Some(b) => {
                    paused = self
                        .members
                        .par_iter_mut()
                        .zip(b.pending.par_iter_mut())
                        .map(|(m, slot)| -> Result<usize> {
                            let driven =
                                m.drive_with(Some(inputs), t, Rules::DATA, grids, &mut |_, _| {
                                    Ok(())
                                })?;
                            Ok(match driven {
                                Driven::Reached => 0,
                                Driven::Paused(p) => {
                                    *slot = Some(p);
                                    1
                                }
                            })
                        })
                        .try_reduce(|| 0, |a, b| Ok(a + b))?;
                }
                None => {
                    self.members
                        .par_iter_mut()
                        .try_for_each(|m| m.drive_to(inputs, t))?;
                }
            }
            if paused == 0 {
                return Ok(());
            }
            if paused != self.members.len() {
                return Err(Error::State(
                    "ensemble members reached a thermal step at different times".into(),
                ));
            }
            let b = self.batched.as_mut().expect("paused members are batched");
            b.step(&self.model, &mut self.members)?;
        }
    }
}
