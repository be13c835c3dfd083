// Explicit sub-steps of the vertex-centred heat equation. CPU twin: Grid::update_node and the
// fast row paths in engine/src/thermal/kernels/heat_step.rs.
//
// Kernels:
// - heat_step_interior and heat_step_shell together advance every node of every member by one
//   sub-step: the first the nodes off the faces (a lean stencil, one thread per node: x over i
//   in rows of 32, y over j in groups of 8 and over k, z over members), the second the nodes on
//   the faces (listed in `stat`, with their boundary conditions). Keeping the face nodes out of
//   the stencil's warps doubled its rate on an H200 (no divergent face code in them). Grids of
//   one material without heat sources take heat_step_march instead of heat_step_interior
//   (14 % faster at 512³ on an H200);
// - heat_steps_fused: a whole thermal step of one member per workgroup, all `dims.n_sub`
//   sub-steps in one dispatch with barriers between them (small grids, large ensembles: no
//   launch per sub-step, the member's field stays in the caches);
// - copy_field moves one half of `field` to the other at the memory's pace (the bandwidth
//   reference of the benches).

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
    return cw * (field[base + w] - tc) + ce * (field[base + e] - tc);
}

// Sum of the source power densities (W/m³) of the sources whose box holds node ijk.
fn source_density(ijk: vec3<u32>, cbase: u32) -> f32 {
    var extra = 0.0;
    for (var s = 0u; s < dims.n_src; s++) {
        let o = dims.off_src + 6u * s;
        if (all(ijk >= vec3<u32>(stat[o], stat[o + 1u], stat[o + 2u]))
            && all(ijk <= vec3<u32>(stat[o + 3u], stat[o + 4u], stat[o + 5u]))) {
            extra += cond[cbase + 4u * dims.n_bc + s];
        }
    }
    return extra;
}

// Flat indices of the two neighbours of node c along an axis of n nodes where the node has
// index i (stride apart); a missing neighbour on a face is mirrored, and a one-node axis
// gives the node itself twice (no flux).
fn neighbours(c: u32, i: u32, n: u32, stride: u32) -> vec2<u32> {
    if (n <= 1u) { return vec2<u32>(c, c); }
    return vec2<u32>(select(c + stride, c - stride, i > 0u), select(c - stride, c + stride, i + 1u < n));
}

// Temperature of node c (indices ijk) of `member` after one sub-step, from the half at `src`.
fn node_update(member: u32, c: u32, ijk: vec3<u32>, src: u32) -> f32 {
    let base = src + member * dims.cells;
    let tc = field[base + c];
    let cbase = member * dims.cond_len;
    var lap = 0.0;
    var cap = statf(dims.off_cap);
    if (dims.nm == 1u) {
        // One material: the same neighbour sum for every node (mirrored on faces), then face
        // terms only where the node lies on a face; the order of the CPU's row loop.
        let x = neighbours(c, ijk.x, dims.nx, 1u);
        let y = neighbours(c, ijk.y, dims.ny, dims.nx);
        let z = neighbours(c, ijk.z, dims.nz, dims.nx * dims.ny);
        let cx = statf(dims.off_coef);
        let cy = statf(dims.off_coef + 1u);
        let cz = statf(dims.off_coef + 2u);
        lap = cx * (field[base + x.x] - tc) + cx * (field[base + x.y] - tc)
            + (cy * (field[base + y.x] - tc) + cy * (field[base + y.y] - tc))
            + (cz * (field[base + z.x] - tc) + cz * (field[base + z.y] - tc));
        if (dims.n_src == 0u && !on_any_face(ijk)) { return tc + lap; }
    } else {
        let mc = material(c);
        lap += axis_term(0u, c, ijk.x, 1u, mc, tc, base);
        lap += axis_term(1u, c, ijk.y, dims.nx, mc, tc, base);
        lap += axis_term(2u, c, ijk.z, dims.nx * dims.ny, mc, tc, base);
        cap = statf(dims.off_cap + mc);
    }
    var extra = 0.0;
    for (var a = 0u; a < 3u; a++) {
        let na = n_of(a);
        let i = ijk[a];
        for (var side = 0u; side < 2u; side++) {
            var on_face = i == 0u;
            if (side == 1u) { on_face = i + 1u == na; }
            if (!on_face) { continue; }
            let id = stat[face_start(2u * a + side) + face_local(a, ijk)];
            if (id == 0u) { continue; }
            let b = cbase + 4u * (id - 1u);
            if (cond[b] > 0.5) { return cond[b + 2u]; }
            extra += (cond[b + 1u] * (cond[b + 2u] - tc) + cond[b + 3u]) * statf(dims.off_face + a);
        }
    }
    extra += source_density(ijk, cbase);
    return tc + lap + cap * extra;
}

// Heat (W) entering node ijk at temperature tc through its convection and flux faces (each
// face of the node with its own area); fixed faces are not counted. The per-node form of the
// boundary_inflow reduction, for the fused kernel.
fn node_inflow(member: u32, ijk: vec3<u32>, tc: f32) -> f32 {
    var q = 0.0;
    let cbase = member * dims.cond_len;
    for (var a = 0u; a < 3u; a++) {
        let na = n_of(a);
        for (var side = 0u; side < 2u; side++) {
            var on_face = ijk[a] == 0u;
            if (side == 1u) { on_face = ijk[a] + 1u == na; }
            if (!on_face) { continue; }
            let id = stat[face_start(2u * a + side) + face_local(a, ijk)];
            if (id == 0u) { continue; }
            let b = cbase + 4u * (id - 1u);
            if (cond[b] > 0.5) { continue; }
            var area = 1.0;
            for (var p = 0u; p < 3u; p++) {
                if (p != a) { area *= statf(dims.off_face + 3u + p) * weight(p, ijk[p]); }
            }
            q += area * (cond[b + 1u] * (cond[b + 2u] - tc) + cond[b + 3u]);
        }
    }
    return q;
}

fn on_any_face(ijk: vec3<u32>) -> bool {
    let n = vec3<u32>(dims.nx, dims.ny, dims.nz);
    return any(ijk == vec3<u32>(0u)) || any(ijk + vec3<u32>(1u) == n);
}

// Temperature after one sub-step of node c (indices ijk, off every face) of `member`.
fn interior_update(member: u32, c: u32, ijk: vec3<u32>, src: u32) -> f32 {
    let base = src + member * dims.cells;
    let tc = field[base + c];
    let sy = dims.nx;
    let sz = dims.nx * dims.ny;
    var lap = 0.0;
    var cap = statf(dims.off_cap);
    if (dims.nm == 1u) {
        let cx = statf(dims.off_coef);
        let cy = statf(dims.off_coef + 1u);
        let cz = statf(dims.off_coef + 2u);
        lap = cx * (field[base + c - 1u] - tc) + cx * (field[base + c + 1u] - tc)
            + (cy * (field[base + c - sy] - tc) + cy * (field[base + c + sy] - tc))
            + (cz * (field[base + c - sz] - tc) + cz * (field[base + c + sz] - tc));
    } else {
        let mc = material(c);
        lap += axis_term(0u, c, ijk.x, 1u, mc, tc, base);
        lap += axis_term(1u, c, ijk.y, sy, mc, tc, base);
        lap += axis_term(2u, c, ijk.z, sz, mc, tc, base);
        cap = statf(dims.off_cap + mc);
    }
    if (dims.n_src == 0u) { return tc + lap; }
    return tc + lap + cap * source_density(ijk, member * dims.cond_len);
}

@compute @workgroup_size(32, 8, 1)
fn heat_step_interior(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let kk = wid.y / dims.groups_y;
    let i = wid.x * 32u + lid.x + 1u;
    let j = (wid.y - kk * dims.groups_y) * 8u + lid.y + 1u;
    if (i + 1u >= dims.nx || j + 1u >= dims.ny) { return; }
    let k = kk + 1u;
    let member = wid.z;
    let c = (k * dims.ny + j) * dims.nx + i;
    field[io.dst + member * dims.cells + c] = interior_update(member, c, vec3<u32>(i, j, k), io.src);
}

// heat_step_interior marching along z for grids of one material without heat sources (the
// host picks it): one thread per (i, j) column of interior nodes, the column's centre, below
// and above values carried in registers from node to node. Nothing else in it, so that it
// keeps few registers and many threads in flight.
@compute @workgroup_size(32, 8, 1)
fn heat_step_march(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = wid.x * 32u + lid.x + 1u;
    let j = wid.y * 8u + lid.y + 1u;
    if (i + 1u >= dims.nx || j + 1u >= dims.ny || dims.nz < 3u) { return; }
    let member = wid.z;
    let sy = dims.nx;
    let sz = dims.nx * dims.ny;
    let base = io.src + member * dims.cells;
    let out = io.dst + member * dims.cells;
    var c = sz + j * sy + i;
    let cx = statf(dims.off_coef);
    let cy = statf(dims.off_coef + 1u);
    let cz = statf(dims.off_coef + 2u);
    var below = field[base + c - sz];
    var tc = field[base + c];
    for (var k = 1u; k + 1u < dims.nz; k++) {
        let above = field[base + c + sz];
        let lap = cx * (field[base + c - 1u] - tc) + cx * (field[base + c + 1u] - tc)
            + (cy * (field[base + c - sy] - tc) + cy * (field[base + c + sy] - tc))
            + (cz * (below - tc) + cz * (above - tc));
        field[out + c] = tc + lap;
        below = tc;
        tc = above;
        c += sz;
    }
}

// One thread per face node (x over the node list at stat[off_shell], y over members).
@compute @workgroup_size(256)
fn heat_step_shell(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= dims.n_shell) { return; }
    // Packed i | j << 10 | k << 20 (the host allows at most 1024 nodes per axis).
    let packed = stat[dims.off_shell + gid.x];
    let ijk = vec3<u32>(packed & 1023u, (packed >> 10u) & 1023u, packed >> 20u);
    let c = index_of(ijk);
    let member = gid.y;
    field[io.dst + member * dims.cells + c] = node_update(member, c, ijk, io.src);
}

// Rows of 32 threads in a fused workgroup: as many as the device allows, up to 32 (the host
// sets it from the adapter's limits; 8 is WebGPU's guaranteed minimum of 256 invocations).
override FUSED_ROWS: u32 = 8u;
var<workgroup> heat_partial: array<f32, 1024>;

@compute @workgroup_size(32, FUSED_ROWS, 1)
fn heat_steps_fused(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let member = wid.x;
    let flat_lid = lid.y * 32u + lid.x;
    var src = io.src;
    var dst = io.dst;
    var heat = 0.0;
    for (var s = 0u; s < dims.n_sub; s++) {
        let base_src = src + member * dims.cells;
        let base_dst = dst + member * dims.cells;
        for (var k = 0u; k < dims.nz; k++) {
            for (var j = lid.y; j < dims.ny; j += FUSED_ROWS) {
                for (var i = lid.x; i < dims.nx; i += 32u) {
                    let ijk = vec3<u32>(i, j, k);
                    let c = (k * dims.ny + j) * dims.nx + i;
                    if (dims.n_bc > 0u && on_any_face(ijk)) {
                        heat += node_inflow(member, ijk, field[base_src + c]) * dims.dt_sub;
                    }
                    field[base_dst + c] = node_update(member, c, ijk, src);
                }
            }
        }
        storageBarrier();
        let t = src;
        src = dst;
        dst = t;
    }
    heat_partial[flat_lid] = heat;
    for (var w = 16u * FUSED_ROWS; w > 0u; w = w / 2u) {
        workgroupBarrier();
        if (flat_lid < w) {
            heat_partial[flat_lid] += heat_partial[flat_lid + w];
        }
    }
    if (flat_lid == 0u) {
        aux[member] += heat_partial[0];
    }
}

// The field buffer as vectors of four, for copy_field alone (halves start and end on 64 words).
@group(0) @binding(3) var<storage, read_write> field4: array<vec4<f32>>;

@compute @workgroup_size(256)
fn copy_field(@builtin(global_invocation_id) gid: vec3<u32>) {
    let v = gid.x + gid.y * dims.row_threads;
    // The last vector may reach into the half's padding (halves are whole vectors).
    if (4u * v >= dims.cells * dims.members) { return; }
    field4[(io.dst >> 2u) + v] = field4[(io.src >> 2u) + v];
}
