//! Compilation of the `[thermal]` section: ambients, nodes, links and heat sources here, the
//! conduction grids in `grid.rs`.

mod grid;

use grid::compile_grid;
pub(super) use grid::{box_volume, node_box};

use super::TemperatureOf;
use super::context::{Ctx, compile_source_in};
use super::ranges::{CONDUCTANCE, HEAT_CAPACITY, POSITION, POWER, TEMPERATURE};
use super::spec::{HeatSpec, LinkSpec, SensorSpec, ThermalSpec};
use super::{Drive, Input, Joint, JointKind};
use crate::error::Result;
use crate::thermal::grid::Observable;
use crate::thermal::grid::{BoundaryKind, Grid};
use crate::thermal::{Ambient, End, Heat, HeatOrigin, HeatTarget, Link, Node, Thermal};

/// Default temperature in °C of nodes, grids and growth references.
pub const DEFAULT_TEMPERATURE: f64 = 20.0;

pub(super) fn compile_thermal(
    cx: &Ctx,
    spec: &ThermalSpec,
    dt_mech: f64,
    inputs: &[Input],
    joints: &[Joint],
    drives: &[Drive],
) -> Result<Thermal> {
    let dt_req = cx.positive(&["thermal", "dt"], spec.dt.unwrap_or(0.1))?;
    let steps = (dt_req / dt_mech).round().max(1.0);
    if ((steps * dt_mech) - dt_req).abs() > 1e-9 * dt_req.max(1.0) {
        return Err(cx.err(
            &["thermal", "dt"],
            format!("expected a whole multiple of solver.dt_mech = {dt_mech} s, got {dt_req}"),
        ));
    }
    let mut ambients = Vec::new();
    for (name, a) in &spec.ambient {
        let path = ["thermal", "ambient", name, "temperature"];
        ambients.push(Ambient {
            name: name.clone(),
            temperature: compile_source_in(cx, &path, &a.temperature, inputs, TEMPERATURE)?,
        });
    }
    let nodes = compile_nodes(cx, spec, &ambients)?;
    let mut grids = Vec::new();
    for (name, g) in &spec.grid {
        grids.push(compile_grid(cx, name, g, &ambients, inputs)?);
    }
    for (grid, name) in grids.iter().zip(spec.grid.keys()) {
        check_substeps(cx, name, grid, steps * dt_mech)?;
    }
    let mut links = Vec::new();
    for (name, l) in &spec.link {
        links.push(compile_link(
            cx, name, l, &nodes, &ambients, &mut grids, dt_req,
        )?);
    }
    let mut heats = Vec::new();
    // Per origin: the fractions of its power given to sources, and the first source's name.
    let mut shares: Vec<(String, f64, String)> = Vec::new();
    for (name, h) in &spec.heat {
        let heat = compile_heat(cx, name, h, &nodes, &mut grids, (joints, drives, inputs))?;
        if let Some(from) = &h.from {
            match shares.iter_mut().find(|s| &s.0 == from) {
                Some(s) => s.1 += heat.fraction,
                None => shares.push((from.clone(), heat.fraction, name.clone())),
            }
        }
        heats.push(heat);
    }
    for (from, total, first) in shares {
        if (total - 1.0).abs() > 1e-6 {
            return Err(cx.err(
                &["thermal", "heat", &first, "fraction"],
                format!("the fractions of `{from}` add up to {total}; expected 1 so that all of its heat is accounted"),
            ));
        }
    }
    Ok(Thermal {
        dt: steps * dt_mech,
        steps_per_update: steps as u64,
        ambients,
        nodes,
        links,
        heats,
        grids,
    })
}

/// `[thermal.node.NAME]` of every node, in file order.
fn compile_nodes(cx: &Ctx, spec: &ThermalSpec, ambients: &[Ambient]) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for (name, n) in &spec.node {
        let p = |f: &'static str| ["thermal", "node", name.as_str(), f];
        if ambients.iter().any(|a| &a.name == name) {
            return Err(cx.err(
                &p("capacity"),
                "a node may not share its name with an ambient",
            ));
        }
        nodes.push(Node {
            name: name.clone(),
            capacity: cx.ranged(&p("capacity"), n.capacity, HEAT_CAPACITY)?,
            initial: cx.ranged(
                &p("initial"),
                n.initial.unwrap_or(DEFAULT_TEMPERATURE),
                TEMPERATURE,
            )?,
        });
    }
    Ok(nodes)
}

/// The nodes' names, for error messages.
fn node_names(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `[thermal.link.NAME]`: a conductance between two nodes, or a node and an ambient or a grid
/// box (which becomes a source and a mean of that grid).
fn compile_link(
    cx: &Ctx,
    name: &str,
    l: &LinkSpec,
    nodes: &[Node],
    ambients: &[Ambient],
    grids: &mut [Grid],
    dt_req: f64,
) -> Result<Link> {
    let p = |f: &'static str| ["thermal", "link", name, f];
    let conductance = cx.ranged(&p("conductance"), l.conductance, CONDUCTANCE)?;
    let node = |s: &str| nodes.iter().position(|n| n.name == s);
    let other = |s: &str| {
        ambients
            .iter()
            .position(|a| a.name == s)
            .map(End::Ambient)
            .or_else(|| {
                let grid = grids.iter().position(|g: &Grid| g.name == s)?;
                Some(End::Grid {
                    grid,
                    observable: 0,
                    source: 0,
                })
            })
            .ok_or_else(|| {
                cx.err(
                    &p("between"),
                    format!("no node, ambient or grid named `{s}`"),
                )
            })
    };
    let [x, y] = [&l.between[0], &l.between[1]];
    let (a, b) = match (node(x), node(y)) {
        (Some(a), Some(b)) if a != b => (a, End::Node(b)),
        (Some(a), None) => (a, other(y)?),
        (None, Some(a)) => (a, other(x)?),
        _ => {
            return Err(cx.err(
                &p("between"),
                format!(
                    "expected two different nodes, or a node and an ambient or a grid (nodes: {})",
                    node_names(nodes)
                ),
            ));
        }
    };
    let b = match b {
        End::Grid { grid: gi, .. } => {
            let grid = &mut grids[gi];
            let nb = node_box(cx, &p("region"), grid, l.region.as_ref())?;
            let volume = box_volume(grid, &nb);
            // Heat capacity of the box (with the grid's base material).
            let capacity = grid.materials[0].rho_cp() * volume;
            if conductance * dt_req > 0.5 * capacity {
                return Err(cx.err(
                    &p("conductance"),
                    format!(
                        "{conductance} W/K over dt = {dt_req} s would move more than half the heat of the grid box ({capacity:.3e} J/K) per step; enlarge the region or shorten thermal.dt"
                    ),
                ));
            }
            grid.sources.push((nb, volume));
            grid.observables
                .push(crate::thermal::grid::Observable::Mean(nb));
            End::Grid {
                grid: gi,
                observable: grid.observables.len() - 1,
                source: grid.sources.len() - 1,
            }
        }
        other => {
            if l.region.is_some() {
                return Err(cx.err(&p("region"), "`region` applies to a link with a grid"));
            }
            other
        }
    };
    Ok(Link {
        name: name.to_string(),
        a,
        b,
        conductance,
    })
}

/// `[thermal.heat.NAME]`: a heat source (a joint's friction, a drive's copper loss, or a
/// prescribed power) into a node or a grid box.
fn compile_heat(
    cx: &Ctx,
    name: &str,
    h: &HeatSpec,
    nodes: &[Node],
    grids: &mut [Grid],
    (joints, drives, inputs): (&[Joint], &[Drive], &[Input]),
) -> Result<Heat> {
    let p = |f: &'static str| ["thermal", "heat", name, f];
    let origin = match (&h.from, &h.power) {
        (Some(from), None) => {
            let parts: Vec<&str> = from.split('.').collect();
            match parts.as_slice() {
                ["joint", j, "friction"] => HeatOrigin::Friction(
                    joints
                        .iter()
                        .position(|x| x.name == *j && x.kind != JointKind::Fixed)
                        .ok_or_else(|| {
                            cx.err(&p("from"), format!("no moving joint named `{j}`"))
                        })?,
                ),
                ["drive", d, "copper_loss"] => HeatOrigin::CopperLoss(
                    drives
                        .iter()
                        .position(|x| x.name == *d)
                        .ok_or_else(|| cx.err(&p("from"), format!("no drive named `{d}`")))?,
                ),
                _ => {
                    return Err(cx.err(
                        &p("from"),
                        format!("expected `joint.NAME.friction` or `drive.NAME.copper_loss`, got `{from}`"),
                    ));
                }
            }
        }
        (None, Some(power)) => {
            HeatOrigin::Power(compile_source_in(cx, &p("power"), power, inputs, POWER)?)
        }
        _ => {
            return Err(cx.err(
                &p("from"),
                "expected exactly one of `from = \"joint.NAME.friction\"` (or `drive.NAME.copper_loss`) and `power`",
            ));
        }
    };
    let fraction = h.fraction.unwrap_or(1.0);
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(cx.err(
            &p("fraction"),
            format!("expected a number in (0, 1], got {fraction}"),
        ));
    }
    let target = match (&h.node, &h.grid) {
        (Some(n), None) => {
            HeatTarget::Node(nodes.iter().position(|x| &x.name == n).ok_or_else(|| {
                cx.err(
                    &p("node"),
                    format!("no thermal node named `{n}` (nodes: {})", node_names(nodes)),
                )
            })?)
        }
        (None, Some(gname)) => {
            let gi = grids
                .iter()
                .position(|x: &Grid| &x.name == gname)
                .ok_or_else(|| cx.err(&p("grid"), format!("no grid named `{gname}`")))?;
            let grid = &mut grids[gi];
            let nb = node_box(cx, &p("region"), grid, h.region.as_ref())?;
            let volume = box_volume(grid, &nb);
            grid.sources.push((nb, volume));
            HeatTarget::Grid {
                grid: gi,
                source: grid.sources.len() - 1,
            }
        }
        _ => return Err(cx.err(&p("node"), "expected exactly one of `node` and `grid`")),
    };
    Ok(Heat {
        name: name.to_string(),
        origin,
        target,
        fraction,
    })
}

/// The temperature a thermal sensor reads: `node`, or `grid` with `point` (a probe) or
/// `region` (a mean; the whole grid when `mean_ok` and neither is given).
pub(super) fn temperature_of(
    cx: &Ctx,
    name: &str,
    s: &SensorSpec,
    thermal: &mut Thermal,
    mean_ok: bool,
) -> Result<TemperatureOf> {
    let p = |f: &'static str| ["sensor", name, f];
    match (&s.node, &s.grid) {
        (Some(n), None) => thermal
            .nodes
            .iter()
            .position(|x| &x.name == n)
            .map(TemperatureOf::Node)
            .ok_or_else(|| cx.err(&p("node"), format!("no thermal node named `{n}`"))),
        (None, Some(g)) => {
            let gi = thermal
                .grids
                .iter()
                .position(|x| &x.name == g)
                .ok_or_else(|| cx.err(&p("grid"), format!("no grid named `{g}`")))?;
            let grid = &mut thermal.grids[gi];
            let obs = match (s.point, s.region) {
                (Some(pt), None) => {
                    let mut x = [0.0; 3];
                    for a in 0..3 {
                        let v = cx.ranged(&p("point"), pt[a], POSITION)?;
                        if !(-1e-9..=grid.size[a] + 1e-9).contains(&v) {
                            return Err(cx.err(
                                &p("point"),
                                format!(
                                    "expected a point inside the grid (0..{:?} m), got {pt:?}",
                                    grid.size
                                ),
                            ));
                        }
                        x[a] = if grid.n[a] > 1 { v / grid.h[a] } else { 0.0 };
                    }
                    Observable::Probe(x)
                }
                (None, region) if mean_ok => {
                    Observable::Mean(node_box(cx, &p("region"), grid, region.as_ref())?)
                }
                _ => {
                    return Err(cx.err(
                        &p("point"),
                        if mean_ok {
                            "expected `point = [x, y, z]` or `region = { min, max }`, not both"
                        } else {
                            "a grid temperature sensor needs `point = [x, y, z]` (m, grid coordinates)"
                        },
                    ));
                }
            };
            grid.observables.push(obs);
            Ok(TemperatureOf::Grid {
                grid: gi,
                observable: grid.observables.len() - 1,
            })
        }
        _ => Err(cx.err(
            &p("kind"),
            format!("a {} sensor needs exactly one of `node` and `grid`", s.kind),
        )),
    }
}

/// The most explicit sub-steps a grid may need per thermal step at the model's convection
/// coefficients: beyond
/// it the grid's spacing is too fine for its material and `thermal.dt` (a 1 mm aluminium grid
/// needs about 50 per second), and a run would crawl or never end.
const MAX_SUBSTEPS: f64 = 1e6;

/// Refuses a grid whose spacing needs more than [`MAX_SUBSTEPS`] sub-steps of a `dt` s step.
fn check_substeps(cx: &Ctx, name: &str, grid: &Grid, dt: f64) -> Result<()> {
    let h_max = grid
        .boundaries
        .iter()
        .map(|b| match b.kind {
            BoundaryKind::Convection { h, .. } => h,
            _ => 0.0,
        })
        .fold(0.0, f64::max);
    let needed = Grid::substeps_needed(dt, grid.stable_dt_at(h_max));
    if needed <= MAX_SUBSTEPS {
        return Ok(());
    }
    let spacing = grid.h.iter().copied().fold(f64::INFINITY, f64::min);
    Err(cx.err(
        &["thermal", "grid", name, "size"],
        format!(
            "a node spacing of {spacing:.2e} m needs {needed:.1e} explicit sub-steps per thermal \
             step of {dt} s (stability limit); at most {MAX_SUBSTEPS:.0e}: enlarge the grid's size \
             or use fewer nodes"
        ),
    ))
}
