//! Live twins against a real broker (issue 17): `twin serve` and `twin replay` with mosquitto
//! (TLS and a password), started on a loopback port by each test. The service's estimates must
//! equal `twin calibrate` on the same rows and seed; `kill -9` at random points and broker
//! restarts must lose no row and assimilate none twice; refused credentials and untrusted
//! certificates must be clear errors; hostile payloads are counted, never fatal.

#[path = "live/broker.rs"]
mod broker;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker::Broker;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn twin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_twin"))
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("twin-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The example bearing runs, one per machine.
const RUNS: [&str; 3] = ["new_bearing.csv", "b3.csv", "b1.csv"];

fn data(run: &str) -> PathBuf {
    root().join("examples/data/bearing_rig").join(run)
}

fn rows(run: &str) -> u64 {
    std::fs::read_to_string(data(run)).unwrap().lines().count() as u64 - 1
}

/// A fleet file of `n` bearing-rig machines `m0`, `m1`, ... (particle filter, 64 members,
/// seed 10 + i), with `extra` lines in `[service]`.
fn fleet(broker: &Broker, dir: &Path, n: usize, extra: &str) -> PathBuf {
    let mut text = broker.fleet_broker();
    text.push_str(&format!(
        "\n[service]\nstate_dir = \"{}/state\"\nidle_publish = 0.3\nhttp = \"127.0.0.1:{}\"\n{extra}\n",
        dir.display(),
        broker::free_port()
    ));
    for i in 0..n {
        text.push_str(&format!(
            "\n[[machine]]\nid = \"m{i}\"\nmodel = \"{}/models/bearing_rig.toml\"\nmethod = \"pf\"\nmembers = 64\nseed = {}\npublish_every = 1000000.0\ncheckpoint_every = 900.0\nhorizon = 72000.0\n",
            root().display(),
            10 + i
        ));
    }
    let path = dir.join("fleet.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A process killed (SIGKILL) when dropped, so a failed test leaves none behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `twin serve` in the background, its log in `dir/serve-<k>.log`.
fn serve(fleet: &Path, dir: &Path, k: usize) -> Killed {
    let log = std::fs::File::create(dir.join(format!("serve-{k}.log"))).unwrap();
    Killed(
        twin()
            .arg("serve")
            .arg(fleet)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("twin serve starts"),
    )
}

fn replay(fleet: &Path, machine: &str, run: &str, speed: &str) -> Child {
    twin()
        .arg("replay")
        .arg(data(run))
        .arg("--config")
        .arg(fleet)
        .args(["--machine", machine, "--speed", speed, "--batch", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("twin replay starts")
}

/// The machine's retained estimate once it has assimilated `rows` rows (and its last row).
fn final_estimate(broker: &Broker, machine: &str, rows: u64, wait: Duration) -> serde_json::Value {
    let start = Instant::now();
    let topic = format!("machine-twin/{machine}/estimate");
    let mut last = String::new();
    while start.elapsed() < wait {
        if let Some(text) = broker.retained(&topic, Duration::from_secs(2)) {
            let v: serde_json::Value = serde_json::from_str(&text).expect("an estimate is JSON");
            if v["data_quality"]["accepted"].as_u64() == Some(rows) {
                return v;
            }
            last = text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no estimate of {machine} after {rows} rows within {wait:?}; last: {last}");
}

/// `twin calibrate` of `run` with machine `i`'s settings: its report's parameters.
fn offline(run: &str, i: usize, dir: &Path) -> serde_json::Value {
    let report = dir.join(format!("offline-{i}.json"));
    let out = twin()
        .arg("calibrate")
        .arg(root().join("models/bearing_rig.toml"))
        .arg("--data")
        .arg(data(run))
        .args(["--method", "pf", "--members", "64", "--seed"])
        .arg((10 + i).to_string())
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    v["parameters"].clone()
}

/// Every parameter summary of the live estimate equals the offline one to 1e-12 relative.
fn assert_same(live: &serde_json::Value, offline: &serde_json::Value, what: &str) {
    let offline = offline.as_object().unwrap();
    for (path, summary) in offline {
        for field in ["mean", "std", "p05", "p50", "p95"] {
            let a = summary[field].as_f64().unwrap();
            let b = live["parameters"][path][field].as_f64().unwrap();
            assert!(
                (a - b).abs() <= 1e-12 * a.abs().max(1e-300),
                "{what}: {path}.{field}: offline {a}, live {b}"
            );
        }
    }
}

#[test]
fn live_estimates_equal_offline_calibration_through_kills_and_a_broker_restart() {
    if !broker::available() {
        return;
    }
    let dir = temp("kills");
    let mut broker = Broker::start(&dir.join("broker"));
    let fleet = fleet(&broker, &dir, RUNS.len(), "");
    let mut server = serve(&fleet, &dir, 0);
    for i in 0..RUNS.len() {
        // Subscribed (rows published before a first subscription are the broker's to drop).
        let topic = format!("machine-twin/m{i}/status");
        assert!(broker.retained(&topic, Duration::from_secs(10)).is_some());
    }
    // Three machines replayed at 1000x: the runs last 4.6-9 s of wall time each. The
    // service is killed (SIGKILL) and restarted at four points while they publish, and the
    // broker is restarted once after.
    let replays: Vec<Child> = RUNS
        .iter()
        .enumerate()
        .map(|(i, run)| replay(&fleet, &format!("m{i}"), run, "1000"))
        .collect();
    // Kill points: once machine m0 has journaled about 10, 30, 50 and 70 % of its run, give
    // or take a random few rows (so the kills fall mid-stream however fast this machine is).
    let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(std::process::id());
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % 40
    };
    let total = rows(RUNS[0]);
    for k in 1..=4 {
        let target = total * (2 * k as u64 - 1) / 10 + random();
        let start = Instant::now();
        while journaled(&dir.join("state/m0")) < target && start.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(server); // kill -9
        server = serve(&fleet, &dir, k);
    }
    for r in replays {
        let out = r.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "replay: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The broker stops (saving its sessions and queues) and starts again once every row is
    // published; the service reconnects with its backoff and takes the rest. (A broker
    // restart while a publisher is mid-stream can reorder what the publisher sends again: see
    // the issue note; rows arriving out of order are counted and left out.)
    broker.stop();
    std::thread::sleep(Duration::from_millis(500));
    broker.restart();
    for (i, run) in RUNS.iter().enumerate() {
        let live = final_estimate(
            &broker,
            &format!("m{i}"),
            rows(run),
            Duration::from_secs(60),
        );
        assert_same(&live, &offline(run, i, &dir), &format!("m{i} ({run})"));
        // Rows the broker delivered again after a kill are counted, never taken twice.
        let q = &live["data_quality"];
        assert_eq!(q["duplicate"].as_u64(), Some(0), "{q}");
        assert_eq!(q["out_of_order"].as_u64(), Some(0), "{q}");
        eprintln!("m{i}: {q}");
    }
    drop(server);
    // The kills landed while rows were flowing: a restart found some of a run, not all.
    let opened: Vec<u64> = (1..=4)
        .flat_map(|k| {
            let log = std::fs::read_to_string(dir.join(format!("serve-{k}.log"))).unwrap();
            log.lines()
                .filter_map(|l| l.split("rows=").nth(1)?.trim().parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect();
    assert!(
        opened.iter().any(|&n| n > 0 && n < rows(RUNS[0])),
        "no kill fell in the middle of a replay: {opened:?}"
    );
}

#[test]
fn refused_password_and_untrusted_certificate_are_clear_errors() {
    if !broker::available() {
        return;
    }
    let dir = temp("refused");
    let broker = Broker::start(&dir.join("broker"));
    let good = fleet(&broker, &dir, 1, "");
    let text = std::fs::read_to_string(&good).unwrap();
    // A wrong password.
    std::fs::write(dir.join("wrong"), "not the password").unwrap();
    let wrong = dir.join("wrong.toml");
    std::fs::write(
        &wrong,
        text.replace(
            &format!("{}/password", broker.dir.display()),
            &format!("{}/wrong", dir.display()),
        ),
    )
    .unwrap();
    // A CA that did not sign the broker's certificate.
    broker::make_certificates(&dir, "other");
    let untrusted = dir.join("untrusted.toml");
    std::fs::write(
        &untrusted,
        text.replace(
            &format!("{}/broker-ca.crt", broker.dir.display()),
            &format!("{}/other-ca.crt", dir.display()),
        ),
    )
    .unwrap();
    for (file, expected) in [
        (&wrong, "refused the user name or password"),
        (&untrusted, "TLS"),
    ] {
        let start = Instant::now();
        let out = twin().arg("serve").arg(file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected `{expected}` in: {stderr}"
        );
        assert!(
            !stderr.contains("not the password"),
            "the password is never logged"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no tight or endless retry"
        );
    }
}

#[test]
fn hostile_payloads_are_counted_and_the_machine_goes_on() {
    if !broker::available() {
        return;
    }
    let dir = temp("hostile");
    let broker = Broker::start(&dir.join("broker"));
    let fleet = fleet(
        &broker,
        &dir,
        1,
        "max_payload_bytes = 65536\nmax_batch_rows = 100",
    );
    let server = serve(&fleet, &dir, 0);
    // Subscribed: its retained status says online.
    assert!(
        broker
            .retained("machine-twin/m0/status", Duration::from_secs(10))
            .is_some()
    );
    let topic = "machine-twin/m0/data";
    let good = |t: u32| {
        format!(
            "{{\"time\": {t}, \"shaft_speed\": 188.5, \"radial_load\": 4000, \"accel_h_rms\": 5.0, \"accel_v_rms\": 4.0, \"accel_h_peak\": 22.0, \"accel_v_peak\": 16.0}}"
        )
    };
    let nested = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let batch = format!("[{}]", (100..301).map(good).collect::<Vec<_>>().join(","));
    let hostile: Vec<Vec<u8>> = vec![
        good(10).into_bytes(),
        b"not json at all".to_vec(),
        vec![0xff, 0xfe, 0x7b, 0x7d],
        nested.into_bytes(),
        vec![b' '; 100_000],
        b"{\"time\": 20, \"accel_h_rms\": NaN}".to_vec(),
        b"{\"time\": 30, \"accel_h_rms\": \"NaN\"}".to_vec(),
        b"{\"time\": 40, \"radial_load\": 1e308, \"accel_h_rms\": 1e308}".to_vec(),
        good(5).into_bytes(),
        b"{\"time\": 50, \"<script>alert(1)</script>\": 1}".to_vec(),
        b"[1, 2, 3]".to_vec(),
        b"42".to_vec(),
        batch.into_bytes(),
        good(60).into_bytes(),
    ];
    for payload in &hostile {
        broker.publish(topic, payload);
    }
    // Rows at 10, 30 (its cell "NaN" left out), 40 (its load and reading out of range left
    // out) and 60 are taken; the row at 5 comes after 10.
    let estimate = final_estimate(&broker, "m0", 4, Duration::from_secs(30));
    let q = &estimate["data_quality"];
    let rejected = &q["rejected"];
    assert_eq!(rejected["not_json"].as_u64(), Some(3), "{q}"); // text, nesting, NaN
    assert_eq!(rejected["not_utf8"].as_u64(), Some(1), "{q}");
    assert_eq!(rejected["too_large"].as_u64(), Some(1), "{q}");
    assert_eq!(rejected["unknown_name"].as_u64(), Some(1), "{q}");
    assert_eq!(rejected["not_rows"].as_u64(), Some(2), "{q}");
    assert_eq!(rejected["too_many_rows"].as_u64(), Some(1), "{q}");
    assert_eq!(q["out_of_order"].as_u64(), Some(1), "{q}");
    assert_eq!(q["non_finite"].as_u64(), Some(1), "{q}"); // "NaN"
    // The load of 1e308 never reaches the twin: its wear stays finite.
    assert_eq!(q["out_of_range"].as_u64(), Some(2), "{q}");
    let wear = estimate["wear"]["test_bearing"]["p50"].as_f64();
    assert!(wear.is_some_and(f64::is_finite), "{estimate}");
    assert_eq!(q["payloads"].as_u64(), Some(hostile.len() as u64), "{q}");
    // The same counts for Prometheus, and the health endpoint.
    let fleet_text = std::fs::read_to_string(&fleet).unwrap();
    let port: u16 = fleet_text
        .split("http = \"127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let (code, body) = http_get(port, "/health");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("\"m0\"") && body.contains("running"),
        "{body}"
    );
    let (code, metrics) = http_get(port, "/metrics");
    assert_eq!(code, 200);
    for line in [
        "twin_payloads_rejected_total{machine=\"m0\",reason=\"not_json\"} 3",
        "twin_rows_accepted_total{machine=\"m0\"} 4",
        "twin_rows_left_out_total{machine=\"m0\",reason=\"out_of_order\"} 1",
    ] {
        assert!(metrics.contains(line), "no `{line}` in:\n{metrics}");
    }
    drop(server);
}

/// A publisher that resends out of order (rumqttc resends its unacknowledged messages in
/// packet-id order, which wraps): with a reorder window the rows still reach the twin in time
/// order, and its estimate equals `twin calibrate`'s on the file.
#[test]
fn rows_resent_out_of_order_within_the_reorder_window_are_assimilated_in_order() {
    if !broker::available() {
        return;
    }
    let dir = temp("reorder");
    let broker = Broker::start(&dir.join("broker"));
    let path = fleet(&broker, &dir, 1, "");
    let text = std::fs::read_to_string(&path).unwrap();
    // The run's rows are 10 s apart, 20 to a payload: two payloads swapped span 400 s.
    let text = text
        .replace("idle_publish = 0.3", "idle_publish = 2.0")
        .replace(
            "horizon = 72000.0\n",
            "horizon = 72000.0\nreorder_window = 600.0\n",
        );
    std::fs::write(&path, text).unwrap();
    let server = serve(&path, &dir, 0);
    assert!(
        broker
            .retained("machine-twin/m0/status", Duration::from_secs(10))
            .is_some()
    );
    let run = "b3.csv";
    let csv = std::fs::read_to_string(data(run)).unwrap();
    let mut lines = csv.lines();
    let names: Vec<&str> = lines.next().unwrap().split(',').collect();
    let objects: Vec<String> = lines
        .map(|l| {
            let cells: Vec<String> = names
                .iter()
                .zip(l.split(','))
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| format!("\"{n}\": {v}"))
                .collect();
            format!("{{{}}}", cells.join(", "))
        })
        .collect();
    let mut payloads: Vec<String> = objects
        .chunks(20)
        .map(|c| format!("[{}]", c.join(", ")))
        .collect();
    for pair in payloads.chunks_mut(2) {
        pair.reverse();
    }
    broker.publish_lines("machine-twin/m0/data", &payloads);
    let live = final_estimate(&broker, "m0", rows(run), Duration::from_secs(60));
    assert_same(
        &live,
        &offline(run, 0, &dir),
        "m0 (b3.csv, pairs of payloads swapped)",
    );
    let q = &live["data_quality"];
    assert_eq!(q["out_of_order"].as_u64(), Some(0), "{q}");
    assert_eq!(q["duplicate"].as_u64(), Some(0), "{q}");
    drop(server);
}

/// Rows a machine's journal in `dir` holds (the newest segment's first sequence number, from
/// its name, plus its complete lines).
fn journaled(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let newest = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max();
    let Some(path) = newest else { return 0 };
    let first: u64 = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("journal-"))
        .and_then(|n| n.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    first + text.matches('\n').count() as u64
}

/// `GET path` on 127.0.0.1:`port`: the status code and the body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("the endpoint listens");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |b| b.1)
        .to_string();
    (code, body)
}

/// A persistent session keeps the subscriptions of an older fleet file: after the topic prefix
/// changes, rows still published on the old topic reach the machine's connection. They are
/// dropped (and the old subscription with them), never taken as the machine's rows.
#[test]
fn rows_on_a_topic_an_older_configuration_left_are_not_the_machines() {
    if !broker::available() {
        return;
    }
    let dir = temp("foreign");
    let broker = Broker::start(&dir.join("broker"));
    let old = fleet(&broker, &dir, 1, "topic_prefix = \"old\"");
    let server = serve(&old, &dir, 0);
    assert!(
        broker
            .retained("old/m0/status", Duration::from_secs(10))
            .is_some()
    );
    drop(server);
    let text = std::fs::read_to_string(&old).unwrap();
    let new = dir.join("new.toml");
    std::fs::write(
        &new,
        text.replace("topic_prefix = \"old\"", "topic_prefix = \"new\""),
    )
    .unwrap();
    let row = |t: u32| {
        format!(
            "{{\"time\": {t}, \"shaft_speed\": 188.5, \"radial_load\": 4000, \"accel_h_rms\": 5.0}}"
        )
    };
    // Queued for the session while no service runs: one row on the old topic.
    broker.publish("old/m0/data", row(10).as_bytes());
    let server = serve(&new, &dir, 1);
    assert!(
        broker
            .retained("new/m0/status", Duration::from_secs(10))
            .is_some()
    );
    broker.publish("new/m0/data", row(20).as_bytes());
    let start = Instant::now();
    let estimate = loop {
        let text = broker.retained("new/m0/estimate", Duration::from_secs(2));
        if let Some(v) = text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()) {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no estimate");
    };
    let q = &estimate["data_quality"];
    assert_eq!(q["accepted"].as_u64(), Some(1), "{q}");
    assert_eq!(estimate["time"].as_f64(), Some(20.0), "{estimate}");
    let log = std::fs::read_to_string(dir.join("serve-1.log")).unwrap();
    assert!(log.contains("left out a message on `old/m0/data`"), "{log}");
    drop(server);
}
