//! Errors. Each names the file, the line where known, the field, and what was expected.

use std::fmt;

/// Where in a user file an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file (as the user named it), or a label such as `<stdin>`.
    pub file: String,
    /// 1-based line number, where known.
    pub line: Option<usize>,
    /// Field path (`joint.spindle.friction.viscous`) or column name, where it applies.
    pub field: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        Ok(())
    }
}

/// Every error the engine returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A user file (model, data, case) is malformed or holds an invalid value.
    #[error("{location}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// What was expected, and what was found.
        message: String,
    },
    /// A parameter path or value given through the API or `--set` is not valid.
    #[error("parameter {path}: {message}")]
    Parameter {
        /// The path as given.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A name looked up in a model (a sensor, input, joint, ...) that the model does not have.
    #[error("model {model} has no {kind} called `{name}` (it has: {known})")]
    Name {
        /// The model's name.
        model: String,
        /// What was looked for: `sensor`, `input`, `joint`, `body`, `drive`, `wear element`, ...
        kind: &'static str,
        /// The name as given.
        name: String,
        /// The names the model has of that kind, comma-separated (`none` if it has none).
        known: String,
    },
    /// A state or checkpoint does not fit the model, method or data it is used with, or is
    /// not a valid state at all.
    #[error("state: {0}")]
    State(String),
    /// A request that cannot be carried out as asked (no data, no parameters to calibrate, a
    /// prior of the wrong length, an offline method for a stream): what was asked and what is
    /// expected.
    #[error("{0}")]
    Usage(String),
    /// A numerical method failed on these data: a covariance lost positive definiteness, or
    /// the parameters are not identifiable.
    #[error("numerical: {0}")]
    Numerical(String),
    /// A result could not be written: serialising a report, drawing a plot.
    #[error("{file}: cannot write: {message}")]
    Output {
        /// The file (or stream) written to.
        file: String,
        /// What failed.
        message: String,
    },
    /// No GPU adapter, or a GPU operation failed.
    #[error("gpu: {0}")]
    Gpu(String),
}

impl Error {
    /// An `Invalid` error at `file`, optional `line`, and `field`.
    pub fn invalid(
        file: impl Into<String>,
        line: Option<usize>,
        field: impl Into<Option<String>>,
        message: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            location: Location {
                file: file.into(),
                line,
                field: field.into(),
            },
            message: message.into(),
        }
    }

    /// An `Output` error for `file`.
    pub fn output(file: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Output {
            file: file.into(),
            message: message.to_string(),
        }
    }

    /// An `Io` error for `file`.
    pub fn io(file: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            file: file.into(),
            source,
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
