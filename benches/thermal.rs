//! Conduction-grid throughput in node updates per second (criterion's elements/s):
//! `thermal/{cpu,gpu}/grid=128^3` (one grid), `thermal/gpu/grid=512^3` (a fine grid, hardware
//! GPUs only) and `thermal/{cpu,gpu}/members=256/grid=32^3` (an ensemble; on the GPU with the
//! kernel the default picks, one dispatch per sub-step, and with the fused kernel for
//! comparison). On hardware GPUs, `.../unchecked` repeats two cases with the kernels' run-time
//! bounds checks off. Each
//! iteration is one thermal step of 8 explicit sub-steps of an insulated steel block (the pure
//! 7-point stencil: 4 bytes read and 4 written per update).
//!
//! Each group's rate is printed as a fraction of a bandwidth bound at 8 bytes per update,
//! measured between the group's timed steps (a shared machine's bandwidth drifts): for the CPU
//! a STREAM-style triad (`a = b + s·c`, f32, rayon, 64 MiB per array); for the GPU the
//! `copy_field` kernel over a 512³ field (64³ on a software adapter). GPU groups run on the adapter wgpu finds (lavapipe in CI: correctness, not speed)
//! and are skipped with a message when there is none.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use machine_twin::Model;
use machine_twin::thermal::cpu::CpuStepper;
use machine_twin::thermal::gpu::{GpuContext, GpuStepper, StepKernel};
use machine_twin::thermal::{Grid, GridStepper};
use rayon::prelude::*;

fn block(n: usize) -> Grid {
    let src = format!(
        "[model]\nname = \"bench\"\n[thermal.grid.block]\nsize = [0.1, 0.1, 0.1]\nnodes = [{n}, {n}, {n}]\nmaterial = {{ k = 45.0, rho = 7850.0, cp = 470.0 }}\n"
    );
    Model::from_toml(&src, "<bench>")
        .expect("bench grid")
        .thermal
        .grids[0]
        .clone()
}

/// A STREAM-style triad (`a = b + s·c`, f32, rayon, 64 MiB per array): memory bandwidth in
/// bytes/s (12 bytes per element), best of three passes.
struct Triad {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Triad {
    fn new() -> Self {
        let n = 16 << 20;
        Self {
            a: vec![0.0; n],
            b: vec![1.0; n],
            c: vec![2.0; n],
        }
    }

    fn bandwidth(&mut self) -> f64 {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            self.a
                .par_chunks_mut(1 << 16)
                .zip(self.b.par_chunks(1 << 16))
                .zip(self.c.par_chunks(1 << 16))
                .for_each(|((a, b), c)| {
                    for i in 0..a.len() {
                        a[i] = b[i] + 3.0 * c[i];
                    }
                });
            best = best.min(t.elapsed().as_secs_f64());
            black_box(&self.a);
        }
        (12 * self.a.len()) as f64 / best
    }
}

/// Sub-steps per bench iteration: one thermal step of this many explicit sub-steps, so that a
/// GPU's submit and wait are paid once per thermal step, as in a twin.
const SUBSTEPS: f64 = 8.0;

/// A bandwidth bound in node updates/s (8 bytes each), measured again at each call, and its
/// name.
type Bound<'a> = (&'a mut dyn FnMut() -> f64, &'a str);

/// Best node-update rate over five thermal steps of `stepper`, timed outside criterion, and
/// the best bound measured between them (memory bandwidth on a shared machine drifts: each
/// ratio compares a rate with the bound of the same minutes).
fn rate(
    stepper: &mut dyn GridStepper,
    dt: f64,
    inflow: &mut [f64],
    bound: &mut Bound,
) -> (f64, f64) {
    let updates = (stepper.grid().cells() * stepper.members()) as f64;
    let (mut best, mut best_bound) = (0.0f64, 0.0f64);
    for _ in 0..5 {
        best_bound = best_bound.max((bound.0)());
        let t = Instant::now();
        let n = stepper.advance(dt, inflow).expect("step");
        best = best.max(updates * n as f64 / t.elapsed().as_secs_f64());
    }
    (best, best_bound)
}

/// Benches one thermal step of `SUBSTEPS` sub-steps and prints its rate as a fraction of a
/// bandwidth bound measured between timed steps of it.
fn bench_stepper(
    c: &mut Criterion,
    group: &str,
    stepper: &mut dyn GridStepper,
    label: &str,
    mut bound: Bound,
) {
    let dt = SUBSTEPS * 0.9 * stepper.grid().stable_dt(&[]);
    let mut inflow = vec![0.0; stepper.members()];
    let substeps = stepper.advance(dt, &mut inflow).expect("step");
    let updates = (stepper.grid().cells() * stepper.members() * substeps) as u64;
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(updates));
    g.sample_size(10);
    g.bench_function(label, |b| {
        b.iter(|| stepper.advance(dt, &mut inflow).expect("step"))
    });
    g.finish();
    let (r, limit) = rate(stepper, dt, &mut inflow, &mut bound);
    println!(
        "{group}/{label}: {r:.3e} node updates/s = {:.0} % of the {} bound ({limit:.3e}/s, {:.1} GB/s)",
        100.0 * r / limit,
        bound.1,
        8.0 * limit / 1e9
    );
}

/// Device bandwidth in bytes/s from `copy_field` on a stepper's fields (read 4 bytes, write
/// 4 per node), best of three runs of 20 copies.
fn copy_bandwidth(s: &mut GpuStepper) -> f64 {
    let words = (s.grid().cells() * s.members()) as f64;
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        s.copy_fields(20).expect("copy");
        best = best.min(t.elapsed().as_secs_f64());
    }
    20.0 * 8.0 * words / best
}

fn thermal(c: &mut Criterion) {
    let mut triad = Triad::new();
    println!(
        "triad on {} threads: {:.1} GB/s (measured again between the timed steps of each group)",
        rayon::current_num_threads(),
        triad.bandwidth() / 1e9
    );
    let mut cpu_bound = || triad.bandwidth() / 8.0;
    let (big, small) = (block(128), block(32));
    bench_stepper(
        c,
        "thermal/cpu",
        &mut CpuStepper::new(&big, 1),
        "grid=128^3",
        (&mut cpu_bound, "triad"),
    );
    bench_stepper(
        c,
        "thermal/cpu",
        &mut CpuStepper::new(&small, 256),
        "members=256/grid=32^3",
        (&mut cpu_bound, "triad"),
    );
    let ctx = match GpuContext::new() {
        Ok(ctx) => ctx,
        Err(e) => {
            println!("SKIPPED thermal/gpu: {e}");
            return;
        }
    };
    println!("gpu adapter: {}", ctx.describe());
    // A software adapter (lavapipe) checks that the groups run; 512^3 would take minutes there.
    let huge = !ctx.is_software();
    let copy_side = if huge { 512 } else { 64 };
    let mut copier = GpuStepper::new(&ctx, &block(copy_side), 1).expect("gpu stepper");
    copier.copy_fields(2).expect("warm-up");
    println!(
        "copy_field over {copy_side}^3: {:.1} GB/s (measured again between the timed steps of each group)",
        copy_bandwidth(&mut copier) / 1e9
    );
    let mut gpu_bound = || copy_bandwidth(&mut copier) / 8.0;
    println!("fused kernel: {} threads per member", ctx.fused_threads());
    let mut cases = vec![
        (block(128), 1, StepKernel::Auto, "grid=128^3"),
        (
            small.clone(),
            256,
            StepKernel::Auto,
            "members=256/grid=32^3",
        ),
        (
            small.clone(),
            256,
            StepKernel::Fused,
            "members=256/grid=32^3/fused",
        ),
    ];
    if huge {
        cases.insert(1, (block(512), 1, StepKernel::Auto, "grid=512^3"));
    }
    for (grid, members, kernel, label) in cases {
        let mut stepper = GpuStepper::new(&ctx, &grid, members).expect("gpu stepper");
        stepper.set_kernel(kernel);
        println!("{label}: kernel {:?}", stepper.kernel());
        bench_stepper(
            c,
            "thermal/gpu",
            &mut stepper,
            label,
            (&mut gpu_bound, "copy"),
        );
    }
    // What the kernels' run-time bounds checks cost (hardware adapters only).
    if huge && let Ok(unchecked) = GpuContext::open(false) {
        for (grid, members, label) in [
            (block(512), 1, "grid=512^3/unchecked"),
            (small.clone(), 256, "members=256/grid=32^3/unchecked"),
        ] {
            let mut stepper = GpuStepper::new(&unchecked, &grid, members).expect("gpu stepper");
            bench_stepper(
                c,
                "thermal/gpu",
                &mut stepper,
                label,
                (&mut gpu_bound, "copy"),
            );
        }
    }
}

criterion_group!(benches, thermal);
criterion_main!(benches);
