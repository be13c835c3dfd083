//! `rainflow/1e6-samples`: streaming rainflow counting with Miner damage on one core, in samples
//! per second (criterion's elements/s). The history is a seeded narrow-band random load (a
//! carrier with a random amplitude and mean, plus noise), so about a third of the samples are
//! reversals, as in a sampled machine load.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use machine_twin::fatigue::rainflow::Rainflow;
use machine_twin::fatigue::{DamageCounter, SnCurve};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

const SAMPLES: usize = 1_000_000;

fn history() -> Vec<f64> {
    let mut rng = Pcg64::seed_from_u64(7);
    let (mut amp, mut mean) = (100e6, 50e6);
    (0..SAMPLES)
        .map(|i| {
            if i % 500 == 0 {
                amp = rng.random_range(20e6..200e6);
                mean = rng.random_range(-50e6..150e6);
            }
            mean + amp * (0.7 * i as f64).sin() + rng.random_range(-5e6..5e6)
        })
        .collect()
}

fn rainflow(c: &mut Criterion) {
    let xs = history();
    let curve = SnCurve {
        ultimate_strength: 690e6,
        strength_coefficient: 1035e6,
        exponent: -0.1,
        endurance_limit: 0.0,
    };
    let mut group = c.benchmark_group("rainflow");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    group.bench_function("1e6-samples", |b| {
        b.iter(|| {
            let mut rf = Rainflow::new();
            let mut cycles = 0.0;
            for &x in &xs {
                rf.push(x, &mut |c| cycles += c.count);
            }
            black_box(cycles)
        })
    });
    group.bench_function("1e6-samples+miner", |b| {
        b.iter(|| {
            let mut d = DamageCounter::default();
            for &x in &xs {
                d.push(x, &curve);
            }
            black_box(d.damage(&curve))
        })
    });
    group.finish();
}

criterion_group!(benches, rainflow);
criterion_main!(benches);
