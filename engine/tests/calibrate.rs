//! Calibration tests on a small machine: a speed-controlled flywheel whose bearing friction
//! heats a lumped node. Synthetic data come from the model itself with known parameter values
//! and the sensors' noise; each estimator must move the parameters to the known values.

use std::sync::Arc;

use machine_twin::calibrate::{CalibrateOptions, Method, Run, calibrate};
use machine_twin::data::{DataTable, Policy};
use machine_twin::simulate::{SimulateOptions, simulate};
use machine_twin::{Model, data::InputSeries};

/// A speed-controlled flywheel whose bearing friction heats a lumped node.
const MODEL: &str = include_str!("fixtures/flywheel.toml");

const TRUTH: [(&str, f64); 3] = [
    ("joint.shaft.friction.viscous", 2.6e-3),
    ("joint.shaft.friction.coulomb", 0.13),
    ("thermal.link.cooling.conductance", 2.5),
];

const PROGRAM: &str = "time,speed_cmd\n0,0\n2,100\n40,100\n42,250\n80,250\n82,180\n120,180\n";

/// A synthetic run: the model with the true values, sensor noise seeded by `seed`, written and
/// read back as a data file.
fn synthetic_run(model: &Arc<Model>, seed: u64) -> Run {
    synthetic_run_with(model, seed, &[])
}

fn synthetic_run_with(model: &Arc<Model>, seed: u64, extra: &[(&str, f64)]) -> Run {
    synthetic(model, seed, extra, None)
}

/// A synthetic run of `duration` s (the program's last value held).
fn synthetic_run_for(model: &Arc<Model>, seed: u64, duration: f64) -> Run {
    synthetic(model, seed, &[], Some(duration))
}

fn synthetic(model: &Arc<Model>, seed: u64, extra: &[(&str, f64)], duration: Option<f64>) -> Run {
    let program = DataTable::parse(PROGRAM, "<program>", false, Policy::Strict).unwrap();
    let options = SimulateOptions {
        duration,
        inputs: Some(InputSeries::from_table(model, &program)),
        sets: TRUTH
            .iter()
            .chain(extra)
            .map(|(p, v)| (p.to_string(), *v))
            .collect(),
        seed,
        ..Default::default()
    };
    let mut csv = String::from("time,speed_cmd,current,temperature\n");
    simulate(
        Arc::clone(model),
        &options,
        |t, v| {
            let cell = |x: &Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
            csv.push_str(&format!(
                "{t},{},{},{}\n",
                cell(&v[0]),
                cell(&v[1]),
                cell(&v[2])
            ));
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    let table = DataTable::parse(&csv, "<synthetic>", false, Policy::Lenient).unwrap();
    Run::from_table(model, &table).unwrap()
}

#[test]
fn batch_recovers_known_parameters_with_honest_intervals() {
    let model = Model::from_toml(MODEL, "<flywheel>").unwrap();
    let run = synthetic_run(&model, 11);
    let report = calibrate(
        &model,
        &[run],
        &CalibrateOptions::default(),
        |_| Ok(()),
        |_| {},
    )
    .unwrap();
    assert_eq!(report.converged, Some(true));
    for (path, truth) in TRUTH {
        let p = &report.parameters[path];
        let error = (p.mean - truth).abs() / truth;
        eprintln!(
            "{path}: {} ± {} (truth {truth}, error {:.2} %)",
            p.mean,
            p.std,
            100.0 * error
        );
        assert!(error < 0.03, "{path}: {} vs {truth}", p.mean);
        assert!(
            p.p05 <= truth && truth <= p.p95,
            "{path}: 90 % interval {}..{} misses {truth}",
            p.p05,
            p.p95
        );
    }
    let current = &report.residual_rmse["current"];
    assert!(current.after < current.before, "{current:?}");
    assert!(
        current.after < 1.5 * 0.01,
        "the fit reaches the sensor noise: {current:?}"
    );
}

#[test]
fn filters_move_the_parameters_to_the_known_values() {
    let model = Model::from_toml(MODEL, "<flywheel>").unwrap();
    let run = synthetic_run(&model, 12);
    for (method, tolerance) in [
        (Method::EnKF, 0.1),
        (Method::Ukf, 0.1),
        (Method::ParticleFilter, 0.15),
    ] {
        let options = CalibrateOptions {
            method,
            members: 48,
            seed: 3,
            ..Default::default()
        };
        let mut records = 0;
        let report = calibrate(
            &model,
            std::slice::from_ref(&run),
            &options,
            |_| {
                records += 1;
                Ok(())
            },
            |_| {},
        )
        .unwrap();
        assert!(records > 100, "the trace gets the estimates over time");
        for (path, truth) in TRUTH.iter().take(2) {
            let p = &report.parameters[*path];
            let error = (p.mean - truth).abs() / truth;
            eprintln!(
                "{}: {path}: {} ± {} (truth {truth})",
                method.name(),
                p.mean,
                p.std
            );
            assert!(
                error < tolerance,
                "{}: {path}: {} vs {truth}",
                method.name(),
                p.mean
            );
            assert!(
                p.std < p.prior_std,
                "{}: {path}: the data must narrow the prior",
                method.name()
            );
        }
    }
}

#[test]
fn bad_rows_are_counted_and_left_out() {
    let model = Model::from_toml(MODEL, "<flywheel>").unwrap();
    let text = "time,speed_cmd,current,temperature\n0.0,0,0.1,20\n0.5,50,NaN,\n0.5,50,0.2,\n0.4,50,0.2,\n1.0,50,0.3,20.01\n";
    let table = DataTable::parse(text, "<bad>", false, Policy::Lenient).unwrap();
    let run = Run::from_table(&model, &table).unwrap();
    assert_eq!(run.quality.non_finite, 1);
    assert_eq!(run.quality.out_of_order, 1);
    assert!(run.times.windows(2).all(|w| w[0] < w[1]));
    assert!(run.z.iter().flatten().flatten().all(|v| v.is_finite()));
    let report = calibrate(
        &model,
        &[run],
        &CalibrateOptions::default(),
        |_| Ok(()),
        |_| {},
    )
    .unwrap();
    assert_eq!(report.data_quality["<bad>"].non_finite, 1);
}

/// A filter resumed from a checkpoint (through JSON) continues exactly as the original.
#[test]
fn filter_checkpoints_resume_exactly() {
    use machine_twin::calibrate::{EnsembleKalmanFilter, Estimator, FilterCheckpoint, draw_prior};
    let model = Model::from_toml(MODEL, "<flywheel>").unwrap();
    let run = synthetic_run(&model, 5);
    let prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let thetas = draw_prior(&model, &prior, 8, 1);
    let mut a = EnsembleKalmanFilter::new(&model, &thetas, 1).unwrap();
    let half = run.times.len() / 2;
    for i in 0..half {
        a.estimate(run.times[i], &run.inputs, &run.z[i]).unwrap();
    }
    let json = serde_json::to_string(&a.checkpoint()).unwrap();
    let cp: FilterCheckpoint = serde_json::from_str(&json).unwrap();
    let mut via_clone = EnsembleKalmanFilter::resume(&model, &a.checkpoint(), 1).unwrap();
    let mut via_json = EnsembleKalmanFilter::resume(&model, &cp, 1).unwrap();
    for i in half..half + 200 {
        for f in [&mut a as &mut dyn Estimator, &mut via_clone, &mut via_json] {
            f.estimate(run.times[i], &run.inputs, &run.z[i]).unwrap();
        }
    }
    assert_eq!(a.samples().0, via_clone.samples().0, "resume from a clone");
    assert_eq!(a.samples().0, via_json.samples().0, "resume through JSON");
}

/// The assimilation loop's work per row does not grow with the stream: a flywheel stream of
/// 20,000 rows (400 s at 50 Hz) through an EnKF holds a bounded number of input points and
/// waiting rows at every row, and its last 4,000 rows take no longer per row than rows
/// 1,000 to 5,000 (within 3×: the machine is shared; a loop that rebuilt its inputs from all
/// rows per row, as `--follow` did, is hundreds of times slower by the end).
#[test]
fn assimilation_work_per_row_does_not_grow_with_the_stream() {
    use machine_twin::calibrate::{Assimilation, CalibrateOptions, FnSink};
    use std::time::Instant;
    let model = Model::from_toml(MODEL, "<flywheel>").unwrap();
    let run = synthetic_run_for(&model, 9, 400.0);
    assert!(run.rows.len() >= 20_000, "{} rows", run.rows.len());
    let options = CalibrateOptions {
        method: Method::EnKF,
        members: 4,
        ..Default::default()
    };
    let prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let mut a = Assimilation::new(&model, &options, &["<stream>".into()], &prior).unwrap();
    let mut sink = FnSink(|_: &_| Ok(()), |_: &_| Ok(()));
    a.start_run().unwrap();
    let n = run.rows.len();
    let mut marks = Vec::with_capacity(n);
    let mut most_retained = 0;
    let start = Instant::now();
    for row in &run.rows {
        let z = row.measured.map(|i| run.z[i].as_slice());
        a.push(row.time, &row.inputs, z, &mut sink).unwrap();
        most_retained = most_retained.max(a.retained());
        marks.push(start.elapsed().as_secs_f64());
    }
    a.finish_run(&mut sink).unwrap();
    assert!(most_retained <= 64, "held {most_retained} points and rows");
    let per_row = |from: usize, to: usize| (marks[to] - marks[from]) / (to - from) as f64;
    let (early, late) = (per_row(1_000, 5_000), per_row(n - 4_001, n - 1));
    eprintln!(
        "per row: rows 1k-5k {:.1} µs, last 4k {:.1} µs",
        early * 1e6,
        late * 1e6
    );
    assert!(
        late < 3.0 * early,
        "late {late} s/row vs early {early} s/row"
    );
}

/// After a batch fit, the wear band at the last data point is propagated linearly through the
/// final Jacobian's simulations. The face mill's flank wear, fitted to an hour of measurements
/// of one tool (13 readings, noise 0.03 mm): the band's median is the calibrated twin's own VB
/// at the last point, and its spread is what the data allow, no wider than one reading's noise
/// and no narrower than all readings together (0.03 mm/√13), holding the generating value.
///
/// Replaying 400 draws of the reported Gaussian instead (the earlier way) put 50 of them above
/// 1 mm and the 95th percentile at 3 mm, the model's cap: the wear law is strongly convex in
/// its acceleration scale, so the Laplace Gaussian reaches values the data exclude.
#[test]
fn batch_wear_band_is_the_datas() {
    use machine_twin::calibrate::predictions;

    let model = Model::from_file(format!(
        "{}/../models/face_mill.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut csv = String::from("time,depth_of_cut,feed_per_rev,work_material,flank_wear\n");
    let truth = |t: f64| 0.08e-3 + 0.009e-3 * t / 60.0;
    for k in 0..=12 {
        let t = 300.0 * k as f64;
        // Break-in, then a steady rate, with a little scatter.
        let vb = if k == 0 {
            0.0
        } else {
            truth(t) + 1e-5 * ((k * 7 % 5) as f64 - 2.0)
        };
        csv.push_str(&format!("{t},0.0015,0.0005,1,{vb}\n"));
    }
    let table = DataTable::parse(&csv, "<mill>", false, Policy::Strict).unwrap();
    let run = Run::from_table(&model, &table).unwrap();
    let report = calibrate(
        &model,
        std::slice::from_ref(&run),
        &CalibrateOptions::default(),
        |_| Ok(()),
        |_| {},
    )
    .unwrap();
    assert_eq!(report.method, "batch");
    let band = &report.wear["tool"];
    let mean: Vec<f64> = report.parameters.values().map(|p| p.mean).collect();
    let sensor = model
        .sensors
        .iter()
        .position(|s| s.name == "flank_wear")
        .unwrap();
    let at_mode = predictions(&model, &run, &mean).unwrap().last().unwrap()[sensor];
    let sd = (band.p95 - band.p50) / 1.644854;
    eprintln!(
        "VB at the last point: {} … {} … {} (twin at the mode {at_mode}, sd {sd})",
        band.p05, band.p50, band.p95
    );
    assert!((band.p50 - at_mode).abs() <= 1e-9 * at_mode);
    assert!((3e-5 / 13f64.sqrt()..=3e-5).contains(&sd), "sd {sd}");
    assert!((band.p05..=band.p95).contains(&truth(3600.0)));
}

#[test]
fn a_fleet_of_units_gives_the_population_and_its_spread() {
    // The viscous friction differs from unit to unit; the rest is shared.
    let text = MODEL.replacen(
        "path = \"joint.shaft.friction.viscous\"\n",
        "path = \"joint.shaft.friction.viscous\"\nper_unit = true\n",
        1,
    );
    let model = Model::from_toml(&text, "<flywheel fleet>").unwrap();
    let viscous = [2.0e-3, 2.6e-3, 3.2e-3];
    let runs: Vec<Run> = viscous
        .iter()
        .enumerate()
        .map(|(i, v)| {
            synthetic_run_with(
                &model,
                20 + i as u64,
                &[("joint.shaft.friction.viscous", *v)],
            )
        })
        .collect();
    let report = calibrate(
        &model,
        &runs,
        &CalibrateOptions::default(),
        |_| Ok(()),
        |_| {},
    )
    .unwrap();
    let population = &report.population["joint.shaft.friction.viscous"];
    eprintln!("{population:?}");
    assert_eq!(population.units.len(), 3);
    for (unit, truth) in population.units.iter().zip(viscous) {
        assert!(
            (unit.mean - truth).abs() < 0.03 * truth,
            "unit {}: {} vs {truth}",
            unit.run,
            unit.mean
        );
    }
    // The population mean is the units' mean; the spread between units is theirs (sample
    // standard deviation 6e-4), not the standard error of the mean.
    assert!((population.mean - 2.6e-3).abs() < 0.03 * 2.6e-3);
    assert!(
        (population.between_unit_std - 6.0e-4).abs() < 1.0e-4,
        "{}",
        population.between_unit_std
    );
    // A new unit starts from the predictive distribution: wide enough to hold every unit.
    let p = &report.parameters["joint.shaft.friction.viscous"];
    assert!(
        p.std > population.between_unit_std && p.p05 < 2.0e-3 && p.p95 > 3.2e-3,
        "{p:?}"
    );
    // The shared parameters are pooled and stay at the truth.
    let coulomb = &report.parameters["joint.shaft.friction.coulomb"];
    assert!((coulomb.mean - 0.13).abs() < 0.03 * 0.13, "{coulomb:?}");
}

/// Fuzzing reproducer (issue 15): a checkpoint whose filter holds no member states, or fewer
/// log weights than members, is refused on resume (it indexed out of bounds).
#[test]
fn a_checkpoint_without_members_is_refused() {
    use machine_twin::calibrate::{EnsembleKalmanFilter, Estimator, ParticleFilter, draw_prior};
    let model = Model::from_toml(MODEL, "<flywheel>").unwrap();
    let prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let thetas = draw_prior(&model, &prior, 8, 1);
    let pf = ParticleFilter::new(&model, &thetas, 1).unwrap();
    let mut empty = pf.checkpoint();
    empty.states.clear();
    empty.log_weights.clear();
    let e = ParticleFilter::resume(&model, &empty, 1)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("0 member states"), "{e}");
    let e = EnsembleKalmanFilter::resume(&model, &empty, 1)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("0 member states"), "{e}");
    let mut short = pf.checkpoint();
    short.log_weights.truncate(3);
    let e = ParticleFilter::resume(&model, &short, 1)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("3 log weights for 8 members"), "{e}");
}

/// Fuzzing reproducers (issue 15): 2 of 25 random byte flips in a checkpoint changed a result
/// silently; a zero generator state hung; negative prior stds were accepted. A checkpoint file
/// carries a checksum and its contents are checked before a calibration resumes from it.
#[test]
fn checkpoint_files_are_checksummed_and_their_contents_checked() {
    use machine_twin::calibrate::{Checkpoint, Estimator, ParticleFilter, draw_prior};
    let model = Model::from_toml(MODEL, "<flywheel>").unwrap();
    let prior: Vec<(f64, f64)> = model.parameters.iter().map(|p| (p.mean, p.std)).collect();
    let pf = ParticleFilter::new(&model, &draw_prior(&model, &prior, 4, 1), 1).unwrap();
    let checkpoint = Checkpoint {
        model: model.name.clone(),
        method: "pf".into(),
        runs: vec!["run.csv".into()],
        seed: 1,
        prior: prior.clone(),
        position: (0, 10),
        filter: Some(pf.checkpoint()),
        batch: None,
        units: Vec::new(),
        joint: None,
    };
    let text = checkpoint.to_json().unwrap();
    let back = Checkpoint::from_json(&text, "cp.json").unwrap();
    assert_eq!(
        back.to_json().unwrap(),
        text,
        "a checkpoint reads back exactly"
    );
    // One digit changed anywhere in the body is caught.
    let at = text.find("\"position\":[0,10]").unwrap() + "\"position\":[0,1".len();
    let mut flipped = text.clone();
    flipped.replace_range(at..at + 1, "1");
    let e = Checkpoint::from_json(&flipped, "cp.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cp.json: the checkpoint is corrupted"), "{e}");
    // Contents that pass the checksum (written so) but cannot be resumed.
    let rewritten = |from: &str, to: &str| {
        // (The generators' 128-bit states are beyond `serde_json::Value`: cut the text.)
        let start = text.find("\"checkpoint\":").unwrap() + "\"checkpoint\":".len();
        let body = text[start..text.trim_end().len() - 1].replacen(from, to, 1);
        let cp: Checkpoint = serde_json::from_str(&body).unwrap();
        Checkpoint::from_json(&cp.to_json().unwrap(), "cp.json")
            .err()
            .map(|e| e.to_string())
    };
    let std = format!("{}]", prior[0].1);
    let e = rewritten(&std, "-2.0]").expect("negative prior std refused");
    assert!(e.contains("prior entry 0") && e.contains("std > 0"), "{e}");
    let e =
        rewritten("\"increment\":", "\"increment\":0,\"was\":").expect("zero generator refused");
    assert!(e.contains("cannot run"), "{e}");
    // Resumed with another ensemble size, or on data shorter than its position.
    use machine_twin::calibrate::{Assimilation, CalibrateOptions, FnSink, Method};
    let options = |members| CalibrateOptions {
        method: Method::ParticleFilter,
        members,
        seed: 1,
        resume: Some(checkpoint.clone()),
        ..Default::default()
    };
    let e = Assimilation::new(&model, &options(16), &checkpoint.runs, &prior)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("holds 4 member states; this run has 16 members"),
        "{e}"
    );
    let mut a = Assimilation::new(&model, &options(4), &checkpoint.runs, &prior).unwrap();
    a.start_run().unwrap();
    let mut sink = FnSink(|_: &_| Ok(()), |_: &_| Ok(()));
    let e = a.finish_run(&mut sink).unwrap_err().to_string();
    assert!(
        e.contains("10 measurement rows past the end of run 0"),
        "{e}"
    );
}
