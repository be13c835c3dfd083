//! `twin`: the machine-twin command line.

mod commands;
mod finite;
mod human;
mod plot;
mod provenance;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Physics-based digital twins of manufacturing machines.
#[derive(Parser)]
#[command(name = "twin", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a model file: exit 0 if valid, else print the error and exit 1.
    Check {
        /// The model file (TOML).
        model: PathBuf,
    },
    /// Simulate a model and write sensor traces and a report.
    Simulate(commands::simulate::SimulateArgs),
    /// Calibrate a model's parameters on recorded sensor data and report the posterior.
    Calibrate(commands::calibrate::CalibrateArgs),
    /// Forecast wear, health and remaining useful life under an assumed operating schedule.
    Predict(commands::predict::PredictArgs),
    /// Keeps one calibrated twin per machine from MQTT streams (live twins).
    Serve(commands::serve::ServeArgs),
    /// Publishes a recorded run as a machine would, to a `twin serve` broker.
    Replay(commands::serve::ReplayArgs),
    /// Run validation cases and print a table; exit non-zero if any case fails.
    Validate {
        /// A directory of cases (each a folder with `case.toml`), or one case folder.
        #[arg(default_value = "validation")]
        dir: PathBuf,
        /// Write the results as JSON to this file.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.command);
    let engine = |r: machine_twin::Result<ExitCode>| r.map_err(|e| e.to_string());
    let result = match cli.command {
        Command::Check { model } => engine(commands::check::check(&model)),
        Command::Simulate(args) => engine(commands::simulate::simulate(&args)),
        Command::Calibrate(args) => engine(commands::calibrate::calibrate(&args)),
        Command::Predict(args) => engine(commands::predict::predict(&args)),
        Command::Serve(args) => commands::serve::serve(&args),
        Command::Replay(args) => commands::serve::replay_command(&args),
        Command::Validate { dir, report } => {
            engine(commands::validate::validate(&dir, report.as_deref()))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines on standard error, filtered by `TWIN_LOG` (`twin serve` and `twin replay` log at
/// `info` unless it says otherwise; `--log-json` writes JSON objects).
fn init_logging(command: &Command) {
    let service = matches!(command, Command::Serve(_) | Command::Replay(_));
    let filter = match std::env::var("TWIN_LOG") {
        Ok(f) => tracing_subscriber::EnvFilter::new(f),
        Err(_) if service => tracing_subscriber::EnvFilter::new("info,rumqttc=warn"),
        Err(_) => tracing_subscriber::EnvFilter::new("error"),
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if matches!(command, Command::Serve(a) if a.log_json) {
        builder.json().init();
    } else {
        builder.init();
    }
}
