//! `twin serve`: every machine of a fleet file on its own connection, worker thread and
//! journal (see the crate doc).

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, EventLoop};

use crate::config::{BrokerConfig, FleetConfig};
use crate::error::{Error, Result};
use crate::machine::{MachineTwin, Outgoing};
use crate::messages::Status;
use crate::mqtt;
use crate::observe::{MachineHealth, Metrics};

/// Wall-clock seconds between status messages.
const STATUS_EVERY: Duration = Duration::from_secs(5);
/// Most payloads a worker takes in before one sync and their acknowledgements.
const MAX_GROUP: usize = 64;
/// Most messages waiting for a machine's worker. A full queue stops the reading of the
/// machine's connection (TCP holds the broker back; the broker keeps the rest): mosquitto 2.0
/// delivers far beyond the receive maximum to a service that is behind, and a 24-hour stream
/// published at once held 2.3 GB of the service's memory before.
const MAX_QUEUED: usize = 64;
/// How often a worker retries acknowledgements and messages its connection could not take yet.
const RETRY: Duration = Duration::from_millis(5);

/// How long `twin serve` keeps trying to reach a broker that is not up at its start.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A machine's topics.
#[derive(Clone)]
pub struct Topics {
    /// `<prefix>/<machine>/data`.
    pub data: String,
    prefix: String,
}

impl Topics {
    /// The topics of machine `id` under `prefix`.
    pub fn new(prefix: &str, id: &str) -> Self {
        Self {
            data: format!("{prefix}/{id}/data"),
            prefix: format!("{prefix}/{id}"),
        }
    }

    /// `<prefix>/<machine>/<kind>`.
    pub fn out(&self, kind: &str) -> String {
        format!("{}/{kind}", self.prefix)
    }
}

fn offline(id: &str) -> String {
    serde_json::json!({"machine": id, "state": "offline"}).to_string()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs the fleet until `shutdown` completes: opens every machine (resuming each from its
/// state), connects each to the broker (a refused password or an untrusted certificate is an
/// error here), then assimilates what arrives. Connections lost later are retried with a
/// backoff of up to 30 s, with a log line each time.
pub async fn run(config: FleetConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = config.service.http {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::Config(format!(
                "{}: service.http: cannot listen on {addr}: {e}",
                config.source.display()
            ))
        })?;
        tracing::info!(%addr, "metrics on http://{addr}/metrics, health on /health");
        let app = crate::observe::router(Arc::clone(&metrics));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("the metrics endpoint stopped: {e}");
            }
        });
    }
    let mut machines = Vec::new();
    for m in &config.machines {
        let started = Instant::now();
        let twin = tokio::task::block_in_place(|| MachineTwin::open(m, &config.service))?;
        tracing::info!(
            machine = %m.id,
            rows = twin.counts().accepted,
            "opened in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        machines.push(twin);
    }
    // With at least as many machines as cores, the machines are the parallelism: each
    // worker steps its members on its own thread. A smaller fleet shares the pool.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let step_alone = machines.len() >= cores;
    let mut clients = Vec::new();
    let mut threads = Vec::new();
    let mut tasks = Vec::new();
    for twin in machines {
        let id = twin.id().to_string();
        let topics = Topics::new(&config.service.topic_prefix, &id);
        let client_id = format!("{}-{id}", config.broker.client_id);
        let (client, mut eventloop) = mqtt::client(
            &config.broker,
            &client_id,
            config.service.max_payload_bytes,
            Some((topics.out("status"), offline(&id))),
        )?;
        let early = mqtt::connect_and_subscribe(
            &client,
            &mut eventloop,
            &config.broker,
            &topics.data,
            CONNECT_PATIENCE,
        )
        .await?;
        tracing::info!(machine = %id, topic = %topics.data, "subscribed");
        let (tx, rx) = std::sync::mpsc::sync_channel(MAX_QUEUED);
        let worker = Worker {
            twin,
            client: client.clone(),
            topics: topics.clone(),
            outbox: VecDeque::new(),
            idle: Duration::from_secs_f64(config.service.idle_publish),
            metrics: Arc::clone(&metrics),
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("machine-{id}"))
                .spawn(move || {
                    if step_alone {
                        worker.run_alone(rx)
                    } else {
                        worker.run(rx)
                    }
                })
                .map_err(|e| Error::State(format!("cannot start machine {id}'s worker: {e}")))?,
        );
        for p in early {
            if !drop_foreign(&client, &topics, &p).await && !hand_over(&tx, p).await {
                break;
            }
        }
        tasks.push(tokio::spawn(pump(
            eventloop,
            client.clone(),
            topics.clone(),
            config.broker.clone(),
            tx,
        )));
        clients.push((client, topics, id));
    }
    shutdown.await;
    tracing::info!("shutting down");
    for task in &tasks {
        task.abort();
    }
    for thread in threads {
        let _ = tokio::task::block_in_place(|| thread.join());
    }
    for (client, topics, id) in clients {
        let _ = client
            .publish(topics.out("status"), QoS::AtLeastOnce, true, offline(&id))
            .await;
        let _ = client.disconnect().await;
    }
    Ok(())
}

/// Moves a connection's messages to its machine's worker, and reconnects with a backoff.
async fn pump(
    mut eventloop: EventLoop,
    client: AsyncClient,
    topics: Topics,
    broker: BrokerConfig,
    tx: SyncSender<Publish>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if drop_foreign(&client, &topics, &p).await {
                    continue;
                }
                if !hand_over(&tx, p).await {
                    return; // the worker stopped
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = Duration::from_millis(500);
                tracing::info!(topic = %topics.data, session_present = ack.session_present, "connected to the broker");
                if !ack.session_present {
                    let _ = client
                        .subscribe(topics.data.clone(), QoS::AtLeastOnce)
                        .await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                let fatal = if mqtt::is_fatal(&e) {
                    " (will not succeed until that is fixed)"
                } else {
                    ""
                };
                tracing::warn!(
                    topic = %topics.data,
                    "{}{fatal}; retrying in {:.1} s",
                    mqtt::describe(&e, &broker),
                    backoff.as_secs_f64()
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Queues `p` for the machine's worker, waiting while its queue is full (the connection is not
/// read meanwhile; the worker never waits for this task, see [`Worker::drain`]); `false` once
/// the worker has stopped.
async fn hand_over(tx: &SyncSender<Publish>, mut p: Publish) -> bool {
    loop {
        match tx.try_send(p) {
            Ok(()) => return true,
            Err(TrySendError::Full(back)) => {
                p = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
}

/// What a worker hands to its connection.
enum Request {
    /// The acknowledgement of a QoS 1 message, by its packet id.
    Ack(u16),
    Publish(Outgoing),
}

/// Drops a message on a topic that is not the machine's (a subscription the persistent session
/// kept from an older fleet file, another prefix): never this machine's rows. Acknowledges it,
/// unsubscribes from its topic and says so; `false` for the machine's own messages.
async fn drop_foreign(client: &AsyncClient, topics: &Topics, p: &Publish) -> bool {
    if p.topic == topics.data.as_bytes() {
        return false;
    }
    let topic = String::from_utf8_lossy(&p.topic).into_owned();
    tracing::warn!(
        expected = %topics.data,
        "left out a message on `{topic}`, a subscription an older configuration left in the session; unsubscribing"
    );
    let _ = client.unsubscribe(topic).await;
    let _ = client.ack(p).await;
    true
}

/// A machine's worker thread: owns its twin.
struct Worker {
    twin: MachineTwin,
    client: AsyncClient,
    topics: Topics,
    /// Requests the connection could not take yet, oldest first.
    outbox: VecDeque<Request>,
    idle: Duration,
    metrics: Arc<Metrics>,
}

impl Worker {
    /// Runs the worker with its machine's ensemble stepped on this thread alone: where the
    /// fleet's machines are the service's parallelism, handing every row's members to a
    /// shared pool cost more in waiting and waking than it gained (a 32-machine load run
    /// went from 2480 to 2869 rows/s on 2 cores).
    fn run_alone(self, rx: Receiver<Publish>) {
        match rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .use_current_thread()
            .build()
        {
            Ok(_pool) => self.run(rx),
            Err(e) => {
                tracing::warn!(machine = %self.twin.id(), "members stepped on the shared pool: {e}");
                self.run(rx)
            }
        }
    }

    fn run(mut self, rx: Receiver<Publish>) {
        let mut last_status = Instant::now();
        let mut accepted_then = self.twin.counts().accepted;
        let mut lag = None;
        // Payloads taken in and not yet acknowledged, by arrival number: their packet ids (none
        // at QoS 0). Their rows may wait in the reorder window; the messages themselves are
        // dropped at once (their topic and payload would keep the connection's read buffer).
        let mut unacked = BTreeMap::new();
        let mut tags = 0_u64..;
        self.send_status(0.0, None, None);
        self.health(None, None);
        let mut last_payload = Instant::now();
        loop {
            let wait = if self.outbox.is_empty() {
                self.idle.saturating_sub(last_payload.elapsed()).max(RETRY)
            } else {
                RETRY
            };
            match rx.recv_timeout(wait) {
                Ok(first) => {
                    last_payload = Instant::now();
                    // Under load several payloads wait: take them all, sync once, then
                    // acknowledge them all (a sync per payload was the bottleneck).
                    let mut batch = vec![first];
                    while batch.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(p) => batch.push(p),
                            Err(_) => break,
                        }
                    }
                    let before = self.twin.counts().clone();
                    let started = Instant::now();
                    let mut out = Vec::new();
                    let taken = batch
                        .into_iter()
                        .try_for_each(|p| {
                            let tag = tags.next().expect("payload numbers do not run out");
                            out.extend(self.twin.ingest(&p.payload, p.dup, tag)?);
                            unacked.insert(tag, (p.qos != QoS::AtMostOnce).then_some(p.pkid));
                            Ok(())
                        })
                        .and_then(|()| self.twin.sync());
                    if let Err(e) = taken {
                        return self.stop(&rx, lag, e);
                    }
                    self.acknowledge(&mut unacked);
                    let status = self.twin.status(0.0, None);
                    lag = status.last_data_unix.map(|t| unix_now() - t);
                    self.metrics.payload(
                        self.twin.id(),
                        &before,
                        self.twin.counts(),
                        started.elapsed().as_secs_f64(),
                        lag,
                    );
                    self.send(out);
                }
                Err(RecvTimeoutError::Timeout) if last_payload.elapsed() < self.idle => {
                    self.drain();
                }
                Err(RecvTimeoutError::Timeout) => {
                    // Quiet: the rows waiting in the reorder window go on now.
                    last_payload = Instant::now();
                    self.drain();
                    let flushed = self.twin.flush();
                    match flushed.and_then(|out| self.twin.sync().map(|()| out)) {
                        Ok(out) => {
                            self.acknowledge(&mut unacked);
                            self.send(out);
                        }
                        Err(e) => return self.stop(&rx, lag, e),
                    }
                    match self.twin.publish_if_new() {
                        Ok(out) => self.send(out),
                        Err(e) => tracing::warn!(machine = %self.twin.id(), "no estimate: {e}"),
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if last_status.elapsed() >= STATUS_EVERY {
                let accepted = self.twin.counts().accepted;
                let rate = (accepted - accepted_then) as f64 / last_status.elapsed().as_secs_f64();
                self.send_status(rate, lag, None);
                self.health(lag, None);
                accepted_then = accepted;
                last_status = Instant::now();
            }
        }
    }

    /// Acknowledges the payloads none of whose rows wait any more: journaled and synced, the
    /// broker may forget them now.
    fn acknowledge(&mut self, unacked: &mut BTreeMap<u64, Option<u16>>) {
        for tag in self.twin.finished_payloads() {
            if let Some(Some(pkid)) = unacked.remove(&tag) {
                self.outbox.push_back(Request::Ack(pkid));
            }
        }
        self.drain();
    }

    /// Hands the waiting requests to the connection, oldest first, as far as it takes them now.
    /// Never waits: the connection's task may itself be waiting for this worker's queue.
    fn drain(&mut self) {
        while let Some(request) = self.outbox.front() {
            let taken = match request {
                Request::Ack(pkid) => {
                    let mut ack = Publish::new("", QoS::AtLeastOnce, "", None);
                    ack.pkid = *pkid;
                    self.client.try_ack(&ack)
                }
                Request::Publish(o) => self.client.try_publish(
                    self.topics.out(o.kind),
                    QoS::AtLeastOnce,
                    o.retain,
                    o.payload.clone(),
                ),
            };
            if taken.is_err() {
                return; // full: the next round
            }
            self.outbox.pop_front();
        }
    }

    /// Stops the worker after an error: says so in its status and health, and gives the
    /// connection up to 2 s to take what waits (the messages still queued are not acknowledged:
    /// the broker delivers them again at the next start).
    fn stop(&mut self, rx: &Receiver<Publish>, lag: Option<f64>, e: Error) {
        tracing::error!(machine = %self.twin.id(), "stopped: {e}");
        self.send_status(0.0, None, Some(e.to_string()));
        self.health(lag, Some(e.to_string()));
        let started = Instant::now();
        while !self.outbox.is_empty() && started.elapsed() < Duration::from_secs(2) {
            while rx.try_recv().is_ok() {}
            std::thread::sleep(RETRY);
            self.drain();
        }
    }

    fn health(&self, lag: Option<f64>, error: Option<String>) {
        self.metrics.set_health(
            self.twin.id(),
            MachineHealth {
                state: if error.is_some() {
                    "stopped"
                } else {
                    "running"
                }
                .into(),
                last_data_time: self.twin.status(0.0, None).last_data_time,
                lag,
                error,
            },
        );
    }

    fn send_status(&mut self, rate: f64, lag: Option<f64>, error: Option<String>) {
        let mut status: Status = self.twin.status(rate, lag);
        if error.is_some() {
            status.error = error;
        }
        if let Ok(payload) = serde_json::to_string(&status) {
            self.send(vec![Outgoing {
                kind: "status",
                payload,
                retain: true,
            }]);
        }
    }

    /// Publishes `out` (QoS 1) after what already waits for the connection.
    fn send(&mut self, out: Vec<Outgoing>) {
        self.outbox.extend(out.into_iter().map(Request::Publish));
        self.drain();
    }
}

/// Runs [`run`] on a new runtime until Ctrl-C or SIGTERM.
pub fn serve(config: FleetConfig) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::State(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(run(config, stop_signal()))
}

/// Ctrl-C or (on Unix) SIGTERM.
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
