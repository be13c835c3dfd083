//! `twin check`: parse, validate and compile a model; a one-line summary.

use std::path::Path;
use std::process::ExitCode;

use machine_twin::{Model, Result};

/// Runs `twin check`.
pub fn check(model: &Path) -> Result<ExitCode> {
    let m = Model::from_file(model)?;
    let th = &m.thermal;
    let thermal = if th.is_empty() {
        String::new()
    } else {
        format!(
            "; thermal every {} s: {} nodes, {} links, {} heat sources, {} grids ({} grid nodes)",
            th.dt,
            th.nodes.len(),
            th.links.len(),
            th.heats.len(),
            th.grids.len(),
            th.grids.iter().map(|g| g.cells()).sum::<usize>()
        )
    };
    println!(
        "{}: ok — model `{}`: {} bodies, {} joints, {} drives, {} loads, {} inputs, {} sensors, {} parameters{thermal}",
        model.display(),
        m.name,
        m.bodies.len(),
        m.joints.len(),
        m.drives.len(),
        m.loads.len(),
        m.inputs.len(),
        m.sensors.len(),
        m.parameters.len()
    );
    Ok(ExitCode::SUCCESS)
}
