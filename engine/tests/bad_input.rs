//! Bad model and data input: each error names the file, the line or field, and what was expected.

use machine_twin::data::{DataTable, Policy};
use machine_twin::{Error, Model};

const GOOD: &str = r#"
[model]
name = "arm"

[body.link]
mass = 2.0
inertia = [0.01, 0.02, 0.02]
position = [0.5, 0.0, 0.0]

[joint.hinge]
type = "revolute"
parent = "world"
child = "link"
axis = [0.0, 1.0, 0.0]

[sensor.angle]
kind = "joint_position"
joint = "hinge"
rate = 100.0
"#;

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
        "models/arm.toml:6: body.link.mass: expected a number > 0, got -2"
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
    let e = DataTable::parse(csv, "inputs.csv", false, Policy::Lenient)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "inputs.csv:3: load: expected a number, got \"heavy\"");
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
