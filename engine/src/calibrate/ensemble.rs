//! Ensembles: many twins of one model with their own parameters, stepped in parallel.

use std::sync::Arc;

use rayon::prelude::*;

use super::run::{drive_to, twin_with};
use crate::data::InputSeries;
use crate::error::Result;
use crate::model::Model;
use crate::twin::{State, Twin};

/// `members` twins of one model, each with its own parameters and state, stepped in parallel
/// across members with rayon (each member is deterministic, so the result does not depend on
/// the thread count).
pub struct Ensemble {
    model: Arc<Model>,
    members: Vec<Twin>,
    seed: u64,
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
        })
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
        }
        Ok(())
    }

    /// Steps every member to time `t` with inputs from `inputs`.
    pub fn advance_to(&mut self, t: f64, inputs: &InputSeries) -> Result<()> {
        self.members
            .par_iter_mut()
            .map_init(Vec::new, |buf, m| drive_to(m, inputs, t, buf))
            .collect::<Result<Vec<()>>>()?;
        Ok(())
    }
}
