//! Model / Params / State: instances, parameters, snapshots and determinism.

use std::sync::Arc;

use machine_twin::{Model, Params, Twin};

fn spindle() -> Arc<Model> {
    Model::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/spindle.toml"
    ))
    .unwrap()
}

fn trace(twin: &mut Twin, steps: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..steps {
        if twin.step().unwrap() {
            out.extend(
                twin.readings()
                    .iter()
                    .filter(|r| r.fresh)
                    .map(|r| r.value.to_bits()),
            );
        }
    }
    out
}

#[test]
fn every_shipped_model_compiles() {
    for name in ["spindle", "feed_axis", "bearing_rig", "pendulum"] {
        let path = format!("{}/../models/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        Model::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn same_seed_gives_identical_traces_and_other_seeds_differ() {
    let m = spindle();
    let a = trace(&mut Twin::new(m.clone(), 3), 500);
    let b = trace(&mut Twin::new(m.clone(), 3), 500);
    let c = trace(&mut Twin::new(m, 4), 500);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn restored_snapshot_continues_bit_for_bit() {
    let m = spindle();
    let mut original = Twin::new(m.clone(), 9);
    trace(&mut original, 300);
    let snapshot = original.state().clone();
    let json = original.state().to_json().unwrap();
    let expected = trace(&mut original, 400);

    let mut from_clone = Twin::new(m.clone(), 1);
    from_clone.restore(&snapshot).unwrap();
    assert_eq!(trace(&mut from_clone, 400), expected);

    let mut from_json = Twin::new(m, 2);
    from_json
        .restore(&machine_twin::State::from_json(&json).unwrap())
        .unwrap();
    assert_eq!(trace(&mut from_json, 400), expected);
}

#[test]
fn a_state_from_another_model_is_refused() {
    let pendulum = Model::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/pendulum.toml"
    ))
    .unwrap();
    let other = Twin::new(pendulum, 0);
    let mut twin = Twin::new(spindle(), 0);
    assert!(twin.restore(other.state()).is_err());
}

#[test]
fn instances_of_one_model_keep_their_own_parameters() {
    let m = spindle();
    let mut params = Params::prior_mean(&m);
    params
        .set(&m, "joint.spindle.friction.viscous", 5e-4)
        .unwrap();
    let mut lossy = Twin::with_params(m.clone(), params, 0).unwrap();
    let mut nominal = Twin::new(m.clone(), 0);
    for _ in 0..2000 {
        lossy.step().unwrap();
        nominal.step().unwrap();
    }
    assert_eq!(lossy.get("joint.spindle.friction.viscous").unwrap(), 5e-4);
    assert_eq!(nominal.get("joint.spindle.friction.viscous").unwrap(), 1e-4);
    // More friction at the same speed set-point needs more motor current.
    let current = m.sensor_index("motor_current").unwrap();
    assert!(lossy.readings()[current].expected > nominal.readings()[current].expected + 0.3);
}

/// Issue 16: `--set drive.motor.resistance=...` was refused; the winding resistance is now a
/// tunable like the drive's other values, and the copper loss follows it.
#[test]
fn drive_resistance_is_tunable_and_heats_the_stator() {
    let m = spindle();
    let mut hot = Twin::new(m.clone(), 0);
    hot.set("drive.motor.resistance", 3.5).unwrap();
    assert!(hot.set("drive.motor.resistance", -1.0).is_err());
    let mut nominal = Twin::new(m.clone(), 0);
    hot.advance_to(20.0).unwrap();
    nominal.advance_to(20.0).unwrap();
    assert_eq!(hot.get("drive.motor.resistance").unwrap(), 3.5);
    assert_eq!(nominal.get("drive.motor.resistance").unwrap(), 0.35);
    let stator = m.sensor_index("stator_temperature").unwrap();
    let rise = |t: &Twin| t.predict(stator) - 20.0;
    assert!(
        rise(&hot) > 2.0 * rise(&nominal),
        "{} vs {}",
        rise(&hot),
        rise(&nominal)
    );
}

/// Issue 16: parts by name as easily as by index, with an error that names what exists.
#[test]
fn parts_are_found_by_name_or_named_in_the_error() {
    let m = spindle();
    let mut twin = Twin::new(m.clone(), 3);
    twin.set_input_by_name("spindle_speed", 500.0).unwrap();
    twin.advance_to(0.5).unwrap();
    let s = m.sensor_index("motor_current").unwrap();
    assert_eq!(twin.sensor("motor_current").unwrap(), twin.readings()[s]);
    let j = m.joint_index("spindle").unwrap();
    let joint = twin.joint("spindle").unwrap();
    assert_eq!(joint.velocity, twin.joint_velocity(j));
    assert!(joint.velocity > 100.0, "{}", joint.velocity);
    assert_eq!((joint.force, joint.moment), twin.joint_reaction(j));
    let e = twin.sensor("motor_currnet").unwrap_err().to_string();
    assert!(
        e.contains("no sensor called `motor_currnet`") && e.contains("motor_current, "),
        "{e}"
    );
    let e = twin
        .set_input_by_name("speed", 1.0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no input called `speed`") && e.contains("spindle_speed"),
        "{e}"
    );
    assert!(
        twin.joint("front")
            .unwrap_err()
            .to_string()
            .contains("(it has: spindle)")
    );
    assert!(m.wear_index("front_bearing").is_ok() && m.drive_index("motor").is_ok());
}

#[test]
fn speed_drive_tracks_its_setpoint() {
    let m = spindle();
    let mut twin = Twin::new(m.clone(), 0);
    twin.advance_to(2.0).unwrap();
    let j = m.joint_index("spindle").unwrap();
    assert!(
        (twin.joint_velocity(j) - 1047.2).abs() < 0.5,
        "{}",
        twin.joint_velocity(j)
    );
}

#[test]
fn accelerometer_reads_minus_gravity_at_rest() {
    let m = Model::from_toml(include_str!("fixtures/block.toml"), "<block>").unwrap();
    let mut twin = Twin::new(m, 0);
    twin.advance_to(0.1).unwrap();
    // A resting accelerometer measures the support force per mass: +g upwards.
    assert!(
        (twin.readings()[0].value - 9.81).abs() < 1e-3,
        "{}",
        twin.readings()[0].value
    );
}

#[test]
fn bearings_share_the_rotor_weight_and_the_cutting_force_by_statics() {
    let m = spindle();
    let (front, rear) = (
        m.sensor_index("front_bearing_load").unwrap(),
        m.sensor_index("rear_bearing_load").unwrap(),
    );
    let mut twin = Twin::new(m.clone(), 0);
    twin.set_input(m.input_index("spindle_speed").unwrap(), 0.0);
    twin.advance_to(0.5).unwrap();
    // Rotor centre of mass midway between the bearings (x = -0.15 between 0 and -0.3 m): half each.
    let half_weight = 0.5 * m.bodies[0].mass * 9.81;
    assert!((twin.readings()[front].expected - half_weight).abs() < 1e-3 * half_weight);
    assert!((twin.readings()[rear].expected - half_weight).abs() < 1e-3 * half_weight);
    // A 400 N radial cutting force 0.1 m beyond the front bearing: levers 0.4/0.3 and 0.1/0.3.
    twin.set_input(m.input_index("cutting_force").unwrap(), 400.0);
    twin.advance_to(1.0).unwrap();
    let w = 0.5 * m.bodies[0].mass * 9.81;
    let front_expected = (w * w + (400.0f64 * 0.4 / 0.3).powi(2)).sqrt();
    let rear_expected = (w * w + (400.0f64 * 0.1 / 0.3).powi(2)).sqrt();
    assert!(
        (twin.readings()[front].expected - front_expected).abs() < 2e-3 * front_expected,
        "{}",
        twin.readings()[front].expected
    );
    assert!(
        (twin.readings()[rear].expected - rear_expected).abs() < 2e-3 * rear_expected,
        "{}",
        twin.readings()[rear].expected
    );
}

#[test]
fn a_state_with_an_unlimited_drive_round_trips_through_json() {
    let model =
        Model::from_toml(include_str!("fixtures/unlimited_drive.toml"), "<unlimited>").unwrap();
    let mut twin = Twin::new(model.clone(), 0);
    twin.advance_to(0.1).unwrap();
    let json = twin.state().to_json().unwrap();
    let state = machine_twin::State::from_json(&json).unwrap();
    assert!(state.tunables.drive[0][3].is_infinite());
    let mut other = Twin::new(model, 0);
    other.restore(&state).unwrap();
    twin.advance_to(0.2).unwrap();
    other.advance_to(0.2).unwrap();
    assert_eq!(twin.joint_velocity(0), other.joint_velocity(0));
}
