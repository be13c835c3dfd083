//! The twin's thermal half: losses accumulated every mechanical step, the network and grids
//! advanced every `dt_thermal`, and the feedback into friction.

use serde::{Deserialize, Serialize};

use super::Twin;
use crate::error::Result;
use crate::model::{Model, TemperatureOf};
use crate::params::Tunables;
use crate::thermal::grid::{BC_WORDS, BoundaryKind};
use crate::thermal::{Backend, End, GridStepper, HeatOrigin, HeatTarget, NetworkWorkspace};

/// The thermal part of a twin's [`State`](super::State).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ThermalState {
    /// Node temperatures in °C.
    pub nodes: Vec<f64>,
    /// Grid fields: per node, K above the grid's initial temperature.
    pub grids: Vec<Vec<f32>>,
    /// Per grid: its observables (probes, means), K above the initial temperature.
    pub observations: Vec<Vec<f64>>,
    /// Per heat source: energy in J produced since the last thermal step.
    pub pending: Vec<f64>,
    /// Per joint: multiplier of the viscous coefficient from its lubricant temperature.
    pub viscous_factor: Vec<f64>,
    /// The energy account since the start.
    pub energy: EnergyAccount,
}

/// Heat bookkeeping in J since the start of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyAccount {
    /// Heat that entered the thermal model from its sources (losses and prescribed powers).
    pub entered: f64,
    /// Heat that left to ambients and through convection and flux faces (net).
    pub lost: f64,
    /// Whether some heat crossed fixed-temperature grid faces (not accounted).
    pub unaccounted_fixed_faces: bool,
}

impl ThermalState {
    pub(super) fn new(model: &Model) -> Self {
        let th = &model.thermal;
        Self {
            nodes: th.nodes.iter().map(|n| n.initial).collect(),
            grids: th.grids.iter().map(|g| vec![0.0; g.cells()]).collect(),
            observations: th
                .grids
                .iter()
                .map(|g| vec![0.0; g.observables.len()])
                .collect(),
            pending: vec![0.0; th.heats.len()],
            viscous_factor: vec![1.0; model.joints.len()],
            energy: EnergyAccount {
                unaccounted_fixed_faces: th.grids.iter().any(|g| g.has_fixed()),
                ..Default::default()
            },
        }
    }

    /// Heat stored relative to the initial temperatures, J, with capacities `tunables`.
    pub fn stored(&self, model: &Model, tunables: &Tunables) -> f64 {
        let th = &model.thermal;
        let nodes: f64 = th
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| tunables.capacity[i] * (self.nodes[i] - n.initial))
            .sum();
        let grids: f64 = th
            .grids
            .iter()
            .zip(&self.grids)
            .map(|(g, f)| g.stored_heat(f))
            .sum();
        nodes + grids
    }

    /// A temperature in °C.
    pub fn temperature(&self, model: &Model, of: TemperatureOf) -> f64 {
        match of {
            TemperatureOf::Node(n) => self.nodes[n],
            TemperatureOf::Grid { grid, observable } => {
                model.thermal.grids[grid].initial + self.observations[grid][observable]
            }
        }
    }
}

/// The twin's grid steppers and scratch space.
pub(crate) struct ThermalRuntime {
    pub steppers: Vec<Box<dyn GridStepper>>,
    network: NetworkWorkspace,
    node_power: Vec<f64>,
    grid_power: Vec<Vec<f64>>,
    ambient: Vec<f64>,
    far: Vec<f64>,
    cond: Vec<Vec<f32>>,
    /// Grid node updates so far (nodes × sub-steps).
    node_updates: u64,
}

impl ThermalRuntime {
    pub fn new(model: &Model, backend: &Backend) -> Result<Self> {
        let th = &model.thermal;
        Ok(Self {
            steppers: th
                .grids
                .iter()
                .map(|g| backend.stepper(g, 1))
                .collect::<Result<_>>()?,
            network: NetworkWorkspace::new(th),
            node_power: vec![0.0; th.nodes.len()],
            grid_power: th
                .grids
                .iter()
                .map(|g| vec![0.0; g.sources.len()])
                .collect(),
            ambient: vec![0.0; th.ambients.len()],
            far: vec![0.0; th.links.len()],
            cond: th
                .grids
                .iter()
                .map(|g| vec![0.0; g.condition_len()])
                .collect(),
            node_updates: 0,
        })
    }
}

impl Twin {
    /// Adds this step's losses to the pending heat of each source (and keeps each source's
    /// power, its fraction applied, in the workspace).
    pub(super) fn accumulate_heat(&mut self) {
        let model = &self.model;
        let dt = model.dt_mech;
        let t = self.state.time;
        for (h, heat) in model.thermal.heats.iter().enumerate() {
            let power = match &heat.origin {
                HeatOrigin::Friction(j) => self.work.friction_power[*j],
                HeatOrigin::CopperLoss(d) => {
                    let current = self.state.drive_torque[*d] / self.state.tunables.drive[*d][4];
                    model.drives[*d].resistance * current * current
                }
                HeatOrigin::Power(s) => s.value(t, &self.inputs),
            };
            self.work.heat_power[h] = heat.fraction * power;
            self.state.thermal.pending[h] += heat.fraction * power * dt;
        }
    }

    /// Advances the network and the grids by `dt_thermal` with the averaged losses.
    pub(super) fn step_thermal(&mut self) -> Result<()> {
        self.prepare_thermal();
        let dt = self.model.thermal.dt;
        for g in 0..self.thermal.steppers.len() {
            let rt = &mut self.thermal;
            let st = &mut self.state.thermal;
            let stepper = &mut rt.steppers[g];
            stepper.set_conditions(0, &rt.cond[g]);
            let mut inflow = [0.0];
            let substeps = stepper.advance(dt, &mut inflow)?;
            stepper.read_field(0, &mut st.grids[g])?;
            stepper.observe(&mut st.observations[g])?;
            self.absorb_grid_step(g, substeps, inflow[0]);
        }
        self.finish_thermal();
        Ok(())
    }

    /// The first half of a thermal step: the pending losses become powers, the network
    /// advances, and each grid's conditions (boundaries, then source power densities) are laid
    /// out in the runtime's `cond`, ready for a stepper.
    fn prepare_thermal(&mut self) {
        let model = std::sync::Arc::clone(&self.model);
        let th = &model.thermal;
        let dt = th.dt;
        let t = self.state.time;
        let rt = &mut self.thermal;
        let st = &mut self.state.thermal;
        rt.node_power.iter_mut().for_each(|p| *p = 0.0);
        rt.grid_power.iter_mut().flatten().for_each(|p| *p = 0.0);
        for (h, heat) in th.heats.iter().enumerate() {
            let energy = std::mem::take(&mut st.pending[h]);
            st.energy.entered += energy;
            match heat.target {
                HeatTarget::Node(n) => rt.node_power[n] += energy / dt,
                HeatTarget::Grid { grid, source } => rt.grid_power[grid][source] += energy / dt,
            }
        }
        for (a, amb) in th.ambients.iter().enumerate() {
            rt.ambient[a] = amb.temperature.value(t, &self.inputs);
        }
        let tun = &self.state.tunables;
        for (l, link) in th.links.iter().enumerate() {
            rt.far[l] = match link.b {
                End::Node(_) => 0.0,
                End::Ambient(k) => rt.ambient[k],
                End::Grid {
                    grid, observable, ..
                } => th.grids[grid].initial + st.observations[grid][observable],
            };
        }
        rt.network
            .step(th, tun, &rt.far, &rt.node_power, &mut st.nodes, dt);
        for (l, link) in th.links.iter().enumerate() {
            let flow = tun.conductance[l] * (st.nodes[link.a] - rt.far[l]);
            match link.b {
                End::Node(_) => {}
                End::Ambient(_) => st.energy.lost += flow * dt,
                End::Grid { grid, source, .. } => rt.grid_power[grid][source] += flow,
            }
        }
        for (g, grid) in th.grids.iter().enumerate() {
            let cond = &mut rt.cond[g];
            for (b, bc) in grid.boundaries.iter().enumerate() {
                let words: [f64; BC_WORDS] = match &bc.kind {
                    BoundaryKind::Insulated => [0.0; 4],
                    BoundaryKind::Fixed(s) => {
                        [1.0, 0.0, s.value(t, &self.inputs) - grid.initial, 0.0]
                    }
                    BoundaryKind::Flux(s) => [0.0, 0.0, 0.0, s.value(t, &self.inputs)],
                    BoundaryKind::Convection { ambient, .. } => [
                        0.0,
                        tun.convection[g][b],
                        rt.ambient[*ambient] - grid.initial,
                        0.0,
                    ],
                };
                for (w, v) in words.iter().enumerate() {
                    cond[BC_WORDS * b + w] = *v as f32;
                }
            }
            let base = BC_WORDS * grid.boundaries.len();
            for (s, (_, volume)) in grid.sources.iter().enumerate() {
                cond[base + s] = (rt.grid_power[g][s] / volume) as f32;
            }
        }
    }

    /// Books grid `g`'s step: `substeps` explicit sub-steps and `inflow` J in through its
    /// convection and flux faces (its field and observables are already in the state).
    fn absorb_grid_step(&mut self, g: usize, substeps: usize, inflow: f64) {
        let cells = self.model.thermal.grids[g].cells();
        self.thermal.node_updates += (substeps * cells) as u64;
        self.state.thermal.energy.lost -= inflow;
    }

    /// The last part of a thermal step: temperatures feed back into viscous friction.
    fn finish_thermal(&mut self) {
        let st = &mut self.state.thermal;
        for (j, joint) in self.model.joints.iter().enumerate() {
            if let Some((node, beta, reference)) = joint.viscous_temperature {
                st.viscous_factor[j] = (-beta * (st.nodes[node] - reference)).exp();
            }
        }
    }

    /// A thermal step of a twin whose grids are stepped elsewhere (an ensemble stepping all
    /// members' grids in one batch, see [`Twin::detach_grids`]): the first half now, the rest
    /// in [`Twin::complete_grid_step`]. Until then the twin does not step.
    pub(super) fn begin_detached_thermal(&mut self, sample_since: u64) {
        self.prepare_thermal();
        self.awaiting_grids = Some(sample_since);
    }

    /// From now on this twin's grids are stepped by its owner (an ensemble), in one batch with
    /// other twins': each thermal step stops after its first half until the owner calls
    /// [`Twin::complete_grid_step`].
    pub fn detach_grids(&mut self) {
        self.grids_detached = true;
    }

    /// Whether a thermal step waits for its grids to be stepped by the owner.
    pub fn awaiting_grids(&self) -> bool {
        self.awaiting_grids.is_some()
    }

    /// The conditions of grid `g` for the thermal step that waits (per boundary
    /// `[fixed flag, h W/(m²·K), T K relative, q W/m²]`, then per source W/m³).
    pub fn grid_conditions(&self, g: usize) -> &[f32] {
        &self.thermal.cond[g]
    }

    /// Grid `g`'s field (K above its initial temperature), for the owner to upload before and
    /// write back after a batched step.
    pub fn grid_field_mut(&mut self, g: usize) -> &mut [f32] {
        &mut self.state.thermal.grids[g]
    }

    /// Grid `g`'s observables, for the owner to write back after a batched step.
    pub fn grid_observations_mut(&mut self, g: usize) -> &mut [f64] {
        &mut self.state.thermal.observations[g]
    }

    /// Completes the thermal step that waits, once the owner has stepped every grid
    /// (`steps[g]` = (sub-steps, inflow J) of grid `g`) and written back fields and
    /// observables; then samples the sensors that were due.
    pub fn complete_grid_step(&mut self, steps: &[(usize, f64)]) {
        let Some(before) = self.awaiting_grids.take() else {
            return;
        };
        for (g, &(substeps, inflow)) in steps.iter().enumerate() {
            self.absorb_grid_step(g, substeps, inflow);
        }
        self.finish_thermal();
        self.sample_since(before);
    }

    /// Moves the grids to `backend` (the fields carry over).
    pub fn set_backend(&mut self, backend: &Backend) -> Result<()> {
        let mut rt = ThermalRuntime::new(&self.model, backend)?;
        rt.node_updates = self.thermal.node_updates;
        for (g, s) in rt.steppers.iter_mut().enumerate() {
            s.write_field(0, &self.state.thermal.grids[g])?;
        }
        self.thermal = rt;
        Ok(())
    }

    /// Grid node updates (nodes × sub-steps) this twin has made.
    pub fn grid_node_updates(&self) -> u64 {
        self.thermal.node_updates
    }

    /// Which backend steps the grids (`cpu` or `gpu: ADAPTER`), or `None` without grids.
    pub fn backend(&self) -> Option<String> {
        self.thermal.steppers.first().map(|s| s.backend())
    }

    /// Uploads the state's grid fields into the steppers (after a restore).
    pub(super) fn upload_fields(&mut self) -> Result<()> {
        for (g, s) in self.thermal.steppers.iter_mut().enumerate() {
            s.write_field(0, &self.state.thermal.grids[g])?;
        }
        Ok(())
    }

    /// The thermal state: temperatures and the energy account.
    pub fn thermal(&self) -> &ThermalState {
        &self.state.thermal
    }

    /// The energy balance so far in J: `(entered, stored, lost)`. With every source accounted,
    /// `entered = stored + lost` up to rounding.
    pub fn energy_balance(&self) -> (f64, f64, f64) {
        let th = &self.state.thermal;
        (
            th.energy.entered,
            th.stored(&self.model, &self.state.tunables),
            th.energy.lost,
        )
    }
}
