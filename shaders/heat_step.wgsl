// One explicit sub-step of the vertex-centred heat equation for every node of every member.
// CPU twin: Grid::update_node and the fast interior loop in engine/src/thermal/cpu.rs.

fn axis_term(a: u32, c: u32, i: u32, stride: u32, mc: u32, tc: f32, base: u32) -> f32 {
    let n = n_of(a);
    if (n <= 1u) { return 0.0; }
    var w = c + stride;
    if (i > 0u) { w = c - stride; }
    var e = c - stride;
    if (i + 1u < n) { e = c + stride; }
    let row = dims.off_coef + (a * dims.nm + mc) * dims.nm;
    let cw = statf(row + material(w));
    let ce = statf(row + material(e));
    return cw * (t_in[base + w] - tc) + ce * (t_in[base + e] - tc);
}

@compute @workgroup_size(256)
fn heat_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let flat = gid.x + gid.y * dims.row_threads;
    if (flat >= dims.cells * dims.members) { return; }
    let member = flat / dims.cells;
    let c = flat - member * dims.cells;
    let base = member * dims.cells;
    let ijk = ijk_of(c);
    let tc = t_in[flat];
    let mc = material(c);
    var lap = 0.0;
    lap += axis_term(0u, c, ijk.x, 1u, mc, tc, base);
    lap += axis_term(1u, c, ijk.y, dims.nx, mc, tc, base);
    lap += axis_term(2u, c, ijk.z, dims.nx * dims.ny, mc, tc, base);

    var extra = 0.0;
    let cbase = member * dims.cond_len;
    for (var a = 0u; a < 3u; a++) {
        let n = n_of(a);
        let i = ijk[a];
        for (var side = 0u; side < 2u; side++) {
            var on_face = i == 0u;
            if (side == 1u) { on_face = i + 1u == n; }
            if (!on_face) { continue; }
            let id = stat[face_start(2u * a + side) + face_local(a, ijk)];
            if (id == 0u) { continue; }
            let b = cbase + 4u * (id - 1u);
            if (cond[b] > 0.5) {
                t_out[flat] = cond[b + 2u];
                return;
            }
            extra += (cond[b + 1u] * (cond[b + 2u] - tc) + cond[b + 3u]) * statf(dims.off_face + a);
        }
    }
    for (var s = 0u; s < dims.n_src; s++) {
        let o = dims.off_src + 6u * s;
        if (all(ijk >= vec3<u32>(stat[o], stat[o + 1u], stat[o + 2u]))
            && all(ijk <= vec3<u32>(stat[o + 3u], stat[o + 4u], stat[o + 5u]))) {
            extra += cond[cbase + 4u * dims.n_bc + s];
        }
    }
    t_out[flat] = tc + lap + statf(dims.off_cap + mc) * extra;
}
