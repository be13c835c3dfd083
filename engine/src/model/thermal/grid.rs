//! Compilation of `[thermal.grid.NAME]`: size, nodes, materials and regions, boundaries, and
//! the boxes of nodes that sources, links and sensors address.

use super::super::Input;
use super::super::context::{Ctx, compile_source_in};
use super::super::ranges::{
    CONDUCTIVITY, DENSITY, DIMENSION, HEAT_FLUX, HEAT_TRANSFER, POSITION, Range, SPECIFIC_HEAT,
    TEMPERATURE,
};
use super::super::spec::{BoundarySpec, GridSpec, MaterialSpec, RegionSpec};
use super::DEFAULT_TEMPERATURE;
use crate::error::Result;
use crate::thermal::Ambient;
use crate::thermal::grid::{Boundary, BoundaryKind, FACES, Grid, Material, NodeBox};

fn material(cx: &Ctx, path: &[&str], m: &MaterialSpec) -> Result<Material> {
    let mut p = path.to_vec();
    let mut field = |f: &'static str, v: f64, range: Range| {
        p.push(f);
        let r = cx.ranged(&p, v, range);
        p.pop();
        r
    };
    Ok(Material {
        k: field("k", m.k, CONDUCTIVITY)?,
        rho: field("rho", m.rho, DENSITY)?,
        cp: field("cp", m.cp, SPECIFIC_HEAT)?,
    })
}

pub(super) fn compile_grid(
    cx: &Ctx,
    name: &str,
    g: &GridSpec,
    ambients: &[Ambient],
    inputs: &[Input],
) -> Result<Grid> {
    let p = |f: &'static str| ["thermal", "grid", name, f];
    for a in 0..3 {
        cx.ranged(&p("size"), g.size[a], DIMENSION)?;
        if g.nodes[a] == 0 {
            return Err(cx.err(&p("nodes"), "expected at least 1 node per axis"));
        }
    }
    // In u128: three axes of up to 2^64 nodes cannot wrap around.
    let product: u128 = g.nodes.iter().map(|&n| n as u128).product();
    if product > 1 << 28 {
        return Err(cx.err(
            &p("nodes"),
            format!(
                "{} × {} × {} = {product} nodes is more than 2^28 = {}",
                g.nodes[0],
                g.nodes[1],
                g.nodes[2],
                1u64 << 28
            ),
        ));
    }
    let cells = product as usize;
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
        initial: cx.ranged(
            &p("initial"),
            g.initial.unwrap_or(DEFAULT_TEMPERATURE),
            TEMPERATURE,
        )?,
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
            BoundaryKind::Fixed(compile_source_in(
                cx,
                &at("temperature"),
                t,
                inputs,
                TEMPERATURE,
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
            BoundaryKind::Flux(compile_source_in(cx, &at("flux"), q, inputs, HEAT_FLUX)?)
        }
        "convection" => {
            unexpected(&[
                ("temperature", b.temperature.is_some()),
                ("flux", b.flux.is_some()),
            ])?;
            let h =
                b.h.ok_or_else(|| cx.err(&at("h"), "a convection boundary needs `h` in W/(m²·K)"))?;
            cx.ranged(&at("h"), h, HEAT_TRANSFER)?;
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
pub(crate) fn node_box(
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
        let (lo, hi) = (
            cx.ranged(path, r.min[a], POSITION)?,
            cx.ranged(path, r.max[a], POSITION)?,
        );
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
pub(crate) fn box_volume(grid: &Grid, nb: &NodeBox) -> f64 {
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
