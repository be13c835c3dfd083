//! The `twin` command line, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

use sha2::Digest;

fn twin(args: &[&str]) -> Output {
    twin_in(&root(), args)
}

/// Runs `twin` with `args` from the folder `cwd`.
fn twin_in(cwd: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("twin runs")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `twin` with `args` and checks it exits with 1 and says `message` on stderr.
fn assert_rejected(args: &[&str], message: &str) {
    let o = twin(args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(message), "{}", stderr(&o));
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twin-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn check_accepts_every_shipped_model() {
    for m in ["spindle", "feed_axis", "bearing_rig", "pendulum"] {
        let o = twin(&["check", &format!("models/{m}.toml")]);
        assert!(o.status.success(), "{m}: {}", stderr(&o));
    }
}

#[test]
fn check_rejects_a_bad_model_with_exit_1() {
    let bad = scratch("bad.toml");
    std::fs::write(
        &bad,
        "[model]\nname = \"x\"\n[body.b]\nmass = -1.0\ninertia = [1, 1, 1]\n",
    )
    .unwrap();
    let o = twin(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("bad.toml:4: body.b.mass: expected a number from 1e-6 to 1e9 kg, got -1"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn simulate_writes_traces_and_a_report() {
    let out = scratch("spindle.csv");
    let report = scratch("spindle.json");
    let o = twin(&[
        "simulate",
        "models/spindle.toml",
        "--duration",
        "2",
        "--inputs",
        "examples/data/spindle_program.csv",
        "--set",
        "joint.spindle.friction.viscous=2e-4",
        "--set",
        "thermal.node.stator.capacity=1200",
        "--seed",
        "5",
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("real-time factor"), "{}", stderr(&o));
    let csv = std::fs::read_to_string(&out).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "time,spindle_speed,cutting_torque,cutting_force,coolant_temperature,speed,motor_current,front_bearing_load,rear_bearing_load,bending_moment,front_bearing_temperature,stator_temperature,housing_temperature,nose_growth"
        )
    );
    // Inputs at t = 0, 100 Hz until the speed ramp has held for the model's 0.3 s settling
    // time (1.3 s), then one row per quasi-steady 0.1 s thermal interval.
    assert_eq!(lines.count(), 131 + 7);
    // Issue 16: times from step counts, written as the shortest text that round-trips
    // (`0.35`, not `0.35000000000000003`).
    for line in csv.lines().skip(1) {
        let time = line.split(',').next().unwrap();
        assert!(time.len() <= 4, "{time}");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    // Every millisecond up to 1.3 s, then 2 integrated sub-steps per 0.1 s interval.
    assert_eq!(r["steps"], 1300 + 7 * 2);
    assert_eq!(r["sim_seconds"], 2.0);
    assert!(r["real_time_factor"].as_f64().unwrap() > 0.0);
    assert!(r["wall_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(r["parameters"]["joint.spindle.friction.viscous"], 2e-4);
    // Issue 16: the report holds what reruns it: a --set of a value the model does not declare
    // as a parameter, the files read with their hashes, the seed, the engine's version.
    assert_eq!(r["parameters"]["thermal.node.stator.capacity"], 1200.0);
    let p = &r["provenance"];
    assert_eq!(p["seed"], 5);
    assert_eq!(
        p["engine"],
        format!("machine-twin {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(
        p["command"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--set"),
        "{p}"
    );
    for (k, (role, file)) in [
        ("model", "models/spindle.toml"),
        ("inputs", "examples/data/spindle_program.csv"),
    ]
    .into_iter()
    .enumerate()
    {
        let bytes = std::fs::read(root().join(file)).unwrap();
        let hash: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(p["files"][k]["role"], role);
        assert_eq!(p["files"][k]["path"], file);
        assert_eq!(p["files"][k]["bytes"], bytes.len());
        assert_eq!(p["files"][k]["sha256"], hash);
    }
    // The thermal part ran (on the CPU: auto never picks a software adapter or a small grid).
    assert!(
        stderr(&o).contains("thermal grids on cpu"),
        "{}",
        stderr(&o)
    );
    let th = &r["thermal"];
    assert_eq!(th["backend"], "cpu");
    assert_eq!(th["dt_thermal"], 0.1);
    assert!(th["heat_entered_j"].as_f64().unwrap() > 0.0);
    assert!(th["balance_error"].as_f64().unwrap() < 1e-3);
}

#[test]
fn simulate_gpu_backend_runs_or_says_why_not() {
    let o = twin(&[
        "simulate",
        "models/feed_axis.toml",
        "--duration",
        "1",
        "--backend",
        "gpu",
    ]);
    if o.status.success() {
        assert!(
            stderr(&o).contains("thermal grids on gpu"),
            "{}",
            stderr(&o)
        );
    } else {
        assert!(
            !machine_twin::thermal::gpu_required(),
            "a GPU adapter is required here: {}",
            stderr(&o)
        );
        // No adapter, or a build without the `gpu` feature: either way it says why.
        let said = stderr(&o);
        assert!(
            said.contains("gpu: no GPU adapter") || said.contains("has no GPU support"),
            "{said}"
        );
        eprintln!("SKIPPED: no GPU adapter: {}", stderr(&o));
    }
}

#[test]
fn simulate_writes_ndjson() {
    let out = scratch("pendulum.ndjson");
    let o = twin(&[
        "simulate",
        "models/pendulum.toml",
        "--duration",
        "0.05",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(first["time"].is_number() && first["angle"].is_number() && first["rate"].is_null());
}

#[test]
fn unknown_set_path_is_rejected() {
    assert_rejected(
        &[
            "simulate",
            "models/spindle.toml",
            "--duration",
            "0.1",
            "--set",
            "joint.spindel.friction.viscous=1",
        ],
        "parameter joint.spindel.friction.viscous: the model has no joint named `spindel`",
    );
}

#[test]
fn non_finite_value_in_inputs_is_rejected() {
    let inputs = scratch("nan_inputs.csv");
    std::fs::write(&inputs, "time,spindle_speed\n0,100\n1,nan\n").unwrap();
    assert_rejected(
        &[
            "simulate",
            "models/spindle.toml",
            "--inputs",
            inputs.to_str().unwrap(),
        ],
        "nan_inputs.csv:3: spindle_speed: expected a finite number, got NaN",
    );
}

#[test]
fn unknown_input_column_is_rejected() {
    let inputs = scratch("bad_column.csv");
    std::fs::write(&inputs, "time,spindle_sped\n0,100\n").unwrap();
    assert_rejected(
        &[
            "simulate",
            "models/spindle.toml",
            "--inputs",
            inputs.to_str().unwrap(),
        ],
        "bad_column.csv:1: spindle_sped: not an input or sensor",
    );
}

#[test]
fn validate_passes_shipped_cases_and_writes_json() {
    // Two fast cases as a user runs them; `.ci/run` runs every case once (`twin validate
    // validation/`), so this test does not repeat the whole suite.
    for case in ["validation/pendulum_period", "validation/rainflow_astm"] {
        let report = scratch("validation.json");
        let o = twin(&["validate", case, "--report", report.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{stdout}\n{}", stderr(&o));
        assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!(r["failed"], 0);
        assert_eq!(r["passed"], 1);
        assert_eq!(r["cases"][0]["status"], "pass", "{r}");
    }
}

/// Issue 16: `twin validate` from another folder said `error: validation: No such file`.
#[test]
fn validate_from_another_folder_names_where_it_looked() {
    let elsewhere = scratch("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let o = twin_in(&elsewhere, &["validate"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let says = stderr(&o);
    assert!(
        says.contains("no such folder of validation cases"),
        "{says}"
    );
    assert!(says.contains(elsewhere.to_str().unwrap()), "{says}");
    let case = root().join("validation/pendulum_period");
    let o = twin_in(&elsewhere, &["validate", case.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", stderr(&o));
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
}

#[test]
fn validate_fails_on_a_failing_case() {
    let dir = scratch("failing_case");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("case.toml"),
        format!(
            "kind = \"pendulum_period\"\ndescription = \"d\"\nsource = \"s\"\nmodel = \"{}\"\ntolerance = 1e-9\n",
            root().join("models/pendulum.toml").display()
        ),
    )
    .unwrap();
    let o = twin(&["validate", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("FAIL"));
}

fn read_json(path: &PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The flywheel fixture and synthetic data from it (true viscous 2.6e-3, Coulomb 0.13) written
/// to a scratch directory; returns (model, data).
fn flywheel_data(tag: &str) -> (String, String) {
    let model = root().join("engine/tests/fixtures/flywheel_mechanical.toml");
    let program = scratch(&format!("{tag}_program.csv"));
    std::fs::write(
        &program,
        "time,speed_cmd\n0,0\n2,100\n100,100\n102,250\n200,250\n202,180\n300,180\n",
    )
    .unwrap();
    let data = scratch(&format!("{tag}_data.csv"));
    let o = twin(&[
        "simulate",
        model.to_str().unwrap(),
        "--inputs",
        program.to_str().unwrap(),
        "--set",
        "joint.shaft.friction.viscous=2.6e-3",
        "--set",
        "joint.shaft.friction.coulomb=0.13",
        "--seed",
        "4",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (
        model.to_str().unwrap().into(),
        data.to_str().unwrap().into(),
    )
}

#[test]
fn calibrate_recovers_friction_and_reports_it() {
    let (model, data) = flywheel_data("batch");
    let report = scratch("batch_report.json");
    let trace = scratch("batch_trace.ndjson");
    let plot = scratch("batch_plot.svg");
    let o = twin(&[
        "calibrate",
        &model,
        "--data",
        &data,
        "--report",
        report.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for (path, truth) in [
        ("joint.shaft.friction.viscous", 2.6e-3),
        ("joint.shaft.friction.coulomb", 0.13),
    ] {
        let p = &r["parameters"][path];
        let mean = p["mean"].as_f64().unwrap();
        assert!((mean - truth).abs() < 0.03 * truth, "{path}: {mean}");
        assert!(p["p05"].as_f64().unwrap() <= p["p50"].as_f64().unwrap());
        assert!(p["p50"].as_f64().unwrap() <= p["p95"].as_f64().unwrap());
    }
    let rmse = &r["residual_rmse"]["current"];
    assert!(rmse["after"].as_f64().unwrap() < rmse["before"].as_f64().unwrap());
    for key in ["sim_seconds", "wall_seconds", "real_time_factor"] {
        assert!(r[key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(r["data_quality"][&data]["rows"].as_u64().unwrap() > 1000);
    // What reruns it: method, members, seed, the model and data files with their hashes.
    assert_eq!(r["method"], "batch");
    assert!(r["members"].as_u64().is_some());
    let p = &r["provenance"];
    assert_eq!(p["seed"], 0);
    let roles: Vec<(&str, &str)> = p["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["role"].as_str().unwrap(), f["path"].as_str().unwrap()))
        .collect();
    assert_eq!(roles, [("model", model.as_str()), ("data", data.as_str())]);
    assert_eq!(p["files"][1]["sha256"].as_str().unwrap().len(), 64);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("current (A)"),
        "a panel per sensor"
    );
    let lines = std::fs::read_to_string(&trace).unwrap();
    assert!(lines.lines().count() >= 2, "one trace line per iteration");
}

/// Issue 16: a 32-member EnKF gave intervals that missed the truth with no warning, and a batch
/// fit stopped unconverged without saying what to try.
#[test]
fn calibration_says_when_its_intervals_are_not_to_be_trusted() {
    let (model, data) = flywheel_data("warnings");
    let report = scratch("warnings.json");
    let run = |extra: &[&str]| {
        let base = format!(
            "calibrate {model} --data {data} --report {}",
            report.display()
        );
        let args: Vec<&str> = base
            .split_whitespace()
            .chain(extra.iter().copied())
            .collect();
        let o = twin(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        (stderr(&o), read_json(&report))
    };
    let (said, r) = run(&["--method", "enkf", "--members", "8"]);
    assert!(
        said.contains("warning: 8 members for 2 parameters"),
        "{said}"
    );
    assert!(
        r["warnings"][0].as_str().unwrap().contains("at least 20"),
        "{r}"
    );
    let (said, r) = run(&["--max-iterations", "1"]);
    assert_eq!(r["converged"], false, "{r}");
    assert!(said.contains("try --max-iterations 2"), "{said}");
    let (said, r) = run(&["--method", "enkf", "--members", "32"]);
    assert!(!said.contains("warning"), "{said}");
    assert!(r.get("warnings").is_none(), "{r}");
}

#[test]
fn killed_calibration_resumes_to_the_same_result() {
    let (model, data) = flywheel_data("resume");
    let full = scratch("resume_full.json");
    let common = [
        "calibrate",
        &model,
        "--data",
        &data,
        "--method",
        "enkf",
        "--members",
        "24",
        "--seed",
        "9",
    ];
    let o = twin(&[&common[..], &["--report", full.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));

    // Start again with checkpoints every 5 s of data, and kill it once one is written.
    let cp = scratch("resume_cp.json");
    let part = scratch("resume_part.json");
    let _ = std::fs::remove_file(&cp);
    let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .current_dir(root())
        .args(common)
        .args([
            "--checkpoint",
            cp.to_str().unwrap(),
            "--checkpoint-every",
            "5",
            "--report",
            part.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !cp.exists() {
        assert!(started.elapsed().as_secs() < 120, "no checkpoint written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!part.exists(), "the job was killed before it finished");
    let checkpoint: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
    assert_eq!(checkpoint["checkpoint"]["method"], "enkf");

    let resumed = scratch("resume_resumed.json");
    let o = twin(
        &[
            &common[..],
            &[
                "--resume",
                cp.to_str().unwrap(),
                "--report",
                resumed.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read_json(&full)["parameters"],
        read_json(&resumed)["parameters"],
        "resumed ≠ uninterrupted"
    );
}

#[test]
fn calibrate_follows_a_stream_and_counts_bad_rows() {
    use std::io::Write;
    let (model, data) = flywheel_data("follow");
    let mut text = std::fs::read_to_string(&data).unwrap();
    // Out of order; non-finite; then a 20 s silence (a gap in the stream).
    text.push_str("5.0,100,0.5\n301.0,180,NaN\n321.0,180,0.6\n");
    let report = scratch("follow_report.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .current_dir(root())
        .args([
            "calibrate",
            &model,
            "--data",
            "-",
            "--follow",
            "--method",
            "enkf",
            "--members",
            "16",
        ])
        .args(["--report", report.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 250, "about one estimate per second of data");
    let last = &lines[lines.len() - 1];
    let viscous = last["mean"]["joint.shaft.friction.viscous"]
        .as_f64()
        .unwrap();
    assert!((viscous - 2.6e-3).abs() < 0.05 * 2.6e-3, "{viscous}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let q = &r["data_quality"]["<stdin>"];
    assert_eq!(q["out_of_order"], 1);
    assert_eq!(q["non_finite"], 1);
    // Intervals over five times the 0.02 s median: 300 → 301 s and 301 → 321 s.
    assert_eq!(q["gaps"], 2);
}

/// A follower that checkpoints can be resumed on the same stream and ends where an
/// uninterrupted follower ends.
#[test]
fn calibrate_follow_resumes_from_its_checkpoint() {
    let (model, data) = flywheel_data("follow_cp");
    let cp = scratch("follow_cp.json");
    let (full, resumed) = (scratch("follow_full.json"), scratch("follow_resumed.json"));
    let common = [
        "calibrate",
        &model,
        "--data",
        &data,
        "--follow",
        "--idle-exit",
        "0.2",
        "--method",
        "pf",
        "--members",
        "32",
        "--seed",
        "3",
    ];
    let trace = scratch("follow_cp_trace.ndjson");
    let o = twin(
        &[
            &common[..],
            &[
                "--checkpoint",
                cp.to_str().unwrap(),
                "--checkpoint-every",
                "120",
                "--report",
                full.to_str().unwrap(),
                "--trace",
                trace.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let checkpoint = read_json(&cp);
    let position = checkpoint["checkpoint"]["position"][1].as_u64().unwrap();
    assert!(position > 0, "a checkpoint inside the stream");
    let o = twin(
        &[
            &common[..],
            &[
                "--resume",
                cp.to_str().unwrap(),
                "--report",
                resumed.to_str().unwrap(),
                "--trace",
                trace.to_str().unwrap(),
            ],
        ]
        .concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read_json(&full)["parameters"],
        read_json(&resumed)["parameters"],
        "resumed ≠ uninterrupted"
    );
}

#[test]
fn calibrate_reports_wear_and_rul_and_predict_forecasts_them() {
    // Flank-wear data of one tool, simulated with a known rate and the sensor's noise.
    let data = scratch("mill.csv");
    let mut csv = String::from("time,depth_of_cut,feed_per_rev,work_material,flank_wear\n");
    for k in 0..=12 {
        let t = 300.0 * k as f64;
        let vb = if k == 0 {
            0.0
        } else {
            0.08e-3 + 0.009e-3 * t / 60.0
        };
        csv.push_str(&format!("{t},0.0015,0.0005,1,{vb}\n"));
    }
    std::fs::write(&data, csv).unwrap();
    let report = scratch("mill.json");
    let o = twin(&[
        "calibrate",
        "models/face_mill.toml",
        "--data",
        data.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("RUL tool_worn"), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let vb = r["wear"]["tool"]["p50"].as_f64().unwrap();
    // The data end at 0.62 mm after an hour.
    assert!((vb - 0.62e-3).abs() < 0.06e-3, "VB at the last point: {vb}");
    // VB passed 0.3 mm after about 24 min: the limit is reached before the last point.
    let rul = &r["rul"]["tool_worn"];
    assert_eq!(rul["p95"].as_f64(), Some(0.0), "{rul}");

    // A fresh tool with the calibrated parameters, cutting for an hour.
    let schedule = scratch("schedule.csv");
    std::fs::write(
        &schedule,
        "time,depth_of_cut,feed_per_rev,work_material\n0,0.0015,0.0005,1\n3600,0.0015,0.0005,1\n",
    )
    .unwrap();
    let (out, pred, plot) = (
        scratch("pred.csv"),
        scratch("pred.json"),
        scratch("pred.svg"),
    );
    let o = twin(&[
        "predict",
        "models/face_mill.toml",
        "--params",
        report.to_str().unwrap(),
        "--inputs",
        schedule.to_str().unwrap(),
        "--members",
        "64",
        "--out",
        out.to_str().unwrap(),
        "--report",
        pred.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("time,flank_wear_p05,flank_wear_p50,flank_wear_p95"),
        "{header}"
    );
    assert!(header.contains("wear.tool_p50"), "{header}");
    assert_eq!(text.lines().count(), 401, "400 outputs and the header");
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&pred).unwrap()).unwrap();
    let median = p["rul"]["tool_worn"]["p50"].as_f64().unwrap();
    assert!(
        median > 600.0 && median < 3600.0,
        "a fresh tool reaches 0.3 mm in {median} s"
    );
    // Issue 16: the plot marks the remaining life and the threshold, with units on its axes.
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"));
    for mark in [
        "p05",
        "p50",
        "p95",
        "RUL p05/p50/p95 (dashed)",
        "event threshold (red)",
    ] {
        assert!(svg.contains(mark), "{mark}");
    }
    assert!(svg.contains("flank_wear (µm)") || svg.contains("flank_wear (mm)"));
    // Neither --params nor --state: a usage error that names what is missing.
    let o = twin(&[
        "predict",
        "models/face_mill.toml",
        "--inputs",
        schedule.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--params"), "{}", stderr(&o));
}

#[test]
fn predict_starts_from_a_filters_checkpoint() {
    // A tool calibrated online on the first 20 min of its flank wear (particle filter).
    let data = scratch("mill_pf.csv");
    let mut csv = String::from("time,depth_of_cut,feed_per_rev,work_material,flank_wear\n");
    for k in 0..=4 {
        let t = 300.0 * k as f64;
        let vb = if k == 0 {
            0.0
        } else {
            0.08e-3 + 0.009e-3 * t / 60.0
        };
        csv.push_str(&format!("{t},0.0015,0.0005,1,{vb}\n"));
    }
    std::fs::write(&data, csv).unwrap();
    let checkpoint = scratch("mill_pf_checkpoint.json");
    let o = twin(&[
        "calibrate",
        "models/face_mill.toml",
        "--data",
        data.to_str().unwrap(),
        "--method",
        "pf",
        "--members",
        "32",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--checkpoint-every",
        "300",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let schedule = scratch("mill_pf_schedule.csv");
    std::fs::write(
        &schedule,
        "time,depth_of_cut,feed_per_rev,work_material\n0,0.0015,0.0005,1\n",
    )
    .unwrap();
    let pred = scratch("mill_pf_pred.json");
    let o = twin(&[
        "predict",
        "models/face_mill.toml",
        "--state",
        checkpoint.to_str().unwrap(),
        "--inputs",
        schedule.to_str().unwrap(),
        "--horizon",
        "1200",
        "--report",
        pred.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let p = read_json(&pred);
    // The filter's own members (32), from where its data ended: VB 0.26 mm at 20 min,
    // growing about 0.009 mm/min, reaches the 0.3 mm limit within minutes, not the fresh
    // tool's 24 min.
    assert_eq!(p["members"].as_u64(), Some(32), "{p}");
    assert!(p["start_time"].as_f64().unwrap() >= 900.0, "{p}");
    let median = p["rul"]["tool_worn"]["p50"].as_f64().unwrap();
    assert!(median < 900.0, "{p}");
    // With --params as well: the checkpoint's members carry their own parameters.
    let o = twin(&[
        "predict",
        "models/face_mill.toml",
        "--state",
        checkpoint.to_str().unwrap(),
        "--params",
        checkpoint.to_str().unwrap(),
        "--inputs",
        schedule.to_str().unwrap(),
        "--horizon",
        "600",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("own parameters"), "{}", stderr(&o));
}

/// Fuzzing reproducer (issue 15): `--every 1e-300` asked for 3.6e303 outputs and aborted with
/// "capacity overflow".
#[test]
fn predict_refuses_more_outputs_than_it_can_hold() {
    let schedule = scratch("every_schedule.csv");
    std::fs::write(
        &schedule,
        "time,depth_of_cut,feed_per_rev,work_material\n0,0.0015,0.0005,1\n",
    )
    .unwrap();
    assert_rejected(
        &[
            "predict",
            "models/face_mill.toml",
            "--params",
            "no-report-needed.json",
            "--inputs",
            schedule.to_str().unwrap(),
            "--horizon",
            "3600",
            "--every",
            "1e-300",
        ],
        "expected at most 1000000",
    );
}

/// Fuzzing reproducers (issue 15): a data file with a header and no rows calibrated to the
/// prior and exited 0; `--members 100000000` was accepted and ran out of memory.
#[test]
fn calibrate_refuses_empty_data_and_runaway_ensembles() {
    let empty = scratch("empty.csv");
    std::fs::write(&empty, "time,speed_cmd,current\n").unwrap();
    assert_rejected(
        &[
            "calibrate",
            "engine/tests/fixtures/flywheel_mechanical.toml",
            "--data",
            empty.to_str().unwrap(),
        ],
        "no data rows",
    );
    let (_, data) = flywheel_data("members");
    assert_rejected(
        &[
            "calibrate",
            "engine/tests/fixtures/flywheel_mechanical.toml",
            "--data",
            &data,
            "--method",
            "enkf",
            "--members",
            "100000000",
        ],
        "expected 2 … 100000 members",
    );
}

/// A bearing record at 1800 rpm / 4000 N, healthy vibration, one row a minute for `seconds`.
fn bearing_record(name: &str, seconds: usize) -> String {
    let path = scratch(name);
    let mut csv = String::from(
        "time,shaft_speed,radial_load,accel_h_rms,accel_v_rms,accel_h_peak,accel_v_peak\n",
    );
    for t in (0..=seconds).step_by(60) {
        csv.push_str(&format!("{t},188.5,4000,4.9,4.0,21.6,16.0\n"));
    }
    std::fs::write(&path, csv).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_run_to_failure_fleet_gives_a_new_units_remaining_life() {
    // Three bearings that failed after 4000, 5000 and 6000 s at one condition.
    let runs = [
        bearing_record("fail_a.csv", 4000),
        bearing_record("fail_b.csv", 5000),
        bearing_record("fail_c.csv", 6000),
    ];
    let fleet = scratch("bearing_fleet.json");
    let o = twin(&[
        "calibrate",
        "models/bearing_rig.toml",
        "--data",
        &runs[0],
        "--data",
        &runs[1],
        "--data",
        &runs[2],
        "--method",
        "pf",
        "--members",
        "16",
        "--run-to-failure",
        "failure",
        "--report",
        fleet.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = read_json(&fleet);
    let lives = report["lives"]["failure"]["units"].as_array().unwrap();
    assert_eq!(lives.len(), 3);
    // Consumed ISO 281 life at 3.0e-5 per s (the shaft's weight adds a little).
    let age = lives[0]["age"].as_f64().unwrap();
    assert!((0.12..0.125).contains(&age), "{age}");
    // A new bearing after 3000 s: the others outlived it by 1000, 2000 and 3000 s.
    let new = bearing_record("new_bearing.csv", 3000);
    let out = scratch("new_bearing.json");
    let o = twin(&[
        "calibrate",
        "models/bearing_rig.toml",
        "--data",
        &new,
        "--prior",
        fleet.to_str().unwrap(),
        "--method",
        "pf",
        "--members",
        "16",
        "--rul-loss",
        "early=1,late=4",
        "--report",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("from fleet survival: 3 of 3 units"),
        "{}",
        stderr(&o)
    );
    let rul = &read_json(&out)["rul"]["failure"];
    let p50 = rul["p50"].as_f64().unwrap();
    assert!((1500.0..2500.0).contains(&p50), "{rul}");
    let point = rul["point"].as_f64().unwrap();
    assert!(point < p50, "the late-averse estimate comes early: {rul}");
}

/// Fuzzing reproducers (issue 15): `twin predict --params` trusted the report — another
/// model's, extra parameters, a mean outside the bounds, a correlation entry of 5, a ragged
/// matrix were all accepted.
#[test]
fn predict_checks_a_report_against_the_model() {
    let schedule = scratch("pendulum_schedule.csv");
    std::fs::write(&schedule, "time\n0\n").unwrap();
    let p = r#""joint.pivot.friction.viscous": {"mean": 0.01, "std": 0.001}"#;
    for (name, report, message) in [
        (
            "other_model.json",
            format!(r#"{{"model": "spindle", "parameters": {{{p}}}}}"#),
            "a report of model `spindle`, not of `pendulum`",
        ),
        (
            "extra.json",
            format!(r#"{{"parameters": {{{p}, "body.bob.mass": {{"mean": 1, "std": 0.1}}}}}}"#),
            "`body.bob.mass` not declared by model `pendulum`",
        ),
        (
            "outside.json",
            r#"{"parameters": {"joint.pivot.friction.viscous": {"mean": 7, "std": 0.1}}}"#
                .to_string(),
            "7 is outside the parameter's bounds [0, 1]",
        ),
        (
            "correlation.json",
            format!(r#"{{"parameters": {{{p}}}, "correlation": [[5]]}}"#),
            "entry [0][0] = 5",
        ),
        (
            "ragged.json",
            format!(r#"{{"parameters": {{{p}}}, "correlation": [[1, 0], [0]]}}"#),
            "expected 1 rows of 1 entries",
        ),
    ] {
        let path = scratch(name);
        std::fs::write(&path, report).unwrap();
        assert_rejected(
            &[
                "predict",
                "models/pendulum.toml",
                "--params",
                path.to_str().unwrap(),
                "--inputs",
                schedule.to_str().unwrap(),
                "--horizon",
                "1",
                "--members",
                "2",
            ],
            message,
        );
    }
}

/// `data` with every time shifted by `offset` s, written to `name`.
fn shifted(data: &str, offset: f64, name: &str) -> String {
    let text = std::fs::read_to_string(data).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let (t, rest) = line.split_once(',').unwrap();
        let t: f64 = t.parse().unwrap();
        out.push_str(&format!("{},{rest}\n", t + offset));
    }
    let path = scratch(name);
    std::fs::write(&path, out).unwrap();
    path.to_str().unwrap().into()
}

/// Issue 15: loggers stamp rows with Unix seconds; calibrate counts them from the first row
/// and records where that was. Relative times far from 0 (the twin would step from 0 s to
/// there) are refused with the row and the way out.
#[test]
fn calibrate_takes_absolute_times_from_the_first_row_and_refuses_long_gaps() {
    let (model, data) = flywheel_data("absolute");
    let unix = shifted(&data, 1_796_281_018.0, "absolute_unix.csv");
    let report = scratch("absolute_report.json");
    let o = twin(&[
        "calibrate",
        &model,
        "--data",
        &unix,
        "--max-iterations",
        "2",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("absolute times; 0 s is the first row's, 2026-12-03T06:56:58"),
        "{}",
        stderr(&o)
    );
    let r = read_json(&report);
    let q = &r["data_quality"][&unix];
    assert_eq!(q["time_origin"], "2026-12-03T06:56:58Z");
    assert_eq!(q["out_of_order"], 0);
    let late = shifted(&data, 1e6, "absolute_late.csv");
    assert_rejected(
        &["calibrate", &model, "--data", &late],
        &format!("{late}:2: time: the first row is at 1000000 s"),
    );
    assert_rejected(
        &["calibrate", &model, "--data", &late, "--max-gap", "0"],
        "--max-gap: expected seconds > 0, got 0",
    );
}

/// Issue 15: one motor-current cell of 1e308 made a batch calibration report "converged" at
/// the prior with an infinite RMSE. A reading beyond what the sensor can read is an outlier:
/// counted by column, never given to an estimator.
#[test]
fn a_reading_beyond_the_sensors_range_is_counted_not_fitted() {
    let (model, data) = flywheel_data("range");
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (t, _) = lines[500].rsplit_once(',').unwrap();
    lines[500] = format!("{t},1e308");
    let bad = scratch("range_data.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let bad = bad.to_str().unwrap();
    let report = scratch("range_report.json");
    let o = twin(&[
        "calibrate",
        &model,
        "--data",
        bad,
        "--max-iterations",
        "3",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("left out 1 reading of `current` outside what the sensor reads"),
        "{}",
        stderr(&o)
    );
    let r = read_json(&report);
    assert_eq!(r["data_quality"][bad]["out_of_range"]["current"], 1);
    let rmse = r["residual_rmse"]["current"]["after"].as_f64().unwrap();
    assert!(rmse.is_finite() && rmse < 1.0, "{rmse}");
}

/// Issue 15: a grid near the node limit was accepted without a word and then took gigabytes.
/// `twin check` states the memory and work per simulated second; a job whose ensemble would
/// not fit in this machine's memory is refused up front.
#[test]
fn check_states_the_cost_and_big_ensembles_are_refused_up_front() {
    let spindle = std::fs::read_to_string(root().join("models/spindle.toml")).unwrap();
    let big = scratch("big_grid.toml");
    std::fs::write(
        &big,
        spindle.replace("nodes = [19, 7, 7]", "nodes = [300, 300, 300]"),
    )
    .unwrap();
    let big = big.to_str().unwrap();
    let o = twin(&["check", big]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("1 body, 1 joint, 1 drive, 2 loads"), "{out}");
    assert!(out.contains("MB of thermal state per twin"), "{out}");
    assert!(out.contains("billion grid-node updates"), "{out}");
    assert_rejected(
        &[
            "calibrate",
            big,
            "--data",
            "unread.csv",
            "--method",
            "enkf",
            "--members",
            "100000",
        ],
        "100000 twins of this model need about",
    );
}

/// Issue 15: `--duration 1e12` ran on, writing 2.7 MB/s. A run of more steps than one job
/// takes is refused up front, with the figures.
#[test]
fn an_endless_duration_is_refused_up_front() {
    assert_rejected(
        &["simulate", "models/pendulum.toml", "--duration", "1e12"],
        "a simulation of 1000000000000 s is 1.000e15 mechanical steps",
    );
}

/// A schedule asking for what the machine cannot do is refused with its line, column and the
/// input's range (issue 17: model inputs have ranges), not quietly clipped.
#[test]
fn schedule_outside_an_inputs_range_is_refused() {
    let schedule = scratch("fast.csv");
    std::fs::write(&schedule, "time,spindle_speed\n0,0\n5,5000\n").unwrap();
    let model = root().join("models/spindle.toml");
    let o = twin(&[
        "simulate",
        model.to_str().unwrap(),
        "--inputs",
        schedule.to_str().unwrap(),
        "--duration",
        "1",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "fast.csv:3: spindle_speed: expected a value within the input's range -2100 to 2100 rad/s, got 5000"
        ),
        "{}",
        stderr(&o)
    );
}
