//! Live twins: one calibrated twin per machine from MQTT streams (`twin serve`), and a
//! publisher of recorded runs (`twin replay`).
//!
//! Each machine has its own MQTT 5 connection (TLS and a password by default; its own session,
//! flow control and last will), its own worker thread that owns the machine's twin (the
//! engine's [`machine_twin::calibrate::Assimilation`], the same loop `twin calibrate` runs),
//! and its own journal on disk. A payload's rows are assimilated, journaled and synced, and
//! only then acknowledged to the broker: a crash loses no acknowledged row, and the rows a
//! broker delivers again are counted as duplicates, never assimilated twice. Where a machine's
//! publisher may resend out of order, its rows can wait in a reorder window
//! ([`reorder`]) and are acknowledged once assimilated. On start each machine resumes from its
//! last checkpoint and the journal after it.
//!
//! Topics (prefix `machine-twin` by default): machines publish rows on
//! `<prefix>/<machine>/data`; the service publishes `<prefix>/<machine>/estimate` and
//! `<prefix>/<machine>/status` (retained, QoS 1) and `<prefix>/<machine>/alarm` (QoS 1).

pub mod config;
pub mod error;
pub mod journal;
pub mod machine;
pub mod messages;
pub mod mqtt;
pub mod observe;
pub mod payload;
pub mod reorder;
pub mod replay;
pub mod serve;

pub use config::FleetConfig;
pub use error::{Error, Result};
