//! Running a twin over a time span: model inputs from a data file, sensor traces out, and a
//! report with the real-time factor.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::data::InputSeries;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::thermal::Backend;
use crate::twin::{Rules, Twin};

/// The most mechanical steps one simulation takes (about a day of stepping at a million steps
/// a second): a longer duration is refused up front rather than left to run on for days.
pub const MAX_STEPS: f64 = 1e11;

/// What to simulate.
#[derive(Debug, Clone, Default)]
pub struct SimulateOptions {
    /// Simulated duration in s (default: to the end of the inputs, else 10 s); at most
    /// [`MAX_STEPS`] mechanical steps.
    pub duration: Option<f64>,
    /// Model inputs over time.
    pub inputs: Option<InputSeries>,
    /// Overrides of model values by parameter path, applied before the run.
    pub sets: Vec<(String, f64)>,
    /// Seed of the sensor noise.
    pub seed: u64,
    /// Where the thermal grids run.
    pub backend: Backend,
    /// Integrate every mechanical step even where the model enables `[solver.quasi_steady]`
    /// (whose sub-stepped intervals sample the sensors once per thermal interval).
    pub exact: bool,
}

/// Summary of one sensor's trace.
#[derive(Debug, Clone, Serialize)]
pub struct SensorSummary {
    /// Sensor name.
    pub name: String,
    /// Unit of its readings.
    pub unit: String,
    /// Number of samples.
    pub samples: u64,
    /// Mean of the samples.
    pub mean: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Last sample.
    pub last: f64,
}

/// The report of a simulation run.
#[derive(Debug, Clone, Serialize)]
pub struct SimulationReport {
    /// Model name.
    pub model: String,
    /// Simulated time in s.
    pub sim_seconds: f64,
    /// Wall-clock time of the stepping loop in s (trace writing included).
    pub wall_seconds: f64,
    /// Mechanical steps integrated (fewer than `sim_seconds / dt_mech` where quasi-steady
    /// stepping sub-stepped).
    pub steps: u64,
    /// Share of the simulated time advanced by quasi-steady sub-stepping (0 to 1).
    pub quasi_steady_share: f64,
    /// Simulated seconds per wall second.
    pub real_time_factor: f64,
    /// Mechanical steps integrated per wall second.
    pub steps_per_second: f64,
    /// Mechanical time step in s.
    pub dt_mech: f64,
    /// Seed of the sensor noise.
    pub seed: u64,
    /// Trace rows produced.
    pub rows: u64,
    /// Values of the declared parameters and of every value set on top of the model file
    /// ([`SimulateOptions::sets`]), by path, as the run used them.
    pub parameters: indexmap::IndexMap<String, f64>,
    /// Per-sensor summaries.
    pub sensors: Vec<SensorSummary>,
    /// The thermal part's figures (absent when the model has none).
    pub thermal: Option<ThermalSummary>,
    /// Per wear element: its quantity at the end (depth m, consumed L10 fraction, VB m).
    #[serde(skip_serializing_if = "indexmap::IndexMap::is_empty")]
    pub wear: indexmap::IndexMap<String, f64>,
    /// Per stress section: Miner damage at the end.
    #[serde(skip_serializing_if = "indexmap::IndexMap::is_empty")]
    pub damage: indexmap::IndexMap<String, f64>,
    /// The twin's state at the end (for `twin simulate --final-state`, a start for
    /// `twin predict --state`); not part of the JSON report.
    #[serde(skip)]
    pub final_state: Option<FinalState>,
}

/// A run's final twin state (its `Debug` shows only the time).
#[derive(Clone)]
pub struct FinalState(pub crate::twin::State);

impl std::fmt::Debug for FinalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "State at t = {} s", self.0.time)
    }
}

/// Thermal figures of a run.
#[derive(Debug, Clone, Serialize)]
pub struct ThermalSummary {
    /// Where the grids ran (`cpu` or `gpu: ADAPTER`; `none` without grids).
    pub backend: String,
    /// Thermal step in s.
    pub dt_thermal: f64,
    /// Grid node updates (nodes × sub-steps), summed over grids.
    pub grid_node_updates: u64,
    /// Grid node updates per wall second of the whole run (mechanics included).
    pub grid_node_updates_per_second: f64,
    /// Heat that entered from sources, J.
    pub heat_entered_j: f64,
    /// Heat stored above the initial temperatures, J.
    pub heat_stored_j: f64,
    /// Heat lost to ambients, J.
    pub heat_lost_j: f64,
    /// |entered − stored − lost| / entered (0 when nothing entered).
    pub balance_error: f64,
    /// Final temperature of each node, °C, by name.
    pub node_temperatures: indexmap::IndexMap<String, f64>,
}

/// The columns of a trace after `time`, in the order of [`simulate`]'s rows: every model
/// input, then every sensor (the data-file contract that `twin calibrate` reads back; see
/// ARCHITECTURE.md, "Data files").
pub fn trace_columns(model: &Model) -> Vec<String> {
    model
        .inputs
        .iter()
        .map(|i| i.name.clone())
        .chain(model.sensors.iter().map(|s| s.name.clone()))
        .collect()
}

/// Simulates `model` as `options` say, calling `row(time, values)` for every sampling instant
/// (in the order of [`trace_columns`]: the model inputs at that time, then one value per sensor,
/// `None` where that sensor did not sample: a table that `twin calibrate` reads back), and `progress(fraction)` now and then.
pub fn simulate(
    model: Arc<Model>,
    options: &SimulateOptions,
    mut row: impl FnMut(f64, &[Option<f64>]) -> Result<()>,
    mut progress: impl FnMut(f64),
) -> Result<SimulationReport> {
    let mut twin = Twin::new(Arc::clone(&model), options.seed);
    twin.set_backend(&options.backend)?;
    for (path, value) in &options.sets {
        twin.set(path, *value)?;
    }
    let duration = options
        .duration
        .or_else(|| options.inputs.as_ref().and_then(InputSeries::end_time))
        .unwrap_or(10.0);
    let dt = model.dt_mech;
    if !(duration.is_finite() && duration > 0.0 && duration / dt <= MAX_STEPS) {
        return Err(Error::Usage(format!(
            "a simulation of {duration} s is {:.3e} mechanical steps of {dt} s; expected a \
             duration > 0 of at most {MAX_STEPS:e} steps ({:.3e} s) in one run",
            duration / dt,
            MAX_STEPS * dt
        )));
    }
    let steps = (duration / dt).round() as u64;
    let ni = model.inputs.len();
    let mut values = vec![None; ni + model.sensors.len()];
    let mut stats = vec![SensorStats::default(); model.sensors.len()];
    let mut inputs = twin.inputs().to_vec();
    let mut rows = 0;
    let progress_every = (steps / 200).max(1);
    // A first row at t = 0 with the inputs only (no sensor samples yet), so that the trace
    // read back as data drives the inputs from the very start (models with inputs only).
    if ni > 0 {
        if let Some(series) = &options.inputs {
            series.values_at(0.0, &mut inputs);
        }
        for (slot, u) in values.iter_mut().zip(&inputs) {
            *slot = Some(*u);
        }
        row(0.0, &values)?;
        rows += 1;
    }
    let start = Instant::now();
    let rules = if options.exact {
        Rules::EXACT
    } else {
        Rules::TRACE
    };
    let end = steps as f64 * dt;
    let mut k = 0;
    twin.drive(
        options.inputs.as_ref(),
        end,
        rules,
        &mut |twin: &Twin, sampled: bool| {
            if sampled {
                if let Some(series) = &options.inputs {
                    series.values_at(twin.time(), &mut inputs);
                }
                for (slot, u) in values.iter_mut().zip(&inputs) {
                    *slot = Some(*u);
                }
                for (i, r) in twin.readings().iter().enumerate() {
                    values[ni + i] = r.fresh.then_some(r.value);
                    if r.fresh {
                        stats[i].add(r.value);
                    }
                }
                row(twin.time(), &values)?;
                rows += 1;
            }
            let done = (twin.time() / dt).round() as u64;
            if done / progress_every > k {
                k = done / progress_every;
                progress(twin.time() / end);
            }
            Ok(())
        },
    )?;
    let wall = start.elapsed().as_secs_f64();
    Ok(report(&model, &twin, options, (end, wall), rows, stats))
}

/// Running summary of one sensor's samples.
#[derive(Debug, Clone, Copy)]
struct SensorStats {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    last: f64,
}

impl Default for SensorStats {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last: f64::NAN,
        }
    }
}

impl SensorStats {
    fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.last = v;
    }
}

/// The report of a run of `twin` over `sim` simulated seconds in `wall` wall seconds.
fn report(
    model: &Model,
    twin: &Twin,
    options: &SimulateOptions,
    (sim, wall): (f64, f64),
    rows: u64,
    stats: Vec<SensorStats>,
) -> SimulationReport {
    SimulationReport {
        final_state: Some(FinalState(twin.state().clone())),
        wear: model
            .wear
            .iter()
            .enumerate()
            .map(|(e, w)| (w.name.clone(), twin.wear(e)))
            .collect(),
        damage: model
            .sections
            .iter()
            .enumerate()
            .map(|(s, x)| (x.name.clone(), twin.damage(s)))
            .collect(),
        thermal: (!model.thermal.is_empty()).then(|| thermal_summary(model, twin, wall)),
        model: model.name.clone(),
        sim_seconds: sim,
        wall_seconds: wall,
        steps: twin.integrated_steps(),
        quasi_steady_share: twin.substepped_seconds() / sim.max(1e-12),
        real_time_factor: sim / wall.max(1e-12),
        steps_per_second: twin.integrated_steps() as f64 / wall.max(1e-12),
        dt_mech: model.dt_mech,
        seed: options.seed,
        rows,
        parameters: model
            .parameters
            .iter()
            .zip(&twin.params().values)
            .map(|(p, v)| (p.path.clone(), *v))
            .chain(
                options
                    .sets
                    .iter()
                    .map(|(path, _)| (path.clone(), twin.get(path).unwrap_or(f64::NAN))),
            )
            .collect(),
        sensors: model
            .sensors
            .iter()
            .zip(stats)
            .map(|(s, st)| SensorSummary {
                name: s.name.clone(),
                unit: s.unit.to_string(),
                samples: st.count,
                mean: if st.count > 0 {
                    st.sum / st.count as f64
                } else {
                    f64::NAN
                },
                min: st.min,
                max: st.max,
                last: st.last,
            })
            .collect(),
    }
}

/// The thermal figures of a run that took `wall` s.
fn thermal_summary(model: &Model, twin: &Twin, wall: f64) -> ThermalSummary {
    let (entered, stored, lost) = twin.energy_balance();
    let updates = twin.grid_node_updates();
    ThermalSummary {
        backend: twin.backend().unwrap_or_else(|| "none".into()),
        dt_thermal: model.thermal.dt,
        grid_node_updates: updates,
        grid_node_updates_per_second: updates as f64 / wall.max(1e-12),
        heat_entered_j: entered,
        heat_stored_j: stored,
        heat_lost_j: lost,
        balance_error: if entered > 0.0 {
            (entered - stored - lost).abs() / entered
        } else {
            0.0
        },
        node_temperatures: model
            .thermal
            .nodes
            .iter()
            .zip(&twin.thermal().nodes)
            .map(|(n, t)| (n.name.clone(), *t))
            .collect(),
    }
}
