//! The GPU path in a build without the `gpu` feature: the same names, and no adapter ever
//! opens ([`GpuContext::new`] says why), so every caller takes its CPU or skip branch. The
//! types are uninhabited: nothing here can be reached at run time.

use std::sync::Arc;

use super::grid::Grid;
use super::stepper::GridStepper;
pub use super::stepper::StepKernel;
use crate::error::{Error, Result};

/// Why no GPU opens in this build.
const ABSENT: &str =
    "this build of machine-twin has no GPU support (its `gpu` cargo feature is off)";

/// No GPU device: a build without the `gpu` feature cannot open one.
#[derive(Debug)]
pub enum GpuContext {}

impl GpuContext {
    /// Always the error that says this build has no GPU support.
    pub fn new() -> Result<Arc<Self>> {
        Err(Error::Gpu(ABSENT.into()))
    }

    /// Always the error that says this build has no GPU support.
    pub fn open(_bounds_checks: bool) -> Result<Arc<Self>> {
        Err(Error::Gpu(ABSENT.into()))
    }

    /// Threads per fused workgroup (unreachable: there is no adapter).
    pub fn fused_threads(&self) -> u32 {
        match *self {}
    }

    /// Whether the adapter is a software renderer (unreachable: there is no adapter).
    pub fn is_software(&self) -> bool {
        match *self {}
    }

    /// The adapter's name and driver (unreachable: there is no adapter).
    pub fn describe(&self) -> String {
        match *self {}
    }
}

/// No GPU stepper: a build without the `gpu` feature cannot make one.
pub enum GpuStepper {}

impl GpuStepper {
    /// Always the error that says this build has no GPU support.
    pub fn new(_ctx: &Arc<GpuContext>, _grid: &Grid, _members: usize) -> Result<Self> {
        Err(Error::Gpu(ABSENT.into()))
    }

    /// Chooses the kernel (unreachable: there is no stepper).
    pub fn set_kernel(&mut self, _kernel: StepKernel) {
        match *self {}
    }

    /// The kernel in use (unreachable: there is no stepper).
    pub fn kernel(&self) -> StepKernel {
        match *self {}
    }

    /// Runs the copy kernel (unreachable: there is no stepper).
    pub fn copy_fields(&mut self, _reps: usize) -> Result<()> {
        match *self {}
    }
}

impl GridStepper for GpuStepper {
    fn backend(&self) -> String {
        match *self {}
    }
    fn grid(&self) -> &Grid {
        match *self {}
    }
    fn members(&self) -> usize {
        match *self {}
    }
    fn write_field(&mut self, _: usize, _: &[f32]) -> Result<()> {
        match *self {}
    }
    fn read_field(&mut self, _: usize, _: &mut [f32]) -> Result<()> {
        match *self {}
    }
    fn set_conditions(&mut self, _: usize, _: &[f32]) {
        match *self {}
    }
    fn advance(&mut self, _: f64, _: &mut [f64]) -> Result<usize> {
        match *self {}
    }
    fn observe(&mut self, _: &mut [f64]) -> Result<()> {
        match *self {}
    }
}
