// Reductions over the grids of all members, one workgroup per member (and observable):
// boundary heat inflow accumulated over sub-steps (CPU twin: Grid::boundary_inflow), and probe
// and region-mean observables (CPU twin: Grid::observe).

const WG: u32 = 256u;
var<workgroup> partial: array<f32, 256>;
var<workgroup> partial_v: array<f32, 256>;

fn reduce(lid: u32) {
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        workgroupBarrier();
        if (lid < s) {
            partial[lid] += partial[lid + s];
            partial_v[lid] += partial_v[lid + s];
        }
    }
    workgroupBarrier();
}

// aux[member] += dt_sub · (heat flowing in through convection and flux faces, W).
@compute @workgroup_size(256)
fn boundary_inflow(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let member = wid.x;
    let lid = lid3.x;
    let base = io.src + member * dims.cells;
    let cbase = member * dims.cond_len;
    var sum = 0.0;
    for (var l = lid; l < dims.face_total; l += WG) {
        var f = 0u;
        for (var g = 1u; g < 6u; g++) {
            if (l >= face_start(g) - dims.face0) { f = g; }
        }
        let id = stat[dims.face0 + l];
        if (id == 0u) { continue; }
        let b = cbase + 4u * (id - 1u);
        if (cond[b] > 0.5) { continue; }
        let a = f / 2u;
        let local = l - (face_start(f) - dims.face0);
        var ijk = vec3<u32>(0u);
        var p = 0u;
        var q = 1u;
        if (a == 0u) { p = 1u; q = 2u; }
        if (a == 1u) { p = 0u; q = 2u; }
        if (a == 2u) { p = 0u; q = 1u; }
        ijk[p] = local % n_of(p);
        ijk[q] = local / n_of(p);
        if (f % 2u == 1u) { ijk[a] = n_of(a) - 1u; }
        let area = statf(dims.off_face + 3u + p) * weight(p, ijk[p])
            * statf(dims.off_face + 3u + q) * weight(q, ijk[q]);
        let tc = field[base + index_of(ijk)];
        sum += area * (cond[b + 1u] * (cond[b + 2u] - tc) + cond[b + 3u]);
    }
    partial[lid] = sum;
    partial_v[lid] = 0.0;
    reduce(lid);
    if (lid == 0u) {
        aux[member] += partial[0] * dims.dt_sub;
    }
}

// aux[member * n_obs + o] = observable o of the member (relative temperature).
@compute @workgroup_size(256)
fn observe(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let o = wid.x;
    let member = wid.y;
    let lid = lid3.x;
    let base = io.src + member * dims.cells;
    let rec = dims.off_obs + 8u * o;
    if (stat[rec] == 0u) {
        if (lid == 0u) {
            var lo = vec3<u32>(0u);
            var frac = vec3<f32>(0.0);
            for (var a = 0u; a < 3u; a++) {
                let top = n_of(a) - 1u;
                let x = clamp(statf(rec + 1u + a), 0.0, f32(top));
                lo[a] = min(u32(floor(x)), max(top, 1u) - 1u);
                if (top > 0u) { frac[a] = x - f32(lo[a]); }
            }
            var v = 0.0;
            for (var corner = 0u; corner < 8u; corner++) {
                var ijk = lo;
                var w = 1.0;
                for (var a = 0u; a < 3u; a++) {
                    if (((corner >> a) & 1u) == 1u) {
                        ijk[a] = min(lo[a] + 1u, n_of(a) - 1u);
                        w *= frac[a];
                    } else {
                        w *= 1.0 - frac[a];
                    }
                }
                if (w != 0.0) { v += w * field[base + index_of(ijk)]; }
            }
            aux[member * dims.n_obs + o] = v;
        }
        return;
    }
    let lo = vec3<u32>(stat[rec + 1u], stat[rec + 2u], stat[rec + 3u]);
    let hi = vec3<u32>(stat[rec + 4u], stat[rec + 5u], stat[rec + 6u]);
    let ext = hi - lo + vec3<u32>(1u);
    let total = ext.x * ext.y * ext.z;
    var sum = 0.0;
    var vol = 0.0;
    for (var l = lid; l < total; l += WG) {
        let ijk = lo + vec3<u32>(l % ext.x, (l / ext.x) % ext.y, l / (ext.x * ext.y));
        let v = weight(0u, ijk.x) * weight(1u, ijk.y) * weight(2u, ijk.z);
        sum += v * field[base + index_of(ijk)];
        vol += v;
    }
    partial[lid] = sum;
    partial_v[lid] = vol;
    reduce(lid);
    if (lid == 0u) {
        aux[member * dims.n_obs + o] = partial[0] / partial_v[0];
    }
}
