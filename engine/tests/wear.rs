//! Wear, fatigue and prognosis: model errors, feedback on the mechanics, the slow integrator's
//! exact restarts, and forecasts.

use std::sync::Arc;

use machine_twin::fatigue::rainflow::Cycle;
use machine_twin::prognosis::{draw_gaussian, forecast};
use machine_twin::twin::State;
use machine_twin::{Model, Twin};

fn shipped(name: &str) -> Arc<Model> {
    Model::from_file(format!(
        "{}/../models/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn source(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../models/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn error_of(src: &str) -> String {
    match Model::from_toml(src, "models/m.toml") {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_wear_sections_and_events_name_file_line_and_field() {
    let mill = source("face_mill");
    let e = error_of(&mill.replace("law = \"flank_wear\"", "law = \"flank\""));
    assert!(e.starts_with("models/m.toml:"), "{e}");
    assert!(
        e.contains("wear.tool.law: expected \"archard\", \"bearing\" or \"flank_wear\""),
        "{e}"
    );
    let e = error_of(&mill.replace("log_rate = [-16.2, -14.7]", "log_rate = [-16.2]"));
    assert!(
        e.contains(
            "wear.tool.log_rate: expected one value per material code (2 cutting pressures), got 1"
        ),
        "{e}"
    );
    let e = error_of(&mill.replace("acceleration_scale = 8.0e-4", "acceleration_scale = -1.0"));
    assert!(
        e.contains("wear.tool.acceleration_scale: expected a number > 0, got -1"),
        "{e}"
    );
    let e = error_of(&mill.replace("above = 3.0e-4", "above = 3.0e-4\nbelow = 1.0"));
    assert!(
        e.contains("event.tool_worn.above: expected exactly one of `above` or `below`"),
        "{e}"
    );
    let e = error_of(&mill.replace("sensor = \"flank_wear\"", "sensor = \"vb\""));
    assert!(
        e.contains("event.tool_worn.sensor: no sensor named `vb`"),
        "{e}"
    );
    let e = error_of(&mill.replace("kind = \"wear\"", "kind = \"vibration\""));
    assert!(e.contains("`tool` is not a bearing wear element"), "{e}");
    let e = error_of(&mill.replace("after = 5.0", "after = 1.0"));
    assert!(
        e.contains("solver.cycle_averaged.after: expected more than the window (2 s), got 1"),
        "{e}"
    );
    let spindle = source("spindle");
    let e = error_of(&spindle.replace("diameter = 0.06", "diameter = 0.06\nbore = 0.07"));
    assert!(
        e.contains("section.front_seat.bore: expected less than the diameter 0.06 m, got 0.07"),
        "{e}"
    );
    let e = error_of(&spindle.replace("fatigue_exponent = -0.085", "fatigue_exponent = 0.085"));
    assert!(
        e.contains("section.front_seat.fatigue_exponent: expected a Basquin exponent < 0"),
        "{e}"
    );
    let feed = source("feed_axis");
    let e = error_of(&feed.replace("load = \"thrust\"", "load = \"sideways\""));
    assert!(
        e.contains("wear.nut.load: expected \"radial\", \"axial\" or \"thrust\", got \"sideways\""),
        "{e}"
    );
    let e = error_of(&feed.replace("load = \"drive\"", "load = \"motor\""));
    assert!(
        e.contains("section.screw_root.load: expected \"reaction\" or \"drive\", got \"motor\""),
        "{e}"
    );
    // Parameter paths into a wear law are checked against the law's parameters.
    let e = error_of(&mill.replace(
        "path = \"wear.tool.feed_exponent\"",
        "path = \"wear.tool.feed\"",
    ));
    assert!(
        e.contains("wear element `tool` has no parameter `feed`"),
        "{e}"
    );
}

#[test]
fn a_worn_tool_cuts_harder() {
    let model = shipped("face_mill");
    let torque_at = |vb: f64| {
        let mut twin = Twin::new(Arc::clone(&model), 0);
        twin.step_to(1.0).unwrap();
        twin.set_wear_state(0, vb);
        twin.step_to(2.0).unwrap();
        twin.drive_torque(0)
    };
    let (new, worn) = (torque_at(0.0), torque_at(0.4e-3));
    // Flank term: engaged·R·d·σ_flank·VB = 2 × 0.035 × 1.5e-3 × 3e8 × 4e-4 = 12.6 N·m more.
    assert!(
        (worn - new - 12.6).abs() < 0.2,
        "new {new} N·m, worn {worn} N·m"
    );
}

#[test]
fn guides_and_nut_wear_while_the_table_moves() {
    let model = shipped("feed_axis");
    let mut twin = Twin::new(Arc::clone(&model), 0);
    let i = model.input_index("table_position").unwrap();
    twin.set_input(i, 0.2);
    twin.step_to(2.0).unwrap();
    assert!(
        twin.wear(0) > 0.0 && twin.wear(1) > 0.0,
        "guides and nut wear while moving"
    );
}

#[test]
fn slow_integrator_restarts_exactly_from_a_checkpoint() {
    let model = shipped("bearing_rig");
    let mut a = Twin::new(Arc::clone(&model), 3);
    a.advance_to(3600.0).unwrap();
    let saved = State::from_json(&a.state().to_json().unwrap()).unwrap();
    a.advance_to(7200.0).unwrap();
    let mut b = Twin::new(Arc::clone(&model), 99);
    b.restore(&saved).unwrap();
    b.advance_to(7200.0).unwrap();
    assert_eq!(a.wear(0).to_bits(), b.wear(0).to_bits());
    assert_eq!(a.readings(), b.readings());
}

#[test]
fn forecasts_are_deterministic_and_ordered() {
    let model = shipped("bearing_rig");
    let mean: Vec<f64> = model.parameters.iter().map(|p| p.mean).collect();
    let std: Vec<f64> = model.parameters.iter().map(|p| p.std).collect();
    let run = || {
        let draws = draw_gaussian(&model, &mean, &std, &[], 32, 5);
        let members = draws
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut t = Twin::new(Arc::clone(&model), i as u64);
                t.set_params(&machine_twin::Params { values: d.clone() })
                    .unwrap();
                (t, 1.0 / 32.0)
            })
            .collect();
        forecast(members, None, 100.0 * 3600.0, 600.0, None).unwrap()
    };
    let (a, b) = (run(), run());
    let (ra, rb) = (&a.rul["failure"], &b.rul["failure"]);
    assert_eq!(ra, rb);
    let (p05, p50, p95) = (ra.p05.unwrap(), ra.p50.unwrap(), ra.p95.unwrap());
    assert!(p05 <= p50 && p50 <= p95, "{ra:?}");
    // With the prior's onset (0.38 ± 0.25 of L10 = 9.2 h) the median failure is within hours.
    assert!(p50 > 3600.0 && p50 < 10.0 * 3600.0, "{ra:?}");
    // Consumed life grows at (n/60)(P/C)^3/1e6 = 3.0e-5 per s at 1800 rpm / 4000 N (plus the
    // shaft's weight): 0.108 after the first hour (output 6 of every 600 s).
    let life = &a.wear["test_bearing"];
    assert!(
        (0.105..0.115).contains(&life[5].p50),
        "consumed life after 1 h: {:?}",
        life[5]
    );
    // The event measures age by consumed life, so members run on past failure: 100 h is about
    // 11 rating lives.
    assert!(life.last().unwrap().p50 > 10.0, "{:?}", life.last());
}

/// How often a forecast writes must not decide how it integrates: the face mill's forecast of
/// one harsh hour with an output every second (far below the slow integrator's 5 s bridging
/// gap) gives the tool-life distribution of outputs every minute.
#[test]
fn forecasts_do_not_depend_on_the_output_interval() {
    let model = shipped("face_mill");
    let table = machine_twin::data::DataTable::parse(
        "time,work_material,depth_of_cut,feed_per_rev\n0,2,1.5e-3,0.5e-3\n",
        "<schedule>",
        false,
        machine_twin::data::Policy::Strict,
    )
    .unwrap();
    let schedule = machine_twin::data::InputSeries::from_table(&model, &table);
    let mean: Vec<f64> = model.parameters.iter().map(|p| p.mean).collect();
    let std: Vec<f64> = model.parameters.iter().map(|p| 0.3 * p.std).collect();
    let draws = draw_gaussian(&model, &mean, &std, &[], 16, 3);
    let run = |every: f64| {
        let members = draws
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut t = Twin::new(Arc::clone(&model), i as u64);
                t.set_params(&machine_twin::Params { values: d.clone() })
                    .unwrap();
                (t, 1.0 / 16.0)
            })
            .collect();
        forecast(members, Some(&schedule), 3600.0, every, None).unwrap()
    };
    let (fine, coarse) = (run(1.0), run(60.0));
    assert_eq!(fine.times.len(), 3600);
    let (a, b) = (&fine.rul["tool_worn"], &coarse.rul["tool_worn"]);
    eprintln!("every 1 s: {a:?}\nevery 60 s: {b:?}");
    for (x, y) in [(a.p05, b.p05), (a.p50, b.p50), (a.p95, b.p95)] {
        let (x, y) = (x.unwrap(), y.unwrap());
        // Event times are interpolated between outputs: within a few s of each other.
        assert!((x - y).abs() < 10.0, "{x} vs {y}");
    }
}

/// A rotating shaft section under a steady bending moment sees one fully reversed cycle per
/// revolution: Miner damage = revolutions / N(σ_a), σ_a = K_t·32·M/(π·d³) (Basquin).
#[test]
fn rotating_section_counts_one_cycle_per_revolution() {
    let model = shipped("spindle");
    let mut twin = Twin::new(Arc::clone(&model), 0);
    twin.set_input(model.input_index("cutting_force").unwrap(), 400.0);
    twin.set_input(model.input_index("cutting_torque").unwrap(), 30.0);
    twin.step_to(5.0).unwrap();
    let (d0, a0) = (twin.damage(0), twin.joint_position(0));
    twin.step_to(10.0).unwrap();
    let revolutions = (twin.joint_position(0) - a0) / std::f64::consts::TAU;
    let (f, m) = twin.joint_reaction(0);
    let section = &model.sections[0];
    // The section carries the drive's torque as torsion on top of the reaction wrench; a fibre
    // runs between the signed von Mises stresses on the two sides once per revolution.
    let torque = twin.drive_torque(0) * model.drives[0].ratio;
    let stress = section.geometry.stress(f.x, m.x + torque, m.y, m.z);
    assert!(
        stress.shear > 0.1 * stress.bending,
        "torsion {} Pa should matter next to bending {} Pa",
        stress.shear,
        stress.bending
    );
    let (top, bottom) = (stress.signed_von_mises(1.0), stress.signed_von_mises(-1.0));
    let per_cycle = section.curve.damage(&Cycle {
        range: (top - bottom).abs(),
        mean: 0.5 * (top + bottom),
        count: 1.0,
    });
    let counted = (twin.damage(0) - d0) / per_cycle;
    assert!(revolutions > 800.0, "{revolutions}");
    assert!(
        (counted / revolutions - 1.0).abs() < 0.01,
        "{counted} cycles for {revolutions} revolutions"
    );
}

/// The feed axis's screw carries the drive's thrust (axial) and motor torque (torsion), which
/// reverse with every acceleration and braking: the engine's damage equals that of the stress
/// history rebuilt from the drive torque at every step, and every move closes cycles.
#[test]
fn screw_section_carries_the_drives_thrust_and_torque() {
    use machine_twin::fatigue::DamageCounter;
    let model = shipped("feed_axis");
    let section = &model.sections[0];
    assert!(section.drive.is_some());
    let mut twin = Twin::new(Arc::clone(&model), 0);
    let x = model.input_index("table_position").unwrap();
    let ratio = model.drives[0].ratio;
    let mut rebuilt = DamageCounter::default();
    // Four moves of 0.1 m, back and forth, one per second.
    while twin.time() < 4.0 {
        let forth = (twin.time().floor() as i64) % 2 == 0;
        twin.set_input(x, if forth { 0.1 } else { 0.0 });
        twin.step().unwrap();
        let motor = twin.drive_torque(0);
        let stress = section.geometry.stress(motor * ratio, motor, 0.0, 0.0);
        rebuilt.push(stress.signed_von_mises(0.0), &section.curve);
    }
    let damage = twin.damage(0);
    assert!(damage > 0.0);
    assert!(
        (damage / rebuilt.damage(&section.curve) - 1.0).abs() < 1e-12,
        "{damage} vs {}",
        rebuilt.damage(&section.curve)
    );
    assert!(rebuilt.cycles() >= 4.0, "{} cycles", rebuilt.cycles());
}

/// Posterior draws keep a singular correlation (Cholesky fails on it; the eigen-decomposition
/// takes over) and are truncated by rejection: none sits on a bound, where clamping each
/// coordinate piled about 4 % of them (the face mill's acceleration scale, 0.8e-3 ± 0.4e-3 with
/// its lower bound 1.75 σ below).
#[test]
fn gaussian_draws_keep_their_correlation_and_truncate_by_rejection() {
    let model = shipped("face_mill");
    let mean: Vec<f64> = model.parameters.iter().map(|p| p.mean).collect();
    let std: Vec<f64> = model.parameters.iter().map(|p| p.std).collect();
    let p = mean.len();
    let mut correlation: Vec<Vec<f64>> = (0..p)
        .map(|a| (0..p).map(|b| if a == b { 1.0 } else { 0.0 }).collect())
        .collect();
    // The two log rates move together exactly.
    correlation[0][1] = 1.0;
    correlation[1][0] = 1.0;
    let draws = draw_gaussian(&model, &mean, &std, &correlation, 500, 3);
    for d in &draws {
        let (z0, z1) = ((d[0] - mean[0]) / std[0], (d[1] - mean[1]) / std[1]);
        assert!((z0 - z1).abs() < 1e-6, "{z0} vs {z1}");
        for (x, q) in d.iter().zip(&model.parameters) {
            assert!(
                *x > q.lower && *x < q.upper,
                "{} = {x} on or past a bound",
                q.path
            );
        }
    }
}
