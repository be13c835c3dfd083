//! One grid's GPU buffers, and the dispatches of the kernels over all its members.
//!
//! Buffers: a uniform block of dimensions and offsets ([`Dims`]); one read-only `u32` buffer of
//! model constants (coefficient tables as f32 bits, source boxes, packed material ids, face
//! boundary ids, observables); the members' condition tables; one field buffer of two halves
//! used ping-pong (a small uniform per direction says which half a dispatch reads); and small
//! output buffers for the boundary inflow and the observables. Nothing is allocated while
//! stepping except command buffers.
//!
//! The members' fields stay on the device between thermal steps: only the boundary inflow and
//! the observables come back each step, whole fields only when asked for
//! ([`GridStepper::read_fields`]).

use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::GpuContext;
use crate::error::{Error, Result};
use crate::thermal::grid::{Grid, Observable};
use crate::thermal::stepper::{GridStepper, StepKernel};

const WORKGROUP: u32 = 256;
/// Sub-steps encoded per submission.
const SUBSTEPS_PER_SUBMIT: usize = 512;
/// `heat_step_interior`'s workgroup: 32 nodes along x by 8 along y.
const TILE: [u32; 2] = [32, 8];
/// [`StepKernel::Auto`] takes the fused kernel for grids up to this many nodes, where a launch
/// per sub-step costs more than the sub-step. (For 256 members of 32³ one dispatch per
/// sub-step ran twice as fast as the fused kernel on an H200: 1024 threads per member do not
/// fill the device.)
const FUSED_MAX_CELLS: usize = 1 << 13;
/// Most nodes along one axis (face nodes are listed as packed 10-bit indices).
const MAX_AXIS_NODES: usize = 1024;
/// Field halves start on this many words (the storage-offset alignment, 256 bytes).
const HALF_ALIGN: usize = 64;

/// The uniform that says which half of the field buffer a dispatch reads and which it
/// writes; mirrors `struct Io` in `shaders/grid_common.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct Io {
    src: u32,
    dst: u32,
    pad: [u32; 2],
}

/// The uniform block; mirrors `struct Dims` in `shaders/grid_common.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct Dims {
    n: [u32; 3],
    cells: u32,
    members: u32,
    nm: u32,
    n_bc: u32,
    n_src: u32,
    cond_len: u32,
    off_coef: u32,
    off_cap: u32,
    off_face: u32,
    off_src: u32,
    off_mat: u32,
    off_obs: u32,
    n_obs: u32,
    face: [u32; 6],
    face_total: u32,
    row_threads: u32,
    dt_sub: f32,
    n_sub: u32,
    groups_y: u32,
    off_shell: u32,
    n_shell: u32,
    pad: [u32; 3],
}

/// Steps the grids of `members` instances of one [`Grid`] on a GPU.
pub struct GpuStepper {
    ctx: Arc<GpuContext>,
    grid: Grid,
    members: usize,
    dims: Dims,
    static_words: Vec<u32>,
    uniform: wgpu::Buffer,
    stat: wgpu::Buffer,
    cond: wgpu::Buffer,
    cond_host: Vec<f32>,
    cond_dirty: bool,
    /// Both halves of every member's field; `half` words from one half to the other.
    field: wgpu::Buffer,
    half: usize,
    inflow: wgpu::Buffer,
    obs: wgpu::Buffer,
    /// Mappable buffer for read-backs, and host space for the small ones.
    staging: wgpu::Buffer,
    host: Vec<f32>,
    /// Bind groups: step reading half 0 / half 1; observe reading half 0 / half 1.
    step_groups: [wgpu::BindGroup; 2],
    observe_groups: [wgpu::BindGroup; 2],
    /// Which half holds the current temperatures.
    current: usize,
    /// Sub-step length the coefficient tables were built for.
    tables_dt: f64,
    /// The interior kernel, where the grid has interior nodes: whether it marches along z
    /// (`heat_step_march`: one material, no heat source) or not (`heat_step_interior`), and
    /// its workgroups (x, y, z).
    interior: Option<(bool, [u32; 3])>,
    /// Workgroups of `heat_step_shell` (x, y) and of `copy_field` (x, y).
    shell_dispatch: [u32; 2],
    flat_dispatch: (u32, u32),
    kernel: StepKernel,
}

impl GpuStepper {
    /// A stepper for `members` copies of `grid` on `ctx`, at the initial temperature, with zero
    /// conditions.
    pub fn new(ctx: &Arc<GpuContext>, grid: &Grid, members: usize) -> Result<Self> {
        let d = &ctx.device;
        let cells = grid.cells();
        let total = cells * members;
        let half = total.div_ceil(HALF_ALIGN).max(1) * HALF_ALIGN;
        let field_bytes = (2 * half * 4) as u64;
        let max = ctx
            .device
            .limits()
            .max_storage_buffer_binding_size
            .min(ctx.device.limits().max_buffer_size);
        if field_bytes > max {
            return Err(Error::Gpu(format!(
                "{members} members of grid `{}` need {field_bytes} bytes for their two fields; the device allows {max}",
                grid.name
            )));
        }
        let (static_words, mut dims) = static_layout(grid, members);
        // copy_field: one thread per four words.
        let groups = total.div_ceil(4 * WORKGROUP as usize) as u32;
        let gx = groups.min(32768);
        let gy = groups.div_ceil(gx);
        dims.row_threads = gx * WORKGROUP;
        // The interior kernels cover nodes 1..n-1 of each axis; none where an axis has < 3.
        // heat_step_interior spreads y and z over the dispatch's y; heat_step_march walks z.
        let inner = grid.n.map(|n| n.saturating_sub(2));
        dims.groups_y = inner[1].div_ceil(TILE[1] as usize) as u32;
        let march = grid.materials.len() == 1 && grid.sources.is_empty();
        let rows_y = if march { 1 } else { inner[2] as u32 };
        let step_dispatch = [
            inner[0].div_ceil(TILE[0] as usize) as u32,
            dims.groups_y * rows_y,
            members as u32,
        ];
        let interior = (inner.iter().all(|&n| n > 0)).then_some((march, step_dispatch));
        let shell_dispatch = [dims.n_shell.div_ceil(WORKGROUP), members as u32];
        if grid.n.iter().any(|&n| n > MAX_AXIS_NODES) {
            return Err(Error::Gpu(format!(
                "grid `{}` has {:?} nodes; the GPU kernels take at most {MAX_AXIS_NODES} per axis",
                grid.name, grid.n
            )));
        }
        let max_groups = ctx.device.limits().max_compute_workgroups_per_dimension;
        if step_dispatch
            .iter()
            .chain(&shell_dispatch)
            .any(|&g| g > max_groups)
        {
            return Err(Error::Gpu(format!(
                "grid `{}` of {:?} nodes with {members} members needs {step_dispatch:?} workgroups; the device allows {max_groups} per dimension",
                grid.name, grid.n
            )));
        }
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let uniform = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("dims"),
            contents: bytemuck::bytes_of(&dims),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let stat = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("constants"),
            contents: bytemuck::cast_slice(&static_words),
            usage: storage,
        });
        let cond_host = vec![0.0f32; (grid.condition_len() * members).max(1)];
        let cond = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("conditions"),
            contents: bytemuck::cast_slice(&cond_host),
            usage: storage,
        });
        // Zero-initialised: the initial temperature.
        let field = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fields"),
            size: field_bytes,
            usage: storage | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let io = |src: usize, dst: usize| {
            let io = Io {
                src: src as u32,
                dst: dst as u32,
                pad: [0; 2],
            };
            d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("io"),
                contents: bytemuck::bytes_of(&io),
                usage: wgpu::BufferUsages::UNIFORM,
            })
        };
        let io = [io(0, half), io(half, 0)];
        let small = |label, n: usize| {
            d.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (n.max(1) * 4) as u64,
                usage: storage | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        };
        let inflow = small("inflow", members);
        let obs = small("observables", members * grid.observables.len());
        let small_len = members.max(members * grid.observables.len());
        let staging = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read back"),
            size: (4 * total.max(small_len).max(1)) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let group = |io: &wgpu::Buffer, aux: &wgpu::Buffer| {
            let entries: Vec<wgpu::BindGroupEntry> = [&uniform, &stat, &cond, &field, aux, io]
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &ctx.layout,
                entries: &entries,
            })
        };
        let step_groups = [group(&io[0], &inflow), group(&io[1], &inflow)];
        let observe_groups = [group(&io[0], &obs), group(&io[1], &obs)];
        Ok(Self {
            ctx: Arc::clone(ctx),
            grid: grid.clone(),
            members,
            dims,
            static_words,
            uniform,
            stat,
            cond,
            cond_host,
            cond_dirty: false,
            field,
            half,
            inflow,
            obs,
            staging,
            host: vec![0.0; small_len],
            step_groups,
            observe_groups,
            current: 0,
            tables_dt: f64::NAN,
            interior,
            shell_dispatch,
            flat_dispatch: (gx, gy),
            kernel: StepKernel::Auto,
        })
    }

    /// Chooses the kernel that advances the fields (the default, [`StepKernel::Auto`], picks
    /// by grid size and member count).
    pub fn set_kernel(&mut self, kernel: StepKernel) {
        self.kernel = kernel;
    }

    /// The kernel [`GridStepper::advance`] runs.
    pub fn kernel(&self) -> StepKernel {
        match self.kernel {
            StepKernel::Auto => {
                if self.grid.cells() <= FUSED_MAX_CELLS {
                    StepKernel::Fused
                } else {
                    StepKernel::PerSubstep
                }
            }
            k => k,
        }
    }

    /// Runs `copy_field` `reps` times (each moves every member's current field to the other
    /// half, which then becomes current) and waits: the memory-bandwidth reference of the
    /// benches, at 8 bytes per node moved. Fields are unchanged.
    pub fn copy_fields(&mut self, reps: usize) -> Result<()> {
        let (groups, current, dispatch) =
            (&self.step_groups, &mut self.current, self.flat_dispatch);
        self.ctx.submit_pass(None, |pass| {
            pass.set_pipeline(&self.ctx.copy);
            for _ in 0..reps {
                pass.set_bind_group(0, &groups[*current], &[]);
                pass.dispatch_workgroups(dispatch.0, dispatch.1, 1);
                *current = 1 - *current;
            }
        });
        self.ctx.wait()
    }

    /// Rebuilds the coefficient tables for `n` sub-steps of `dt` and uploads them.
    fn set_substep(&mut self, n: usize, dt: f64) {
        if n as u32 != self.dims.n_sub {
            self.dims.n_sub = n as u32;
            self.ctx
                .queue
                .write_buffer(&self.uniform, 0, bytemuck::bytes_of(&self.dims));
        }
        if dt == self.tables_dt {
            return;
        }
        let t = self.grid.tables(dt);
        let words = &mut self.static_words;
        let at = |o: u32| o as usize;
        for (i, v) in t.coef.iter().enumerate() {
            words[at(self.dims.off_coef) + i] = v.to_bits();
        }
        for (i, v) in t.cap.iter().enumerate() {
            words[at(self.dims.off_cap) + i] = v.to_bits();
        }
        for (i, v) in t.face.iter().enumerate() {
            words[at(self.dims.off_face) + i] = v.to_bits();
        }
        let end = at(self.dims.off_face) + 6;
        self.ctx.queue.write_buffer(
            &self.stat,
            0,
            bytemuck::cast_slice(&self.static_words[..end]),
        );
        self.dims.dt_sub = dt as f32;
        self.ctx
            .queue
            .write_buffer(&self.uniform, 0, bytemuck::bytes_of(&self.dims));
        self.tables_dt = dt;
    }

    /// Encodes and submits `n` sub-steps with the interior kernel (where the grid has
    /// interior nodes) and `heat_step_shell`, and, where the grid has exchanging boundaries,
    /// the `boundary_inflow` reduction before each.
    fn encode_per_substep(&mut self, flows: bool, n: usize) {
        let ctx = &self.ctx;
        let interior = self.interior.map(|(march, groups)| {
            let pipeline = if march {
                &ctx.step_march
            } else {
                &ctx.step_interior
            };
            (pipeline, groups)
        });
        let [sx, sy] = self.shell_dispatch;
        let (groups, current, members) = (&self.step_groups, &mut self.current, self.members);
        let mut left = n;
        while left > 0 {
            let batch = left.min(SUBSTEPS_PER_SUBMIT);
            let clear = (flows && left == n).then_some(&self.inflow);
            ctx.submit_pass(clear, |pass| {
                for _ in 0..batch {
                    pass.set_bind_group(0, &groups[*current], &[]);
                    if flows {
                        pass.set_pipeline(&ctx.inflow);
                        pass.dispatch_workgroups(members as u32, 1, 1);
                    }
                    if let Some((pipeline, [gx, gy, gz])) = interior {
                        pass.set_pipeline(pipeline);
                        pass.dispatch_workgroups(gx, gy, gz);
                    }
                    pass.set_pipeline(&ctx.step_shell);
                    pass.dispatch_workgroups(sx, sy, 1);
                    *current = 1 - *current;
                }
            });
            left -= batch;
        }
    }

    /// Encodes and submits all `n` sub-steps as one `heat_steps_fused` dispatch.
    fn encode_fused(&mut self, flows: bool, n: usize) {
        let clear = flows.then_some(&self.inflow);
        self.ctx.submit_pass(clear, |pass| {
            pass.set_pipeline(&self.ctx.fused);
            pass.set_bind_group(0, &self.step_groups[self.current], &[]);
            pass.dispatch_workgroups(self.members as u32, 1, 1);
        });
        self.current = (self.current + n) % 2;
    }

    /// Byte offset of member `member`'s current field.
    fn field_offset(&self, member: usize) -> u64 {
        ((self.current * self.half + member * self.grid.cells()) * 4) as u64
    }
}

/// Lays out the model constants of `grid` and the matching dimensions block.
fn static_layout(grid: &Grid, members: usize) -> (Vec<u32>, Dims) {
    let nm = grid.materials.len();
    let mut w: Vec<u32> = Vec::new();
    let off_coef = w.len() as u32;
    w.resize(w.len() + 3 * nm * nm, 0);
    let off_cap = w.len() as u32;
    w.resize(w.len() + nm, 0);
    let off_face = w.len() as u32;
    w.resize(w.len() + 3, 0);
    w.extend(grid.h.iter().map(|h| (*h as f32).to_bits()));
    let off_src = w.len() as u32;
    for (b, _) in &grid.sources {
        w.extend(b.lo.iter().chain(&b.hi).map(|&x| x as u32));
    }
    let off_mat = w.len() as u32;
    if nm > 1 {
        for chunk in grid.material_of.chunks(4) {
            let mut word = 0u32;
            for (i, &m) in chunk.iter().enumerate() {
                word |= (m as u32) << (8 * i);
            }
            w.push(word);
        }
    }
    let mut face = [0u32; 6];
    let face_start = w.len();
    for (f, slot) in face.iter_mut().enumerate() {
        *slot = (face_start + grid.face_offset[f]) as u32;
    }
    w.extend(&grid.face_bc);
    // The face nodes, for heat_step_shell (heat_step_interior takes the others), as packed
    // indices i | j << 10 | k << 20.
    let off_shell = w.len() as u32;
    let [nx, ny, nz] = grid.n;
    for c in 0..grid.cells() {
        let [i, j, k] = grid.ijk(c);
        if i == 0 || j == 0 || k == 0 || i + 1 == nx || j + 1 == ny || k + 1 == nz {
            w.push((i | (j << 10) | (k << 20)) as u32);
        }
    }
    let n_shell = w.len() as u32 - off_shell;
    let off_obs = w.len() as u32;
    for o in &grid.observables {
        let mut rec = [0u32; 8];
        match o {
            Observable::Probe(x) => {
                for a in 0..3 {
                    rec[1 + a] = (x[a] as f32).to_bits();
                }
            }
            Observable::Mean(b) => {
                rec[0] = 1;
                for a in 0..3 {
                    rec[1 + a] = b.lo[a] as u32;
                    rec[4 + a] = b.hi[a] as u32;
                }
            }
        }
        w.extend(rec);
    }
    if w.is_empty() {
        w.push(0);
    }
    let dims = Dims {
        n: grid.n.map(|x| x as u32),
        cells: grid.cells() as u32,
        members: members as u32,
        nm: nm as u32,
        n_bc: grid.boundaries.len() as u32,
        n_src: grid.sources.len() as u32,
        cond_len: grid.condition_len() as u32,
        off_coef,
        off_cap,
        off_face,
        off_src,
        off_mat,
        off_obs,
        n_obs: grid.observables.len() as u32,
        face,
        face_total: grid.face_offset[6] as u32,
        row_threads: 0,
        dt_sub: 0.0,
        n_sub: 0,
        groups_y: 0,
        off_shell,
        n_shell,
        pad: [0; 3],
    };
    (w, dims)
}

impl GridStepper for GpuStepper {
    fn backend(&self) -> String {
        format!("gpu: {}", self.ctx.describe())
    }

    fn grid(&self) -> &Grid {
        &self.grid
    }

    fn members(&self) -> usize {
        self.members
    }

    fn write_field(&mut self, member: usize, field: &[f32]) -> Result<()> {
        let offset = self.field_offset(member);
        self.ctx
            .queue
            .write_buffer(&self.field, offset, bytemuck::cast_slice(field));
        Ok(())
    }

    fn read_field(&mut self, member: usize, out: &mut [f32]) -> Result<()> {
        let offset = self.field_offset(member);
        self.ctx.read_back(&self.field, offset, &self.staging, out)
    }

    fn read_fields(&mut self, out: &mut [f32]) -> Result<()> {
        let offset = self.field_offset(0);
        self.ctx.read_back(&self.field, offset, &self.staging, out)
    }

    fn set_conditions(&mut self, member: usize, cond: &[f32]) {
        let n = self.grid.condition_len();
        self.cond_host[member * n..(member + 1) * n].copy_from_slice(cond);
        self.cond_dirty = true;
    }

    fn advance(&mut self, dt: f64, inflow: &mut [f64]) -> Result<usize> {
        let (n, dt_sub) = self.grid.substeps(dt, &self.cond_host);
        self.set_substep(n, dt_sub);
        if self.cond_dirty {
            self.ctx
                .queue
                .write_buffer(&self.cond, 0, bytemuck::cast_slice(&self.cond_host));
            self.cond_dirty = false;
        }
        let flows = !self.grid.boundaries.is_empty();
        match self.kernel() {
            StepKernel::Fused => self.encode_fused(flows, n),
            _ => self.encode_per_substep(flows, n),
        }
        if flows {
            let per_member = &mut self.host[..self.members];
            self.ctx
                .read_back(&self.inflow, 0, &self.staging, per_member)?;
            for (acc, v) in inflow.iter_mut().zip(per_member.iter()) {
                *acc += *v as f64;
            }
        } else {
            self.ctx.wait()?;
        }
        Ok(n)
    }

    fn observe(&mut self, out: &mut [f64]) -> Result<()> {
        let n_obs = self.grid.observables.len();
        if n_obs == 0 {
            return Ok(());
        }
        self.ctx.submit_pass(None, |pass| {
            pass.set_pipeline(&self.ctx.observe);
            pass.set_bind_group(0, &self.observe_groups[self.current], &[]);
            pass.dispatch_workgroups(n_obs as u32, self.members as u32, 1);
        });
        let values = &mut self.host[..self.members * n_obs];
        self.ctx.read_back(&self.obs, 0, &self.staging, values)?;
        for (o, v) in out.iter_mut().zip(values.iter()) {
            *o = *v as f64;
        }
        Ok(())
    }
}
