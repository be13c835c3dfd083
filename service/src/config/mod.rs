//! The fleet file of `twin serve FLEET.toml`: the broker, the service's limits and state, and
//! one table per machine. Every field is documented in the README ("Live twins"); errors name
//! the file, the line and the field. Paths are relative to the fleet file's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};

mod broker;
pub use broker::{BrokerConfig, Secret};
use broker::{BrokerSpec, read_broker};

/// The whole fleet file, checked.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The file it was read from.
    pub source: PathBuf,
    /// How to reach the broker.
    pub broker: BrokerConfig,
    /// Where state lives and the limits on what comes in.
    pub service: ServiceConfig,
    /// The machines, in file order.
    pub machines: Vec<MachineConfig>,
}

/// `[service]`.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Folder of each machine's journal and checkpoints.
    pub state_dir: PathBuf,
    /// Topic prefix: machines publish on `<prefix>/<machine>/data`.
    pub topic_prefix: String,
    /// Largest payload taken, bytes; larger ones are rejected (`too_large`).
    pub max_payload_bytes: usize,
    /// Most rows in one payload; more are rejected (`too_many_rows`).
    pub max_batch_rows: usize,
    /// Wall-clock seconds without rows after which a machine publishes what it has.
    pub idle_publish: f64,
    /// Where `/metrics` and `/health` listen (`None`: `http = "off"`).
    pub http: Option<std::net::SocketAddr>,
}

/// `[[machine]]`.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// Id: letters, digits, `-` and `_` (it is a topic level).
    pub id: String,
    /// Model file.
    pub model: PathBuf,
    /// Online method.
    pub method: machine_twin::calibrate::Method,
    /// Ensemble members.
    pub members: usize,
    /// Seed of the prior draws and the filter.
    pub seed: u64,
    /// A calibration report to start from (`--prior`).
    pub prior: Option<PathBuf>,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// Seconds of data between published estimates.
    pub publish_every: f64,
    /// Seconds of data between checkpoints.
    pub checkpoint_every: f64,
    /// Remaining-life horizon, s.
    pub horizon: f64,
    /// Longest interval between rows stepped through, s.
    pub max_gap: f64,
    /// Seconds of data a row waits for rows that belong before it (a publisher that resends
    /// out of order); 0: rows are assimilated as they come. See [`crate::machine`].
    pub reorder_window: f64,
    /// Alarm settings.
    pub alarm: AlarmConfig,
}

/// `[machine.alarm]`.
#[derive(Debug, Clone, Default)]
pub struct AlarmConfig {
    /// Per event: alarm when its RUL p05 falls below this many seconds.
    pub rul_p05_below: BTreeMap<String, f64>,
    /// Normalised innovation band (|ν| above it counts as outside).
    pub innovation_band: f64,
    /// Seconds of data a sensor's innovations stay outside the band before the alarm.
    pub innovation_for: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    broker: Spanned<BrokerSpec>,
    #[serde(default)]
    service: Option<Spanned<ServiceSpec>>,
    machine: Vec<Spanned<MachineSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSpec {
    state_dir: Option<String>,
    topic_prefix: Option<Spanned<String>>,
    max_payload_bytes: Option<Spanned<usize>>,
    max_batch_rows: Option<Spanned<usize>>,
    idle_publish: Option<Spanned<f64>>,
    http: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MachineSpec {
    id: Spanned<String>,
    model: Spanned<String>,
    method: Option<Spanned<String>>,
    members: Option<Spanned<usize>>,
    seed: Option<u64>,
    prior: Option<Spanned<String>>,
    backend: Option<Spanned<String>>,
    publish_every: Option<Spanned<f64>>,
    checkpoint_every: Option<Spanned<f64>>,
    horizon: Option<Spanned<f64>>,
    max_gap: Option<Spanned<f64>>,
    reorder_window: Option<Spanned<f64>>,
    alarm: Option<AlarmSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlarmSpec {
    #[serde(default)]
    rul_p05_below: BTreeMap<String, Spanned<f64>>,
    innovation_band: Option<Spanned<f64>>,
    innovation_for: Option<Spanned<f64>>,
}

/// Line (1-based) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

struct Reader<'a> {
    label: String,
    text: &'a str,
    folder: PathBuf,
}

impl Reader<'_> {
    fn err<T>(&self, span: std::ops::Range<usize>, field: &str, message: String) -> Result<T> {
        Err(Error::Config(format!(
            "{}:{}: {field}: {message}",
            self.label,
            line_of(self.text, span.start)
        )))
    }

    fn path(&self, s: &Spanned<String>, field: &str, must_exist: bool) -> Result<PathBuf> {
        let p = self.folder.join(s.get_ref());
        if must_exist && !p.is_file() {
            return self.err(
                s.span(),
                field,
                format!("expected an existing file, got `{}`", s.get_ref()),
            );
        }
        Ok(p)
    }

    fn positive(&self, v: &Option<Spanned<f64>>, field: &str, default: f64) -> Result<f64> {
        match v {
            None => Ok(default),
            Some(s) if s.get_ref().is_finite() && *s.get_ref() > 0.0 => Ok(*s.get_ref()),
            Some(s) => self.err(
                s.span(),
                field,
                format!("expected a positive number of seconds, got {}", s.get_ref()),
            ),
        }
    }

    /// Seconds, at least 0 and at most a day.
    fn non_negative(&self, v: &Option<Spanned<f64>>, field: &str, default: f64) -> Result<f64> {
        match v {
            None => Ok(default),
            Some(s) if (0.0..=86_400.0).contains(s.get_ref()) => Ok(*s.get_ref()),
            Some(s) => self.err(
                s.span(),
                field,
                format!("expected seconds from 0 to 86400, got {}", s.get_ref()),
            ),
        }
    }
}

impl FleetConfig {
    /// Reads and checks a fleet file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let label = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("{label}: cannot read the fleet file: {e}")))?;
        Self::parse(&text, path)
    }

    /// Parses fleet file `text` read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let label = path.display().to_string();
        let spec: FileSpec = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            Error::Config(format!("{label}:{line}: {}", e.message()))
        })?;
        let r = Reader {
            label,
            text,
            folder: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let broker = read_broker(&r, spec.broker.get_ref())?;
        let service = read_service(&r, spec.service.as_ref().map(Spanned::get_ref))?;
        let mut machines: Vec<MachineConfig> = Vec::new();
        for m in &spec.machine {
            let machine = read_machine(&r, m.get_ref())?;
            if machines.iter().any(|x| x.id == machine.id) {
                return r.err(
                    m.get_ref().id.span(),
                    "machine.id",
                    format!("`{}` is given twice", machine.id),
                );
            }
            machines.push(machine);
        }
        if machines.is_empty() {
            return Err(Error::Config(format!(
                "{}: expected at least one [[machine]]",
                r.label
            )));
        }
        Ok(Self {
            source: path.to_path_buf(),
            broker,
            service,
            machines,
        })
    }

    /// The machine with `id`.
    pub fn machine(&self, id: &str) -> Result<&MachineConfig> {
        self.machines.iter().find(|m| m.id == id).ok_or_else(|| {
            let ids: Vec<&str> = self.machines.iter().map(|m| m.id.as_str()).collect();
            Error::Config(format!(
                "{}: no machine `{id}` (machines: {})",
                self.source.display(),
                ids.join(", ")
            ))
        })
    }
}

fn read_service(r: &Reader, s: Option<&ServiceSpec>) -> Result<ServiceConfig> {
    let default = ServiceSpec {
        state_dir: None,
        topic_prefix: None,
        max_payload_bytes: None,
        max_batch_rows: None,
        idle_publish: None,
        http: None,
    };
    let s = s.unwrap_or(&default);
    let topic_prefix = match &s.topic_prefix {
        None => "machine-twin".to_string(),
        Some(p) if topic_safe(p.get_ref(), true) => p.get_ref().clone(),
        Some(p) => {
            return r.err(
                p.span(),
                "service.topic_prefix",
                format!(
                    "expected topic levels of letters, digits, `-`, `_` and `/`, got `{}`",
                    p.get_ref()
                ),
            );
        }
    };
    let bounded = |v: &Option<Spanned<usize>>, field: &str, default: usize, max: usize| match v {
        None => Ok(default),
        Some(x) if (1..=max).contains(x.get_ref()) => Ok(*x.get_ref()),
        Some(x) => r.err(
            x.span(),
            field,
            format!("expected 1 to {max}, got {}", x.get_ref()),
        ),
    };
    Ok(ServiceConfig {
        state_dir: r
            .folder
            .join(s.state_dir.clone().unwrap_or_else(|| "state".into())),
        topic_prefix,
        max_payload_bytes: bounded(
            &s.max_payload_bytes,
            "service.max_payload_bytes",
            1 << 20,
            256 << 20,
        )?,
        max_batch_rows: bounded(
            &s.max_batch_rows,
            "service.max_batch_rows",
            10_000,
            1_000_000,
        )?,
        idle_publish: r.positive(&s.idle_publish, "service.idle_publish", 1.0)?,
        http: match &s.http {
            None => Some(([127, 0, 0, 1], 9464).into()),
            Some(h) if h.get_ref() == "off" => None,
            Some(h) => Some(h.get_ref().parse().or_else(|_| {
                r.err(
                    h.span(),
                    "service.http",
                    format!(
                        "expected an address:port such as 127.0.0.1:9464, or \"off\", got `{}`",
                        h.get_ref()
                    ),
                )
            })?),
        },
    })
}

/// Whether `s` is safe as topic levels (no wildcards, no empty level).
pub(crate) fn topic_safe(s: &str, slashes: bool) -> bool {
    !s.is_empty()
        && s.split('/').all(|level| !level.is_empty())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (slashes && c == '/'))
}

fn read_machine(r: &Reader, m: &MachineSpec) -> Result<MachineConfig> {
    use machine_twin::calibrate::Method;
    let id = m.id.get_ref().clone();
    if !topic_safe(&id, false) || id.len() > 128 {
        return r.err(
            m.id.span(),
            "machine.id",
            format!("expected up to 128 letters, digits, `-` or `_`, got `{id}`"),
        );
    }
    let method = match m.method.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("enkf") => Method::EnKF,
        Some("pf") => Method::ParticleFilter,
        Some("ukf") => Method::Ukf,
        Some(other) => {
            return r.err(
                m.method.as_ref().expect("given").span(),
                "machine.method",
                format!("expected enkf, pf or ukf, got `{other}`"),
            );
        }
    };
    let members = match &m.members {
        None => 32,
        Some(n) if (2..=100_000).contains(n.get_ref()) => *n.get_ref(),
        Some(n) => {
            return r.err(
                n.span(),
                "machine.members",
                format!("expected 2 to 100000, got {}", n.get_ref()),
            );
        }
    };
    let backend = match &m.backend {
        None => "cpu".to_string(),
        Some(b) if matches!(b.get_ref().as_str(), "cpu" | "gpu") => b.get_ref().clone(),
        Some(b) => {
            return r.err(
                b.span(),
                "machine.backend",
                format!("expected cpu or gpu, got `{}`", b.get_ref()),
            );
        }
    };
    let mut alarm = AlarmConfig {
        innovation_band: 4.0,
        innovation_for: 60.0,
        ..AlarmConfig::default()
    };
    if let Some(a) = &m.alarm {
        for (event, v) in &a.rul_p05_below {
            if !(v.get_ref().is_finite() && *v.get_ref() >= 0.0) {
                return r.err(
                    v.span(),
                    &format!("machine.alarm.rul_p05_below.{event}"),
                    format!("expected seconds ≥ 0, got {}", v.get_ref()),
                );
            }
            alarm.rul_p05_below.insert(event.clone(), *v.get_ref());
        }
        alarm.innovation_band =
            r.positive(&a.innovation_band, "machine.alarm.innovation_band", 4.0)?;
        alarm.innovation_for =
            r.positive(&a.innovation_for, "machine.alarm.innovation_for", 60.0)?;
    }
    Ok(MachineConfig {
        id,
        model: r.path(&m.model, "machine.model", true)?,
        method,
        members,
        seed: m.seed.unwrap_or(1),
        prior: m
            .prior
            .as_ref()
            .map(|p| r.path(p, "machine.prior", true))
            .transpose()?,
        backend,
        publish_every: r.positive(&m.publish_every, "machine.publish_every", 10.0)?,
        checkpoint_every: r.positive(&m.checkpoint_every, "machine.checkpoint_every", 60.0)?,
        horizon: r.positive(&m.horizon, "machine.horizon", 100.0 * 3600.0)?,
        max_gap: r.positive(
            &m.max_gap,
            "machine.max_gap",
            machine_twin::data::time::DEFAULT_MAX_GAP,
        )?,
        reorder_window: r.non_negative(&m.reorder_window, "machine.reorder_window", 0.0)?,
        alarm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` beside its own secret files: a folder per call, as `cargo test` runs the
    /// tests on threads of one process (a shared folder let one test read the password file
    /// while another rewrote it).
    fn parse(text: &str) -> Result<FleetConfig> {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("twin-config-{}-{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), "x").unwrap();
        std::fs::write(dir.join("pw"), "secret\n").unwrap();
        std::fs::write(dir.join("m.toml"), "x").unwrap();
        FleetConfig::parse(text, &dir.join("fleet.toml"))
    }

    const GOOD: &str = r#"
[broker]
url = "mqtts://127.0.0.1:8883"
ca_file = "ca.pem"
username = "twin"
password_file = "pw"

[[machine]]
id = "m-1"
model = "m.toml"
"#;

    #[test]
    fn reads_defaults_and_secrets() {
        let c = parse(GOOD).unwrap();
        assert_eq!((c.broker.host.as_str(), c.broker.port), ("127.0.0.1", 8883));
        assert!(c.broker.tls);
        assert_eq!(c.service.topic_prefix, "machine-twin");
        assert_eq!(c.machines[0].members, 32);
        assert_eq!(
            c.broker.password.as_ref().unwrap().read().unwrap(),
            "secret"
        );
    }

    #[test]
    fn errors_name_line_and_field() {
        let inline = GOOD.replace("password_file = \"pw\"", "password = \"hunter2\"");
        let e = parse(&inline).unwrap_err().to_string();
        assert!(e.contains(":6: broker.password"), "{e}");
        assert!(!e.contains("hunter2"), "the password is never echoed: {e}");
        let plain = GOOD.replace("mqtts://", "mqtt://");
        let e = parse(&plain).unwrap_err().to_string();
        assert!(
            e.contains(":3: broker.url") && e.contains("insecure"),
            "{e}"
        );
        let bad_id = GOOD.replace("\"m-1\"", "\"a/+\"");
        let e = parse(&bad_id).unwrap_err().to_string();
        assert!(e.contains(":9: machine.id"), "{e}");
        let typo = GOOD.replace("username", "user_name");
        let e = parse(&typo).unwrap_err().to_string();
        assert!(e.contains(":5:") && e.contains("user_name"), "{e}");
        let twice = format!("{GOOD}\n[[machine]]\nid = \"m-1\"\nmodel = \"m.toml\"\n");
        let e = parse(&twice).unwrap_err().to_string();
        assert!(e.contains(":13: machine.id") && e.contains("twice"), "{e}");
        let members = GOOD.replace("model = \"m.toml\"", "model = \"m.toml\"\nmembers = 1");
        let e = parse(&members).unwrap_err().to_string();
        assert!(e.contains(":11: machine.members"), "{e}");
    }
}
