//! 3-D conduction grids: geometry, materials, boundary conditions and the reference arithmetic
//! that both steppers ([`super::cpu`], [`super::gpu`]) follow.
//!
//! The box `[0, size]` is discretised with `n` nodes per axis, vertex-centred: nodes sit on the
//! faces, and a face node owns half a control volume along that axis (a quarter on an edge, an
//! eighth at a corner). Conduction between neighbours uses the harmonic mean of their
//! conductivities. A missing neighbour is replaced by its mirror image, which is the exact
//! finite-volume balance of the half volume; boundary heat fluxes enter through the face area.
//! An axis with one node is a slab of thickness `size` with no conduction along it.
//!
//! The explicit update of node `c` over a sub-step is
//! `T' = T + Σ_axes [cw·(T_w − T) + ce·(T_e − T)] + cap·(q_faces / (h·w) + q_volume)`, with
//! `cw = dt·k_cw/(ρc·h²)` and `cap = dt/(ρc)`; fixed-temperature nodes take their value.
//! Temperatures are stored as `f32` differences from the grid's initial temperature, which keeps
//! the small per-step increments well above rounding. The update itself and the reductions are
//! the kernels' CPU twins, in [`super::kernels`].

use super::conditions::{BC_WORDS, boundaries};
use crate::source::Source;

/// Names of the six faces, in index order.
pub const FACES: [&str; 6] = ["x_min", "x_max", "y_min", "y_max", "z_min", "z_max"];

/// Fraction of the explicit stability limit used for sub-steps.
pub const STABILITY_SAFETY: f64 = 0.9;

/// A conducting material.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Material {
    /// Thermal conductivity in W/(m·K).
    pub k: f64,
    /// Density in kg/m³.
    pub rho: f64,
    /// Specific heat in J/(kg·K).
    pub cp: f64,
}

impl Material {
    /// Volumetric heat capacity ρ·c_p in J/(m³·K).
    pub fn rho_cp(&self) -> f64 {
        self.rho * self.cp
    }
}

/// What a boundary condition imposes.
#[derive(Debug, Clone)]
pub enum BoundaryKind {
    /// No heat flow.
    Insulated,
    /// Temperature in °C.
    Fixed(Source),
    /// Heat flux into the body in W/m².
    Flux(Source),
    /// Convection to ambient `ambient`; the coefficient is tunable
    /// (`thermal.grid.G.boundary.B.h`).
    Convection {
        /// The model's heat-transfer coefficient in W/(m²·K).
        h: f64,
        /// Index of the thermal ambient.
        ambient: usize,
    },
}

/// A named boundary condition of a grid.
#[derive(Debug, Clone)]
pub struct Boundary {
    /// Name (`thermal.grid.G.boundary.NAME`).
    pub name: String,
    /// What it imposes.
    pub kind: BoundaryKind,
}

/// An inclusive box of node indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeBox {
    /// Lowest node index per axis.
    pub lo: [usize; 3],
    /// Highest node index per axis (included).
    pub hi: [usize; 3],
}

impl NodeBox {
    /// Whether node `(i, j, k)` lies in the box.
    pub fn contains(&self, ijk: [usize; 3]) -> bool {
        (0..3).all(|a| self.lo[a] <= ijk[a] && ijk[a] <= self.hi[a])
    }
}

/// A value a grid reports: the temperature at a point, or the mean over a box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observable {
    /// Trilinear interpolation at a point given in fractional node indices.
    Probe([f64; 3]),
    /// Volume-weighted mean temperature over a box of nodes.
    Mean(NodeBox),
}

/// A compiled conduction grid.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Name.
    pub name: String,
    /// Edge lengths in m.
    pub size: [f64; 3],
    /// Nodes per axis.
    pub n: [usize; 3],
    /// Node spacing in m (the slab thickness on a one-node axis).
    pub h: [f64; 3],
    /// Initial temperature in °C; fields store differences from it.
    pub initial: f64,
    /// Materials; `material_of` indexes them.
    pub materials: Vec<Material>,
    /// Material index per node (empty when there is one material).
    pub material_of: Vec<u8>,
    /// Boundary conditions.
    pub boundaries: Vec<Boundary>,
    /// Per face node: 0 (insulated) or 1 + boundary index; face `f` starts at `face_offset[f]`.
    pub face_bc: Vec<u32>,
    /// Start of each face's nodes in `face_bc` (7 entries; the last is the total).
    pub face_offset: [usize; 7],
    /// Volumetric heat-source boxes, with their volume in m³.
    pub sources: Vec<(NodeBox, f64)>,
    /// Reported values (probes and means), in declaration order.
    pub observables: Vec<Observable>,
}

impl Grid {
    /// Number of nodes.
    pub fn cells(&self) -> usize {
        self.n[0] * self.n[1] * self.n[2]
    }

    /// Flat index of node `(i, j, k)` (x fastest).
    pub fn index(&self, [i, j, k]: [usize; 3]) -> usize {
        (k * self.n[1] + j) * self.n[0] + i
    }

    /// Node indices of flat index `c`.
    pub fn ijk(&self, c: usize) -> [usize; 3] {
        let [nx, ny, _] = self.n;
        [c % nx, (c / nx) % ny, c / (nx * ny)]
    }

    /// Control-volume weight of node index `i` along `axis` (½ on a face, 1 inside or on a
    /// one-node axis).
    pub fn weight(&self, axis: usize, i: usize) -> f64 {
        let n = self.n[axis];
        if n > 1 && (i == 0 || i == n - 1) {
            0.5
        } else {
            1.0
        }
    }

    /// Control volume of a node in m³.
    pub fn volume(&self, ijk: [usize; 3]) -> f64 {
        (0..3).map(|a| self.h[a] * self.weight(a, ijk[a])).product()
    }

    /// Material index of node `c`.
    pub fn material(&self, c: usize) -> usize {
        self.material_of.get(c).map_or(0, |&m| m as usize)
    }

    /// Number of nodes on face `f`.
    pub fn face_len(&self, f: usize) -> usize {
        let (a, b) = other_axes(f / 2);
        self.n[a] * self.n[b]
    }

    /// The node of face `f` at local index `l`.
    pub fn face_node(&self, f: usize, l: usize) -> [usize; 3] {
        let axis = f / 2;
        let (a, b) = other_axes(axis);
        let mut ijk = [0; 3];
        ijk[a] = l % self.n[a];
        ijk[b] = l / self.n[a];
        ijk[axis] = if f.is_multiple_of(2) {
            0
        } else {
            self.n[axis] - 1
        };
        ijk
    }

    /// Local index of node `ijk` on face `f` (which it must lie on).
    pub fn face_local(&self, f: usize, ijk: [usize; 3]) -> usize {
        let (a, b) = other_axes(f / 2);
        ijk[a] + self.n[a] * ijk[b]
    }

    /// Words per member in a condition table: the boundary table, then one power density per
    /// source.
    pub fn condition_len(&self) -> usize {
        BC_WORDS * self.boundaries.len() + self.sources.len()
    }

    /// Conduction coefficient between materials `a` and `b` (harmonic mean of k), W/(m·K).
    pub fn link_k(&self, a: usize, b: usize) -> f64 {
        let (ka, kb) = (self.materials[a].k, self.materials[b].k);
        if ka + kb > 0.0 {
            2.0 * ka * kb / (ka + kb)
        } else {
            0.0
        }
    }

    /// Largest stable explicit step in s for the members' conditions `cond` (member-major).
    pub fn stable_dt(&self, cond: &[f32]) -> f64 {
        let nb = self.boundaries.len();
        let h_max = cond
            .chunks(self.condition_len().max(1))
            .flat_map(|c| boundaries(c, nb).iter().map(|bc| bc.h.max(0.0) as f64))
            .fold(0.0, f64::max);
        self.stable_dt_at(h_max)
    }

    /// Largest stable explicit step in s where the strongest convection coefficient on any
    /// face is `h_max` W/(m²·K).
    pub fn stable_dt_at(&self, h_max: f64) -> f64 {
        let mut dt = f64::INFINITY;
        for mc in 0..self.materials.len() {
            let mut rate = 0.0;
            for a in 0..3 {
                if self.n[a] > 1 {
                    let k_max = (0..self.materials.len())
                        .map(|mn| self.link_k(mc, mn))
                        .fold(0.0, f64::max);
                    rate += 2.0 * k_max / (self.h[a] * self.h[a]);
                }
                // Convection on both faces of an axis (a one-node slab has both on one node).
                let w = if self.n[a] > 1 { 0.5 } else { 1.0 };
                let faces = if self.n[a] > 1 { 1.0 } else { 2.0 };
                rate += faces * h_max / (self.h[a] * w);
            }
            if rate > 0.0 {
                dt = dt.min(self.materials[mc].rho_cp() / rate);
            }
        }
        dt
    }

    /// Sub-steps that a step of `dt` s needs where the largest stable step is `stable_dt` s,
    /// unrounded (`0` where nothing limits the step). A number, not a count, so that a grid
    /// that would need more sub-steps than a `usize` holds can be refused.
    pub fn substeps_needed(dt: f64, stable_dt: f64) -> f64 {
        let limit = STABILITY_SAFETY * stable_dt;
        if limit.is_finite() { dt / limit } else { 0.0 }
    }

    /// Sub-steps and their length for a step of `dt` s under the stability limit.
    pub fn substeps(&self, dt: f64, cond: &[f32]) -> (usize, f64) {
        let n = Self::substeps_needed(dt, self.stable_dt(cond))
            .ceil()
            .max(1.0) as usize;
        (n, dt / n as f64)
    }

    /// Whether any boundary holds a fixed temperature (its heat exchange is not accounted).
    pub fn has_fixed(&self) -> bool {
        self.boundaries
            .iter()
            .any(|b| matches!(b.kind, BoundaryKind::Fixed(_)))
    }

    /// Heat stored in one member's field relative to the initial temperature, in J.
    pub fn stored_heat(&self, t: &[f32]) -> f64 {
        (0..self.cells())
            .map(|c| {
                let ijk = self.ijk(c);
                self.materials[self.material(c)].rho_cp() * self.volume(ijk) * t[c] as f64
            })
            .sum()
    }
}

/// The two axes other than `axis`, in increasing order.
pub fn other_axes(axis: usize) -> (usize, usize) {
    match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    }
}
