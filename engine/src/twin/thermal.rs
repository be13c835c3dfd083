//! The twin's thermal half: losses accumulated every mechanical step, the network and grids
//! advanced every `dt_thermal`, and the feedback into friction.

use serde::{Deserialize, Serialize};

use super::Twin;
use crate::error::Result;
use crate::model::params::Tunables;
use crate::model::{Model, TemperatureOf};
use crate::thermal::conditions::{BoundaryCondition, boundaries_mut, densities_mut};
use crate::thermal::grid::BoundaryKind;
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
    /// Whether the state's fields changed since the steppers last held them (a restore, or a
    /// step made by an ensemble's batched steppers): they are uploaded before the next step.
    stale: bool,
    /// Whether the state's fields were replaced (a restore) since an ensemble's batched
    /// steppers last held them: the batch uploads them before its next step.
    restored: bool,
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
            stale: true,
            restored: true,
        })
    }

    /// Marks the steppers' fields as out of date with the state's.
    pub fn fields_changed(&mut self) {
        self.stale = true;
    }

    /// Marks the state's fields as replaced: both the twin's own steppers and an ensemble's
    /// batched steppers take them up before their next step.
    pub fn fields_replaced(&mut self) {
        self.stale = true;
        self.restored = true;
    }

    /// Whether the fields were replaced since the last call (for an ensemble's batch).
    pub(crate) fn take_replaced(&mut self) -> bool {
        std::mem::take(&mut self.restored)
    }

    /// Whether the fields were replaced since an ensemble's batch last took them.
    pub(crate) fn replaced(&self) -> bool {
        self.restored
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
                    self.state.tunables.resistance[*d] * current * current
                }
                HeatOrigin::Power(s) => s.value(t, &self.state.inputs),
            };
            self.work.heat_power[h] = heat.fraction * power;
            self.state.thermal.pending[h] += heat.fraction * power * dt;
        }
    }

    /// Steps every grid by `dt_thermal` with the twin's own steppers, under the conditions the
    /// first half of the thermal step laid out, and reads fields and observables back into the
    /// state.
    pub(super) fn step_own_grids(&mut self) -> Result<()> {
        let dt = self.model.thermal.dt;
        if std::mem::take(&mut self.thermal.stale) {
            for (g, s) in self.thermal.steppers.iter_mut().enumerate() {
                s.write_field(0, &self.state.thermal.grids[g])?;
            }
        }
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
        Ok(())
    }

    /// The first half of a thermal step: the pending losses become powers, the network
    /// advances, and each grid's conditions (boundaries, then source power densities) are laid
    /// out in the runtime's `cond`, ready for a stepper.
    pub(super) fn begin_thermal(&mut self) {
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
            rt.ambient[a] = amb.temperature.value(t, &self.state.inputs);
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
        rt.network.step(
            &tun.capacity,
            &tun.conductance,
            &rt.far,
            &rt.node_power,
            &mut st.nodes,
            dt,
        );
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
            let nb = grid.boundaries.len();
            for (b, (bc, out)) in grid
                .boundaries
                .iter()
                .zip(boundaries_mut(cond, nb))
                .enumerate()
            {
                let relative = |celsius: f64| (celsius - grid.initial) as f32;
                *out = match &bc.kind {
                    BoundaryKind::Insulated => BoundaryCondition::default(),
                    BoundaryKind::Fixed(s) => {
                        BoundaryCondition::fixed(relative(s.value(t, &self.state.inputs)))
                    }
                    BoundaryKind::Flux(s) => BoundaryCondition {
                        flux: s.value(t, &self.state.inputs) as f32,
                        ..Default::default()
                    },
                    BoundaryKind::Convection { ambient, .. } => BoundaryCondition {
                        h: tun.convection[g][b] as f32,
                        temperature: relative(rt.ambient[*ambient]),
                        ..Default::default()
                    },
                };
            }
            let density = densities_mut(cond, nb);
            for (s, (_, volume)) in grid.sources.iter().enumerate() {
                density[s] = (rt.grid_power[g][s] / volume) as f32;
            }
        }
    }

    /// Books grid `g`'s step: `substeps` explicit sub-steps and `inflow` J in through its
    /// convection and flux faces (its field and observables are already in the state).
    pub(super) fn absorb_grid_step(&mut self, g: usize, substeps: usize, inflow: f64) {
        let cells = self.model.thermal.grids[g].cells();
        self.thermal.node_updates += (substeps * cells) as u64;
        self.state.thermal.energy.lost -= inflow;
    }

    /// The second half of a thermal step: temperatures feed back into viscous friction.
    pub(super) fn end_thermal(&mut self) {
        let st = &mut self.state.thermal;
        for (j, joint) in self.model.joints.iter().enumerate() {
            if let Some((node, beta, reference)) = joint.viscous_temperature {
                st.viscous_factor[j] = (-beta * (st.nodes[node] - reference)).exp();
            }
        }
    }

    /// The conditions of grid `g` laid out by the first half of the thermal step (see
    /// [`crate::thermal::GridStepper::set_conditions`]).
    pub(super) fn grid_conditions(&self, g: usize) -> &[f32] {
        &self.thermal.cond[g]
    }

    /// Moves the grids to `backend` (the fields carry over).
    pub fn set_backend(&mut self, backend: &Backend) -> Result<()> {
        let mut rt = ThermalRuntime::new(&self.model, backend)?;
        rt.node_updates = self.thermal.node_updates;
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
