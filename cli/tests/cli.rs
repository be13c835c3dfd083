//! The `twin` command line, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

fn twin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .current_dir(root())
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
        stderr(&o).contains("bad.toml:4: body.b.mass: expected a number > 0, got -1"),
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
    assert_eq!(lines.count(), 201); // inputs at t = 0, then 100 Hz for 2 s
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["steps"], 2000);
    assert_eq!(r["sim_seconds"], 2.0);
    assert!(r["real_time_factor"].as_f64().unwrap() > 0.0);
    assert!(r["wall_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(r["parameters"]["joint.spindle.friction.viscous"], 2e-4);
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
            !std::env::var("MACHINE_TWIN_REQUIRE_GPU").is_ok_and(|v| v == "1"),
            "a GPU adapter is required here: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("gpu: no GPU adapter"), "{}", stderr(&o));
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
fn validate_passes_the_shipped_cases_and_writes_json() {
    let report = scratch("validation.json");
    let o = twin(&[
        "validate",
        "validation",
        "--report",
        report.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}\n{}", stderr(&o));
    assert!(stdout.contains("0 failed"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["failed"], 0);
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
