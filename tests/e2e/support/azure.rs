//! The Azure stand-in and the operator as real processes, for the APIM backend's end-to-end tests:
//! the stand-in binary (`oda-azure-standin`) on loopback ports, steered over its control listener;
//! the operator binary configured by environment variables, as a Deployment would run it.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub use oda_test_support::apim::{RESOURCE_GROUP, SERVICE, SUBSCRIPTION, TENANT};
use oda_test_support::apim::{direct_mode_env, standin_identity_args};

/// The stand-in binary: `ODA_AZURE_STANDIN`, else next to the operator binary (scripts/test
/// builds it), else built once into a target directory of its own (so no cargo lock is shared
/// with the running `cargo test`).
fn standin_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("ODA_AZURE_STANDIN").filter(|p| !p.is_empty()) {
                return PathBuf::from(path);
            }
            let operator = PathBuf::from(env!("CARGO_BIN_EXE_oda-api-operator"));
            let beside = operator.with_file_name("oda-azure-standin");
            if beside.exists() {
                return beside;
            }
            let target = operator.parent().and_then(|d| d.parent()).map(|t| t.join("standin")).unwrap_or_default();
            let built = std::process::Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "oda-azure-standin", "--bin", "oda-azure-standin", "--target-dir"])
                .arg(&target)
                .status()
                .expect("running cargo to build the stand-in");
            assert!(built.success(), "building oda-azure-standin failed");
            target.join("debug/oda-azure-standin")
        })
        .clone()
}

impl Drop for StandIn {
    /// A failing test shows what the stand-in was asked and answered (ARM's last requests).
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        use std::io::{Read, Write};
        let host = self.control.trim_start_matches("http://");
        let Ok(mut stream) = std::net::TcpStream::connect(host) else { return };
        let request = format!("GET /control/requests HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let mut response = String::new();
        if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut response).is_err() {
            return;
        }
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        let requests: Vec<Value> = serde_json::from_str(body).unwrap_or_default();
        let arm: Vec<&Value> = requests.iter().filter(|r| r["listener"] == "arm").collect();
        eprintln!("the stand-in's last ARM requests (of {}):", arm.len());
        for r in arm.iter().rev().take(120).rev() {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            eprintln!(
                "  {} {} {} ?{} -> {}",
                text("method"),
                text("path").rsplit("/service/").next().unwrap_or_default(),
                text("ifMatch"),
                text("query"),
                r["status"]
            );
        }
    }
}

/// A running stand-in process (killed when dropped).
pub struct StandIn {
    _child: Child,
    pub entra: String,
    pub arm: String,
    pub vault: String,
    control: String,
}

impl StandIn {
    /// One APIM service, the operator's client secret and a workload identity, and `secrets` in
    /// its Key Vault.
    pub async fn start(secrets: &[(&str, &str)]) -> Self {
        let mut command = Command::new(standin_binary());
        command.args(standin_identity_args());
        command.args(["--service", &format!("{SUBSCRIPTION}/{RESOURCE_GROUP}/{SERVICE}")]);
        for (name, value) in secrets {
            command.args(["--secret", &format!("{name}={value}")]);
        }
        let mut child = command.stdout(Stdio::piped()).kill_on_drop(true).spawn().expect("starting the stand-in");
        let stdout = child.stdout.take().expect("the stand-in's stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut addresses = std::collections::HashMap::new();
        while addresses.len() < 5 {
            let line = lines.next_line().await.expect("reading the stand-in").expect("the stand-in printed its ports");
            if let Some((name, address)) = line.split_once('=') {
                addresses.insert(name.to_owned(), format!("http://{address}"));
            }
        }
        let address = |name: &str| addresses.get(name).cloned().unwrap_or_default();
        Self {
            entra: address("entra"),
            arm: address("arm"),
            vault: address("vault"),
            control: address("control"),
            _child: child,
        }
    }

    /// The URL of a document the stand-in hosts.
    pub fn document_url(&self, name: &str) -> String {
        format!("{}/documents/{name}", self.control)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let host = self.control.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await.expect("the stand-in's control listener");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("writing to the control listener");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
    }

    /// Every API the stand-in holds: `{id, etag, properties, policy}`.
    pub async fn apis(&self) -> Vec<Value> {
        serde_json::from_str(&self.call("GET", "/control/apis", None).await.1).unwrap_or_default()
    }

    pub async fn api(&self, id: &str) -> Option<Value> {
        self.apis().await.into_iter().find(|a| a["id"] == id)
    }

    /// Every request received: `{listener, method, path, query, ifMatch, body}`.
    pub async fn requests(&self) -> Vec<Value> {
        serde_json::from_str(&self.call("GET", "/control/requests", None).await.1).unwrap_or_default()
    }

    /// `METHOD path` of the ARM writes received (PUT, DELETE) whose path contains `part`.
    pub async fn writes(&self, part: &str) -> Vec<String> {
        let requests = self.requests().await;
        let writes = requests
            .iter()
            .filter(|r| r["listener"] == "arm" && matches!(r["method"].as_str(), Some("PUT" | "DELETE")));
        let text = |r: &Value| {
            format!("{} {}", r["method"].as_str().unwrap_or_default(), r["path"].as_str().unwrap_or_default())
        };
        writes.map(text).filter(|w| w.contains(part)).collect()
    }

    /// The next `count` requests whose `METHOD path` contains `route` get `status`.
    pub async fn fail_next(&self, route: &str, status: u16, count: u32, retry_after: Option<u32>) {
        let body = json!({"route": route, "status": status, "count": count, "retry_after": retry_after});
        assert_eq!(self.call("POST", "/control/faults", Some(body)).await.0, 204);
    }

    pub async fn expire_tokens(&self) {
        assert_eq!(self.call("POST", "/control/expire-tokens", None).await.0, 204);
    }

    pub async fn lro(&self, mode: &str, polls: u32) {
        assert_eq!(self.call("POST", "/control/lro", Some(json!({"mode": mode, "polls": polls}))).await.0, 204);
    }

    /// Someone deletes the API in the portal.
    pub async fn delete_api(&self, id: &str) {
        assert_eq!(self.call("DELETE", &format!("/control/apis/{id}"), None).await.0, 204);
    }

    /// Someone else creates an API of this id.
    /// Someone edits the API's policy in the portal.
    pub async fn edit_policy(&self, id: &str, value: &str) {
        let (status, _) = self.call("PUT", &format!("/control/apis/{id}/policy"), Some(json!(value))).await;
        assert_eq!(status, 204);
    }

    /// Someone edits the API in the portal: `properties` merged into it (its ETag moves).
    pub async fn edit_api(&self, id: &str, properties: Value) {
        assert_eq!(self.call("PATCH", &format!("/control/apis/{id}"), Some(properties)).await.0, 204);
    }

    /// Pages of the API list hold at most `cap` APIs.
    pub async fn page_cap(&self, cap: usize) {
        assert_eq!(self.call("POST", "/control/page-cap", Some(json!({"cap": cap}))).await.0, 204);
    }

    pub async fn insert_foreign(&self, id: &str, path: &str) {
        assert_eq!(self.call("PUT", &format!("/control/apis/{id}"), Some(json!({"path": path}))).await.0, 204);
    }

    /// The settings of direct mode (the instance named by settings), with the client secret.
    pub fn operator_env(&self, ns: &str) -> Vec<(String, String)> {
        let mut env = direct_mode_env(ns, &self.entra, &self.arm);
        let tuned = [("APIM_LRO_POLL_SECS", "0"), ("APIM_RESYNC_SECS", "10"), ("APIM_POLICY_RESYNC_SECS", "20")];
        env.extend(tuned.map(|(k, v)| (k.to_owned(), v.to_owned())));
        // An ingress class routes across namespaces, so the Ingresses of two tests (or of this test
        // and the one before it, still being deleted) with the same path would conflict: each test
        // has a class of its own.
        env.push(("APIM_INGRESS_CLASS".into(), ingress_class(ns)));
        env
    }
}

/// The ingress class of the APIM Ingresses of the test in `ns`.
pub fn ingress_class(ns: &str) -> String {
    format!("istio-{ns}")
}

/// The operator binary as a process (killed when dropped), with the operator identity.
pub struct OperatorProcess {
    child: Child,
}

impl OperatorProcess {
    pub fn start(env: &[(String, String)]) -> Self {
        let kubeconfig = oda_test_support::clients::operator_kubeconfig().map(|(paths, _)| paths).expect("KUBECONFIG");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_oda-api-operator"));
        command.arg("run").env("KUBECONFIG", kubeconfig).env("HTTP_PORT", port.unwrap_or(0).to_string());
        command.env("RUST_LOG", std::env::var("E2E_LOG").unwrap_or_else(|_| "warn".into()));
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.stdout(Stdio::inherit()).stderr(Stdio::inherit()).kill_on_drop(true).spawn();
        Self { child: child.expect("starting the operator binary") }
    }

    /// SIGTERM, and wait for the exit.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), self.child.wait()).await;
    }
}
