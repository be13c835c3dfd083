//! `step/cpu/<model>`: mechanical steps of each shipped model on one core, in steps per second
//! (criterion's elements/s). Real-time factor = steps/s × dt_mech (1 ms for every shipped model).
//!
//! Each sample starts from the same warmed-up snapshot, restored outside the timed region.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use machine_twin::{Model, Twin};

const STEPS: u64 = 1000;

fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step/cpu");
    group.throughput(Throughput::Elements(STEPS));
    for name in ["spindle", "feed_axis", "bearing_rig", "pendulum"] {
        let path = format!("{}/../models/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let model = Model::from_file(&path).expect("shipped model compiles");
        let mut twin = Twin::new(model.clone(), 0);
        if let Ok(i) = model.input_index("table_position") {
            twin.set_input(i, 0.1);
        }
        twin.advance_to(0.5).unwrap();
        let snapshot = twin.state().clone();
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    let mut t = Twin::new(model.clone(), 0);
                    t.restore(&snapshot).expect("same model");
                    t
                },
                |t| {
                    for _ in 0..STEPS {
                        black_box(t.step().unwrap());
                    }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
