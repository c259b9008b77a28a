//! The processes of the APIM benchmark and how it talks to them: the Azure stand-in binary (its
//! listeners, its control listener), the operator binary configured for `ROUTE_BACKEND=AzureAPIM`,
//! and the operator's `/metrics` read for `oda_api_operator_arm_requests_total{kind}`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

use oda_test_support::apim::{RESOURCE_GROUP, SERVICE, SUBSCRIPTION};
use oda_test_support::apim::{direct_mode_env, standin_identity_args};

/// One HTTP/1.1 exchange on loopback: the status and the body.
pub async fn http(address: &str, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(address)).await??;
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut response)).await??;
    let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((code, body))
}

/// A child process killed when dropped.
pub struct Process(Option<Child>);

impl Process {
    /// SIGTERM, then waits (SIGKILL after `timeout`).
    pub async fn stop(mut self, timeout: Duration) {
        let Some(mut child) = self.0.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let start = Instant::now();
        while matches!(child.try_wait(), Ok(None)) && start.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The stand-in process and its listeners (`host:port`).
pub struct StandIn {
    pub process: Process,
    pub entra: String,
    pub arm: String,
    pub control: String,
}

impl StandIn {
    pub fn start(binary: &Path) -> Result<Self> {
        let mut child = Command::new(binary)
            .args(standin_identity_args())
            .args(["--service", &format!("{SUBSCRIPTION}/{RESOURCE_GROUP}/{SERVICE}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("the stand-in's stdout")?;
        let process = Process(Some(child));
        let mut addresses = BTreeMap::new();
        for line in BufReader::new(stdout).lines().take(5) {
            if let Some((name, address)) = line?.split_once('=') {
                addresses.insert(name.to_owned(), address.to_owned());
            }
        }
        let address = |name: &str| addresses.get(name).cloned().ok_or(format!("the stand-in printed no {name}="));
        Ok(Self { entra: address("entra")?, arm: address("arm")?, control: address("control")?, process })
    }

    /// The URL of a document the stand-in hosts.
    pub fn document_url(&self, name: &str) -> String {
        format!("http://{}/documents/{name}", self.control)
    }

    /// How many APIs the stand-in holds.
    pub async fn api_count(&self) -> Result<usize> {
        let (_, body) = http(&self.control, "GET", "/control/apis", None).await?;
        Ok(serde_json::from_str::<Vec<serde_json::Value>>(&body)?.len())
    }

    /// The ARM requests the stand-in received, by `METHOD`: a cross-check of the operator's count.
    pub async fn arm_requests(&self) -> Result<usize> {
        let (_, body) = http(&self.control, "GET", "/control/requests", None).await?;
        let all: Vec<serde_json::Value> = serde_json::from_str(&body)?;
        Ok(all.iter().filter(|r| r["listener"] == "arm").count())
    }

    /// The settings of the operator for this stand-in (direct mode, a fixed backend URL).
    pub fn operator_env(&self, ns: &str, (resync, policy_resync): (u64, u64)) -> Vec<(String, String)> {
        let mut env = direct_mode_env(ns, &format!("http://{}", self.entra), &format!("http://{}", self.arm));
        let tuned = [
            ("APIM_BACKEND_BASE_URL", "https://mesh.internal".to_owned()),
            ("APIM_RESYNC_SECS", resync.to_string()),
            ("APIM_POLICY_RESYNC_SECS", policy_resync.to_string()),
        ];
        env.extend(tuned.map(|(k, v)| (k.to_owned(), v)));
        env
    }
}

/// The operator process and its `/metrics` port.
pub struct Operator {
    pub process: Process,
    pub port: u16,
}

impl Operator {
    pub fn start(binary: &Path, kubeconfig: &str, env: &[(String, String)], log: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let file = std::fs::File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let mut command = Command::new(binary);
        command.arg("run").env("KUBECONFIG", kubeconfig).env("HTTP_PORT", port.to_string());
        command.env("LOGGING", "20").env("NO_COLOR", "1").env_remove("RUST_LOG");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file).spawn()?;
        Ok(Self { process: Process(Some(child)), port })
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        let address = format!("127.0.0.1:{}", self.port);
        loop {
            if http(&address, "GET", "/readyz", None).await.is_ok_and(|(code, _)| code == 200) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                return Err(format!("the operator was not ready after {} s", timeout.as_secs()).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `oda_api_operator_arm_requests_total` by kind (`GET apis`, `PUT api`, …).
    pub async fn arm_requests(&self) -> Result<Counts> {
        let (code, body) = http(&format!("127.0.0.1:{}", self.port), "GET", "/metrics", None).await?;
        if code != 200 {
            return Err(format!("/metrics answered {code}").into());
        }
        let mut counts = Counts::default();
        for line in body.lines().filter(|l| l.starts_with("oda_api_operator_arm_requests_total{")) {
            let kind = line.split('"').nth(1).unwrap_or_default();
            let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or_default();
            counts.0.insert(kind.to_owned(), value as u64);
        }
        Ok(counts)
    }
}

/// Requests by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts(pub BTreeMap<String, u64>);

impl Counts {
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn get(&self, kind: &str) -> u64 {
        self.0.get(kind).copied().unwrap_or_default()
    }

    /// What happened since `earlier`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts(
            self.0.iter().map(|(k, v)| (k.clone(), v.saturating_sub(earlier.get(k)))).filter(|(_, v)| *v > 0).collect(),
        )
    }
}
