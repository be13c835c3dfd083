//! A data payload as it comes off the network: checked against the limits and read with the
//! engine's own row reader (the NDJSON line of a data file, or an array of them), so a stream
//! gives exactly what the same rows give as a file.

use machine_twin::Model;
use machine_twin::data::{DataTable, Policy, TimeBasis};

/// Why a payload was left out as a whole (counted by reason in the machine's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    /// Larger than `service.max_payload_bytes`.
    TooLarge,
    /// Not UTF-8.
    NotUtf8,
    /// Not JSON (or nested deeper than the parser allows).
    NotJson,
    /// JSON, but neither a row object nor an array of row objects.
    NotRows,
    /// More rows than `service.max_batch_rows`.
    TooManyRows,
    /// A name that is neither `time` nor an input or sensor of the machine's model.
    UnknownName,
    /// A row the reader refuses (no time, a time that is not a number or timestamp, ...).
    BadRow,
}

impl Rejection {
    /// The reason's name in status messages and logs.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::TooLarge => "too_large",
            Rejection::NotUtf8 => "not_utf8",
            Rejection::NotJson => "not_json",
            Rejection::NotRows => "not_rows",
            Rejection::TooManyRows => "too_many_rows",
            Rejection::UnknownName => "unknown_name",
            Rejection::BadRow => "bad_row",
        }
    }
}

/// Limits on what one payload may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes.
    pub max_bytes: usize,
    /// Rows.
    pub max_rows: usize,
}

/// Reads `payload` into a table of `model`'s columns, times on `origin` (the machine's first
/// row's Unix time; `None` until a first row has set it). The error carries the reason and a
/// message for the log.
pub fn read(
    payload: &[u8],
    model: &Model,
    label: &str,
    origin: Option<Option<f64>>,
    limits: Limits,
) -> Result<DataTable, (Rejection, String)> {
    if payload.len() > limits.max_bytes {
        return Err((
            Rejection::TooLarge,
            format!("{} bytes, more than {}", payload.len(), limits.max_bytes),
        ));
    }
    let text = std::str::from_utf8(payload).map_err(|e| (Rejection::NotUtf8, e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (Rejection::NotJson, e.to_string()))?;
    let rows = match value {
        serde_json::Value::Array(rows) => rows,
        row @ serde_json::Value::Object(_) => vec![row],
        _ => {
            return Err((
                Rejection::NotRows,
                "expected a row object or an array of them".into(),
            ));
        }
    };
    if rows.len() > limits.max_rows {
        return Err((
            Rejection::TooManyRows,
            format!("{} rows, more than {}", rows.len(), limits.max_rows),
        ));
    }
    let mut ndjson = String::with_capacity(payload.len() + rows.len());
    for row in &rows {
        let serde_json::Value::Object(fields) = row else {
            return Err((
                Rejection::NotRows,
                "an array element is not an object".into(),
            ));
        };
        if let Some(name) = fields.keys().find(|k| *k != "time" && !known(model, k)) {
            let shown: String = name.chars().take(64).collect();
            return Err((
                Rejection::UnknownName,
                format!(
                    "`{shown}` is neither an input nor a sensor of model `{}`",
                    model.name
                ),
            ));
        }
        ndjson.push_str(&row.to_string());
        ndjson.push('\n');
    }
    let basis = origin.map_or(TimeBasis::Own, TimeBasis::Fixed);
    DataTable::parse_part(&ndjson, label, true, Policy::Lenient, basis, 0)
        .map_err(|e| (Rejection::BadRow, e.to_string()))
}

/// Whether `name` is an input or a sensor of `model`.
fn known(model: &Model, name: &str) -> bool {
    model.inputs.iter().any(|i| i.name == name) || model.sensors.iter().any(|s| s.name == name)
}
