//! `twin replay`: publishes a recorded or simulated run as its machine would, on
//! `<prefix>/<machine>/data` (QoS 1, persistent session), for demos, tests and load runs.

use std::time::{Duration, Instant};

use machine_twin::data::{DataTable, Policy};
use rumqttc::v5::Event;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;

use crate::config::FleetConfig;
use crate::error::{Error, Result};
use crate::mqtt;
use crate::serve::Topics;

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Data seconds per wall-clock second.
    Factor(f64),
    /// As fast as the broker takes it.
    Max,
}

/// What a replay did.
#[derive(Debug, Clone, Copy)]
pub struct Replayed {
    /// Rows published.
    pub rows: usize,
    /// Messages published (and acknowledged by the broker).
    pub messages: usize,
    /// Wall-clock seconds.
    pub wall: f64,
}

/// The rows of `table` as JSON objects, in messages of up to `batch` s of data each (0: one row
/// per message). Times: Unix seconds from `origin` where given (a replay stamped with the wall
/// clock), else absolute where the file had them, else as the file gives them.
pub fn messages(table: &DataTable, batch: f64, origin: Option<f64>) -> Vec<(f64, String)> {
    let mut out: Vec<(f64, String)> = Vec::new();
    let mut current: Vec<serde_json::Value> = Vec::new();
    let mut start = None;
    let mut last = 0.0;
    // A batch goes out when its last row is due, as a machine sends what it has collected.
    let flush = |current: &mut Vec<serde_json::Value>, out: &mut Vec<(f64, String)>, t: f64| {
        if current.is_empty() {
            return;
        }
        let text = if current.len() == 1 {
            current[0].to_string()
        } else {
            serde_json::Value::Array(std::mem::take(current)).to_string()
        };
        current.clear();
        out.push((t, text));
    };
    for (t, row) in table.times.iter().zip(&table.rows) {
        if let Some(s) = start
            && t - s >= batch
        {
            flush(&mut current, &mut out, last);
            start = None;
        }
        let mut object = serde_json::Map::new();
        let time = origin.or(table.time_origin).map_or(*t, |o| o + t);
        object.insert("time".into(), serde_json::json!(time));
        for (c, v) in table.columns.iter().zip(row) {
            if let Some(v) = v {
                object.insert(c.clone(), serde_json::json!(v));
            }
        }
        current.push(serde_json::Value::Object(object));
        start.get_or_insert(*t);
        last = *t;
    }
    flush(&mut current, &mut out, last);
    out
}

/// Publishes `data` as machine `machine` of `config` at `speed`, `batch` s of data per
/// message, its rows stamped with the wall clock (`now`: the first row is now, Unix seconds)
/// or with the file's times; returns once the broker has acknowledged every message.
pub fn replay(
    config: &FleetConfig,
    machine: &str,
    data: &str,
    speed: Speed,
    batch: f64,
    now: bool,
) -> Result<Replayed> {
    config.machine(machine)?;
    let table = DataTable::read(data, Policy::Lenient)?;
    let topic = Topics::new(&config.service.topic_prefix, machine).data;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::State(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let client_id = format!("{}-replay-{machine}", config.broker.client_id);
        let (client, mut eventloop) = mqtt::client(
            &config.broker,
            &client_id,
            config.service.max_payload_bytes,
            None,
        )?;
        mqtt::connect(&mut eventloop, &config.broker, Duration::from_secs(30)).await?;
        // Stamped from now, once connected: the first row is due now.
        let origin = now.then(|| {
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            wall - table.times.first().copied().unwrap_or(0.0)
        });
        let messages = messages(&table, batch.max(0.0), origin);
        let started = Instant::now();
        let first = table.times.first().copied().unwrap_or(0.0);
        let total = messages.len();
        let publisher = {
            let client = client.clone();
            async move {
                for (t, text) in messages {
                    if let Speed::Factor(f) = speed {
                        let due = Duration::from_secs_f64(((t - first) / f).max(0.0));
                        if let Some(wait) = due.checked_sub(started.elapsed()) {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    client
                        .publish(topic.clone(), QoS::AtLeastOnce, false, text)
                        .await
                        .map_err(|e| Error::Broker(e.to_string()))?;
                }
                Ok::<(), Error>(())
            }
        };
        let acks = async {
            let mut acked = 0;
            while acked < total {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                    Ok(_) => {}
                    Err(e) => {
                        if mqtt::is_fatal(&e) {
                            return Err(Error::Broker(mqtt::describe(&e, &config.broker)));
                        }
                        tracing::warn!("{}; retrying", mqtt::describe(&e, &config.broker));
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            Ok(())
        };
        let (published, acked) = tokio::join!(publisher, acks);
        published?;
        acked?;
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await;
        Ok(Replayed {
            rows: table.times.len(),
            messages: total,
            wall: started.elapsed().as_secs_f64(),
        })
    })
}
