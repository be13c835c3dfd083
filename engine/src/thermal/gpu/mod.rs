//! The GPU grid stepper: the WGSL kernels ([`super::kernels`]) run through wgpu, all members of
//! an ensemble in one dispatch per sub-step. [`GpuContext`] (this file) opens the device and
//! compiles the kernels once; [`GpuStepper`] (`stepper.rs`) holds one grid's buffers and
//! dispatches them.

mod stepper;

pub use super::stepper::StepKernel;
pub use stepper::GpuStepper;

use std::sync::Arc;

use super::kernels::SHADER;
use crate::error::{Error, Result};

/// A wgpu device and queue, created once and shared by every GPU stepper.
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    layout: wgpu::BindGroupLayout,
    /// The `heat_step_interior` and `heat_step_shell` kernels.
    step_interior: wgpu::ComputePipeline,
    step_shell: wgpu::ComputePipeline,
    step_march: wgpu::ComputePipeline,
    /// The `heat_steps_fused` kernel.
    fused: wgpu::ComputePipeline,
    /// The `copy_field` kernel.
    copy: wgpu::ComputePipeline,
    /// Rows of 32 threads in a `heat_steps_fused` workgroup.
    fused_rows: u32,
    /// The `boundary_inflow` reduction.
    inflow: wgpu::ComputePipeline,
    /// The `observe` reduction.
    observe: wgpu::ComputePipeline,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuContext({})", self.describe())
    }
}

impl GpuContext {
    /// Opens the highest-performance adapter wgpu finds (any backend) and compiles the kernels.
    /// Fails with a readable message when there is none.
    pub fn new() -> Result<Arc<Self>> {
        Self::open(true)
    }

    /// [`GpuContext::new`], with the kernels' run-time bounds checks on (`true`, the default)
    /// or off (benches measure what the checks cost; the kernels index within the buffers the
    /// host sized from the same grid, and the parity tests run every path with checks on).
    pub fn open(bounds_checks: bool) -> Result<Arc<Self>> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        }))
        .map_err(|e| Error::Gpu(format!("no GPU adapter: {e}")))?;
        Self::on_adapter(&adapter, bounds_checks)
    }

    /// Opens a device on `adapter` and compiles the kernels (for callers that pick the adapter).
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Arc<Self>> {
        Self::on_adapter(adapter, true)
    }

    fn on_adapter(adapter: &wgpu::Adapter, bounds_checks: bool) -> Result<Arc<Self>> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("machine-twin"),
            required_features: wgpu::Features::empty(),
            required_limits: wgpu::Limits {
                max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
                max_buffer_size: limits.max_buffer_size,
                max_compute_invocations_per_workgroup:
                    limits.max_compute_invocations_per_workgroup.min(1024),
                max_compute_workgroup_size_y: limits.max_compute_workgroup_size_y.min(32),
                ..wgpu::Limits::default()
            },
            ..Default::default()
        }))
        .map_err(|e| Error::Gpu(format!("cannot open a device on {}: {e}", info.name)))?;
        let descriptor = wgpu::ShaderModuleDescriptor {
            label: Some("grid kernels"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        };
        let module = if bounds_checks {
            device.create_shader_module(descriptor)
        } else {
            // SAFETY: every index the kernels form lies inside the buffers that GpuStepper
            // sized from the same grid and member count (the dimensions block is built from
            // them), and every loop is bounded by those dimensions.
            unsafe {
                device.create_shader_module_trusted(
                    descriptor,
                    wgpu::ShaderRuntimeChecks::unchecked(),
                )
            }
        };
        let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let storage = |read_only| wgpu::BufferBindingType::Storage { read_only };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("grid"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, storage(true)),
                entry(2, storage(true)),
                entry(3, storage(false)),
                entry(4, storage(false)),
                entry(5, wgpu::BufferBindingType::Uniform),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("grid"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        // The fused kernel's rows of 32 threads: the most the device allows, up to 32.
        let fused_rows = (limits.max_compute_invocations_per_workgroup.min(1024) / 32)
            .min(limits.max_compute_workgroup_size_y)
            .clamp(1, 32);
        let constants = [("FUSED_ROWS", fused_rows as f64)];
        let pipeline = |name, constants: &[(&str, f64)]| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(name),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    ..Default::default()
                },
                cache: None,
            })
        };
        Ok(Arc::new(Self {
            step_interior: pipeline("heat_step_interior", &[]),
            step_shell: pipeline("heat_step_shell", &[]),
            step_march: pipeline("heat_step_march", &[]),
            fused: pipeline("heat_steps_fused", &constants),
            copy: pipeline("copy_field", &[]),
            inflow: pipeline("boundary_inflow", &[]),
            observe: pipeline("observe", &[]),
            fused_rows,
            layout,
            device,
            queue,
            info,
        }))
    }

    /// Threads in one workgroup of the fused kernel (one member's whole thermal step).
    pub fn fused_threads(&self) -> u32 {
        32 * self.fused_rows
    }

    /// The adapter's description.
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// Whether the adapter is a software rasteriser (lavapipe, llvmpipe, WARP).
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// "NAME (backend, device type)".
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// Records one compute pass with `record` (after clearing `clear`, where given) and
    /// submits it.
    pub(super) fn submit_pass(
        &self,
        clear: Option<&wgpu::Buffer>,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) {
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        if let Some(buffer) = clear {
            enc.clear_buffer(buffer, 0, None);
        }
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            record(&mut pass);
        }
        self.queue.submit([enc.finish()]);
    }

    pub(super) fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("device poll failed: {e}")))
    }

    /// Copies `out.len()` floats of `src` from byte `offset` back into `out`, through
    /// `staging` (a mappable buffer at least that large, reused across calls).
    pub(super) fn read_back(
        &self,
        src: &wgpu::Buffer,
        offset: u64,
        staging: &wgpu::Buffer,
        out: &mut [f32],
    ) -> Result<()> {
        let size = (out.len() * 4) as u64;
        if size == 0 {
            return Ok(());
        }
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        enc.copy_buffer_to_buffer(src, offset, staging, 0, size);
        self.queue.submit([enc.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..size, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|e| Error::Gpu(format!("read-back lost: {e}")))?
            .map_err(|e| Error::Gpu(format!("read-back failed: {e}")))?;
        {
            let view = staging
                .get_mapped_range(0..size)
                .map_err(|e| Error::Gpu(format!("read-back map failed: {e}")))?;
            out.copy_from_slice(bytemuck::cast_slice(&view));
        }
        staging.unmap();
        Ok(())
    }
}
