//! Forecast speed of the shipped models with events (256 members, parameters drawn from the
//! model's prior, the cycle-averaged slow integrator):
//! - `predict/bearing_rig/members=256/horizon=100h`: 100 hours at 1800 rpm / 4000 N, outputs
//!   every 15 minutes (goal < 10 s on the 2-core machine);
//! - `predict/<model>/members=256/horizon=1h/every=1s`: one hour of the model's harshest
//!   operating point (the face mill: steel, 1.5 mm depth of cut, 0.5 mm/rev; the bearing rig:
//!   1500 rpm / 5000 N) with an output every second, far below the slow integrator's bridging
//!   gap (goal < 5 s: how often a forecast writes must not decide how it integrates).

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use machine_twin::data::InputSeries;
use machine_twin::prognosis::{draw_gaussian, forecast};
use machine_twin::{Model, Params, Twin};

const MEMBERS: usize = 256;

/// The shipped model `name` and `MEMBERS` twins with parameters drawn from its prior.
fn setup(name: &str) -> (Arc<Model>, impl Fn() -> Vec<(Twin, f64)>) {
    let path = format!("{}/../models/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let model = Model::from_file(&path).expect("shipped model compiles");
    let mean: Vec<f64> = model.parameters.iter().map(|p| p.mean).collect();
    let std: Vec<f64> = model.parameters.iter().map(|p| p.std).collect();
    let draws = draw_gaussian(&model, &mean, &std, &[], MEMBERS, 1);
    let m = Arc::clone(&model);
    let members = move || -> Vec<(Twin, f64)> {
        draws
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut t = Twin::new(Arc::clone(&m), i as u64);
                t.set_params(&Params { values: d.clone() })
                    .expect("drawn within bounds");
                (t, 1.0 / MEMBERS as f64)
            })
            .collect()
    };
    (model, members)
}

/// A schedule holding `values` (by input name) from t = 0.
fn held(model: &Model, values: &[(&str, f64)]) -> InputSeries {
    let columns: Vec<String> = values.iter().map(|(n, _)| n.to_string()).collect();
    let row: Vec<Option<f64>> = values.iter().map(|(_, v)| Some(*v)).collect();
    let table = machine_twin::data::DataTable {
        source: "<bench schedule>".into(),
        columns,
        times: vec![0.0],
        rows: vec![row],
        ..Default::default()
    };
    InputSeries::from_table(model, &table)
}

fn predict(c: &mut Criterion) {
    let (_, members) = setup("bearing_rig");
    let mut group = c.benchmark_group("predict/bearing_rig");
    group.sample_size(10);
    group.bench_function("members=256/horizon=100h", |b| {
        b.iter_batched(
            &members,
            |m| forecast(m, None, 100.0 * 3600.0, 900.0, None).expect("forecast runs"),
            BatchSize::LargeInput,
        )
    });
    group.finish();

    let harshest: [(&str, &[(&str, f64)]); 2] = [
        (
            "face_mill",
            &[
                ("work_material", 2.0),
                ("depth_of_cut", 1.5e-3),
                ("feed_per_rev", 0.5e-3),
            ],
        ),
        (
            "bearing_rig",
            &[("shaft_speed", 157.08), ("radial_load", 5000.0)],
        ),
    ];
    for (name, values) in harshest {
        let (model, members) = setup(name);
        let schedule = held(&model, values);
        let mut group = c.benchmark_group(format!("predict/{name}"));
        group.sample_size(10);
        group.bench_function("members=256/horizon=1h/every=1s", |b| {
            b.iter_batched(
                &members,
                |m| forecast(m, Some(&schedule), 3600.0, 1.0, None).expect("forecast runs"),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, predict);
criterion_main!(benches);
