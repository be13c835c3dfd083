//! Conduction-grid throughput in node updates per second (criterion's elements/s):
//! `thermal/{cpu,gpu}/grid=128^3` (one grid) and `thermal/{cpu,gpu}/members=256/grid=32^3`
//! (an ensemble in one dispatch per sub-step). Each iteration is one explicit sub-step of an
//! insulated steel block (the pure 7-point stencil: 4 bytes read and 4 written per update).
//!
//! Before the groups run, a STREAM-style triad (`a = b + s·c`, f32, rayon, 64 MiB per array)
//! measures this machine's memory bandwidth and prints the stencil's bandwidth bound at
//! 8 bytes per node update, so the CPU figure can be read as a fraction of it.
//! GPU groups run on the adapter wgpu finds (lavapipe in CI: correctness, not speed) and are
//! skipped with a message when there is none.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use machine_twin::Model;
use machine_twin::thermal::cpu::CpuStepper;
use machine_twin::thermal::gpu::{GpuContext, GpuStepper};
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

fn triad_bandwidth() -> f64 {
    let n = 16 << 20;
    let b = vec![1.0f32; n];
    let c = vec![2.0f32; n];
    let mut a = vec![0.0f32; n];
    let mut best = f64::INFINITY;
    for _ in 0..10 {
        let t = Instant::now();
        a.par_chunks_mut(1 << 16)
            .zip(b.par_chunks(1 << 16))
            .zip(c.par_chunks(1 << 16))
            .for_each(|((a, b), c)| {
                for i in 0..a.len() {
                    a[i] = b[i] + 3.0 * c[i];
                }
            });
        best = best.min(t.elapsed().as_secs_f64());
        black_box(&a);
    }
    (12 * n) as f64 / best
}

fn bench_stepper(c: &mut Criterion, group: &str, mut stepper: Box<dyn GridStepper>, label: &str) {
    let dt = 0.9 * stepper.grid().stable_dt(&[]);
    let updates = (stepper.grid().cells() * stepper.members()) as u64;
    let mut inflow = vec![0.0; stepper.members()];
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(updates));
    g.sample_size(10);
    g.bench_function(label, |b| {
        b.iter(|| stepper.advance(dt, &mut inflow).expect("step"))
    });
    g.finish();
}

fn thermal(c: &mut Criterion) {
    let bw = triad_bandwidth();
    println!(
        "triad bandwidth: {:.1} GB/s on {} threads -> 7-point stencil bound {:.3e} node updates/s at 8 B each",
        bw / 1e9,
        rayon::current_num_threads(),
        bw / 8.0
    );
    let (big, small) = (block(128), block(32));
    bench_stepper(
        c,
        "thermal/cpu",
        Box::new(CpuStepper::new(&big, 1)),
        "grid=128^3",
    );
    bench_stepper(
        c,
        "thermal/cpu",
        Box::new(CpuStepper::new(&small, 256)),
        "members=256/grid=32^3",
    );
    match GpuContext::new() {
        Ok(ctx) => {
            println!("gpu adapter: {}", ctx.describe());
            for (grid, members, label) in [
                (&big, 1, "grid=128^3"),
                (&small, 256, "members=256/grid=32^3"),
            ] {
                let stepper = GpuStepper::new(&ctx, grid, members).expect("gpu stepper");
                bench_stepper(c, "thermal/gpu", Box::new(stepper), label);
            }
        }
        Err(e) => println!("SKIPPED thermal/gpu: {e}"),
    }
}

criterion_group!(benches, thermal);
criterion_main!(benches);
