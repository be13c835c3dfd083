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
/// With one material, the plane's rows off the y faces (`0 < j < ny − 1`) take one
/// branch-free, vectorisable loop over the whole span from row 1 to row `ny − 2`; it gives
/// their end nodes (`i = 0`, `nx − 1`) wrong x neighbours, which the row pass below then
/// overwrites. The rows on a y face take the same loop row by row with mirrored neighbour
/// rows (as do the z faces through mirrored planes). Every row then gets its two end nodes
/// with the missing x neighbour mirrored, and, on a face row or a row crossing a source, its
/// face fluxes and source powers. Every node of a grid with several materials (or with fewer
/// than three nodes along x) takes [`Grid::update_node_at`]. Each path performs the same
/// floating-point operations in the same order as the reference, so the results are
/// identical.
pub(crate) fn update_plane(
    grid: &Grid,
    tables: &Tables,
    layout: &RowLayout,
    cond: &[f32],
    t: &[f32],
    k: usize,
    out: &mut [f32],
) {
    let [nx, ny, nz] = grid.n;
    let plane = nx * ny;
    if nx < 3 || grid.materials.len() > 1 {
        for (c, o) in out.iter_mut().enumerate() {
            let (i, j) = (c % nx, c / nx);
            *o = grid.update_node_at(tables, cond, t, k * plane + c, [i, j, k]);
        }
        return;
    }
    let coef = [tables.coef[0], tables.coef[1], tables.coef[2]];
    let at = k * plane;
    let (below, above) = mirror(k, nz, plane, at);
    // Rows 1..ny-1 as one span from node 0 of row 1, their end nodes mirrored by the masks.
    // Short rows take the masked span (their ends would cost as much as their insides);
    // long rows the plain span, their ends redone one by one below.
    let masked = !layout.first.is_empty();
    if ny >= 3 {
        let lo = at + nx;
        let starts = [lo, lo - nx, lo + nx, below + nx, above + nx];
        let dst = &mut out[nx..(ny - 1) * nx];
        if masked {
            stencil_rows(coef, t, starts, dst, layout);
        } else {
            stencil_span(coef, t, starts, dst, (ny - 2) * nx);
        }
    }
    let [cx, cy, cz] = coef;
    for j in [0, ny - 1].into_iter().take(if ny > 1 { 2 } else { 1 }) {
        let row = at + j * nx;
        let (south, north) = mirror(j, ny, nx, row);
        stencil_span(
            coef,
            t,
            [
                row + 1,
                south + 1,
                north + 1,
                below + j * nx + 1,
                above + j * nx + 1,
            ],
            &mut out[j * nx + 1..(j + 1) * nx - 1],
            nx - 2,
        );
    }
    // The end nodes of the face rows (of every row where the span was not masked): the
    // missing x neighbour is mirrored.
    for j in (0..ny).filter(|&j| !masked || j == 0 || j + 1 == ny) {
        let row = at + j * nx;
        let (south, north) = mirror(j, ny, nx, row);
        let (below_row, above_row) = (below + j * nx, above + j * nx);
        for (i, x_neighbour) in [(0, row + 1), (nx - 1, row + nx - 2)] {
            let tc = t[row + i];
            let lap = cx * (t[x_neighbour] - tc)
                + cx * (t[x_neighbour] - tc)
                + (cy * (t[south + i] - tc) + cy * (t[north + i] - tc))
                + (cz * (t[below_row + i] - tc) + cz * (t[above_row + i] - tc));
            out[j * nx + i] = tc + lap;
        }
    }
    for j in 0..ny {
        if layout.face_rows[j + ny * k] {
            let out_row = &mut out[j * nx..(j + 1) * nx];
            add_faces_and_sources(grid, tables, cond, t, [j, k], at + j * nx, out_row);
        }
    }
}

/// Rows up to this many nodes long take the masked span ([`stencil_rows`]): at 32 nodes it
/// ran 12 % faster than the plain span with a pass over the row ends, at 128 nodes 15 %
/// slower (2-core EPYC, 256 × 32³ and 128³).
const MASKED_ROWS_MAX: usize = 64;

/// What [`update_plane`] precomputes for a grid: which rows need the face pass, and bit
/// masks that mark the end nodes of the rows off the y faces within a plane's span.
pub(crate) struct RowLayout {
    /// Per row `(j, k)` (index `j + ny·k`): whether any of its nodes lies on a face with a
    /// boundary or inside a heat source (the face pass has something to add there).
    face_rows: Vec<bool>,
    /// Per node of rows 1..ny−1 of a plane: all ones where it is the first of its row
    /// (`i = 0`), else zero; and the same for the last (`i = nx − 1`). Empty for rows longer
    /// than [`MASKED_ROWS_MAX`].
    first: Vec<u32>,
    last: Vec<u32>,
}

impl RowLayout {
    /// The layout of `grid`.
    pub(crate) fn new(grid: &Grid) -> Self {
        let [nx, ny, _] = grid.n;
        let span = if nx <= MASKED_ROWS_MAX {
            ny.saturating_sub(2) * nx
        } else {
            0
        };
        let mask = |on: bool| if on { u32::MAX } else { 0 };
        Self {
            face_rows: rows_with_faces(grid),
            first: (0..span).map(|e| mask(e % nx == 0)).collect(),
            last: (0..span).map(|e| mask(e % nx + 1 == nx)).collect(),
        }
    }
}

/// Per row `(j, k)`: whether its nodes need the face pass (see [`RowLayout`]).
fn rows_with_faces(grid: &Grid) -> Vec<bool> {
    let [nx, ny, nz] = grid.n;
    let mut rows = vec![false; ny * nz];
    for k in 0..nz {
        for j in 0..ny {
            // The row's two x-face nodes, then the whole row on each y or z face it lies on.
            let ends = [0, 1].map(|f| grid.face_offset[f] + j + ny * k);
            let face_rows = [(2, j == 0), (3, j + 1 == ny), (4, k == 0), (5, k + 1 == nz)]
                .into_iter()
                .filter(|&(_, on)| on)
                .flat_map(|(f, _)| {
                    let start = grid.face_offset[f] + nx * if f < 4 { k } else { j };
                    start..start + nx
                });
            let on_boundary = ends
                .into_iter()
                .chain(face_rows)
                .any(|s| grid.face_bc[s] != 0);
            let in_source = grid
                .sources
                .iter()
                .any(|(b, _)| b.lo[1] <= j && j <= b.hi[1] && b.lo[2] <= k && k <= b.hi[2]);
            rows[j + ny * k] = on_boundary || in_source;
        }
    }
    rows
}

/// Flat indices of the neighbours of index `i` along an axis of `n` nodes `stride` apart,
/// for a node at `base`: mirrored on a face, the node itself on a one-node axis.
fn mirror(i: usize, n: usize, stride: usize, base: usize) -> (usize, usize) {
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
}

/// The seven neighbourhoods of `len` consecutive nodes of field `t`: centre, west, east,
/// south, north, below, above. `starts` are the field indices of the first node's centre,
/// south, north, below and above neighbours (west and east are the centre's ±1).
fn neighbourhoods(t: &[f32], starts: [usize; 5], len: usize) -> [&[f32]; 7] {
    let [c, s, n, b, a] = starts;
    [c, c - 1, c + 1, s, n, b, a].map(|x| &t[x..x + len])
}

/// [`stencil_span`] over whole rows (a plane's rows off the y faces): the first and last node
/// of each row take their mirrored x neighbour, chosen by the bit masks of `layout` (a
/// branch-free select that vectorises and keeps the values exact), so the row ends need no
/// pass of their own.
fn stencil_rows(
    [cx, cy, cz]: [f32; 3],
    t: &[f32],
    starts: [usize; 5],
    dst: &mut [f32],
    layout: &RowLayout,
) {
    let len = layout.first.len();
    let [centre, west, east, south, north, below, above] = neighbourhoods(t, starts, len);
    let (first, last) = (&layout.first[..len], &layout.last[..len]);
    let dst = &mut dst[..len];
    let pick = |mask: u32, on: f32, off: f32| {
        f32::from_bits((on.to_bits() & mask) | (off.to_bits() & !mask))
    };
    for i in 0..len {
        let tc = centre[i];
        let w = pick(first[i], east[i], west[i]);
        let e = pick(last[i], west[i], east[i]);
        let lap = cx * (w - tc)
            + cx * (e - tc)
            + (cy * (south[i] - tc) + cy * (north[i] - tc))
            + (cz * (below[i] - tc) + cz * (above[i] - tc));
        dst[i] = tc + lap;
    }
}

/// The one-material 7-point update of `len` consecutive nodes into `dst` (`starts` as for
/// [`neighbourhoods`]).
fn stencil_span(
    [cx, cy, cz]: [f32; 3],
    t: &[f32],
    starts: [usize; 5],
    dst: &mut [f32],
    len: usize,
) {
    let [centre, west, east, south, north, below, above] = neighbourhoods(t, starts, len);
    let dst = &mut dst[..len];
    for i in 0..len {
        let tc = centre[i];
        let lap = cx * (west[i] - tc)
            + cx * (east[i] - tc)
            + (cy * (south[i] - tc) + cy * (north[i] - tc))
            + (cz * (below[i] - tc) + cz * (above[i] - tc));
        dst[i] = tc + lap;
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
            let f = 2 * a + side;
            let start = grid.face_offset[f] + nx * other;
            // A face row with no boundary on it (insulated) adds nothing.
            if on_face && grid.face_bc[start..start + nx].iter().any(|&id| id != 0) {
                faces[count] = (start, a);
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

    /// The fast row paths give exactly the reference update, on 3-D grids (short rows take the
    /// masked span, 70-node rows the plain one) and on a 2-D slab,
    /// with all boundary kinds on patches and sources crossing the faces.
    #[test]
    fn fast_paths_equal_the_reference_update() {
        for nodes in ["[9, 7, 6]", "[9, 7, 1]", "[3, 3, 3]", "[70, 5, 4]"] {
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
