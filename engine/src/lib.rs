//! # machine-twin
//!
//! Physics-based digital twins of manufacturing machines. A machine is described in a TOML
//! model file, compiled into an immutable [`Model`], and stepped by any number of [`Twin`]
//! instances, each with its own calibratable parameters ([`Params`]) and [`State`].
//!
//! - Rigid-body mechanics on rapier3d, with joint friction, drives and controllers, external
//!   loads, and the reaction wrench of every joint each step ([`twin`]).
//! - A thermal half ([`thermal`]): a lumped network (implicit) and 3-D conduction grids stepped
//!   by WGSL kernels on a GPU or by the rayon CPU path, coupled to friction and motor losses.
//! - Degradation: Archard wear, rolling-bearing life and defect growth, cutting-tool flank
//!   wear ([`wear`]); stress sections with streaming rainflow and Miner damage ([`fatigue`]).
//! - Multi-rate stepping: quasi-steady thermal intervals and a cycle-averaged slow integrator
//!   for long horizons, through one driver ([`Twin::drive`]); ensembles of twins stepped in
//!   parallel ([`twin::Ensemble`]).
//! - Calibration ([`calibrate`]): ensemble and unscented Kalman filters and a particle filter
//!   fed row by row ([`calibrate::Assimilation`]), and batch Levenberg–Marquardt, with a report
//!   of the posterior, the fit and the outlook.
//! - Prognosis ([`prognosis`]): ensemble forecasts under an operating schedule, with bands of
//!   every sensor, wear element and section, and the remaining useful life to each event.
//! - Drivers for data files ([`data`], [`simulate`]) and a validation harness
//!   ([`validation`]) against analytical solutions, published values and real data.
//!
//! `ARCHITECTURE.md` in the repository describes how these fit together.
//!
//! Units are SI everywhere: m, kg, s, N, N·m, rad, W, J; temperatures in °C (differences in K).
//!
//! ```
//! use machine_twin::{Model, Twin};
//! let model = Model::from_toml(r#"
//!     [model]
//!     name = "flywheel"
//!     [body.wheel]
//!     mass = 10.0
//!     inertia = [0.05, 0.03, 0.03]
//!     angular_velocity = [100.0, 0.0, 0.0]
//!     [joint.shaft]
//!     type = "revolute"
//!     parent = "world"
//!     child = "wheel"
//!     axis = [1.0, 0.0, 0.0]
//!     friction = { viscous = 0.01 }
//!     [sensor.speed]
//!     kind = "joint_velocity"
//!     joint = "shaft"
//!     rate = 100.0
//! "#, "<doc>").unwrap();
//! let mut twin = Twin::new(model, 42);
//! twin.advance_to(1.0).unwrap();
//! let speed = twin.readings()[0].value;
//! assert!((speed - 100.0 * (-0.01f64 / 0.05).exp()).abs() < 0.1);
//! ```
#![warn(missing_docs)]

pub mod calibrate;
pub mod data;
pub mod error;
pub mod fatigue;
pub mod model;
pub mod prognosis;
pub mod simulate;
pub mod source;
pub mod stats;
pub mod thermal;
pub mod twin;
pub mod validation;
pub mod wear;

/// The README's code, compiled as a doctest so that its library example stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The engine's version (its crate version), as reports record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub use error::{Error, Result};
pub use model::Model;
pub use model::params::Params;
pub use twin::{JointReading, Reading, State, Twin};
