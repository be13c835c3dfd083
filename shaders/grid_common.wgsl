// Shared declarations of the conduction-grid kernels (see engine/src/thermal/grid.rs for the
// scheme and engine/src/thermal/gpu.rs for the buffer layouts). Concatenated in front of
// heat_step.wgsl and grid_reduce.wgsl into one shader module.
//
// Fields are f32 temperatures relative to the grid's initial temperature, member-major within
// each of the two halves of `field`: field[half + member * cells + (k * ny + j) * nx + i]. A
// dispatch reads the half at `io.src` and writes the half at `io.dst` (ping-pong); the fused
// kernel alternates between them itself.

struct Dims {
    nx: u32, ny: u32, nz: u32, cells: u32,
    members: u32, nm: u32, n_bc: u32, n_src: u32,
    cond_len: u32, off_coef: u32, off_cap: u32, off_face: u32,
    off_src: u32, off_mat: u32, off_obs: u32, n_obs: u32,
    face0: u32, face1: u32, face2: u32, face3: u32,
    face4: u32, face5: u32, face_total: u32, row_threads: u32,
    dt_sub: f32, n_sub: u32, groups_y: u32, off_shell: u32,
    n_shell: u32, _pad0: u32, _pad1: u32, _pad2: u32,
};

// Word offsets of the two halves of `field`: read `src`, write `dst`.
struct Io {
    src: u32, dst: u32, _pad0: u32, _pad1: u32,
};

@group(0) @binding(0) var<uniform> dims: Dims;
// Model constants: coefficient tables (f32 bits), source boxes, packed material ids, face
// boundary ids, observables.
@group(0) @binding(1) var<storage, read> stat: array<u32>;
// Per-member conditions: boundary table [fixed, h, T, q] per condition, then source densities.
@group(0) @binding(2) var<storage, read> cond: array<f32>;
// Both halves of every member's field.
@group(0) @binding(3) var<storage, read_write> field: array<f32>;
// Per-member outputs of the reductions (boundary inflow, or observables).
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
@group(0) @binding(5) var<uniform> io: Io;

fn statf(i: u32) -> f32 {
    return bitcast<f32>(stat[i]);
}

fn n_of(a: u32) -> u32 {
    if (a == 0u) { return dims.nx; }
    if (a == 1u) { return dims.ny; }
    return dims.nz;
}

fn material(c: u32) -> u32 {
    if (dims.nm <= 1u) { return 0u; }
    let word = stat[dims.off_mat + (c >> 2u)];
    return (word >> ((c & 3u) * 8u)) & 0xffu;
}

fn face_start(f: u32) -> u32 {
    switch f {
        case 0u: { return dims.face0; }
        case 1u: { return dims.face1; }
        case 2u: { return dims.face2; }
        case 3u: { return dims.face3; }
        case 4u: { return dims.face4; }
        default: { return dims.face5; }
    }
}

// Control-volume weight along axis a of node index i.
fn weight(a: u32, i: u32) -> f32 {
    let n = n_of(a);
    if (n > 1u && (i == 0u || i == n - 1u)) { return 0.5; }
    return 1.0;
}

// Local index of node (i, j, k) on a face normal to axis a.
fn face_local(a: u32, ijk: vec3<u32>) -> u32 {
    if (a == 0u) { return ijk.y + dims.ny * ijk.z; }
    if (a == 1u) { return ijk.x + dims.nx * ijk.z; }
    return ijk.x + dims.nx * ijk.y;
}

fn ijk_of(c: u32) -> vec3<u32> {
    return vec3<u32>(c % dims.nx, (c / dims.nx) % dims.ny, c / (dims.nx * dims.ny));
}

fn index_of(ijk: vec3<u32>) -> u32 {
    return (ijk.z * dims.ny + ijk.y) * dims.nx + ijk.x;
}
