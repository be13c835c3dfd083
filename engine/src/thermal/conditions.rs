//! A grid member's conditions for one thermal step, as the CPU and GPU steppers share them: per
//! boundary a [`BoundaryCondition`], then per heat source its power density in W/m³, in one
//! `f32` table (uploaded to the GPU as is; `shaders/grid_common.wgsl` reads the same layout).

use bytemuck::{Pod, Zeroable};

/// `f32` words of one [`BoundaryCondition`] in a condition table.
pub const BC_WORDS: usize = std::mem::size_of::<BoundaryCondition>() / 4;

/// What one boundary imposes during a thermal step; temperatures relative to the grid's
/// initial temperature. Mirrors the four words the kernels read (`cond[b + 0..3]`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct BoundaryCondition {
    /// 1 where the faces hold `temperature`, else 0.
    pub fixed: f32,
    /// Convection coefficient to `temperature`, W/(m²·K) (0 for none).
    pub h: f32,
    /// Fixed or ambient temperature, K above the grid's initial temperature.
    pub temperature: f32,
    /// Heat flux into the body, W/m².
    pub flux: f32,
}

impl BoundaryCondition {
    /// A face held at `temperature` (K relative).
    pub fn fixed(temperature: f32) -> Self {
        Self {
            fixed: 1.0,
            temperature,
            ..Self::default()
        }
    }

    /// Whether the faces hold a fixed temperature.
    pub fn is_fixed(&self) -> bool {
        self.fixed > 0.5
    }

    /// Heat flux into a face node at temperature `tc` (K relative), W/m², in `f32` as the
    /// kernels compute it: `h·(T − tc) + q`.
    pub fn inflow(&self, tc: f32) -> f32 {
        self.h * (self.temperature - tc) + self.flux
    }

    /// [`BoundaryCondition::inflow`] in `f64`, for the energy account.
    pub fn inflow_f64(&self, tc: f32) -> f64 {
        self.h as f64 * (self.temperature as f64 - tc as f64) + self.flux as f64
    }
}

/// The boundary conditions of a condition table with `boundaries` boundaries.
pub fn boundaries(cond: &[f32], boundaries: usize) -> &[BoundaryCondition] {
    bytemuck::cast_slice(&cond[..BC_WORDS * boundaries])
}

/// The boundary conditions of a condition table, to write.
pub fn boundaries_mut(cond: &mut [f32], boundaries: usize) -> &mut [BoundaryCondition] {
    bytemuck::cast_slice_mut(&mut cond[..BC_WORDS * boundaries])
}

/// The source power densities (W/m³) of a condition table with `boundaries` boundaries.
pub fn densities(cond: &[f32], boundaries: usize) -> &[f32] {
    &cond[BC_WORDS * boundaries..]
}

/// The source power densities, to write.
pub fn densities_mut(cond: &mut [f32], boundaries: usize) -> &mut [f32] {
    &mut cond[BC_WORDS * boundaries..]
}
