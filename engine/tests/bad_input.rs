//! Bad model and data input: each error names the file, the line or field, and what was expected.

use machine_twin::data::{DataTable, Policy};
use machine_twin::{Error, Model};

/// A one-link arm: the reference model the error tests break one field at a time.
const GOOD: &str = include_str!("fixtures/arm.toml");

fn error_of(src: &str) -> String {
    match Model::from_toml(src, "models/arm.toml") {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_reference_model_is_valid() {
    Model::from_toml(GOOD, "models/arm.toml").unwrap();
}

#[test]
fn malformed_toml_names_file_and_line() {
    let src = GOOD.replace("mass = 2.0", "mass = = 2.0");
    let e = error_of(&src);
    assert!(e.starts_with("models/arm.toml:6:"), "{e}");
}

#[test]
fn unknown_field_is_rejected_with_its_line() {
    let src = GOOD.replace("mass = 2.0", "mass = 2.0\ncolour = \"red\"");
    let e = error_of(&src);
    assert!(e.starts_with("models/arm.toml:7:"), "{e}");
    assert!(e.contains("unknown field `colour`"), "{e}");
}

#[test]
fn negative_mass_names_the_field() {
    let e = error_of(&GOOD.replace("mass = 2.0", "mass = -2.0"));
    assert_eq!(
        e,
        "models/arm.toml:6: body.link.mass: expected a number from 1e-6 to 1e9 kg, got -2"
    );
}

#[test]
fn joint_naming_a_missing_body() {
    let e = error_of(&GOOD.replace("child = \"link\"", "child = \"lnk\""));
    assert!(
        e.starts_with("models/arm.toml:13: joint.hinge.child: no body named `lnk`"),
        "{e}"
    );
}

#[test]
fn sensor_naming_a_missing_joint() {
    let e = error_of(&GOOD.replace("joint = \"hinge\"", "joint = \"hing\""));
    assert!(
        e.starts_with("models/arm.toml:18: sensor.angle.joint: no joint named `hing`"),
        "{e}"
    );
}

#[test]
fn unknown_joint_type_says_what_is_expected() {
    let e = error_of(&GOOD.replace("\"revolute\"", "\"ball\""));
    assert!(
        e.contains(
            "joint.hinge.type: expected \"revolute\", \"prismatic\" or \"fixed\", got \"ball\""
        ),
        "{e}"
    );
}

#[test]
fn joints_must_form_a_tree() {
    let src =
        format!("{GOOD}\n[joint.second]\ntype = \"fixed\"\nparent = \"world\"\nchild = \"link\"\n");
    let e = error_of(&src);
    assert!(e.contains("must form a tree"), "{e}");
}

#[test]
fn unknown_parameter_path_lists_the_grammar() {
    let src = format!("{GOOD}\n[[parameter]]\npath = \"joint.hinge.friction.dry\"\nstd = 0.1\n");
    let e = error_of(&src);
    assert!(e.contains("parameter.0.path"), "{e}");
    assert!(e.contains("friction.coulomb or friction.viscous"), "{e}");
}

#[test]
fn non_finite_input_value_is_an_error_in_strict_mode() {
    let csv = "time,load\n0,1\n0.5,NaN\n";
    let e = DataTable::parse(csv, "inputs.csv", false, Policy::Strict)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "inputs.csv:3: load: expected a finite number, got NaN");
}

#[test]
fn unparsable_cell_names_line_and_column() {
    let csv = "time,load\n0,1\n0.5,heavy\n";
    let e = DataTable::parse(csv, "inputs.csv", false, Policy::Strict)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "inputs.csv:3: load: expected a number, got \"heavy\"");
}

/// Issue 15: one `ERR`, `#N/A` or `null` cell from a logger refused a whole hour-long log. Read
/// leniently (recorded runs), such cells are counted by column and left out; the time column
/// stays strict (a row without a time cannot be placed).
#[test]
fn unparsable_cells_are_counted_by_column_when_reading_leniently() {
    let csv = "time,load,temp\n0,1,20\n0.5,ERR,21\n1,#N/A,null\n1.5,2,22\n";
    let t = DataTable::parse(csv, "log.csv", false, Policy::Lenient).unwrap();
    assert_eq!(t.times, vec![0.0, 0.5, 1.0, 1.5]);
    assert_eq!(t.quality.unparsable["load"], 2);
    assert_eq!(t.quality.unparsable["temp"], 1);
    assert_eq!(t.quality.unparsable_cells(), 3);
    assert_eq!(t.rows[1], vec![None, Some(21.0)]);
    let ndjson = "{\"time\":0,\"load\":1}\n{\"time\":1,\"load\":\"ERR\"}\n";
    let t = DataTable::parse(ndjson, "log.ndjson", true, Policy::Lenient).unwrap();
    assert_eq!(t.quality.unparsable["load"], 1);
    let e = DataTable::parse(
        "time,load\n0,1\nsoon,2\n",
        "log.csv",
        false,
        Policy::Lenient,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "log.csv:3: time: expected seconds or an ISO 8601 timestamp, got \"soon\""
    );
}

#[test]
fn lenient_reading_counts_problems_and_keeps_good_data() {
    let csv = "time,a,b\n0,1,2\n1,nan,3\n1,4,\n0.5,5,6\n2,,7\n";
    let t = DataTable::parse(csv, "d.csv", false, Policy::Lenient).unwrap();
    assert_eq!(t.times, vec![0.0, 1.0, 2.0]);
    assert_eq!(t.quality.non_finite, 1);
    assert_eq!(t.quality.duplicate_times, 1);
    assert_eq!(t.quality.out_of_order, 1);
    assert_eq!(t.quality.empty, 2);
    // The duplicate row filled the cell the NaN left empty; nothing accepted was lost.
    assert_eq!(t.rows[1], vec![Some(4.0), Some(3.0)]);
    assert_eq!(t.rows[2], vec![None, Some(7.0)]);
}

#[test]
fn ndjson_with_nulls_reads_like_csv() {
    let text = "{\"time\":0,\"a\":1}\n{\"time\":1,\"a\":null}\n";
    let t = DataTable::parse(text, "d.ndjson", true, Policy::Lenient).unwrap();
    assert_eq!(t.rows, vec![vec![Some(1.0)], vec![None]]);
}

#[test]
fn unknown_set_path_is_a_parameter_error() {
    let model = Model::from_toml(GOOD, "models/arm.toml").unwrap();
    let mut twin = machine_twin::Twin::new(model, 0);
    match twin.set("joint.elbow.friction.viscous", 1.0) {
        Err(Error::Parameter { path, message }) => {
            assert_eq!(path, "joint.elbow.friction.viscous");
            assert!(message.contains("no joint named `elbow`"), "{message}");
        }
        other => panic!("expected a parameter error, got {:?}", other.err()),
    }
    assert!(twin.set("joint.hinge.friction.viscous", -1.0).is_err());
}

/// A thermal part appended to the arm (a node, a link, a grid, a heat source).
const THERMAL: &str = include_str!("fixtures/arm_thermal_part.toml");

#[test]
fn thermal_reference_model_is_valid() {
    Model::from_toml(&format!("{GOOD}{THERMAL}"), "models/arm.toml").unwrap();
}

#[test]
fn thermal_errors_name_the_field_and_line() {
    let cases = [
        (
            "capacity = 100.0",
            "capacity = -1.0",
            "thermal.node.n.capacity: expected a number from 1e-6 to 1e12 J/K, got -1",
        ),
        (
            "between = [\"n\", \"air\"]",
            "between = [\"n\", \"sky\"]",
            "no node, ambient or grid named `sky`",
        ),
        (
            "faces = [\"x_min\"]",
            "faces = [\"left\"]",
            "expected faces among x_min, x_max",
        ),
        (
            "kind = \"convection\"",
            "kind = \"radiation\"",
            "thermal.grid.g.boundary.skin.kind: expected \"convection\"",
        ),
        (
            "nodes = [5, 5, 5]",
            "nodes = [5, 0, 5]",
            "thermal.grid.g.nodes: expected at least 1 node per axis",
        ),
        (
            "dt = 0.1",
            "dt = 0.00015",
            "expected a whole multiple of solver.dt_mech",
        ),
        (
            "from = \"joint.hinge.friction\"",
            "from = \"joint.hinge.wear\"",
            "expected `joint.NAME.friction` or `drive.NAME.copper_loss`",
        ),
        (
            "node = \"n\"\n",
            "node = \"n\"\nfraction = 0.5\n",
            "add up to 0.5; expected 1",
        ),
    ];
    for (from, to, expected) in cases {
        let src = format!("{GOOD}{}", THERMAL.replacen(from, to, 1));
        let e = error_of(&src);
        assert!(e.starts_with("models/arm.toml:"), "{e}");
        assert!(e.contains(expected), "expected `{expected}` in: {e}");
    }
    // A line number is reported for semantic errors inside [thermal].
    let e = error_of(&format!(
        "{GOOD}{}",
        THERMAL.replace("capacity = 100.0", "capacity = -1.0")
    ));
    let line = GOOD.lines().count()
        + THERMAL
            .lines()
            .position(|l| l.contains("capacity"))
            .unwrap()
        + 1;
    assert!(e.starts_with(&format!("models/arm.toml:{line}:")), "{e}");
}

#[test]
fn grid_probe_outside_the_grid_is_an_error() {
    let src = format!(
        "{GOOD}{THERMAL}\n[sensor.t]\nkind = \"temperature\"\ngrid = \"g\"\npoint = [0.2, 0.0, 0.0]\nrate = 1.0\n"
    );
    let e = error_of(&src);
    assert!(
        e.contains("sensor.t.point: expected a point inside the grid"),
        "{e}"
    );
}

/// Fuzzing reproducers (issue 15): grid node counts whose product wraps around a 64-bit
/// integer are refused with the true count, not accepted or allocated.
#[test]
fn grid_node_counts_that_overflow_are_refused() {
    let spindle = std::fs::read_to_string(format!(
        "{}/../models/spindle.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for (nodes, product) in [
        ("[4611686018427387905, 4, 1]", "18446744073709551620"),
        ("[2, 2, 4611686018427387904]", "18446744073709551616"),
        ("[4294967296, 4294967296, 1]", "18446744073709551616"),
    ] {
        let src = spindle.replace("nodes = [19, 7, 7]", &format!("nodes = {nodes}"));
        let e = match Model::from_toml(&src, "models/spindle.toml") {
            Ok(_) => panic!("{nodes} accepted"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("nodes") && e.contains(product), "{nodes}: {e}");
        assert!(e.contains("more than 2^28"), "{e}");
    }
}

/// Fuzzing reproducers (issue 15): a body at 1e308 m, moving at 1e308 m/s or of 1e308 kg
/// passed `twin check` and panicked in the rigid-body step.
#[test]
fn bodies_beyond_the_solvers_range_are_refused() {
    for (from, to, field) in [
        (
            "position = [0.5, 0.0, 0.0]",
            "position = [1e308, 0.0, 0.0]",
            "position",
        ),
        (
            "position = [0.5, 0.0, 0.0]",
            "position = [0.5, 0.0, 0.0]\nvelocity = [0.0, 1e308, 0.0]",
            "velocity",
        ),
        ("mass = 2.0", "mass = 1e308", "mass"),
    ] {
        let e = error_of(&GOOD.replace(from, to));
        assert!(e.contains(&format!("body.link.{field}")), "{e}");
        assert!(e.contains("expected a number"), "{e}");
    }
}

/// Fuzzing reproducers (issue 15): a mechanical step of 1e-300 s or 2^31 solver iterations were
/// accepted, and a simulation then ran on without end.
#[test]
fn solver_settings_that_would_never_finish_are_refused() {
    let src = GOOD.replace("[body.link]", "[solver]\ndt_mech = 1e-300\n\n[body.link]");
    let e = error_of(&src);
    assert!(
        e.contains("solver.dt_mech") && e.contains("expected a step of"),
        "{e}"
    );
    let src = GOOD.replace(
        "[body.link]",
        "[solver]\niterations = 2147483648\n\n[body.link]",
    );
    let e = error_of(&src);
    assert!(
        e.contains("solver.iterations") && e.contains("1 … 100"),
        "{e}"
    );
}

#[test]
fn a_sensor_range_needs_its_lowest_below_its_highest() {
    let src = GOOD.replace("rate = 100.0", "rate = 100.0\nrange = [5.0, 1.0]");
    let e = error_of(&src);
    assert!(
        e.contains("sensor.angle.range: expected [lowest, highest] with lowest < highest"),
        "{e}"
    );
    let model = Model::from_toml(
        &GOOD.replace("rate = 100.0", "rate = 100.0\nrange = [-4.0, 4.0]"),
        "arm.toml",
    )
    .unwrap();
    let angle = &model.sensors[0];
    assert!(angle.reads(3.0) && !angle.reads(4.5) && !angle.reads(f64::NAN));
}

/// Found by the fuzz harness (issue 15): a ball-screw lead of 1e-300 m or a rotor inertia of
/// 1e308 kg·m² compiled and then panicked in the first mechanical step. Both have the range a
/// machine's drive has, and the message shows the value short.
#[test]
fn drive_lead_and_rotor_inertia_have_physical_ranges() {
    let feed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/feed_axis.toml"
    ))
    .unwrap();
    let e = Model::from_toml(&feed.replace("lead = 0.016", "lead = 1e-300"), "feed.toml")
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("drive.servo.lead: expected a number from 1e-6 to 10 m, got 1e-300"),
        "{e}"
    );
    let e = Model::from_toml(
        &feed.replacen("rotor_inertia = ", "rotor_inertia = 1e308 #", 1),
        "feed.toml",
    )
    .expect_err("refused")
    .to_string();
    assert!(
        e.contains("rotor_inertia: expected a number from 0 to 100000 kg·m², got 1e308"),
        "{e}"
    );
}

/// Issue 15: `bearing.rear.offset = 1e308` compiled and printed `wear front_bearing: inf`; a
/// node capacity of 1e308 J/K gave NaN temperatures; a ball screw 1e-300 m thick needed 1e294
/// thermal sub-steps and hung the first step. Each value has a physical range, refused with its
/// line and unit (every shipped number at its edges is covered by the fuzz harness).
#[test]
fn model_values_have_physical_ranges() {
    let model = |name: &str| {
        std::fs::read_to_string(format!("{}/../models/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    let (spindle, feed) = (model("spindle.toml"), model("feed_axis.toml"));
    for (src, from, to, expected) in [
        (
            &spindle,
            "offset = -0.3",
            "offset = 1e308",
            ":121: bearing.rear.offset: expected a number from -10000 to 10000 m, got 1e308",
        ),
        (
            &spindle,
            "capacity = 1500.0",
            "capacity = 1e308",
            "thermal.node.front_bearing.capacity: expected a number from 1e-6 to 1e12 J/K",
        ),
        (
            &feed,
            "size = [1.0, 0.028, 0.028]",
            "size = [1.0, 1e-300, 0.028]",
            ":196: thermal.grid.screw.size: expected a number from 1e-6 to 1000 m, got 1e-300",
        ),
        (
            &feed,
            "size = [1.0, 0.028, 0.028]",
            "size = [1e-5, 0.028, 0.028]",
            "screw.size: a node spacing of 2.50e-7 m needs 4.3e7 explicit sub-steps per thermal step",
        ),
    ] {
        assert!(src.contains(from), "{from}");
        let e = Model::from_toml(&src.replacen(from, to, 1), "m.toml")
            .expect_err(to)
            .to_string();
        assert!(e.contains(expected), "{to}: {e}");
    }
}

/// Issue 15: a report's recorded lives are checked against the model before a forecast uses
/// them (an unknown event, a negative age, an uncertainty beyond 1 were taken as given).
#[test]
fn report_lives_are_checked_against_the_model() {
    let model = Model::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/face_mill.toml"
    ))
    .unwrap();
    let parameters: Vec<String> = model
        .parameters
        .iter()
        .map(|p| {
            format!(
                "\"{}\": {{\"mean\": {}, \"std\": {}}}",
                p.path, p.mean, p.std
            )
        })
        .collect();
    let report = |lives: &str| {
        format!(
            "{{\"model\": \"face_mill\", \"parameters\": {{{}}}, \"lives\": {lives}}}",
            parameters.join(", ")
        )
    };
    let read = |lives: &str| {
        machine_twin::calibrate::read_distribution(&report(lives), "r.json", &model, true)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let unit = |age: &str| format!("{{\"run\": \"a\", \"age\": {age}, \"failed\": true}}");
    let fleet = |event: &str, uncertainty: &str, age: &str| {
        format!(
            "{{\"{event}\": {{\"measure\": \"time\", \"unit\": \"s\", \"uncertainty\": {uncertainty}, \"units\": [{}]}}}}",
            unit(age)
        )
    };
    assert_eq!(read(&fleet("tool_worn", "0.1", "2400")), Ok(()));
    for (lives, expected) in [
        (
            fleet("tool_broken", "0.1", "2400"),
            "lives.tool_broken: model `face_mill` has no event named `tool_broken` (its events: tool_worn)",
        ),
        (
            fleet("tool_worn", "0.1", "-5"),
            "lives.tool_worn.units[0].age: expected an age ≥ 0 (s), got -5",
        ),
        (
            fleet("tool_worn", "7", "2400"),
            "lives.tool_worn.uncertainty: expected a relative uncertainty from 0 to 1, got 7",
        ),
    ] {
        let e = read(&lives).expect_err(&lives);
        assert!(e.contains(expected), "{e}");
    }
}
