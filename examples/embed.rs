//! Embedding machine-twin as a library: one model, several instances with their own parameters,
//! stepping, reading sensors, and forking a running twin from a snapshot.
//!
//! Run with `cargo run --release --example embed`.

use std::sync::Arc;

use machine_twin::{Model, Params, Twin};

fn main() -> machine_twin::Result<()> {
    let model: Arc<Model> = Model::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/spindle.toml"
    ))?;

    // Three spindles that differ only in bearing friction: they share the model, each has its own θ.
    let mut twins: Vec<Twin> = [1e-4, 2e-4, 4e-4]
        .iter()
        .map(|&viscous| {
            let mut params = Params::prior_mean(&model);
            params.set(&model, "joint.spindle.friction.viscous", viscous)?;
            Twin::with_params(Arc::clone(&model), params, 42)
        })
        .collect::<machine_twin::Result<_>>()?;

    for twin in &mut twins {
        twin.set_input_by_name("spindle_speed", 1256.6)?; // 12,000 rpm, in rad/s
        twin.advance_to(3.0)?;
        println!(
            "viscous friction {:.0e} N·m·s/rad → motor current {:.3} A at t = {:.1} s",
            twin.get("joint.spindle.friction.viscous")?,
            twin.sensor("motor_current")?.expected,
            twin.time()
        );
    }

    // Fork the first twin: a snapshot continues bit for bit in a new instance.
    let snapshot = twins[0].state().clone();
    let mut fork = Twin::new(Arc::clone(&model), 0);
    fork.restore(&snapshot)?;
    fork.set_input_by_name("spindle_speed", 0.0)?; // this future brakes to a stop
    fork.advance_to(4.0)?;
    let spindle = fork.joint("spindle")?;
    println!(
        "fork braking at t = {:.1} s: speed {:.1} rad/s, bearing reaction {:.1} N, moment {:.2} N·m",
        fork.time(),
        spindle.velocity,
        spindle.force.norm(),
        spindle.moment.norm()
    );
    // A name the model does not have is an error that says what it has.
    if let Err(e) = fork.sensor("motor_currnet") {
        println!("{e}");
    }
    Ok(())
}
