//! One interface for stepping conduction grids, with CPU and GPU implementations, and the
//! choice between them.

use std::sync::Arc;

use super::cpu::CpuStepper;
use super::gpu::{GpuContext, GpuStepper};
use super::grid::Grid;
use crate::error::Result;

/// Steps `members()` copies of one grid together (an ensemble shares the model, each member
/// has its own field and conditions). Fields are `f32` temperatures relative to
/// [`Grid::initial`], in K.
pub trait GridStepper: Send {
    /// Which implementation (and device) runs it.
    fn backend(&self) -> String;
    /// The grid.
    fn grid(&self) -> &Grid;
    /// Number of members.
    fn members(&self) -> usize;
    /// Replaces member `member`'s field.
    fn write_field(&mut self, member: usize, field: &[f32]) -> Result<()>;
    /// Copies member `member`'s field into `out`.
    fn read_field(&mut self, member: usize, out: &mut [f32]) -> Result<()>;
    /// Copies every member's field into `out` (member-major): one transfer where the stepper
    /// lives on a device.
    fn read_fields(&mut self, out: &mut [f32]) -> Result<()> {
        let cells = self.grid().cells();
        for (m, chunk) in out.chunks_mut(cells).enumerate() {
            self.read_field(m, chunk)?;
        }
        Ok(())
    }
    /// Sets member `member`'s conditions: per boundary `[fixed flag, h W/(m²·K), T K relative,
    /// q W/m²]`, then per source its power density in W/m³.
    fn set_conditions(&mut self, member: usize, cond: &[f32]);
    /// Advances every member by `dt` s in explicit sub-steps under the stability limit, and adds
    /// to `inflow[member]` the heat in J that entered through convection and flux faces.
    /// Returns the number of sub-steps.
    fn advance(&mut self, dt: f64, inflow: &mut [f64]) -> Result<usize>;
    /// Writes every member's observables (member-major), in K relative to the initial
    /// temperature.
    fn observe(&mut self, out: &mut [f64]) -> Result<()>;
}

/// Which GPU kernel advances the fields (`GpuStepper::set_kernel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKernel {
    /// `heat_step_interior` (`heat_step_march` for one material without sources) and
    /// `heat_step_shell`: two dispatches per sub-step, one thread per node of every member
    /// (per column of nodes when marching).
    PerSubstep,
    /// `heat_steps_fused`: one dispatch per thermal step, one workgroup per member running all
    /// its sub-steps.
    Fused,
    /// The fused kernel for small grids (up to 8192 nodes), else one dispatch per sub-step.
    Auto,
}

/// Where grids are stepped.
#[derive(Debug, Clone, Default)]
pub enum Backend {
    /// rayon on the CPU (the reference).
    #[default]
    Cpu,
    /// WGSL kernels through wgpu on this device.
    Gpu(Arc<GpuContext>),
}

impl Backend {
    /// A stepper for `members` copies of `grid`.
    pub fn stepper(&self, grid: &Grid, members: usize) -> Result<Box<dyn GridStepper>> {
        Ok(match self {
            Backend::Cpu => Box::new(CpuStepper::new(grid, members)),
            Backend::Gpu(ctx) => Box::new(GpuStepper::new(ctx, grid, members)?),
        })
    }

    /// Short description.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu => "cpu".into(),
            Backend::Gpu(ctx) => format!("gpu: {}", ctx.describe()),
        }
    }
}

/// The environment variable that makes a missing GPU adapter a failure instead of a skip
/// (`.ci/run` sets it to `1`, so that the kernels are tested on lavapipe in CI).
pub const REQUIRE_GPU: &str = "MACHINE_TWIN_REQUIRE_GPU";

/// Whether a missing GPU adapter is a failure here ([`REQUIRE_GPU`] is `1`).
pub fn gpu_required() -> bool {
    std::env::var(REQUIRE_GPU).is_ok_and(|v| v == "1")
}

/// A GPU for a check that needs one (a parity test, a validation case on the GPU): the
/// context when an adapter opens; `None`, with `SKIPPED: <what>: <why>` on stderr, when none
/// does and none is required; the error when one is required ([`gpu_required`]).
pub fn gpu_or_skip(what: &str) -> Result<Option<Arc<GpuContext>>> {
    match GpuContext::new() {
        Ok(ctx) => Ok(Some(ctx)),
        Err(e) if gpu_required() => Err(e),
        Err(e) => {
            eprintln!("SKIPPED: {what}: {e}");
            Ok(None)
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// The CPU.
    Cpu,
    /// A GPU (an error when none opens).
    Gpu,
    /// A hardware GPU when one is present and the work is large enough, else the CPU.
    Auto,
}

/// Node updates per thermal step (summed over grids) below which `auto` keeps the CPU: a GPU
/// dispatch and read-back cost tens of microseconds, which a small grid does not repay.
pub const AUTO_GPU_MIN_WORK: usize = 1 << 20;

/// Resolves `choice` for work of `node_updates` node updates per thermal step. Returns the
/// backend and, for the record, why it was taken.
pub fn choose(choice: BackendChoice, node_updates: usize) -> Result<(Backend, String)> {
    match choice {
        BackendChoice::Cpu => Ok((Backend::Cpu, "cpu: requested".into())),
        BackendChoice::Gpu => {
            let ctx = GpuContext::new()?;
            let why = format!("gpu: requested; adapter {}", ctx.describe());
            Ok((Backend::Gpu(ctx), why))
        }
        BackendChoice::Auto => {
            if node_updates == 0 {
                return Ok((Backend::Cpu, "cpu: the model has no conduction grid".into()));
            }
            // Below the threshold no GPU repays its transfers: decide without opening one
            // (opening an adapter costs 60-300 ms and wakes the GPU drivers).
            if node_updates < AUTO_GPU_MIN_WORK {
                return Ok((
                    Backend::Cpu,
                    format!(
                        "cpu: {node_updates} node updates per thermal step are too few to repay GPU transfers (threshold {AUTO_GPU_MIN_WORK})"
                    ),
                ));
            }
            match GpuContext::new() {
                Err(e) => Ok((Backend::Cpu, format!("cpu: {e}"))),
                Ok(ctx) if ctx.is_software() => Ok((
                    Backend::Cpu,
                    format!(
                        "cpu: the only adapter, {}, is a software renderer (slower than the CPU path)",
                        ctx.describe()
                    ),
                )),
                Ok(ctx) => {
                    let why = format!(
                        "gpu: {} with {node_updates} node updates per thermal step",
                        ctx.describe()
                    );
                    Ok((Backend::Gpu(ctx), why))
                }
            }
        }
    }
}
