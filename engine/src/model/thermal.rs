//! Compilation of the `[thermal]` section.

use super::TemperatureOf;
use super::context::Ctx;
use super::spec::{BoundarySpec, GridSpec, MaterialSpec, RegionSpec, SensorSpec, ThermalSpec};
use super::{Drive, Input, Joint, JointKind};
use crate::error::Result;
use crate::thermal::grid::Observable;
use crate::thermal::grid::{Boundary, BoundaryKind, FACES, Grid, Material, NodeBox};
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
    let source = |path: &[&str], s| super::context::compile_source(cx, path, s, inputs);

    let mut ambients = Vec::new();
    for (name, a) in &spec.ambient {
        ambients.push(Ambient {
            name: name.clone(),
            temperature: source(&["thermal", "ambient", name, "temperature"], &a.temperature)?,
        });
    }
    let mut nodes = Vec::new();
    for (name, n) in &spec.node {
        let p = |f: &'static str| ["thermal", "node", name.as_str(), f];
        if ambients.iter().any(|a: &Ambient| &a.name == name) {
            return Err(cx.err(
                &p("capacity"),
                "a node may not share its name with an ambient",
            ));
        }
        nodes.push(Node {
            name: name.clone(),
            capacity: cx.positive(&p("capacity"), n.capacity)?,
            initial: cx.finite(&p("initial"), n.initial.unwrap_or(DEFAULT_TEMPERATURE))?,
        });
    }
    let mut grids = Vec::new();
    for (name, g) in &spec.grid {
        grids.push(compile_grid(cx, name, g, &ambients, inputs)?);
    }
    let node_names = || {
        nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut links = Vec::new();
    for (name, l) in &spec.link {
        let p = |f: &'static str| ["thermal", "link", name.as_str(), f];
        let conductance = cx.non_negative(&p("conductance"), l.conductance)?;
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
                    format!("expected two different nodes, or a node and an ambient or a grid (nodes: {})", node_names()),
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
        links.push(Link {
            name: name.clone(),
            a,
            b,
            conductance,
        });
    }

    let mut heats = Vec::new();
    let mut shares: Vec<(String, f64, String)> = Vec::new();
    for (name, h) in &spec.heat {
        let p = |f: &'static str| ["thermal", "heat", name.as_str(), f];
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
            (None, Some(power)) => HeatOrigin::Power(source(&p("power"), power)?),
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
                        format!("no thermal node named `{n}` (nodes: {})", node_names()),
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
        if let Some(from) = &h.from {
            match shares.iter_mut().find(|s| &s.0 == from) {
                Some(s) => s.1 += fraction,
                None => shares.push((from.clone(), fraction, name.clone())),
            }
        }
        heats.push(Heat {
            name: name.clone(),
            origin,
            target,
            fraction,
        });
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

fn material(cx: &Ctx, path: &[&str], m: &MaterialSpec) -> Result<Material> {
    let mut p = path.to_vec();
    let mut field = |f: &'static str, v: f64, positive: bool| {
        p.push(f);
        let r = if positive {
            cx.positive(&p, v)
        } else {
            cx.non_negative(&p, v)
        };
        p.pop();
        r
    };
    Ok(Material {
        k: field("k", m.k, false)?,
        rho: field("rho", m.rho, true)?,
        cp: field("cp", m.cp, true)?,
    })
}

fn compile_grid(
    cx: &Ctx,
    name: &str,
    g: &GridSpec,
    ambients: &[Ambient],
    inputs: &[Input],
) -> Result<Grid> {
    let p = |f: &'static str| ["thermal", "grid", name, f];
    for a in 0..3 {
        cx.positive(&p("size"), g.size[a])?;
        if g.nodes[a] == 0 {
            return Err(cx.err(&p("nodes"), "expected at least 1 node per axis"));
        }
    }
    let cells: usize = g.nodes.iter().product();
    if cells > 1 << 28 {
        return Err(cx.err(&p("nodes"), format!("{cells} nodes is more than 2^28")));
    }
    let h: [f64; 3] = std::array::from_fn(|a| {
        if g.nodes[a] > 1 {
            g.size[a] / (g.nodes[a] - 1) as f64
        } else {
            g.size[a]
        }
    });
    let mut grid = Grid {
        name: name.to_string(),
        size: g.size,
        n: g.nodes,
        h,
        initial: cx.finite(&p("initial"), g.initial.unwrap_or(DEFAULT_TEMPERATURE))?,
        materials: vec![material(cx, &p("material"), &g.material)?],
        material_of: Vec::new(),
        boundaries: Vec::new(),
        face_bc: Vec::new(),
        face_offset: [0; 7],
        sources: Vec::new(),
        observables: Vec::new(),
    };
    if !g.region.is_empty() {
        if g.region.len() > 254 {
            return Err(cx.err(&p("region"), "at most 254 material regions"));
        }
        grid.material_of = vec![0; cells];
        for (r, reg) in g.region.iter().enumerate() {
            let idx = r.to_string();
            let path = ["thermal", "grid", name, "region", idx.as_str()];
            let m = material(cx, &[&path[..], &["material"]].concat(), &reg.material)?;
            let nb = node_box(
                cx,
                &path,
                &grid,
                Some(&RegionSpec {
                    min: reg.min,
                    max: reg.max,
                }),
            )?;
            grid.materials.push(m);
            let id = (grid.materials.len() - 1) as u8;
            for c in 0..cells {
                if nb.contains(grid.ijk(c)) {
                    grid.material_of[c] = id;
                }
            }
        }
    }
    let mut offset = 0;
    for f in 0..6 {
        grid.face_offset[f] = offset;
        offset += grid.face_len(f);
    }
    grid.face_offset[6] = offset;
    grid.face_bc = vec![0; offset];
    for (bname, b) in &g.boundary {
        let path = ["thermal", "grid", name, "boundary", bname.as_str()];
        let kind = boundary_kind(cx, &path, b, ambients, inputs)?;
        grid.boundaries.push(Boundary {
            name: bname.clone(),
            kind,
        });
        let id = grid.boundaries.len() as u32;
        let region = b
            .region
            .map(|r| node_box(cx, &[&path[..], &["region"]].concat(), &grid, Some(&r)))
            .transpose()?;
        if b.faces.is_empty() {
            return Err(cx.err(
                &[&path[..], &["faces"]].concat(),
                "expected at least one face",
            ));
        }
        for face in &b.faces {
            let f = FACES.iter().position(|x| x == face).ok_or_else(|| {
                cx.err(
                    &[&path[..], &["faces"]].concat(),
                    format!("expected faces among {}, got `{face}`", FACES.join(", ")),
                )
            })?;
            for l in 0..grid.face_len(f) {
                if region.is_none_or(|r| r.contains(grid.face_node(f, l))) {
                    grid.face_bc[grid.face_offset[f] + l] = id;
                }
            }
        }
    }
    Ok(grid)
}

fn boundary_kind(
    cx: &Ctx,
    path: &[&str],
    b: &BoundarySpec,
    ambients: &[Ambient],
    inputs: &[Input],
) -> Result<BoundaryKind> {
    let at = |f: &'static str| [path, &[f]].concat();
    let unexpected = |fields: &[(&'static str, bool)]| -> Result<()> {
        for (f, present) in fields {
            if *present {
                return Err(cx.err(
                    &at(f),
                    format!("`{f}` does not apply to a {} boundary", b.kind),
                ));
            }
        }
        Ok(())
    };
    Ok(match b.kind.as_str() {
        "insulated" => {
            unexpected(&[
                ("h", b.h.is_some()),
                ("ambient", b.ambient.is_some()),
                ("temperature", b.temperature.is_some()),
                ("flux", b.flux.is_some()),
            ])?;
            BoundaryKind::Insulated
        }
        "fixed" => {
            unexpected(&[
                ("h", b.h.is_some()),
                ("ambient", b.ambient.is_some()),
                ("flux", b.flux.is_some()),
            ])?;
            let t = b.temperature.as_ref().ok_or_else(|| {
                cx.err(
                    &at("temperature"),
                    "a fixed boundary needs `temperature` (°C)",
                )
            })?;
            BoundaryKind::Fixed(super::context::compile_source(
                cx,
                &at("temperature"),
                t,
                inputs,
            )?)
        }
        "flux" => {
            unexpected(&[
                ("h", b.h.is_some()),
                ("ambient", b.ambient.is_some()),
                ("temperature", b.temperature.is_some()),
            ])?;
            let q = b.flux.as_ref().ok_or_else(|| {
                cx.err(
                    &at("flux"),
                    "a flux boundary needs `flux` (W/m², into the body)",
                )
            })?;
            BoundaryKind::Flux(super::context::compile_source(cx, &at("flux"), q, inputs)?)
        }
        "convection" => {
            unexpected(&[
                ("temperature", b.temperature.is_some()),
                ("flux", b.flux.is_some()),
            ])?;
            let h =
                b.h.ok_or_else(|| cx.err(&at("h"), "a convection boundary needs `h` in W/(m²·K)"))?;
            cx.non_negative(&at("h"), h)?;
            let a = b.ambient.as_deref().ok_or_else(|| {
                cx.err(
                    &at("ambient"),
                    "a convection boundary needs `ambient = \"NAME\"`",
                )
            })?;
            let ambient = ambients
                .iter()
                .position(|x| x.name == a)
                .ok_or_else(|| cx.err(&at("ambient"), format!("no thermal ambient named `{a}`")))?;
            BoundaryKind::Convection { h, ambient }
        }
        other => {
            return Err(cx.err(
                &at("kind"),
                format!(
                    "expected \"convection\", \"fixed\", \"flux\" or \"insulated\", got \"{other}\""
                ),
            ));
        }
    })
}

/// The nodes of `grid` inside `region` (all nodes when `None`); an error when none are.
pub(super) fn node_box(
    cx: &Ctx,
    path: &[&str],
    grid: &Grid,
    region: Option<&RegionSpec>,
) -> Result<NodeBox> {
    let Some(r) = region else {
        return Ok(NodeBox {
            lo: [0; 3],
            hi: grid.n.map(|n| n - 1),
        });
    };
    let mut nb = NodeBox {
        lo: [0; 3],
        hi: [0; 3],
    };
    for a in 0..3 {
        let (lo, hi) = (cx.finite(path, r.min[a])?, cx.finite(path, r.max[a])?);
        if grid.n[a] == 1 {
            continue;
        }
        let top = (grid.n[a] - 1) as f64;
        let l = (lo / grid.h[a] - 1e-9).ceil().clamp(0.0, top);
        let u = (hi / grid.h[a] + 1e-9).floor().clamp(-1.0, top);
        if u < l {
            return Err(cx.err(
                path,
                format!(
                    "the box [{lo}, {hi}] m along {} holds no grid node (spacing {} m, size {} m)",
                    ["x", "y", "z"][a],
                    grid.h[a],
                    grid.size[a]
                ),
            ));
        }
        nb.lo[a] = l as usize;
        nb.hi[a] = u as usize;
    }
    Ok(nb)
}

/// Volume in m³ of the nodes in `nb`.
pub(super) fn box_volume(grid: &Grid, nb: &NodeBox) -> f64 {
    let mut v = 0.0;
    for k in nb.lo[2]..=nb.hi[2] {
        for j in nb.lo[1]..=nb.hi[1] {
            for i in nb.lo[0]..=nb.hi[0] {
                v += grid.volume([i, j, k]);
            }
        }
    }
    v
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
                        let v = cx.finite(&p("point"), pt[a])?;
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
