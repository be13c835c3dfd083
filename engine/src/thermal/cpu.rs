//! The CPU grid stepper: rayon over planes of all members, the reference implementation.

use rayon::prelude::*;

use super::grid::Grid;
use super::kernels::heat_step::{RowLayout, Tables, update_plane};
use super::stepper::GridStepper;
use crate::error::Result;

/// Below this many node updates per sub-step the stepper stays on the calling thread (rayon's
/// fork-join costs more than it saves on small grids).
const PARALLEL_THRESHOLD: usize = 1 << 15;

/// Grids up to this many nodes (two fields: 512 KiB) run whole thermal steps member by member
/// when the ensemble has members for every thread: each task advances one member through all
/// its sub-steps while its fields stay in the core's cache, instead of streaming every
/// member's field through memory once per sub-step.
const WHOLE_MEMBER_CELLS: usize = 1 << 16;

/// Steps the grids of `members` instances of one [`Grid`] on the CPU.
pub struct CpuStepper {
    grid: Grid,
    members: usize,
    field: Vec<f32>,
    scratch: Vec<f32>,
    cond: Vec<f32>,
    tables: Option<(f64, Tables)>,
    /// What the row loops precompute for the grid.
    layout: RowLayout,
}

impl CpuStepper {
    /// A stepper for `members` copies of `grid`, all at the initial temperature, all conditions
    /// zero (insulated, no sources).
    pub fn new(grid: &Grid, members: usize) -> Self {
        let cells = grid.cells() * members;
        Self {
            grid: grid.clone(),
            members,
            field: vec![0.0; cells],
            scratch: vec![0.0; cells],
            cond: vec![0.0; grid.condition_len() * members],
            tables: None,
            layout: RowLayout::new(grid),
        }
    }

    fn tables(&mut self, dt: f64) -> &Tables {
        if self.tables.as_ref().is_none_or(|(d, _)| *d != dt) {
            self.tables = Some((dt, self.grid.tables(dt)));
        }
        &self.tables.as_ref().expect("set above").1
    }

    /// `n` sub-steps of `dt` of every member, one member per task (see [`WHOLE_MEMBER_CELLS`]);
    /// the same operations in the same order as sub-step after sub-step over all members.
    fn advance_members(&mut self, n: usize, dt: f64, inflow: &mut [f64]) {
        self.tables(dt);
        let (grid, tables, layout) = (
            &self.grid,
            &self.tables.as_ref().expect("set").1,
            &self.layout,
        );
        let cells = grid.cells();
        let plane = grid.n[0] * grid.n[1];
        let flows = !grid.boundaries.is_empty();
        let step = |c: &[f32], src: &[f32], dst: &mut [f32], acc: &mut f64| {
            if flows {
                *acc += grid.boundary_inflow(c, src) * dt;
            }
            for (k, out) in dst.chunks_mut(plane).enumerate() {
                update_plane(grid, tables, layout, c, src, k, out);
            }
        };
        let (cond, clen) = (&self.cond, grid.condition_len());
        self.field
            .par_chunks_mut(cells)
            .zip(self.scratch.par_chunks_mut(cells))
            .zip(inflow.par_iter_mut())
            .enumerate()
            .for_each(|(m, ((a, b), acc))| {
                let c = &cond[m * clen..(m + 1) * clen];
                for s in 0..n {
                    if s % 2 == 0 {
                        step(c, a, b, acc);
                    } else {
                        step(c, b, a, acc);
                    }
                }
            });
        if n % 2 == 1 {
            std::mem::swap(&mut self.field, &mut self.scratch);
        }
    }

    /// One explicit sub-step of every member, `field` → `scratch`, then swap.
    fn substep(&mut self, dt: f64) {
        self.tables(dt);
        let (grid, tables) = (&self.grid, &self.tables.as_ref().expect("set").1);
        let [nx, ny, nz] = grid.n;
        let plane = nx * ny;
        let cells = grid.cells();
        let clen = grid.condition_len();
        let (field, cond, layout) = (&self.field, &self.cond, &self.layout);
        let work = |(p, out): (usize, &mut [f32])| {
            let member = p / nz;
            let k = p % nz;
            let t = &field[member * cells..(member + 1) * cells];
            let c = &cond[member * clen..(member + 1) * clen];
            update_plane(grid, tables, layout, c, t, k, out);
        };
        if cells * self.members >= PARALLEL_THRESHOLD {
            // Tasks of at least PARALLEL_THRESHOLD / 2 nodes: rayon's cost per task stays
            // small against a small grid's plane.
            self.scratch
                .par_chunks_mut(plane)
                .enumerate()
                .with_min_len((PARALLEL_THRESHOLD / 2).div_ceil(plane))
                .for_each(work);
        } else {
            self.scratch.chunks_mut(plane).enumerate().for_each(work);
        }
        std::mem::swap(&mut self.field, &mut self.scratch);
    }
}

impl GridStepper for CpuStepper {
    fn backend(&self) -> String {
        "cpu".into()
    }

    fn grid(&self) -> &Grid {
        &self.grid
    }

    fn members(&self) -> usize {
        self.members
    }

    fn write_field(&mut self, member: usize, field: &[f32]) -> Result<()> {
        let cells = self.grid.cells();
        self.field[member * cells..(member + 1) * cells].copy_from_slice(field);
        Ok(())
    }

    fn read_field(&mut self, member: usize, out: &mut [f32]) -> Result<()> {
        let cells = self.grid.cells();
        out.copy_from_slice(&self.field[member * cells..(member + 1) * cells]);
        Ok(())
    }

    fn set_conditions(&mut self, member: usize, cond: &[f32]) {
        let n = self.grid.condition_len();
        self.cond[member * n..(member + 1) * n].copy_from_slice(cond);
    }

    fn advance(&mut self, dt: f64, inflow: &mut [f64]) -> Result<usize> {
        let (n, dt_sub) = self.grid.substeps(dt, &self.cond);
        let cells = self.grid.cells();
        if cells <= WHOLE_MEMBER_CELLS && self.members >= rayon::current_num_threads().max(2) {
            self.advance_members(n, dt_sub, inflow);
            return Ok(n);
        }
        let clen = self.grid.condition_len();
        let flows = !self.grid.boundaries.is_empty();
        for _ in 0..n {
            if flows {
                for (m, acc) in inflow.iter_mut().enumerate() {
                    let t = &self.field[m * cells..(m + 1) * cells];
                    let c = &self.cond[m * clen..(m + 1) * clen];
                    *acc += self.grid.boundary_inflow(c, t) * dt_sub;
                }
            }
            self.substep(dt_sub);
        }
        Ok(n)
    }

    fn observe(&mut self, out: &mut [f64]) -> Result<()> {
        let cells = self.grid.cells();
        let no = self.grid.observables.len();
        for m in 0..self.members {
            let t = &self.field[m * cells..(m + 1) * cells];
            for (o, obs) in self.grid.observables.iter().enumerate() {
                out[m * no + o] = self.grid.observe(obs, t);
            }
        }
        Ok(())
    }
}
