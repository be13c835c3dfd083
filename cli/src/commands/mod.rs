//! The subcommands, one file each, and the argument helpers they share.

pub mod calibrate;
pub mod check;
pub mod predict;
pub mod serve;
pub mod simulate;
pub mod validate;

use std::io::{IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use machine_twin::data::{DataTable, InputSeries, Policy};
use machine_twin::thermal::{Backend, BackendChoice, choose};
use machine_twin::{Error, Model, Result};

/// `--backend` values.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// The rayon CPU path.
    Cpu,
    /// The WGSL kernels on a GPU (an error when none opens).
    Gpu,
    /// Choose.
    Auto,
}

/// The backend `arg` asks for, for `members` copies of `model`'s grids stepped together;
/// says on stderr which it took and why (models with grids).
pub(crate) fn resolve_backend(arg: BackendArg, model: &Model, members: usize) -> Result<Backend> {
    let choice = match arg {
        BackendArg::Cpu => BackendChoice::Cpu,
        BackendArg::Gpu => BackendChoice::Gpu,
        BackendArg::Auto => BackendChoice::Auto,
    };
    let (backend, why) = choose(choice, model.thermal.node_updates(members))?;
    if !model.thermal.grids.is_empty() {
        eprintln!("thermal grids on {why}");
    }
    Ok(backend)
}

/// A progress bar on a terminal; hidden in pipes and files.
pub(crate) fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {percent}% (eta {eta})",
        )
        .expect("static template"),
    );
    bar
}

/// Reads an inputs file (a schedule: `time` and model inputs, strict), warning on stderr
/// about every model input it does not give (held at its default) and every column that
/// names a sensor (an inputs file sets inputs only: the column is not used).
pub(crate) fn read_schedule(path: &str, model: &Model) -> Result<InputSeries> {
    let table = DataTable::read(path, Policy::Strict)?;
    table.check_columns(model)?;
    // A plan outside what the machine can do is refused, not quietly clipped.
    for input in &model.inputs {
        let Some(c) = table.column(&input.name) else {
            continue;
        };
        let outside = table
            .rows
            .iter()
            .enumerate()
            .find_map(|(r, row)| row[c].filter(|v| !input.accepts(*v)).map(|v| (r, v)));
        if let Some((r, v)) = outside {
            return Err(machine_twin::Error::invalid(
                path,
                table.lines.get(r).copied(),
                Some(input.name.clone()),
                format!(
                    "expected a value within the input's range {} to {} {}, got {v}",
                    input.range[0], input.range[1], input.unit
                ),
            ));
        }
    }
    let series = InputSeries::from_table(model, &table);
    for warning in schedule_warnings(model, &table.columns, &series) {
        eprintln!("{path}: {warning}");
    }
    Ok(series)
}

/// What an inputs file with `columns` leaves out or misnames (see [`read_schedule`]).
fn schedule_warnings(model: &Model, columns: &[String], series: &InputSeries) -> Vec<String> {
    let mut warnings: Vec<String> = columns
        .iter()
        .filter(|c| model.sensor_index(c).is_ok())
        .map(|c| {
            format!("column `{c}` is a sensor, not a model input: an inputs file sets inputs only, so it is not used")
        })
        .collect();
    for input in undriven_inputs(model, series) {
        warnings.push(format!(
            "no values for model input `{}`: held at its default, {}",
            input.name,
            crate::human::quantity(input.default, &input.unit)
        ));
    }
    warnings
}

/// The model inputs that `series` gives no values for (they keep their defaults).
pub(crate) fn undriven_inputs<'a>(
    model: &'a Model,
    series: &'a InputSeries,
) -> impl Iterator<Item = &'a machine_twin::model::Input> {
    model
        .inputs
        .iter()
        .enumerate()
        .filter(|(i, _)| !series.drives(*i))
        .map(|(_, input)| input)
}

/// Most ensemble members a command takes: each member is a whole twin (a few kB to MB).
const MAX_MEMBERS: usize = 100_000;

/// Checks `--members`: at least `least`, at most [`MAX_MEMBERS`].
pub(crate) fn check_members(members: usize, least: usize) -> Result<()> {
    if (least..=MAX_MEMBERS).contains(&members) {
        return Ok(());
    }
    Err(Error::invalid(
        "--members",
        None,
        None,
        format!("expected {least} … {MAX_MEMBERS} members, got {members}"),
    ))
}

/// Refuses up front a job whose `twins` copies of `model`'s thermal state would not fit in the
/// memory this machine has available (Linux: `MemAvailable`), instead of dying part-way.
pub(crate) fn check_memory(model: &Model, twins: usize) -> Result<()> {
    let need = model.thermal.bytes_per_twin().saturating_mul(twins);
    let Some(available) = available_memory() else {
        return Ok(());
    };
    if need <= available {
        return Ok(());
    }
    Err(Error::invalid(
        &model.source,
        None,
        None,
        format!(
            "{} twins of this model need about {} for their thermal state; this machine has {} \
             available (fewer --members, or a coarser grid)",
            twins,
            crate::human::bytes(need),
            crate::human::bytes(available)
        ),
    ))
}

/// Memory available to a new job in bytes, where the system says (`/proc/meminfo`).
fn available_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Writes `value` as pretty JSON to `path`, refusing a value that holds `inf` or NaN (JSON
/// would show it as `null`, which reads as "absent"): the message names the field.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let label = path.display().to_string();
    match crate::finite::first_non_finite(value) {
        Err(e) => return Err(Error::output(label, e)),
        Ok(Some((field, x))) => {
            return Err(Error::output(
                label,
                format!(
                    "`{field}` is {x}, which a report cannot hold; nothing was written (check the \
                     model's values and the data; if both are sound, this is a bug: please report it)"
                ),
            ));
        }
        Ok(None) => {}
    }
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::output(path.display().to_string(), e))?;
    std::fs::write(path, text + "\n").map_err(|e| Error::io(label, e))
}

/// Writes `report` as JSON to `path` with `provenance` (what reruns it) as its last field.
pub(crate) fn write_report(
    path: &Path,
    report: &impl serde::Serialize,
    provenance: &crate::provenance::Provenance,
) -> Result<()> {
    let with = crate::provenance::WithProvenance { report, provenance };
    write_json(path, &with)
}

/// Writes `bytes` to `path` through a temporary file that is synced before a rename replaces
/// `path`: a reader, or a restart after a crash, sees the old file or the new one, whole.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let label = path.display().to_string();
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(&label, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(&label, e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(&label, e))
}

/// `n` and the noun in the number it takes: `1 body`, `3 bodies`.
pub(crate) fn counted(n: usize, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// Checks that the value of `flag` is a finite number of seconds above zero.
pub(crate) fn positive_seconds(flag: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            flag,
            None,
            None,
            format!("expected seconds > 0, got {value}"),
        ))
    }
}
