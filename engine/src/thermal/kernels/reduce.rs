//! The reductions of `shaders/grid_reduce.wgsl`: `boundary_inflow` (heat entering a member
//! through its convection and flux faces, for the energy account) and `observe` (probe points
//! and region means). Their CPU twins: [`Grid::boundary_inflow`] and [`Grid::observe`].

use super::super::conditions::boundaries;
use super::super::grid::{Grid, Observable};

impl Grid {
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
                let bc = &boundaries(cond, self.boundaries.len())[id - 1];
                if bc.is_fixed() {
                    continue;
                }
                let ijk = self.face_node(f, l);
                let tc = t[self.index(ijk)];
                let area = self.volume(ijk) / (self.h[axis] * self.weight(axis, ijk[axis]));
                total += area * bc.inflow_f64(tc);
            }
        }
        total
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
