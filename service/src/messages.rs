//! What the service publishes, as JSON: every time in s, every quantity in its model unit.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use machine_twin::calibrate::ParameterSummary;
use machine_twin::prognosis::{Band, RulSummary};
use serde::{Deserialize, Serialize};

/// `<prefix>/<machine>/estimate` (retained): the calibrated twin at its latest row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Estimate {
    /// Machine id.
    pub machine: String,
    /// Model name.
    pub model: String,
    /// Online method.
    pub method: String,
    /// Data time of the last assimilated row, s from the machine's first row.
    pub time: f64,
    /// The same instant as Unix seconds, where the machine stamps rows with absolute times.
    pub time_unix: Option<f64>,
    /// ... and as ISO 8601 (UTC).
    pub time_iso: Option<String>,
    /// Posterior per parameter path.
    pub parameters: IndexMap<String, ParameterSummary>,
    /// Per wear element: its quantity over the members.
    pub wear: IndexMap<String, Band>,
    /// Per stress section: Miner damage over the members.
    pub damage: IndexMap<String, Band>,
    /// Per event: remaining life in s from `time`.
    pub rul: IndexMap<String, RulSummary>,
    /// Per sensor: RMS of (measured − predicted) over the rows since the last estimate, in
    /// the sensor's unit.
    pub residual_rms: BTreeMap<String, f64>,
    /// What came in and what was left out.
    pub data_quality: Counts,
}

/// Rows and payloads counted since the machine's first row.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    /// Payloads received.
    pub payloads: u64,
    /// Rows read from accepted payloads.
    pub rows: u64,
    /// Rows accepted (journaled, then assimilated).
    pub accepted: u64,
    /// Rows left out because their time repeats the previous one (a redelivery after a
    /// restart, or a machine that sent it twice).
    pub duplicate: u64,
    /// Rows left out because their time is before the previous one.
    pub out_of_order: u64,
    /// Rows the broker delivered again (after a restart of the service or a lost
    /// acknowledgement) that had been taken already: counted, never assimilated twice.
    #[serde(default)]
    pub redelivered: u64,
    /// Rows left out because they came longer than `max_gap` after the previous one.
    pub too_far_ahead: u64,
    /// Cells holding NaN or ±inf.
    pub non_finite: u64,
    /// Cells that are not numbers.
    pub unparsable: u64,
    /// Readings outside their sensor's range.
    pub out_of_range: u64,
    /// Payloads left out as a whole, by reason.
    pub rejected: BTreeMap<String, u64>,
}

/// `<prefix>/<machine>/status` (retained; the broker publishes `state: offline` as the
/// connection's last will).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// Machine id.
    pub machine: String,
    /// `online` or `offline`.
    pub state: String,
    /// Data time of the last accepted row, s from the machine's first row.
    pub last_data_time: Option<f64>,
    /// Its Unix time, where rows carry absolute times.
    pub last_data_unix: Option<f64>,
    /// Wall-clock seconds between a row's absolute time and its assimilation (absolute times
    /// only).
    pub lag: Option<f64>,
    /// Rows accepted per wall-clock second since the last status.
    pub rows_per_second: f64,
    /// Counts since the machine's first row.
    pub data_quality: Counts,
    /// The last error the machine's twin met, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `<prefix>/<machine>/alarm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alarm {
    /// Machine id.
    pub machine: String,
    /// `rul` or `innovation`.
    pub kind: String,
    /// The event or sensor.
    pub subject: String,
    /// Data time, s from the machine's first row.
    pub time: f64,
    /// The value that raised it (RUL p05 in s, or the last normalised innovation).
    pub value: f64,
    /// Its limit.
    pub limit: f64,
    /// In words.
    pub message: String,
}
