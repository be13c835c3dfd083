//! `calibrate/{enkf,pf}/spindle/members=256`: online estimators on the shipped spindle (with its
//! thermal part) assimilating one second of synthetic sensor data (100 rows at 100 Hz, 9
//! sensors). Throughput elements are simulated milliseconds of the whole ensemble, so
//! elements/s ÷ 1000 is the ensemble's real-time factor (every member advanced that much).
//! Ensembles run in parallel across members on all cores (rayon).

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use machine_twin::Model;
use machine_twin::calibrate::{EnsembleKalmanFilter, Estimator, ParticleFilter, Run, draw_prior};
use machine_twin::simulate::SimulateOptions;

const MEMBERS: usize = 256;

fn calibrate(c: &mut Criterion) {
    let path = format!("{}/../models/spindle.toml", env!("CARGO_MANIFEST_DIR"));
    let model: Arc<Model> = Model::from_file(&path).expect("shipped model");
    let options = SimulateOptions {
        duration: Some(1.0),
        seed: 1,
        ..Default::default()
    };
    let run = Run::simulated(&model, &options).expect("synthetic run");
    let prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let thetas = draw_prior(&model, &prior, MEMBERS, 2);
    let mut group = c.benchmark_group("calibrate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1000));
    for method in ["enkf", "pf"] {
        group.bench_function(format!("{method}/spindle/members={MEMBERS}"), |b| {
            b.iter_batched(
                || -> Box<dyn Estimator> {
                    match method {
                        "enkf" => Box::new(EnsembleKalmanFilter::new(&model, &thetas, 3).unwrap()),
                        _ => Box::new(ParticleFilter::new(&model, &thetas, 3).unwrap()),
                    }
                },
                |mut f| {
                    for (t, z) in run.times.iter().zip(&run.z) {
                        f.estimate(*t, &run.inputs, z).unwrap();
                    }
                    f
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, calibrate);
criterion_main!(benches);
