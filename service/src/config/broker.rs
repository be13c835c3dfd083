//! `[broker]` of the fleet file: where the broker is, TLS and credentials.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::Reader;
use crate::error::{Error, Result};

/// `[broker]`.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS (`mqtts://`); off only with `insecure = true` and an `mqtt://` URL.
    pub tls: bool,
    /// CA certificate(s) (PEM) that sign the broker's certificate.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM), where the broker asks for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// User name.
    pub username: Option<String>,
    /// Where the password comes from (never inline, never logged).
    pub password: Option<Secret>,
    /// Client id prefix; each machine connects as `<prefix>-<machine>`.
    pub client_id: String,
    /// Keep-alive interval, s.
    pub keep_alive: u64,
    /// How long the broker keeps a machine's session (and its queued rows) while the service
    /// is away, s.
    pub session_expiry: u32,
}

/// Where a password is read from.
#[derive(Debug, Clone)]
pub enum Secret {
    /// A file holding it (trailing newline dropped).
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl Secret {
    /// Reads the password.
    pub fn read(&self) -> Result<String> {
        match self {
            Secret::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| Error::Config(format!("{}: the password file: {e}", p.display()))),
            Secret::Env(v) => std::env::var(v).map_err(|_| {
                Error::Config(format!(
                    "broker.password_env: the environment variable `{v}` is not set"
                ))
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BrokerSpec {
    url: Spanned<String>,
    ca_file: Option<Spanned<String>>,
    client_cert: Option<Spanned<String>>,
    client_key: Option<Spanned<String>>,
    username: Option<String>,
    password_file: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    password: Option<Spanned<toml::Value>>,
    #[serde(default)]
    insecure: bool,
    client_id: Option<String>,
    keep_alive: Option<Spanned<u64>>,
    session_expiry: Option<u32>,
}

pub(super) fn read_broker(r: &Reader, b: &BrokerSpec) -> Result<BrokerConfig> {
    let url = b.url.get_ref();
    let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("mqtt://") {
        if !b.insecure {
            return r.err(
                b.url.span(),
                "broker.url",
                "a plain mqtt:// URL sends passwords and data in clear: use mqtts://, or set insecure = true".into(),
            );
        }
        (false, rest)
    } else {
        return r.err(
            b.url.span(),
            "broker.url",
            format!("expected mqtts://host:port, got `{url}`"),
        );
    };
    let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) if p > 0 && !h.is_empty() => (h.to_string(), p),
            _ => {
                return r.err(
                    b.url.span(),
                    "broker.url",
                    format!("expected a port from 1 to 65535 after the host, got `{url}`"),
                );
            }
        },
        None if !rest.is_empty() => (rest.to_string(), if tls { 8883 } else { 1883 }),
        None => return r.err(b.url.span(), "broker.url", "expected a host".into()),
    };
    if let Some(p) = &b.password {
        return r.err(
            p.span(),
            "broker.password",
            "a password is never written in the fleet file: give password_file or password_env"
                .into(),
        );
    }
    let password = match (&b.password_file, &b.password_env) {
        (Some(f), None) => Some(Secret::File(r.path(f, "broker.password_file", true)?)),
        (None, Some(v)) => Some(Secret::Env(v.get_ref().clone())),
        (Some(f), Some(_)) => {
            return r.err(
                f.span(),
                "broker.password_file",
                "give password_file or password_env, not both".into(),
            );
        }
        (None, None) => None,
    };
    if password.is_some() && b.username.is_none() {
        return Err(Error::Config(format!(
            "{}: broker.username: expected a user name with the password",
            r.label
        )));
    }
    let ca_file = b
        .ca_file
        .as_ref()
        .map(|c| r.path(c, "broker.ca_file", true))
        .transpose()?;
    if tls && ca_file.is_none() {
        return r.err(
            b.url.span(),
            "broker.ca_file",
            "expected the CA certificate (PEM) that signs the broker's certificate".into(),
        );
    }
    let client_cert = match (&b.client_cert, &b.client_key) {
        (Some(c), Some(k)) => Some((
            r.path(c, "broker.client_cert", true)?,
            r.path(k, "broker.client_key", true)?,
        )),
        (None, None) => None,
        (Some(c), None) => {
            return r.err(
                c.span(),
                "broker.client_key",
                "expected the key of the client certificate".into(),
            );
        }
        (None, Some(k)) => {
            return r.err(
                k.span(),
                "broker.client_cert",
                "expected the certificate of the client key".into(),
            );
        }
    };
    let keep_alive = match &b.keep_alive {
        None => 30,
        Some(k) if (5..=3600).contains(k.get_ref()) => *k.get_ref(),
        Some(k) => {
            return r.err(
                k.span(),
                "broker.keep_alive",
                format!("expected 5 to 3600 s, got {}", k.get_ref()),
            );
        }
    };
    Ok(BrokerConfig {
        host,
        port,
        tls,
        ca_file,
        client_cert,
        username: b.username.clone(),
        password,
        client_id: b.client_id.clone().unwrap_or_else(|| "twin-serve".into()),
        keep_alive,
        session_expiry: b.session_expiry.unwrap_or(7 * 24 * 3600),
    })
}
