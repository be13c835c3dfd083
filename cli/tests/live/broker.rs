//! A real mosquitto for the live-twin tests: TLS with a CA made for the test, password
//! authentication, on a free loopback port, stopped when dropped. Where mosquitto is not
//! installed the tests skip with a message, unless `MACHINE_TWIN_REQUIRE_MOSQUITTO=1` (set by
//! `.ci/run`) makes its absence a failure.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user name the tests' broker knows.
pub const USER: &str = "twin";
/// Its password.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running broker with its certificates.
pub struct Broker {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

/// Whether mosquitto is here; `false` (after saying so) skips the test.
pub fn available() -> bool {
    let found = [
        "mosquitto",
        "mosquitto_passwd",
        "mosquitto_sub",
        "mosquitto_pub",
    ]
    .iter()
    .all(|p| which(p).is_some());
    if !found {
        if std::env::var("MACHINE_TWIN_REQUIRE_MOSQUITTO").as_deref() == Ok("1") {
            panic!(
                "MACHINE_TWIN_REQUIRE_MOSQUITTO=1 but mosquitto (Debian package `mosquitto`, `mosquitto-clients`) is not installed"
            );
        }
        eprintln!(
            "SKIPPED: mosquitto is not installed (apt-get install mosquitto mosquitto-clients); the live-twin test did not run"
        );
    }
    found
}

/// A free loopback port, never the same twice in this process (`cargo test` runs the tests
/// side by side in one process, and a port that `bind(0)` gave one test and was released is
/// the next one's as likely as not) nor taken from another test process's block.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // A block of 16 ports per process (nextest runs each test in its own, with pids in a row).
    let base = 20_000 + (std::process::id() % 2_500) as u16 * 16;
    loop {
        let port = base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) % 16);
        if port >= 1024 && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Writes a CA and a certificate for 127.0.0.1/localhost signed by it into `dir`:
/// `<name>-ca.crt`, `<name>.crt`, `<name>.key`.
pub fn make_certificates(dir: &Path, name: &str) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    std::fs::write(dir.join(format!("{name}-ca.crt")), ca.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

impl Broker {
    /// Starts mosquitto in `dir` (its certificates, password file, persistence and log there).
    pub fn start(dir: &Path) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        make_certificates(dir, "broker");
        let passwd = dir.join("passwd");
        let status = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwd)
            .args([USER, PASSWORD])
            .status()
            .expect("mosquitto_passwd runs");
        assert!(status.success());
        std::fs::write(dir.join("password"), PASSWORD).unwrap();
        let mut broker = Broker {
            port: free_port(),
            dir: dir.to_path_buf(),
            child: None,
        };
        broker.restart();
        broker
    }

    /// Starts (again) the broker process, with the same port and state.
    pub fn restart(&mut self) {
        let d = &self.dir;
        std::fs::create_dir_all(d.join("data")).unwrap();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let conf = format!(
            "user {user}\nlistener {port} 127.0.0.1\ncafile {d}/broker-ca.crt\ncertfile {d}/broker.crt\nkeyfile {d}/broker.key\nallow_anonymous false\npassword_file {d}/passwd\npersistence true\npersistence_location {d}/data/\nmax_queued_messages 1000000\nmax_inflight_messages 100\nlog_dest file {d}/mosquitto.log\n",
            port = self.port,
            d = d.display()
        );
        std::fs::write(d.join("mosquitto.conf"), conf).unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(d.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen on {} (log: {})",
                self.port,
                std::fs::read_to_string(d.join("mosquitto.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the broker with SIGTERM (it saves its sessions and queued messages).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// The `[broker]` table of a fleet file for this broker.
    pub fn fleet_broker(&self) -> String {
        format!(
            "[broker]\nurl = \"mqtts://127.0.0.1:{}\"\nca_file = \"{}/broker-ca.crt\"\nusername = \"{USER}\"\npassword_file = \"{}/password\"\n",
            self.port,
            self.dir.display(),
            self.dir.display()
        )
    }

    /// Arguments of mosquitto_sub / mosquitto_pub for this broker.
    pub fn client_args(&self) -> Vec<String> {
        vec![
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            self.port.to_string(),
            "--cafile".into(),
            self.dir.join("broker-ca.crt").display().to_string(),
            "-u".into(),
            USER.into(),
            "-P".into(),
            PASSWORD.into(),
        ]
    }

    /// The retained message on `topic`, if any, within `wait`.
    pub fn retained(&self, topic: &str, wait: Duration) -> Option<String> {
        let out = Command::new("mosquitto_sub")
            .args(self.client_args())
            .args(["-t", topic, "-C", "1", "-W"])
            .arg(wait.as_secs().max(1).to_string())
            .output()
            .expect("mosquitto_sub runs");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    /// Publishes `payload` (raw bytes, from a file) on `topic` with QoS 1.
    pub fn publish(&self, topic: &str, payload: &[u8]) {
        let file = self.dir.join(format!("payload-{}", std::process::id()));
        std::fs::write(&file, payload).unwrap();
        let status = Command::new("mosquitto_pub")
            .args(self.client_args())
            .args(["-q", "1", "-t", topic, "-f"])
            .arg(&file)
            .status()
            .expect("mosquitto_pub runs");
        assert!(status.success(), "mosquitto_pub failed");
    }

    /// Publishes each of `payloads` (one line each) on `topic` with QoS 1, in order, over one
    /// connection.
    pub fn publish_lines(&self, topic: &str, payloads: &[String]) {
        let mut child = Command::new("mosquitto_pub")
            .args(self.client_args())
            .args(["-q", "1", "-t", topic, "-l"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("mosquitto_pub runs");
        let mut stdin = child.stdin.take().unwrap();
        for p in payloads {
            assert!(!p.contains('\n'), "a payload is one line");
            std::io::Write::write_all(&mut stdin, format!("{p}\n").as_bytes()).unwrap();
        }
        drop(stdin);
        assert!(child.wait().unwrap().success(), "mosquitto_pub failed");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
