//! What an operator's tools read: Prometheus metrics on `GET /metrics` and the service's
//! health on `GET /health`, served on `service.http` (default 127.0.0.1:9464; loopback only
//! unless the fleet file says otherwise).
//!
//! Metrics, each labelled by `machine`: `twin_payloads_total`, `twin_rows_total` (rows read),
//! `twin_rows_accepted_total`, `twin_rows_left_out_total{reason}` (duplicate, out_of_order,
//! redelivered, too_far_ahead), `twin_payloads_rejected_total{reason}`,
//! `twin_lag_seconds` (a histogram of the wall time between a payload's last row's absolute
//! time and its assimilation),
//! `twin_ingest_seconds` (a histogram of the time a worker's group of waiting payloads takes:
//! read, assimilate, journal and one sync).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::messages::Counts;

type Labels = Vec<(String, String)>;

/// The service's metrics (one registry per service: no process-wide state).
pub struct Metrics {
    registry: Registry,
    payloads: Family<Labels, Counter>,
    rows: Family<Labels, Counter>,
    accepted: Family<Labels, Counter>,
    left_out: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    lag: Family<Labels, Histogram>,
    ingest: Family<Labels, Histogram>,
    health: Mutex<BTreeMap<String, MachineHealth>>,
}

/// A machine's health as `/health` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MachineHealth {
    /// `running`, or `stopped` with the error.
    pub state: String,
    /// Data time of the last accepted row, s.
    pub last_data_time: Option<f64>,
    /// Lag, s (absolute times only).
    pub lag: Option<f64>,
    /// Why it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn machine(id: &str) -> Labels {
    vec![("machine".into(), id.into())]
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the service's metrics.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("twin");
        let payloads = Family::<Labels, Counter>::default();
        let rows = Family::<Labels, Counter>::default();
        let accepted = Family::<Labels, Counter>::default();
        let left_out = Family::<Labels, Counter>::default();
        let rejected = Family::<Labels, Counter>::default();
        let lag =
            Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(one_two_five()));
        let ingest = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1e-4, 2.0, 18))
        });
        registry.register("payloads", "Payloads received", payloads.clone());
        registry.register("rows", "Rows read from accepted payloads", rows.clone());
        registry.register(
            "rows_accepted",
            "Rows journaled and assimilated",
            accepted.clone(),
        );
        registry.register(
            "rows_left_out",
            "Rows left out, by reason",
            left_out.clone(),
        );
        registry.register(
            "payloads_rejected",
            "Payloads left out as a whole, by reason",
            rejected.clone(),
        );
        registry.register(
            "lag_seconds",
            "Wall seconds between a row's time and its assimilation",
            lag.clone(),
        );
        registry.register(
            "ingest_seconds",
            "Seconds a group of waiting payloads takes: read, assimilate, journal, one sync",
            ingest.clone(),
        );
        Self {
            registry,
            payloads,
            rows,
            accepted,
            left_out,
            rejected,
            lag,
            ingest,
            health: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records what one payload changed: the counts before and after, its wall time, the lag.
    pub fn payload(
        &self,
        id: &str,
        before: &Counts,
        after: &Counts,
        seconds: f64,
        lag: Option<f64>,
    ) {
        let m = machine(id);
        let add = |family: &Family<Labels, Counter>, labels: &Labels, a: u64, b: u64| {
            if b > a {
                family.get_or_create(labels).inc_by(b - a);
            }
        };
        add(&self.payloads, &m, before.payloads, after.payloads);
        add(&self.rows, &m, before.rows, after.rows);
        add(&self.accepted, &m, before.accepted, after.accepted);
        for (reason, a, b) in [
            ("duplicate", before.duplicate, after.duplicate),
            ("out_of_order", before.out_of_order, after.out_of_order),
            ("redelivered", before.redelivered, after.redelivered),
            ("too_far_ahead", before.too_far_ahead, after.too_far_ahead),
        ] {
            let mut labels = m.clone();
            labels.push(("reason".into(), reason.into()));
            add(&self.left_out, &labels, a, b);
        }
        for (reason, &b) in &after.rejected {
            let a = before.rejected.get(reason).copied().unwrap_or(0);
            let mut labels = m.clone();
            labels.push(("reason".into(), reason.clone()));
            add(&self.rejected, &labels, a, b);
        }
        self.ingest.get_or_create(&m).observe(seconds);
        if let Some(lag) = lag {
            self.lag.get_or_create(&m).observe(lag);
        }
    }

    /// Sets machine `id`'s health.
    pub fn set_health(&self, id: &str, health: MachineHealth) {
        if let Ok(mut h) = self.health.lock() {
            h.insert(id.to_string(), health);
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }

    /// `/health`: 200 while every machine runs, else 503; the machines' states as JSON.
    pub fn health(&self) -> (StatusCode, String) {
        let h = self.health.lock().map(|h| h.clone()).unwrap_or_default();
        let ok = h.values().all(|m| m.state == "running");
        let body = serde_json::json!({
            "status": if ok { "ok" } else { "degraded" },
            "machines": h,
        });
        let code = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, body.to_string())
    }
}

/// The routes of the metrics and health endpoint.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    m.render(),
                )
            }),
        )
        .route(
            "/health",
            get(|State(m): State<Arc<Metrics>>| async move {
                let (code, body) = m.health();
                (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }),
        )
        .with_state(metrics)
}

/// Lag bucket bounds in s: 1, 2 and 5 times each power of ten from 1 ms to 100 s (a lag
/// goal such as "under 1 s" is a bucket bound).
fn one_two_five() -> impl Iterator<Item = f64> {
    (-3..=2).flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
}
