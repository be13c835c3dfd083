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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("TWIN_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { model } => commands::check::check(&model),
        Command::Simulate(args) => commands::simulate::simulate(&args),
        Command::Calibrate(args) => commands::calibrate::calibrate(&args),
        Command::Predict(args) => commands::predict::predict(&args),
        Command::Validate { dir, report } => commands::validate::validate(&dir, report.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
