//! `twin serve` and `twin replay`: live twins from MQTT streams (the `twin-service` crate).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use twin_service::FleetConfig;
use twin_service::replay::{Speed, replay};

/// `twin serve FLEET.toml`: keeps one calibrated twin per machine of the fleet file from the
/// machines' MQTT streams, publishing estimates, status and alarms (README, "Live twins").
#[derive(Args)]
pub struct ServeArgs {
    /// The fleet file: broker, state folder, limits and one [[machine]] table per machine.
    pub config: PathBuf,
    /// Log lines as JSON objects (for a log collector).
    #[arg(long)]
    pub log_json: bool,
}

/// `twin replay DATA --config FLEET.toml --machine ID`: publishes a recorded or simulated run
/// as that machine would (QoS 1), for demos, tests and load runs.
#[derive(Args)]
pub struct ReplayArgs {
    /// The data file (CSV or NDJSON, as `twin calibrate` reads it).
    pub data: String,
    /// The fleet file whose broker and topics to use.
    #[arg(long)]
    pub config: PathBuf,
    /// The machine to publish as.
    #[arg(long)]
    pub machine: String,
    /// Data seconds per wall-clock second, or `max`.
    #[arg(long, default_value = "max")]
    pub speed: String,
    /// Seconds of data per message (0: one row per message).
    #[arg(long, default_value_t = 0.0)]
    pub batch: f64,
    /// Stamp rows with the wall clock (the run's first row is now), as a live machine would:
    /// the service's lag then measures how far it is behind.
    #[arg(long)]
    pub now: bool,
}

/// Runs `twin serve`.
pub fn serve(args: &ServeArgs) -> Result<ExitCode, String> {
    let config = FleetConfig::from_file(&args.config).map_err(|e| e.to_string())?;
    eprintln!(
        "serving {} machine(s) from {}:{} ({}), state in {}; Ctrl-C stops",
        config.machines.len(),
        config.broker.host,
        config.broker.port,
        if config.broker.tls {
            "TLS"
        } else {
            "no TLS: insecure = true"
        },
        config.service.state_dir.display()
    );
    if !config.broker.tls {
        eprintln!(
            "warning: the broker connection is not encrypted (insecure = true): passwords and data cross the network in clear"
        );
    }
    twin_service::serve::serve(config).map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `twin replay`.
pub fn replay_command(args: &ReplayArgs) -> Result<ExitCode, String> {
    let speed = match args.speed.as_str() {
        "max" => Speed::Max,
        s => match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Speed::Factor(f),
            _ => {
                return Err(format!(
                    "--speed: expected a positive factor or `max`, got `{s}`"
                ));
            }
        },
    };
    if !(args.batch.is_finite() && args.batch >= 0.0) {
        return Err(format!("--batch: expected seconds ≥ 0, got {}", args.batch));
    }
    let config = FleetConfig::from_file(&args.config).map_err(|e| e.to_string())?;
    let done = replay(
        &config,
        &args.machine,
        &args.data,
        speed,
        args.batch,
        args.now,
    )
    .map_err(|e| e.to_string())?;
    eprintln!(
        "replayed {} rows of {} as `{}` in {} messages, {:.2} s wall (every message acknowledged by the broker)",
        done.rows, args.data, args.machine, done.messages, done.wall
    );
    Ok(ExitCode::SUCCESS)
}
