//! `twin check`: parse, validate and compile a model; a summary of what it holds and of what
//! stepping it costs.

use std::path::Path;
use std::process::ExitCode;

use machine_twin::{Model, Result};

use super::counted;
use crate::human::{bytes as human_bytes, number};

/// Runs `twin check`.
pub fn check(model: &Path) -> Result<ExitCode> {
    let m = Model::from_file(model)?;
    let th = &m.thermal;
    let thermal = if th.is_empty() {
        String::new()
    } else {
        format!(
            "; thermal every {} s: {}, {}, {}, {} ({})",
            th.dt,
            counted(th.nodes.len(), "node", "nodes"),
            counted(th.links.len(), "link", "links"),
            counted(th.heats.len(), "heat source", "heat sources"),
            counted(th.grids.len(), "grid", "grids"),
            counted(
                th.grids.iter().map(|g| g.cells()).sum::<usize>(),
                "grid node",
                "grid nodes"
            ),
        )
    };
    println!(
        "{}: ok — model `{}`: {}, {}, {}, {}, {}, {}, {}{thermal}",
        model.display(),
        m.name,
        counted(m.bodies.len(), "body", "bodies"),
        counted(m.joints.len(), "joint", "joints"),
        counted(m.drives.len(), "drive", "drives"),
        counted(m.loads.len(), "load", "loads"),
        counted(m.inputs.len(), "input", "inputs"),
        counted(m.sensors.len(), "sensor", "sensors"),
        counted(m.parameters.len(), "parameter", "parameters"),
    );
    let steps = 1.0 / m.dt_mech;
    let updates = th.node_updates(1) as f64 / th.dt;
    let mut cost = format!(
        "  cost per simulated second: {} mechanical steps",
        format_count(steps)
    );
    if !th.grids.is_empty() {
        cost.push_str(&format!(
            ", at least {} grid-node updates",
            format_count(updates)
        ));
    }
    if m.cycle_averaged.is_some() || m.quasi_steady.is_some() {
        cost.push_str(" (fewer where the slow integrator takes over)");
    }
    println!("{cost}");
    if !th.is_empty() {
        println!(
            "  memory: {} of thermal state per twin (an ensemble holds one per member)",
            human_bytes(th.bytes_per_twin())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A count per second as a person reads it: `1000`, `2.57 million`, `3.10 billion`.
fn format_count(x: f64) -> String {
    if x >= 1e9 {
        format!("{} billion", number(x / 1e9, 3))
    } else if x >= 1e6 {
        format!("{} million", number(x / 1e6, 3))
    } else {
        format!("{}", x.round())
    }
}
