//! The WGSL compute kernels of the conduction grids, each with its CPU twin and its parity
//! test, found together here:
//!
//! | kernel | WGSL (`shaders/`) | CPU twin | host dispatch | parity test |
//! |---|---|---|---|---|
//! | `heat_step_interior` (or `heat_step_march`), `heat_step_shell` | `heat_step.wgsl` | [`Grid::update_node`](crate::thermal::Grid::update_node), `heat_step::update_plane` | `GpuStepper::advance` (per sub-step) | `parity::gpu_kernels_match_the_cpu_twin` (fields) |
//! | `heat_steps_fused` | `heat_step.wgsl` | the same, sub-step after sub-step; its heat through the faces: [`Grid::boundary_inflow`](crate::thermal::Grid::boundary_inflow) | `GpuStepper::advance` (small grids) | the same test (fields, energy) |
//! | `copy_field` | `heat_step.wgsl` | a slice copy | `GpuStepper::copy_fields` (bandwidth reference) | `parity::copy_kernel_copies_every_member_field` |
//! | `boundary_inflow` | `grid_reduce.wgsl` | [`Grid::boundary_inflow`](crate::thermal::Grid::boundary_inflow) | `GpuStepper::advance` | the same test (energy through the faces) |
//! | `observe` | `grid_reduce.wgsl` | [`Grid::observe`](crate::thermal::Grid::observe) | `GpuStepper::observe` | the same test (observables) |
//!
//! `grid_common.wgsl` holds the shared declarations (the `Dims` block that
//! [`crate::thermal::gpu`] mirrors, index and weight helpers); a member's conditions are
//! [`crate::thermal::conditions`]. WGSL has no includes: the three files are one module.

pub mod heat_step;
#[cfg(all(test, feature = "gpu"))]
mod parity;
pub mod reduce;

/// The kernels' source: shared declarations, the diffusion step, and the reductions.
pub const SHADER: &str = concat!(
    include_str!("../../../../shaders/grid_common.wgsl"),
    include_str!("../../../../shaders/heat_step.wgsl"),
    include_str!("../../../../shaders/grid_reduce.wgsl"),
);
