//! The step kernels (`shaders/heat_step.wgsl`): explicit sub-steps of the
//! vertex-centred heat equation for every node of every member. Their CPU twin: the reference
//! update of one node ([`Grid::update_node`]) and the fast row-wise path of the CPU stepper
//! (`update_plane`), which performs the same floating-point operations in the same order.

use super::super::conditions::{boundaries, densities};
use super::super::grid::{Grid, NodeBox};

impl Grid {
    /// Kernel coefficients for sub-step `dt`.
    pub fn tables(&self, dt: f64) -> Tables {
        let nm = self.materials.len();
        let mut coef = vec![0.0f32; 3 * nm * nm];
        for a in 0..3 {
            let inv_h2 = if self.n[a] > 1 {
                1.0 / (self.h[a] * self.h[a])
            } else {
                0.0
            };
            for mc in 0..nm {
                for mn in 0..nm {
                    coef[(a * nm + mc) * nm + mn] =
                        (dt * self.link_k(mc, mn) * inv_h2 / self.materials[mc].rho_cp()) as f32;
                }
            }
        }
        Tables {
            coef,
            cap: self
                .materials
                .iter()
                .map(|m| (dt / m.rho_cp()) as f32)
                .collect(),
            face: std::array::from_fn(|a| {
                let w = if self.n[a] > 1 { 0.5 } else { 1.0 };
                (1.0 / (self.h[a] * w)) as f32
            }),
        }
    }

    /// The explicit update of node `c` of one member, the reference that the fast CPU loop and
    /// the WGSL kernel reproduce. `t` is the member's field; `cond` its condition table.
    pub fn update_node(&self, tables: &Tables, cond: &[f32], t: &[f32], c: usize) -> f32 {
        self.update_node_at(tables, cond, t, c, self.ijk(c))
    }

    /// [`Grid::update_node`] for node `c` whose indices `ijk` the caller knows.
    pub fn update_node_at(
        &self,
        tables: &Tables,
        cond: &[f32],
        t: &[f32],
        c: usize,
        ijk: [usize; 3],
    ) -> f32 {
        let tc = t[c];
        let nm = self.materials.len();
        let mc = self.material(c);
        let mut lap = 0.0f32;
        let mut extra = 0.0f32;
        let stride = [1, self.n[0], self.n[0] * self.n[1]];
        for a in 0..3 {
            let n = self.n[a];
            if n > 1 {
                let i = ijk[a];
                let w = if i > 0 { c - stride[a] } else { c + stride[a] };
                let e = if i + 1 < n {
                    c + stride[a]
                } else {
                    c - stride[a]
                };
                let row = (a * nm + mc) * nm;
                let cw = tables.coef[row + self.material(w)];
                let ce = tables.coef[row + self.material(e)];
                lap += cw * (t[w] - tc) + ce * (t[e] - tc);
            }
            for side in 0..2 {
                let on_face = if side == 0 {
                    ijk[a] == 0
                } else {
                    ijk[a] + 1 == n
                };
                if !on_face {
                    continue;
                }
                let f = 2 * a + side;
                let id = self.face_bc[self.face_offset[f] + self.face_local(f, ijk)] as usize;
                if id == 0 {
                    continue;
                }
                let bc = &boundaries(cond, self.boundaries.len())[id - 1];
                if bc.is_fixed() {
                    return bc.temperature;
                }
                extra += bc.inflow(tc) * tables.face[a];
            }
        }
        let density = densities(cond, self.boundaries.len());
        for (s, (nb, _)) in self.sources.iter().enumerate() {
            if nb.contains(ijk) {
                extra += density[s];
            }
        }
        tc + lap + tables.cap[mc] * extra
    }
}

/// Kernel coefficients for one sub-step length (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Tables {
    /// `coef[(axis·nm + m_centre)·nm + m_neighbour] = dt·k_link/(ρc·h²)`.
    pub coef: Vec<f32>,
    /// Per material: `dt/(ρc)`.
    pub cap: Vec<f32>,
    /// Per axis: `1/(h·w)` for a face node (area over volume).
    pub face: [f32; 3],
}

/// Updates plane `k` of one member into `out`.
///
/// With one material, the interior nodes of every row (`0 < i < nx − 1`) take a branch-free,
/// vectorisable loop; rows on a y or z face use mirrored neighbour rows, then add their face
/// fluxes and any volumetric sources in a second pass. The row's two end nodes, and every node
/// of a grid with several materials, take [`Grid::update_node_at`]. Each path performs the same
/// floating-point operations in the same order as the reference, so the results are identical.
pub(crate) fn update_plane(
    grid: &Grid,
    tables: &Tables,
    cond: &[f32],
    t: &[f32],
    k: usize,
    out: &mut [f32],
) {
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
    let density = densities(cond, grid.boundaries.len());
    let bcs = boundaries(cond, grid.boundaries.len());
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
            let bc = &bcs[id - 1];
            if bc.is_fixed() {
                fixed = Some(bc.temperature);
            } else {
                extra += bc.inflow(tc) * tables.face[a];
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

#[cfg(test)]
mod tests {
    use crate::Model;
    use crate::thermal::GridStepper;
    use crate::thermal::conditions::{BoundaryCondition, boundaries_mut, densities_mut};
    use crate::thermal::cpu::CpuStepper;

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
            let nb = grid.boundaries.len();
            boundaries_mut(&mut cond, nb).copy_from_slice(&[
                BoundaryCondition {
                    h: 80.0,
                    temperature: -15.0,
                    ..Default::default()
                },
                BoundaryCondition::fixed(-20.0),
                BoundaryCondition {
                    flux: 3000.0,
                    ..Default::default()
                },
            ]);
            densities_mut(&mut cond, nb)[0] = 1e5;
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
