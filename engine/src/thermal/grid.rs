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
//! the small per-step increments well above rounding.

use crate::source::Source;

/// Names of the six faces, in index order.
pub const FACES: [&str; 6] = ["x_min", "x_max", "y_min", "y_max", "z_min", "z_max"];

/// Fraction of the explicit stability limit used for sub-steps.
pub const STABILITY_SAFETY: f64 = 0.9;

/// Words per boundary condition in a member's condition table: `[fixed flag, h, T, q]`.
pub const BC_WORDS: usize = 4;

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

    /// Largest stable explicit step in s for the members' conditions `cond` (member-major).
    pub fn stable_dt(&self, cond: &[f32]) -> f64 {
        let h_max = cond
            .chunks(self.condition_len().max(1))
            .flat_map(|c| {
                (0..self.boundaries.len()).map(move |b| c[BC_WORDS * b + 1].max(0.0) as f64)
            })
            .fold(0.0, f64::max);
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

    /// Sub-steps and their length for a step of `dt` s under the stability limit.
    pub fn substeps(&self, dt: f64, cond: &[f32]) -> (usize, f64) {
        let limit = STABILITY_SAFETY * self.stable_dt(cond);
        let n = if limit.is_finite() {
            (dt / limit).ceil().max(1.0) as usize
        } else {
            1
        };
        (n, dt / n as f64)
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
                let bc = &cond[BC_WORDS * (id - 1)..BC_WORDS * id];
                if bc[0] > 0.5 {
                    return bc[2];
                }
                extra += (bc[1] * (bc[2] - tc) + bc[3]) * tables.face[a];
            }
        }
        let density = &cond[BC_WORDS * self.boundaries.len()..];
        for (s, (nb, _)) in self.sources.iter().enumerate() {
            if nb.contains(ijk) {
                extra += density[s];
            }
        }
        tc + lap + tables.cap[mc] * extra
    }

    /// Heat flowing into one member through its convection and flux faces, in W, for field `t`.
    /// Fixed-temperature faces are not counted (see [`Grid::has_fixed`]).
    pub fn boundary_inflow(&self, cond: &[f32], t: &[f32]) -> f64 {
        let mut total = 0.0;
        for f in 0..6 {
            let axis = f / 2;
            for l in 0..self.face_len(f) {
                let id = self.face_bc[self.face_offset[f] + l] as usize;
                if id == 0 {
                    continue;
                }
                let bc = &cond[BC_WORDS * (id - 1)..BC_WORDS * id];
                if bc[0] > 0.5 {
                    continue;
                }
                let ijk = self.face_node(f, l);
                let tc = t[self.index(ijk)];
                let area = self.volume(ijk) / (self.h[axis] * self.weight(axis, ijk[axis]));
                total += area * (bc[1] as f64 * (bc[2] as f64 - tc as f64) + bc[3] as f64);
            }
        }
        total
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

    /// Evaluates observable `o` on one member's field (relative temperatures).
    pub fn observe(&self, o: &Observable, t: &[f32]) -> f64 {
        match *o {
            Observable::Probe(x) => {
                let mut lo = [0usize; 3];
                let mut frac = [0.0f64; 3];
                for a in 0..3 {
                    let top = self.n[a] - 1;
                    let f = x[a].clamp(0.0, top as f64);
                    lo[a] = (f.floor() as usize).min(top.saturating_sub(1));
                    frac[a] = if top == 0 { 0.0 } else { f - lo[a] as f64 };
                }
                let mut v = 0.0;
                for corner in 0..8 {
                    let mut ijk = lo;
                    let mut w = 1.0;
                    for a in 0..3 {
                        let up = (corner >> a) & 1 == 1;
                        if up {
                            ijk[a] = (lo[a] + 1).min(self.n[a] - 1);
                            w *= frac[a];
                        } else {
                            w *= 1.0 - frac[a];
                        }
                    }
                    if w != 0.0 {
                        v += w * t[self.index(ijk)] as f64;
                    }
                }
                v
            }
            Observable::Mean(nb) => {
                let (mut sum, mut vol) = (0.0, 0.0);
                for k in nb.lo[2]..=nb.hi[2] {
                    for j in nb.lo[1]..=nb.hi[1] {
                        for i in nb.lo[0]..=nb.hi[0] {
                            let v = self.volume([i, j, k]);
                            sum += v * t[self.index([i, j, k])] as f64;
                            vol += v;
                        }
                    }
                }
                sum / vol
            }
        }
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
