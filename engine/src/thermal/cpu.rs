//! The CPU grid stepper: rayon over planes of all members, the reference implementation.

use rayon::prelude::*;

use super::grid::{BC_WORDS, Grid, NodeBox, Tables};
use super::stepper::GridStepper;
use crate::error::Result;

/// Below this many node updates per sub-step the stepper stays on the calling thread (rayon's
/// fork-join costs more than it saves on small grids).
const PARALLEL_THRESHOLD: usize = 1 << 15;

/// Steps the grids of `members` instances of one [`Grid`] on the CPU.
pub struct CpuStepper {
    grid: Grid,
    members: usize,
    field: Vec<f32>,
    scratch: Vec<f32>,
    cond: Vec<f32>,
    tables: Option<(f64, Tables)>,
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
        }
    }

    fn tables(&mut self, dt: f64) -> &Tables {
        if self.tables.as_ref().is_none_or(|(d, _)| *d != dt) {
            self.tables = Some((dt, self.grid.tables(dt)));
        }
        &self.tables.as_ref().expect("set above").1
    }

    /// One explicit sub-step of every member, `field` → `scratch`, then swap.
    fn substep(&mut self, dt: f64) {
        self.tables(dt);
        let (grid, tables) = (&self.grid, &self.tables.as_ref().expect("set").1);
        let [nx, ny, nz] = grid.n;
        let plane = nx * ny;
        let cells = grid.cells();
        let clen = grid.condition_len();
        let (field, cond) = (&self.field, &self.cond);
        let work = |(p, out): (usize, &mut [f32])| {
            let member = p / nz;
            let k = p % nz;
            let t = &field[member * cells..(member + 1) * cells];
            let c = &cond[member * clen..(member + 1) * clen];
            update_plane(grid, tables, c, t, k, out);
        };
        if cells * self.members >= PARALLEL_THRESHOLD {
            self.scratch
                .par_chunks_mut(plane)
                .enumerate()
                .for_each(work);
        } else {
            self.scratch.chunks_mut(plane).enumerate().for_each(work);
        }
        std::mem::swap(&mut self.field, &mut self.scratch);
    }
}

/// Updates plane `k` of one member into `out`.
///
/// With one material, the interior nodes of every row (`0 < i < nx − 1`) take a branch-free,
/// vectorisable loop; rows on a y or z face use mirrored neighbour rows, then add their face
/// fluxes and any volumetric sources in a second pass. The row's two end nodes, and every node
/// of a grid with several materials, take [`Grid::update_node_at`]. Each path performs the same
/// floating-point operations in the same order as the reference, so the results are identical.
fn update_plane(grid: &Grid, tables: &Tables, cond: &[f32], t: &[f32], k: usize, out: &mut [f32]) {
    let [nx, ny, nz] = grid.n;
    let plane = nx * ny;
    let general = nx < 3 || grid.materials.len() > 1;
    let mirror = |i: usize, n: usize, stride: usize, base: usize| -> (usize, usize) {
        if n == 1 {
            (base, base)
        } else {
            let lo = if i > 0 { base - stride } else { base + stride };
            let hi = if i + 1 < n {
                base + stride
            } else {
                base - stride
            };
            (lo, hi)
        }
    };
    for j in 0..ny {
        let row = k * plane + j * nx;
        let out_row = &mut out[j * nx..(j + 1) * nx];
        if general {
            for (i, o) in out_row.iter_mut().enumerate() {
                *o = grid.update_node_at(tables, cond, t, row + i, [i, j, k]);
            }
            continue;
        }
        let [cx, cy, cz] = [tables.coef[0], tables.coef[1], tables.coef[2]];
        let (south_row, north_row) = mirror(j, ny, nx, row);
        let (below_row, above_row) = mirror(k, nz, plane, row);
        let m = nx - 2;
        let centre = &t[row + 1..row + 1 + m];
        let west = &t[row..row + m];
        let east = &t[row + 2..row + 2 + m];
        let south = &t[south_row + 1..south_row + 1 + m];
        let north = &t[north_row + 1..north_row + 1 + m];
        let below = &t[below_row + 1..below_row + 1 + m];
        let above = &t[above_row + 1..above_row + 1 + m];
        let dst = &mut out_row[1..1 + m];
        for i in 0..m {
            let tc = centre[i];
            let lap = cx * (west[i] - tc)
                + cx * (east[i] - tc)
                + (cy * (south[i] - tc) + cy * (north[i] - tc))
                + (cz * (below[i] - tc) + cz * (above[i] - tc));
            dst[i] = tc + lap;
        }
        // The two end nodes: the missing x neighbour is mirrored.
        for (i, x_neighbour) in [(0, row + 1), (nx - 1, row + nx - 2)] {
            let tc = t[row + i];
            let lap = cx * (t[x_neighbour] - tc)
                + cx * (t[x_neighbour] - tc)
                + (cy * (t[south_row + i] - tc) + cy * (t[north_row + i] - tc))
                + (cz * (t[below_row + i] - tc) + cz * (t[above_row + i] - tc));
            out_row[i] = tc + lap;
        }
        add_faces_and_sources(grid, tables, cond, t, [j, k], row, out_row);
    }
}

/// Second pass over row `(j, k)`: boundary fluxes of the faces each node lies on (or their
/// fixed temperatures), then volumetric sources, in the order of [`Grid::update_node_at`].
/// `out_row` holds `T + lap` on entry.
fn add_faces_and_sources(
    grid: &Grid,
    tables: &Tables,
    cond: &[f32],
    t: &[f32],
    [j, k]: [usize; 2],
    row: usize,
    out_row: &mut [f32],
) {
    let [nx, ny, nz] = grid.n;
    // The y and z faces of this row, in update order: (start of its ids for i = 0, axis).
    let mut faces = [(0usize, 0usize); 4];
    let mut count = 0;
    for (a, idx, n, other) in [(1, j, ny, k), (2, k, nz, j)] {
        for side in 0..2 {
            let on_face = if side == 0 { idx == 0 } else { idx + 1 == n };
            if on_face {
                let f = 2 * a + side;
                faces[count] = (grid.face_offset[f] + nx * other, a);
                count += 1;
            }
        }
    }
    let density = &cond[BC_WORDS * grid.boundaries.len()..];
    let in_row = |b: &NodeBox| b.lo[1] <= j && j <= b.hi[1] && b.lo[2] <= k && k <= b.hi[2];
    let has_sources = grid.sources.iter().any(|(b, _)| in_row(b));
    let cap = tables.cap[0];
    let x_faces = [
        grid.face_offset[0] + j + ny * k,
        grid.face_offset[1] + j + ny * k,
    ];
    // Interior nodes need the pass only on a face row or a row crossing a source.
    let interior = if count > 0 || has_sources { nx - 2 } else { 0 };
    for i in std::iter::once(0).chain(1..1 + interior).chain([nx - 1]) {
        let tc = t[row + i];
        let mut extra = 0.0f32;
        let mut fixed = None;
        let x_face = match i {
            0 => Some(x_faces[0]),
            _ if i == nx - 1 => Some(x_faces[1]),
            _ => None,
        };
        let row_faces = faces[..count].iter().map(|&(start, a)| (start + i, a));
        for (slot, a) in x_face.map(|x| (x, 0)).into_iter().chain(row_faces) {
            let id = grid.face_bc[slot] as usize;
            if id == 0 {
                continue;
            }
            let bc = &cond[BC_WORDS * (id - 1)..BC_WORDS * id];
            if bc[0] > 0.5 {
                fixed = Some(bc[2]);
            } else {
                extra += (bc[1] * (bc[2] - tc) + bc[3]) * tables.face[a];
            }
        }
        if let Some(v) = fixed {
            out_row[i] = v;
            continue;
        }
        if has_sources {
            for (s, (b, _)) in grid.sources.iter().enumerate() {
                if in_row(b) && b.lo[0] <= i && i <= b.hi[0] {
                    extra += density[s];
                }
            }
        }
        out_row[i] += cap * extra;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Model;

    /// The fast row paths give exactly the reference update, on a 3-D grid and on a 2-D slab,
    /// with all boundary kinds on patches and sources crossing the faces.
    #[test]
    fn fast_paths_equal_the_reference_update() {
        for nodes in ["[9, 7, 6]", "[9, 7, 1]", "[3, 3, 3]"] {
            let src = format!(
                r#"
[model]
name = "rows"
[thermal.ambient.air]
temperature = 5.0
[thermal.grid.g]
size = [0.08, 0.06, 0.05]
nodes = {nodes}
material = {{ k = 45.0, rho = 7850.0, cp = 470.0 }}
[thermal.grid.g.boundary.air]
faces = ["x_min", "x_max", "y_min", "z_max"]
kind = "convection"
h = 80.0
ambient = "air"
[thermal.grid.g.boundary.cold]
faces = ["y_max", "z_min"]
kind = "fixed"
temperature = 0.0
region = {{ min = [0.0, 0.0, 0.0], max = [0.04, 0.06, 0.05] }}
[thermal.grid.g.boundary.heater]
faces = ["z_min", "x_min"]
kind = "flux"
flux = 3000.0
region = {{ min = [0.05, 0.0, 0.0], max = [0.08, 0.06, 0.05] }}
[thermal.heat.core]
grid = "g"
region = {{ min = [0.02, 0.0, 0.0], max = [0.06, 0.03, 0.05] }}
power = 50.0
"#
            );
            let model = Model::from_toml(&src, "<rows>").unwrap();
            let grid = &model.thermal.grids[0];
            let mut cond = vec![0.0f32; grid.condition_len()];
            cond[..12].copy_from_slice(&[
                0.0, 80.0, -15.0, 0.0, 1.0, 0.0, -20.0, 0.0, 0.0, 0.0, 0.0, 3000.0,
            ]);
            cond[12] = 1e5;
            let start: Vec<f32> = (0..grid.cells()).map(|i| ((i * 37) % 11) as f32).collect();
            let mut stepper = CpuStepper::new(grid, 1);
            stepper.set_conditions(0, &cond);
            stepper.write_field(0, &start).unwrap();
            let dt = 0.5 * grid.stable_dt(&cond);
            let tables = grid.tables(dt);
            stepper.advance(dt, &mut [0.0]).unwrap();
            let mut fast = vec![0.0; grid.cells()];
            stepper.read_field(0, &mut fast).unwrap();
            for (c, value) in fast.iter().enumerate() {
                let reference = grid.update_node(&tables, &cond, &start, c);
                assert_eq!(
                    value.to_bits(),
                    reference.to_bits(),
                    "{nodes}: node {:?}",
                    grid.ijk(c)
                );
            }
        }
    }
}
