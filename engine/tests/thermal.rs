//! Thermal solver tests: CPU/GPU parity of every kernel (on whatever adapter wgpu finds,
//! lavapipe in CI), the network's implicit integration, and the energy balance.
//!
//! GPU tests skip with a message when no adapter exists, unless `MACHINE_TWIN_REQUIRE_GPU=1`
//! (set by `.ci/run`), which turns a missing adapter into a failure.

use std::sync::Arc;

use machine_twin::thermal::cpu::CpuStepper;
use machine_twin::thermal::gpu::{GpuContext, GpuStepper};
use machine_twin::thermal::grid::BC_WORDS;
use machine_twin::thermal::{Grid, GridStepper};
use machine_twin::{Model, Twin};

fn gpu() -> Option<Arc<GpuContext>> {
    let ctx = machine_twin::thermal::gpu_or_skip("GPU parity test").unwrap();
    if let Some(ctx) = &ctx {
        eprintln!("GPU adapter: {}", ctx.describe());
    }
    ctx
}

/// A grid with two materials, all four boundary kinds, two heat sources, probes and means.
const PARITY_MODEL: &str = include_str!("fixtures/parity_grid.toml");

/// The parity grid with two materials (general path) and with one (the CPU's fast row paths).
fn parity_grids() -> Vec<Grid> {
    let start = PARITY_MODEL.find("[[thermal.grid.block.region]]").unwrap();
    let end = PARITY_MODEL.find("cp = 900.0 }").unwrap() + "cp = 900.0 }".len();
    let single = format!("{}{}", &PARITY_MODEL[..start], &PARITY_MODEL[end..]);
    [PARITY_MODEL, single.as_str()]
        .iter()
        .map(|src| Model::from_toml(src, "<parity>").unwrap().thermal.grids[0].clone())
        .collect()
}

/// Member `m`'s conditions: the boundary kinds of the model with member-specific values.
fn conditions(grid: &Grid, m: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; grid.condition_len()];
    let s = m as f32;
    c[..BC_WORDS].copy_from_slice(&[0.0, 250.0 + 40.0 * s, -15.0 + s, 0.0]); // sides
    c[BC_WORDS..2 * BC_WORDS].copy_from_slice(&[1.0, 0.0, -5.0 - s, 0.0]); // clamp
    c[2 * BC_WORDS..3 * BC_WORDS].copy_from_slice(&[0.0, 0.0, 0.0, 2000.0 * (1.0 + s)]); // top
    let base = BC_WORDS * grid.boundaries.len();
    for (i, (_, v)) in grid.sources.iter().enumerate() {
        c[base + i] = ((150.0 + 30.0 * s as f64) / if i == 0 { *v } else { 4.0 * v }) as f32;
    }
    c
}

#[test]
fn gpu_kernels_match_the_cpu_twin() {
    let Some(ctx) = gpu() else { return };
    for grid in parity_grids() {
        kernels_match(&ctx, &grid);
    }
}

fn kernels_match(ctx: &Arc<GpuContext>, grid: &Grid) {
    let grid = grid.clone();
    eprintln!("grid with {} material(s)", grid.materials.len());
    let members = 3;
    let mut cpu = CpuStepper::new(&grid, members);
    let mut gpu = GpuStepper::new(ctx, &grid, members).unwrap();
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

#[test]
fn gpu_and_cpu_twins_agree_through_the_engine() {
    let Some(ctx) = gpu() else { return };
    let model = Model::from_toml(PARITY_MODEL, "<parity>").unwrap();
    let mut cpu = Twin::new(Arc::clone(&model), 1);
    let mut gpu = Twin::new(model, 1);
    gpu.set_backend(&machine_twin::thermal::Backend::Gpu(ctx))
        .unwrap();
    assert!(gpu.backend().unwrap().starts_with("gpu"));
    cpu.advance_to(20.0).unwrap();
    gpu.advance_to(20.0).unwrap();
    for (a, b) in cpu.readings().iter().zip(gpu.readings()) {
        let tol = 1e-4 * a.value.abs().max(1.0);
        assert!(
            (a.value - b.value).abs() < tol,
            "cpu {} vs gpu {}",
            a.value,
            b.value
        );
    }
    let (e_cpu, e_gpu) = (cpu.energy_balance(), gpu.energy_balance());
    assert!((e_cpu.0 - e_gpu.0).abs() < 1e-9 * e_cpu.0);
    assert!((e_cpu.1 - e_gpu.1).abs() < 1e-4 * e_cpu.1.abs());
}

#[test]
fn grid_energy_balance_closes() {
    // Convection, flux and volumetric sources only (fixed faces are not accounted).
    let src = PARITY_MODEL.replace(
        "kind = \"fixed\"\ntemperature = 25.0",
        "kind = \"flux\"\nflux = -500.0",
    );
    let model = Model::from_toml(&src, "<balance>").unwrap();
    let mut twin = Twin::new(model, 1);
    twin.advance_to(600.0).unwrap();
    let (entered, stored, lost) = twin.energy_balance();
    assert!(entered > 1e4);
    let error = (entered - stored - lost).abs() / entered;
    assert!(
        error < 1e-3,
        "entered {entered} J, stored {stored} J, lost {lost} J: error {error}"
    );
}

/// Batched ensembles: the shipped spindle's housing grids of four members (different air
/// convection and seat conductance) stepped in one stepper per grid, through a 3-second
/// run-up. On the CPU the batch must match each member stepping alone to the explicit
/// scheme's sub-step discretisation (0.01 K), and a batch on the GPU must match the batch on
/// the CPU (1e-4 K, the kernels' stated parity).
#[test]
fn batched_ensemble_grids_match_members_stepping_alone_and_cpu_matches_gpu() {
    use machine_twin::calibrate::draw_prior;
    use machine_twin::data::{DataTable, InputSeries, Policy};
    use machine_twin::thermal::Backend;
    use machine_twin::twin::Ensemble;

    let model = Arc::new(
        Model::from_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/spindle.toml"
        ))
        .unwrap(),
    );
    let program = "time,spindle_speed\n0,0\n1,800\n3,800\n";
    let table = DataTable::parse(program, "<program>", false, Policy::Strict).unwrap();
    let inputs = InputSeries::from_table(&model, &table);
    let prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let thetas = draw_prior(&model, &prior, 4, 11);
    let run = |backend: Option<Backend>| {
        let mut ens = Ensemble::new(&model, &thetas, 5).unwrap();
        if let Some(b) = &backend {
            ens.set_backend(b).unwrap();
            let took = ens.backend().unwrap();
            assert!(took.ends_with("(batched)"), "{took}");
        }
        ens.drive_to(3.0, &inputs).unwrap();
        ens.members()
            .iter()
            .map(|m| {
                let th = m.thermal();
                (th.nodes.clone(), th.grids[0].clone(), m.time())
            })
            .collect::<Vec<_>>()
    };
    let worst = |a: &[(Vec<f64>, Vec<f32>, f64)], b: &[(Vec<f64>, Vec<f32>, f64)]| {
        let mut w: f64 = 0.0;
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.2, y.2, "members at the same time");
            for (p, q) in x.0.iter().zip(&y.0) {
                w = w.max((p - q).abs());
            }
            for (p, q) in x.1.iter().zip(&y.1) {
                w = w.max(f64::from((p - q).abs()));
            }
        }
        w
    };
    let alone = run(None);
    let batched_cpu = run(Some(Backend::Cpu));
    let heated = alone
        .iter()
        .map(|m| m.1.iter().fold(0.0f32, |a, v| a.max(*v)))
        .fold(0.0, f32::max);
    assert!(heated > 1e-4, "the run-up heats the housing: {heated} K");
    let w = worst(&alone, &batched_cpu);
    eprintln!("batched CPU vs members alone: worst {w:.3e} K");
    assert!(w < 0.01, "{w}");
    let Some(ctx) = gpu() else { return };
    let batched_gpu = run(Some(Backend::Gpu(ctx)));
    let w = worst(&batched_cpu, &batched_gpu);
    eprintln!("batched GPU vs batched CPU: worst {w:.3e} K");
    assert!(w < 1e-4, "{w}");
}
