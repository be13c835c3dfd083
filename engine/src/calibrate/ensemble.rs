//! Ensembles: many twins of one model with their own parameters, stepped in parallel.

use std::sync::Arc;

use rayon::prelude::*;

use super::run::{drive_to, twin_with};
use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::thermal::{Backend, GridStepper};
use crate::twin::{State, Twin};

/// `members` twins of one model, each with its own parameters and state, stepped in parallel
/// across members with rayon (each member is deterministic, so the result does not depend on
/// the thread count).
///
/// With [`Ensemble::set_backend`] the thermal grids of all members are stepped together: one
/// stepper per grid holds every member, so on a GPU each thermal step of the whole ensemble is
/// one dispatch sequence per grid (DESIGN.md: kernels are batched across members).
pub struct Ensemble {
    model: Arc<Model>,
    members: Vec<Twin>,
    seed: u64,
    /// Per grid: the stepper of all members, where the grids are batched.
    batched: Option<Vec<Box<dyn GridStepper>>>,
}

impl Ensemble {
    /// One member per parameter vector, each from the model's initial state.
    pub fn new(model: &Arc<Model>, thetas: &[Vec<f64>], seed: u64) -> Result<Self> {
        let members = thetas
            .iter()
            .enumerate()
            .map(|(i, th)| twin_with(model, th, seed.wrapping_add(i as u64)))
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
        let grids = &self.model.thermal.grids;
        if grids.is_empty() || self.model.cycle_averaged.is_some() {
            for m in &mut self.members {
                m.set_backend(backend)?;
            }
            self.batched = None;
            return Ok(());
        }
        let steppers = grids
            .iter()
            .map(|g| backend.stepper(g, self.members.len()))
            .collect::<Result<Vec<_>>>()?;
        self.members.iter_mut().for_each(Twin::detach_grids);
        self.batched = Some(steppers);
        Ok(())
    }

    /// Which backend steps the grids (`cpu`, `gpu: ADAPTER`), and whether batched.
    pub fn backend(&self) -> Option<String> {
        match &self.batched {
            Some(s) => s.first().map(|s| format!("{} (batched)", s.backend())),
            None => self.members.first().and_then(Twin::backend),
        }
    }

    /// One thermal step of every member's grids in the batched steppers: fields up from the
    /// members' states, conditions, the step, fields and observables back.
    fn step_batched_grids(&mut self) -> Result<()> {
        let Some(steppers) = self.batched.as_mut() else {
            return Ok(());
        };
        if !self.members.iter().all(Twin::awaiting_grids) {
            return Err(Error::State(
                "ensemble members reached a thermal step at different times".into(),
            ));
        }
        let dt = self.model.thermal.dt;
        let n = self.members.len();
        let mut results = vec![Vec::with_capacity(steppers.len()); n];
        for (g, stepper) in steppers.iter_mut().enumerate() {
            let cells = self.model.thermal.grids[g].cells();
            let n_obs = self.model.thermal.grids[g].observables.len();
            for (i, m) in self.members.iter_mut().enumerate() {
                stepper.write_field(i, m.grid_field_mut(g))?;
                stepper.set_conditions(i, m.grid_conditions(g));
            }
            let mut inflow = vec![0.0; n];
            let substeps = stepper.advance(dt, &mut inflow)?;
            let mut fields = vec![0.0f32; n * cells];
            stepper.read_fields(&mut fields)?;
            let mut observations = vec![0.0; n * n_obs];
            stepper.observe(&mut observations)?;
            for (i, m) in self.members.iter_mut().enumerate() {
                m.grid_field_mut(g)
                    .copy_from_slice(&fields[i * cells..(i + 1) * cells]);
                m.grid_observations_mut(g)
                    .copy_from_slice(&observations[i * n_obs..(i + 1) * n_obs]);
                results[i].push((substeps, inflow[i]));
            }
        }
        self.members
            .par_iter_mut()
            .zip(&results)
            .for_each(|(m, r)| m.complete_grid_step(r));
        Ok(())
    }

    /// Forks `state` (a calibrated twin's snapshot) into one member per parameter vector: every
    /// member continues from that state with its own parameters.
    pub fn fork(model: &Arc<Model>, state: &State, thetas: &[Vec<f64>], seed: u64) -> Result<Self> {
        let mut e = Self::new(model, thetas, seed)?;
        for (m, th) in e.members.iter_mut().zip(thetas) {
            m.restore(state)?;
            m.set_params(&crate::params::Params { values: th.clone() })?;
        }
        Ok(e)
    }

    /// Members continuing from saved states (a checkpoint), one per state.
    pub fn resume(model: &Arc<Model>, states: &[State], seed: u64) -> Result<Self> {
        let prior = crate::params::Params::prior_mean(model).values;
        let mut e = Self::new(model, &vec![prior; states.len()], seed)?;
        for (m, s) in e.members.iter_mut().zip(states) {
            m.restore(s)?;
        }
        Ok(e)
    }

    /// The members.
    pub fn members(&self) -> &[Twin] {
        &self.members
    }

    /// The members, mutably.
    pub fn members_mut(&mut self) -> &mut [Twin] {
        &mut self.members
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
            let theta = m.params().values.clone();
            *m = twin_with(model, &theta, seed.wrapping_add(i as u64))?;
            if self.batched.is_some() {
                m.detach_grids();
            }
        }
        Ok(())
    }

    /// Steps every member to time `t` with inputs from `inputs` (with batched grids: in
    /// parallel up to each thermal step, then the grids of all members at once).
    pub fn advance_to(&mut self, t: f64, inputs: &InputSeries) -> Result<()> {
        loop {
            self.members
                .par_iter_mut()
                .map_init(Vec::new, |buf, m| drive_to(m, inputs, t, buf))
                .collect::<Result<Vec<()>>>()?;
            if !self.members.iter().any(Twin::awaiting_grids) {
                return Ok(());
            }
            self.step_batched_grids()?;
        }
    }
}
