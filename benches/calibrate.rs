//! `calibrate/{enkf,pf}/spindle/members=256`: online estimators on the shipped spindle (with its
//! thermal part and its quasi-steady stepping) assimilating ten seconds of synthetic sensor data
//! at 10 Hz (100 rows, 9 sensors): run-up to 10,000 rpm, then steady running. Throughput
//! elements are simulated milliseconds of the whole ensemble, so elements/s ÷ 1000 is the
//! ensemble's real-time factor (every member advanced that much). Ensembles run in parallel
//! across members on all cores (rayon).

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use machine_twin::Model;
use machine_twin::calibrate::{EnsembleKalmanFilter, Estimator, ParticleFilter, Run, draw_prior};
use machine_twin::simulate::SimulateOptions;

const MEMBERS: usize = 256;
const SECONDS: f64 = 10.0;

fn calibrate(c: &mut Criterion) {
    let path = format!("{}/../models/spindle.toml", env!("CARGO_MANIFEST_DIR"));
    let model: Arc<Model> = Model::from_file(&path).expect("shipped model");
    let options = SimulateOptions {
        duration: Some(SECONDS),
        seed: 1,
        ..Default::default()
    };
    let run = Run::simulated(&model, &options).expect("synthetic run");
    // Rows at 10 Hz, as a plant historian records them.
    let rows: Vec<(f64, &Vec<Option<f64>>)> = run
        .times
        .iter()
        .zip(&run.z)
        .filter(|(t, _)| ((*t * 10.0).round() - *t * 10.0).abs() < 1e-6)
        .map(|(t, z)| (*t, z))
        .collect();
    let prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let thetas = draw_prior(&model, &prior, MEMBERS, 2);
    let mut group = c.benchmark_group("calibrate");
    group.sample_size(10);
    group.throughput(Throughput::Elements((SECONDS * 1000.0) as u64));
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
                    for (t, z) in &rows {
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
