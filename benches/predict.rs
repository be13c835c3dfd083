//! `predict/bearing_rig/members=256/horizon=100h`: a 256-member forecast of the bearing rig
//! (parameters drawn from the model's prior) over 100 hours at 1800 rpm / 4000 N, outputs
//! every 15 minutes, with the cycle-averaged slow integrator. Time per forecast (goal < 10 s
//! on the 2-core machine).

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use machine_twin::prognosis::{draw_gaussian, forecast};
use machine_twin::{Model, Params, Twin};

const MEMBERS: usize = 256;
const HORIZON: f64 = 100.0 * 3600.0;

fn predict(c: &mut Criterion) {
    let path = format!("{}/../models/bearing_rig.toml", env!("CARGO_MANIFEST_DIR"));
    let model = Model::from_file(&path).expect("shipped model compiles");
    let mean: Vec<f64> = model.parameters.iter().map(|p| p.mean).collect();
    let std: Vec<f64> = model.parameters.iter().map(|p| p.std).collect();
    let draws = draw_gaussian(&model, &mean, &std, &[], MEMBERS, 1);
    let members = || -> Vec<(Twin, f64)> {
        draws
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut t = Twin::new(Arc::clone(&model), i as u64);
                t.set_params(&Params { values: d.clone() })
                    .expect("drawn within bounds");
                (t, 1.0 / MEMBERS as f64)
            })
            .collect()
    };
    let mut group = c.benchmark_group("predict/bearing_rig");
    group.sample_size(10);
    group.bench_function("members=256/horizon=100h", |b| {
        b.iter_batched(
            members,
            |m| forecast(m, None, HORIZON, 900.0, None).expect("forecast runs"),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, predict);
criterion_main!(benches);
