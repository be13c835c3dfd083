//! Parity of each kernel with its CPU twin on whatever adapter wgpu finds (lavapipe in CI,
//! where `MACHINE_TWIN_REQUIRE_GPU=1` makes a missing adapter a failure): the per-sub-step
//! kernels (`heat_step_interior` + `heat_step_shell`) and `heat_steps_fused` through 20 steps of several sub-steps, `boundary_inflow` (and the fused
//! kernel's own per-node inflow) through the energy they accumulate, `observe` on the final
//! fields; on a grid with two materials (the general path), with one (the fast interior
//! paths), and with one and no heat sources, three members with their own conditions. `copy_field` against a plain copy.

use std::sync::Arc;

use crate::Model;
use crate::thermal::conditions::{BoundaryCondition, boundaries_mut, densities_mut};
use crate::thermal::cpu::CpuStepper;
use crate::thermal::gpu::{GpuContext, GpuStepper, StepKernel};
use crate::thermal::{Grid, GridStepper, gpu_or_skip};

/// A grid with two materials, all four boundary kinds, two heat sources, probes and means.
const PARITY_MODEL: &str = include_str!("../../../tests/fixtures/parity_grid.toml");

/// The parity grid with two materials (general path), with one (the fast interior paths), and
/// with one and no heat sources.
fn parity_grids() -> Vec<Grid> {
    let start = PARITY_MODEL.find("[[thermal.grid.block.region]]").unwrap();
    let end = PARITY_MODEL.find("cp = 900.0 }").unwrap() + "cp = 900.0 }".len();
    let single = format!("{}{}", &PARITY_MODEL[..start], &PARITY_MODEL[end..]);
    // And one material without heat sources: the stencil's fastest paths.
    let start = single.find("[thermal.heat.core]").unwrap();
    let end = single.find("[sensor.probe_a]").unwrap();
    let sourceless = format!("{}{}", &single[..start], &single[end..]);
    [PARITY_MODEL, single.as_str(), sourceless.as_str()]
        .iter()
        .map(|src| Model::from_toml(src, "<parity>").unwrap().thermal.grids[0].clone())
        .collect()
}

/// Member `m`'s conditions: the boundary kinds of the model with member-specific values.
fn conditions(grid: &Grid, m: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; grid.condition_len()];
    let s = m as f32;
    let nb = grid.boundaries.len();
    boundaries_mut(&mut c, nb)[..3].copy_from_slice(&[
        BoundaryCondition {
            h: 250.0 + 40.0 * s,
            temperature: -15.0 + s,
            ..Default::default()
        }, // sides
        BoundaryCondition::fixed(-5.0 - s), // clamp
        BoundaryCondition {
            flux: 2000.0 * (1.0 + s),
            ..Default::default()
        }, // top
    ]);
    for (i, (d, (_, v))) in densities_mut(&mut c, nb)
        .iter_mut()
        .zip(&grid.sources)
        .enumerate()
    {
        *d = ((150.0 + 30.0 * s as f64) / if i == 0 { *v } else { 4.0 * v }) as f32;
    }
    c
}

#[test]
fn gpu_kernels_match_the_cpu_twin() {
    let Some(ctx) = gpu_or_skip("GPU kernel parity").unwrap() else {
        return;
    };
    eprintln!("GPU adapter: {}", ctx.describe());
    for grid in parity_grids() {
        for kernel in [StepKernel::PerSubstep, StepKernel::Fused] {
            kernels_match(&ctx, &grid, kernel);
        }
    }
}

#[test]
fn copy_kernel_copies_every_member_field() {
    let Some(ctx) = gpu_or_skip("GPU copy kernel").unwrap() else {
        return;
    };
    let grid = parity_grids().remove(0);
    let (members, cells) = (3, grid.cells());
    let mut gpu = GpuStepper::new(&ctx, &grid, members).unwrap();
    let start: Vec<f32> = (0..members * cells)
        .map(|i| (i % 97) as f32 - 40.0)
        .collect();
    for (m, chunk) in start.chunks(cells).enumerate() {
        gpu.write_field(m, chunk).unwrap();
    }
    // An odd count leaves the copy in the other half.
    gpu.copy_fields(3).unwrap();
    let mut back = vec![0.0; members * cells];
    gpu.read_fields(&mut back).unwrap();
    assert_eq!(back, start);
}

fn kernels_match(ctx: &Arc<GpuContext>, grid: &Grid, kernel: StepKernel) {
    let grid = grid.clone();
    eprintln!(
        "grid with {} material(s), {} source(s), {kernel:?}",
        grid.materials.len(),
        grid.sources.len()
    );
    let members = 3;
    let mut cpu = CpuStepper::new(&grid, members);
    let mut gpu = GpuStepper::new(ctx, &grid, members).unwrap();
    gpu.set_kernel(kernel);
    assert_eq!(gpu.kernel(), kernel);
    for m in 0..members {
        let c = conditions(&grid, m);
        cpu.set_conditions(m, &c);
        gpu.set_conditions(m, &c);
        // A non-uniform start exercises every neighbour term.
        let start: Vec<f32> = (0..grid.cells())
            .map(|i| ((i * 7919 + m) % 23) as f32 * 0.5)
            .collect();
        cpu.write_field(m, &start).unwrap();
        gpu.write_field(m, &start).unwrap();
    }
    let all: Vec<f32> = (0..members).flat_map(|m| conditions(&grid, m)).collect();
    let dt = 2.5 * grid.stable_dt(&all);
    let (mut in_cpu, mut in_gpu) = (vec![0.0; members], vec![0.0; members]);
    let mut substeps = 0;
    for _ in 0..20 {
        substeps += cpu.advance(dt, &mut in_cpu).unwrap();
        let n = gpu.advance(dt, &mut in_gpu).unwrap();
        assert!(n >= 1);
    }
    assert!(
        substeps > 20,
        "the step must be sub-divided ({substeps} sub-steps)"
    );
    let cells = grid.cells();
    let (mut a, mut b) = (vec![0.0; cells], vec![0.0; cells]);
    let mut worst = 0.0f32;
    for m in 0..members {
        cpu.read_field(m, &mut a).unwrap();
        gpu.read_field(m, &mut b).unwrap();
        let range = a.iter().fold(0.0f32, |r, v| r.max(v.abs()));
        assert!(range > 1.0, "the field must have evolved");
        for (x, y) in a.iter().zip(&b) {
            worst = worst.max((x - y).abs());
        }
        // Stated tolerance: 1e-4 K (f32 rounding differences, e.g. fused multiply-adds).
        let rel = (in_cpu[m] - in_gpu[m]).abs() / in_cpu[m].abs().max(1.0);
        assert!(
            rel < 1e-4,
            "member {m}: boundary inflow {} (cpu) vs {} (gpu)",
            in_cpu[m],
            in_gpu[m]
        );
    }
    eprintln!("diffusion step: worst |cpu − gpu| = {worst:e} K after {substeps} sub-steps");
    assert!(
        worst < 1e-4,
        "diffusion step: cpu and gpu differ by {worst} K"
    );

    let no = grid.observables.len();
    let (mut oa, mut ob) = (vec![0.0; members * no], vec![0.0; members * no]);
    cpu.observe(&mut oa).unwrap();
    gpu.observe(&mut ob).unwrap();
    for (x, y) in oa.iter().zip(&ob) {
        assert!((x - y).abs() < 1e-4, "observables: cpu {x} vs gpu {y}");
    }
}
