//! The service's errors.

/// What can go wrong in the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The fleet file (names the file, the line and the field).
    #[error("{0}")]
    Config(String),
    /// The engine (model files, reports, calibration).
    #[error(transparent)]
    Engine(#[from] machine_twin::Error),
    /// A machine's journal or checkpoint on disk.
    #[error("{0}")]
    State(String),
    /// The broker: refused, unreachable, or its certificate not trusted.
    #[error("{0}")]
    Broker(String),
    /// A data file to replay.
    #[error("{0}")]
    Data(String),
}

/// The service's result.
pub type Result<T> = std::result::Result<T, Error>;
