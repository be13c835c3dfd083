//! What a report needs to be rerun: the command, the engine's version, every file read (with
//! its size and SHA-256) and the seed.

use std::path::Path;

use machine_twin::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// How a report was made; written into every report as `provenance`.
#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// The engine and its version, e.g. `machine-twin 0.1.0`.
    pub engine: String,
    /// The command line as given.
    pub command: Vec<String>,
    /// The folder the command ran in (relative paths in `command` and `files` start there).
    pub working_directory: String,
    /// Every file read, in the order given.
    pub files: Vec<FileRecord>,
    /// Seed of every random draw.
    pub seed: u64,
}

/// One input file: its role, path, size and content hash.
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    /// What the file was read as: `model`, `inputs`, `data`, `prior`, `params`, `state`, `resume`.
    pub role: String,
    /// The path as given (`-`: standard input, which has no hash).
    pub path: String,
    /// Size in bytes (absent for standard input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// SHA-256 of the contents, lowercase hex (absent for standard input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Provenance {
    /// The record of this process's command, with `seed` and no files yet.
    pub fn new(seed: u64) -> Self {
        Self {
            engine: format!("machine-twin {}", machine_twin::VERSION),
            command: std::env::args().collect(),
            working_directory: std::env::current_dir()
                .map_or_else(|_| "?".into(), |d| d.display().to_string()),
            files: Vec::new(),
            seed,
        }
    }

    /// Adds the file at `path` (read as `role`) with its size and hash; `-` is standard input.
    pub fn file(mut self, role: &str, path: &str) -> Result<Self> {
        let (bytes, sha256) = if path == "-" {
            (None, None)
        } else {
            let (n, hash) = hash_file(Path::new(path))?;
            (Some(n), Some(hash))
        };
        self.files.push(FileRecord {
            role: role.into(),
            path: path.into(),
            bytes,
            sha256,
        });
        Ok(self)
    }

    /// Adds every file of `paths` as `role`.
    pub fn files<'a>(self, role: &str, paths: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        paths
            .into_iter()
            .try_fold(self, |p, path| p.file(role, path))
    }
}

/// The size and SHA-256 (hex) of the file at `path`, read in 64 kB blocks.
fn hash_file(path: &Path) -> Result<(u64, String)> {
    use std::io::Read;
    let label = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(&label, e))?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut block).map_err(|e| Error::io(&label, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
        total += n as u64;
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((total, hex))
}

/// A report with its provenance, written as one JSON object (`provenance` last).
#[derive(Serialize)]
pub struct WithProvenance<'a, R: Serialize> {
    /// The report's own fields.
    #[serde(flatten)]
    pub report: &'a R,
    /// How it was made.
    pub provenance: &'a Provenance,
}
