//! Recorded runs prepared for calibration: the inputs as a series, and per row the
//! measurements of each sensor (`None` where not measured or unusable).

use std::sync::Arc;

use crate::data::{DataQuality, DataTable, InputSeries, Policy};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::twin::Twin;

/// One recorded run of the machine.
#[derive(Debug, Clone)]
pub struct Run {
    /// The file it came from.
    pub source: String,
    /// Model inputs over time.
    pub inputs: InputSeries,
    /// Times in s of the rows holding at least one measurement, increasing.
    pub times: Vec<f64>,
    /// Per such row, per model sensor: the measured value.
    pub z: Vec<Vec<Option<f64>>>,
    /// What the reader found wrong (counted, and left out).
    pub quality: DataQuality,
}

impl Run {
    /// Reads a data file leniently: non-finite values, duplicates and out-of-order rows are
    /// counted in [`Run::quality`] and never reach an estimator.
    pub fn read(model: &Model, path: &str) -> Result<Self> {
        let table = DataTable::read(path, Policy::Lenient)?;
        Self::from_table(model, &table)
    }

    /// Prepares a table already read.
    pub fn from_table(model: &Model, table: &DataTable) -> Result<Self> {
        table.check_columns(model)?;
        let columns: Vec<Option<usize>> = model
            .sensors
            .iter()
            .map(|s| table.column(&s.name))
            .collect();
        if columns.iter().all(Option::is_none) {
            return Err(Error::invalid(
                &table.source,
                Some(1),
                None,
                format!(
                    "no sensor column of model `{}` (sensors: {})",
                    model.name,
                    model
                        .sensors
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let (mut times, mut z) = (Vec::new(), Vec::new());
        for (t, row) in table.times.iter().zip(&table.rows) {
            let values: Vec<Option<f64>> = columns.iter().map(|c| c.and_then(|c| row[c])).collect();
            if values.iter().any(Option::is_some) {
                times.push(*t);
                z.push(values);
            }
        }
        Ok(Self {
            source: table.source.clone(),
            inputs: InputSeries::from_table(model, table),
            times,
            z,
            quality: table.quality.clone(),
        })
    }

    /// A synthetic run: `model` simulated as `options` say (with `--set` values and sensor
    /// noise), its trace taken as the data, as `twin simulate --exact --out` then reading the
    /// file back: every mechanical step is integrated, so the data are what the model's
    /// physics gives at the sensors' full rates.
    pub fn simulated(
        model: &Arc<Model>,
        options: &crate::simulate::SimulateOptions,
    ) -> Result<Self> {
        let columns: Vec<String> = model
            .inputs
            .iter()
            .map(|i| i.name.clone())
            .chain(model.sensors.iter().map(|s| s.name.clone()))
            .collect();
        let (mut times, mut rows) = (Vec::new(), Vec::new());
        let options = crate::simulate::SimulateOptions {
            exact: true,
            ..options.clone()
        };
        crate::simulate::simulate(
            Arc::clone(model),
            &options,
            |t, values| {
                times.push(t);
                rows.push(values.to_vec());
                Ok(())
            },
            |_| {},
        )?;
        let quality = DataQuality {
            rows: rows.len(),
            rows_used: rows.len(),
            ..Default::default()
        };
        let table = DataTable {
            source: "<simulated>".into(),
            columns,
            times,
            rows,
            quality,
        };
        Self::from_table(model, &table)
    }

    /// Whether the data give model input `name` (else it keeps its default).
    pub fn drives_input(&self, model: &Model, name: &str) -> bool {
        model
            .input_index(name)
            .is_some_and(|i| self.inputs.drives(i))
    }

    /// Time of the last measurement in s.
    pub fn end_time(&self) -> f64 {
        self.times.last().copied().unwrap_or(0.0)
    }
}

/// Steps `twin` until time `t` with its inputs from `inputs`; a thermal fault is an error. A
/// twin whose grids an ensemble steps returns early at a thermal step that waits for them.
/// Where the model enables `[solver.quasi_steady]` and the inputs hold over the next thermal
/// interval, the twin may advance that whole interval at once ([`Twin::advance_held`]), so it
/// may end up to one thermal interval past `t`: data rows closer together than the interval
/// are then compared with the twin at the interval's end (its mechanics settled, its
/// temperatures at most one interval ahead; the validation case `quasi_steady_spindle` bounds
/// the effect).
///
/// Where the model enables `[solver.cycle_averaged]` and the gap is longer than its `after`,
/// the gap is bridged by the slow integrator with the inputs held at their value in the middle
/// of the gap (for one row per run, as in tool-wear records, that is the run's conditions).
pub fn drive_to(twin: &mut Twin, inputs: &InputSeries, t: f64, buf: &mut Vec<f64>) -> Result<()> {
    let dt = twin.model().dt_mech;
    buf.clear();
    buf.extend_from_slice(twin.inputs());
    if let Some(ca) = twin.model().cycle_averaged
        && t - twin.time() > ca.after
    {
        inputs.values_at(0.5 * (twin.time() + t), buf);
        for (i, v) in buf.iter().enumerate() {
            twin.set_input(i, *v);
        }
        twin.advance_cycle_averaged(t);
        return twin.take_fault().map_or(Ok(()), Err);
    }
    let interval = twin.model().thermal.dt;
    let quasi = twin.model().quasi_steady.is_some();
    while twin.time() + 0.5 * dt < t && !twin.awaiting_grids() {
        let now = twin.time();
        inputs.values_at(now, buf);
        for (i, v) in buf.iter().enumerate() {
            twin.set_input(i, *v);
        }
        if quasi && inputs.constant_over(now, now + interval) {
            twin.advance_held(now + interval);
        } else {
            twin.step();
        }
    }
    twin.take_fault().map_or(Ok(()), Err)
}

/// The measurement noise standard deviation of every sensor of `model` (from the twin's
/// values in force); sensors declared noise-free get `floor`.
pub fn noise_std(twin: &Twin, floor: f64) -> Vec<f64> {
    twin.state()
        .tunables
        .noise_std
        .iter()
        .map(|s| if *s > 0.0 { *s } else { floor })
        .collect()
}

/// A fresh twin of `model` with parameter values `theta`.
pub fn twin_with(model: &Arc<Model>, theta: &[f64], seed: u64) -> Result<Twin> {
    Twin::with_params(
        Arc::clone(model),
        crate::params::Params {
            values: theta.to_vec(),
        },
        seed,
    )
}
