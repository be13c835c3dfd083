//! Connections to the broker: MQTT 5 over TLS (rustls with the ring provider, given per
//! connection), a user name and password, a persistent session and manual acknowledgements.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, LastWill, Packet};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::BrokerConfig;
use crate::error::{Error, Result};

/// Most QoS 1 messages the broker may have in flight to one connection before the service
/// acknowledges them: it bounds each machine's memory at this many payloads.
pub const RECEIVE_MAXIMUM: u16 = 32;

/// The TLS client configuration: the CA file's certificates as the only roots, and the client
/// certificate where one is given.
fn tls_config(broker: &BrokerConfig) -> Result<Arc<rustls::ClientConfig>> {
    let ca_path = broker
        .ca_file
        .as_ref()
        .ok_or_else(|| Error::Config("broker.ca_file: expected with mqtts://".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_path)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Config(format!("{}: not a PEM certificate: {e}", ca_path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "{}: expected at least one PEM certificate",
            ca_path.display()
        )));
    }
    for c in certs {
        roots
            .add(c)
            .map_err(|e| Error::Config(format!("{}: {e}", ca_path.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let config = match &broker.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| Error::Config(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| Error::Config(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Config(format!("{}: {e}", cert.display())))?
        }
    };
    Ok(Arc::new(config))
}

/// Options for a connection as `client_id`, with a retained last will where given.
pub fn options(
    broker: &BrokerConfig,
    client_id: &str,
    max_payload: usize,
    will: Option<(String, String)>,
) -> Result<MqttOptions> {
    let mut o = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    o.set_keep_alive(Duration::from_secs(broker.keep_alive))
        .set_clean_start(false)
        .set_session_expiry_interval(Some(broker.session_expiry))
        .set_manual_acks(true)
        .set_receive_maximum(Some(RECEIVE_MAXIMUM))
        .set_max_packet_size(Some(
            u32::try_from(max_payload.saturating_mul(2).saturating_add(65_536)).unwrap_or(u32::MAX),
        ));
    if broker.tls {
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(tls_config(
            broker,
        )?)));
    }
    if let Some(user) = &broker.username {
        let password = match &broker.password {
            Some(secret) => secret.read()?,
            None => String::new(),
        };
        o.set_credentials(user.clone(), password);
    }
    if let Some((topic, payload)) = will {
        o.set_last_will(LastWill::new(topic, payload, QoS::AtLeastOnce, true, None));
    }
    Ok(o)
}

/// A connection error in words, with what to check.
pub fn describe(e: &ConnectionError, broker: &BrokerConfig) -> String {
    let at = format!("{}:{}", broker.host, broker.port);
    match e {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized,
        ) => format!(
            "the broker at {at} refused the user name or password (broker.username, broker.password_file or broker.password_env)"
        ),
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker at {at} refused the connection: {code:?}")
        }
        ConnectionError::Tls(t) => format!(
            "TLS with the broker at {at} failed: {t} (is its certificate signed by broker.ca_file, for this host name?)"
        ),
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("no broker listens at {at} (connection refused)")
        }
        ConnectionError::Io(io) if io.to_string().to_lowercase().contains("certificate") => {
            format!(
                "TLS with the broker at {at} failed: {io} (is its certificate signed by broker.ca_file, for this host name?)"
            )
        }
        other => format!("the connection to the broker at {at} failed: {other}"),
    }
}

/// Whether retrying cannot help: credentials or certificates refused.
pub fn is_fatal(e: &ConnectionError) -> bool {
    match e {
        ConnectionError::ConnectionRefused(code) => matches!(
            code,
            ConnectReturnCode::BadUserNamePassword
                | ConnectReturnCode::NotAuthorized
                | ConnectReturnCode::Banned
                | ConnectReturnCode::BadAuthenticationMethod
                | ConnectReturnCode::ClientIdentifierNotValid
        ),
        // A certificate the CA does not sign, or a bad name: retrying cannot help. A handshake
        // cut short (a broker stopping) can.
        ConnectionError::Tls(t) => {
            let text = t.to_string().to_lowercase();
            !matches!(t, rumqttc::TlsError::Io(_))
                || text.contains("certificate")
                || text.contains("invalid peer")
        }
        ConnectionError::Io(io) => {
            let text = io.to_string().to_lowercase();
            text.contains("certificate") || text.contains("invalid peer")
        }
        _ => false,
    }
}

/// Polls `eventloop` until the broker accepts the connection: `Ok(session_present)`, or the
/// error in words (see [`describe`]) at once where retrying cannot help (credentials or
/// certificates refused), else once `patience` has passed (a broker restarting or not yet
/// up: each failure is logged, retried with a backoff from 0.5 s to 5 s).
pub async fn connect(
    eventloop: &mut EventLoop,
    broker: &BrokerConfig,
    patience: Duration,
) -> Result<bool> {
    let start = std::time::Instant::now();
    let mut backoff = Duration::from_millis(500);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack.session_present),
            Ok(_) => {}
            Err(e) => {
                if is_fatal(&e) || start.elapsed() + backoff > patience {
                    return Err(Error::Broker(describe(&e, broker)));
                }
                tracing::warn!(
                    "{}; retrying in {:.1} s",
                    describe(&e, broker),
                    backoff.as_secs_f64()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Subscribes to `topic` (QoS 1) and polls `eventloop` until the broker confirms it; returns
/// the messages that a persistent session delivered meanwhile.
pub async fn subscribe(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    broker: &BrokerConfig,
    topic: &str,
) -> Result<Vec<rumqttc::v5::mqttbytes::v5::Publish>> {
    let mut early = Vec::new();
    client
        .subscribe(topic.to_string(), QoS::AtLeastOnce)
        .await
        .map_err(|e| Error::Broker(e.to_string()))?;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                return match ack.return_codes.first() {
                    Some(rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success(_)) => Ok(early),
                    other => Err(Error::Broker(format!(
                        "the broker at {}:{} refused the subscription to {topic}: {other:?}",
                        broker.host, broker.port
                    ))),
                };
            }
            Ok(Event::Incoming(Packet::Publish(p))) => early.push(p),
            Ok(_) => {}
            Err(e) => return Err(Error::Broker(describe(&e, broker))),
        }
    }
}

/// [`connect`] then [`subscribe`], from the start again where the broker goes away between
/// the two (a broker restarting), until `patience` has passed; returns the messages a
/// persistent session delivered before the subscription was confirmed.
pub async fn connect_and_subscribe(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    broker: &BrokerConfig,
    topic: &str,
    patience: Duration,
) -> Result<Vec<rumqttc::v5::mqttbytes::v5::Publish>> {
    let start = std::time::Instant::now();
    loop {
        let left = patience.saturating_sub(start.elapsed());
        connect(eventloop, broker, left).await?;
        match subscribe(client, eventloop, broker, topic).await {
            Ok(early) => return Ok(early),
            Err(e) if start.elapsed() < patience => {
                tracing::warn!("{e}; connecting again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A client and its event loop for `client_id`.
pub fn client(
    broker: &BrokerConfig,
    client_id: &str,
    max_payload: usize,
    will: Option<(String, String)>,
) -> Result<(AsyncClient, EventLoop)> {
    Ok(AsyncClient::new(
        options(broker, client_id, max_payload, will)?,
        256,
    ))
}
