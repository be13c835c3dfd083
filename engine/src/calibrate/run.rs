//! Recorded runs prepared for calibration: the inputs as a series, and per row the
//! measurements of each sensor (`None` where not measured or unusable).

use std::sync::Arc;

use crate::data::{DataQuality, DataTable, InputSeries, Policy};
use crate::error::{Error, Result};
use crate::model::Model;

/// `value` where `sensor` can read it, else `None` (an outlier: counted by the caller).
pub(crate) fn readable(sensor: &crate::model::Sensor, value: Option<f64>) -> Option<f64> {
    value.filter(|&v| sensor.reads(v))
}

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
    /// Every row in time order, as an online estimator receives them.
    pub rows: Vec<RunRow>,
}

/// One row of a recorded run: its time in s, the model inputs it gives (`None` where it does
/// not give one), and the index into [`Run::z`] of its measurements, if it has any.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// Time in s.
    pub time: f64,
    /// Per model input: its value in this row.
    pub inputs: Vec<Option<f64>>,
    /// Index into [`Run::times`] and [`Run::z`].
    pub measured: Option<usize>,
}

impl Run {
    /// Reads a data file. [`Policy::Lenient`]: non-finite values, unparsable cells,
    /// duplicates and out-of-order rows are counted in [`Run::quality`] and never reach an
    /// estimator; [`Policy::Strict`] refuses them. An interval between rows longer than
    /// `max_gap` s is refused either way (see [`DataTable::check_max_gap`]).
    pub fn read(model: &Model, path: &str, policy: Policy, max_gap: f64) -> Result<Self> {
        let table = DataTable::read(path, policy)?;
        table.check_max_gap(max_gap)?;
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
        let input_columns: Vec<Option<usize>> =
            model.inputs.iter().map(|i| table.column(&i.name)).collect();
        let (mut times, mut z, mut rows) = (Vec::new(), Vec::new(), Vec::new());
        let mut quality = table.quality.clone();
        for (t, row) in table.times.iter().zip(&table.rows) {
            let values: Vec<Option<f64>> = columns
                .iter()
                .zip(&model.sensors)
                .map(|(c, sensor)| {
                    let v = c.and_then(|c| row[c]);
                    let reading = readable(sensor, v);
                    if reading.is_none() && v.is_some() {
                        *quality.out_of_range.entry(sensor.name.clone()).or_insert(0) += 1;
                    }
                    reading
                })
                .collect();
            let measured = values.iter().any(Option::is_some).then(|| {
                times.push(*t);
                z.push(values);
                z.len() - 1
            });
            let inputs = input_columns
                .iter()
                .zip(&model.inputs)
                .map(|(c, input)| {
                    let v = c.and_then(|c| row[c]);
                    let kept = v.filter(|v| input.accepts(*v));
                    if kept.is_none() && v.is_some() {
                        *quality.out_of_range.entry(input.name.clone()).or_insert(0) += 1;
                    }
                    kept
                })
                .collect();
            rows.push(RunRow {
                time: *t,
                inputs,
                measured,
            });
        }
        Ok(Self {
            source: table.source.clone(),
            inputs: InputSeries::from_table(model, table),
            times,
            z,
            quality,
            rows,
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
        let columns = crate::simulate::trace_columns(model);
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
            ..DataTable::default()
        };
        Self::from_table(model, &table)
    }

    /// Whether the data give model input `name` (else it keeps its default).
    pub fn drives_input(&self, model: &Model, name: &str) -> bool {
        model.input_index(name).is_ok_and(|i| self.inputs.drives(i))
    }

    /// Refuses an interval between rows (or from 0 s to the first) longer than `max_gap` s:
    /// the twin would step through it without data (see [`DataTable::check_max_gap`], which
    /// names the line where the run was read from a file).
    pub fn check_max_gap(&self, max_gap: f64) -> Result<()> {
        let times = self.rows.iter().map(|r| r.time);
        let Some(r) = crate::data::first_gap(times, max_gap) else {
            return Ok(());
        };
        let previous = r.checked_sub(1).map(|p| (self.rows[p].time, None));
        Err(crate::data::gap_error(
            &self.source,
            None,
            self.rows[r].time,
            previous,
            max_gap,
        ))
    }

    /// Time of the last measurement in s.
    pub fn end_time(&self) -> f64 {
        self.times.last().copied().unwrap_or(0.0)
    }
}
