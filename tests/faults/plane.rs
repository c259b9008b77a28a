//! The control plane the fault suite may break: a `scripts/testenv` plane of its own (its run dir
//! in `ODA_FAULTS_TESTENV_DIR`, started by scripts/test on ports apart from the e2e plane's), the
//! operator binary as a process, and what the scenarios measure.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use kube::core::DynamicObject;
use oda_test_support::resources::{dynamic_api, exposed_api_resource, virtual_service_resource};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The plane's run dir, or `None` (with the reason printed) when the suite cannot break it.
pub fn run_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ODA_FAULTS_TESTENV_DIR").filter(|d| !d.is_empty()).map(PathBuf::from);
    if dir.is_none() {
        eprintln!("skipped: ODA_FAULTS_TESTENV_DIR names no scripts/testenv plane of the fault suite's own");
    }
    dir
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// SIGKILLs a plane component (`kube-apiserver`, `etcd`) by its pid file.
pub fn kill(dir: &std::path::Path, component: &str) {
    let pid = std::fs::read_to_string(dir.join(format!("run/{component}.pid"))).expect("the component's pid file");
    let status = std::process::Command::new("kill").args(["-KILL", pid.trim()]).status().expect("kill");
    assert!(status.success(), "killing {component}");
}

/// Starts what is not running (scripts/testenv up on the same run dir and ports).
pub async fn restart_plane() -> Duration {
    let started = Instant::now();
    let status = Command::new(repo().join("scripts/testenv"))
        .arg("up")
        .stdout(Stdio::null())
        .status()
        .await
        .expect("scripts/testenv up");
    assert!(status.success(), "scripts/testenv up restarts the plane");
    started.elapsed()
}

/// The etcd client URL of the plane.
pub fn etcd_url() -> String {
    let port = std::env::var("ODA_TESTENV_ETCD_PORT").unwrap_or_else(|_| "2479".into());
    format!("127.0.0.1:{port}")
}

/// One HTTP/1.1 request with a JSON body to `address`; the answer's status and body.
pub async fn http(address: &str, method: &str, path: &str, body: &Value) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(address).await else { return (0, String::new()) };
    let body = body.to_string();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    let code = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// Compacts etcd at its current revision (through its JSON gateway): every watch resuming from an
/// older resourceVersion gets `410 Gone`.
pub async fn compact_etcd() -> i64 {
    let (_, range) = http(&etcd_url(), "POST", "/v3/kv/range", &json!({"key": "AA==", "limit": 1})).await;
    let revision: i64 = serde_json::from_str::<Value>(&range)
        .ok()
        .and_then(|v| v["header"]["revision"].as_str()?.parse().ok())
        .expect("etcd's revision");
    let (code, answer) =
        http(&etcd_url(), "POST", "/v3/kv/compaction", &json!({"revision": revision.to_string(), "physical": true}))
            .await;
    assert_eq!(code, 200, "compaction: {answer}");
    revision
}

/// The operator binary as a process for `namespace` (killed when dropped).
pub struct Operator {
    pub child: Child,
    pub port: u16,
}

impl Operator {
    pub fn start(namespace: &str, extra: &[(&str, &str)]) -> Self {
        let kubeconfig = oda_test_support::clients::operator_kubeconfig().map(|(paths, _)| paths).expect("KUBECONFIG");
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
        let mut command = Command::new(env!("CARGO_BIN_EXE_oda-api-operator"));
        command
            .arg("run")
            .env("KUBECONFIG", kubeconfig)
            .env("COMPONENT_NAMESPACE", namespace)
            .env("APIOPERATORISTIO_INGRESS_NAMESPACE", namespace)
            .env("OPENMETRICS_IMPLEMENTATION", "ServiceMonitor")
            .env("HTTP_PORT", port.to_string())
            .env("RUST_LOG", std::env::var("FAULTS_LOG").unwrap_or_else(|_| "error".into()));
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.kill_on_drop(true).spawn().expect("starting the operator");
        Self { child, port }
    }

    /// Waits until the operator says it is ready (caches synced, or standing by).
    pub async fn wait_ready(&self) {
        let started = Instant::now();
        while http(&format!("127.0.0.1:{}", self.port), "GET", "/readyz", &Value::Null).await.0 != 200 {
            assert!(started.elapsed() < Duration::from_secs(60), "the operator is not ready after 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    /// The sum of a metric's series, `None` while the operator does not answer.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let (code, text) = http(&format!("127.0.0.1:{}", self.port), "GET", "/metrics", &Value::Null).await;
        (code == 200).then(|| {
            text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
        })
    }

    /// Writes to the API server so far (Events apart).
    pub async fn writes(&self) -> Option<f64> {
        self.metric("oda_api_operator_writes_total").await
    }
}

/// An ingress gateway Service with an address and an implementation Service in `ns` (no pods: the
/// APIs converge to `ImplementationNotReady`, which needs the route, the URL and the status).
pub async fn fixture(client: &Client, ns: &str) {
    let services: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(client.clone(), ns);
    let gateway: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "istio-ingress", "labels": {"istio": "ingressgateway"}},
        "spec": {"type": "LoadBalancer", "selector": {"istio": "ingressgateway"}, "ports": [{"name": "http2", "port": 80}]}
    }))
    .expect("a Service");
    services.create(&PostParams::default(), &gateway).await.expect("the gateway Service");
    let address = json!({"status": {"loadBalancer": {"ingress": [{"ip": "20.1.2.3"}]}}});
    services
        .patch_status("istio-ingress", &Default::default(), &kube::api::Patch::Merge(&address))
        .await
        .expect("the gateway address");
    let implementation: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "impl"}, "spec": {"selector": {"app": "impl"}, "ports": [{"port": 8080}]}
    }))
    .expect("a Service");
    services.create(&PostParams::default(), &implementation).await.expect("the implementation Service");
}

/// An ExposedAPI `name` at `/name`.
pub fn exposed_api(ns: &str, name: &str) -> DynamicObject {
    let spec =
        json!({"name": name, "apiType": "openapi", "implementation": "impl", "path": format!("/{name}"), "port": 8080});
    DynamicObject::new(name, &exposed_api_resource()).within(ns).data(json!({ "spec": spec }))
}

/// Creates `api`, retrying while the API server is away; true when it was created by this call.
pub async fn create_until_done(client: &Client, ns: &str, api: &DynamicObject) -> bool {
    let apis = dynamic_api(client.clone(), ns, &exposed_api_resource());
    loop {
        match apis.create(&PostParams::default(), api).await {
            Ok(_) => return true,
            Err(kube::Error::Api(e)) if e.code == 409 => return false,
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// What the namespace holds: the APIs converged (route written and status with URL), the
/// VirtualServices, and those of them no API of the namespace controls.
pub struct Census {
    pub apis: usize,
    pub converged: usize,
    pub routes: usize,
    pub orphans: usize,
}

pub async fn census(client: &Client, ns: &str) -> Option<Census> {
    let apis = dynamic_api(client.clone(), ns, &exposed_api_resource()).list(&ListParams::default()).await.ok()?.items;
    let routes =
        dynamic_api(client.clone(), ns, &virtual_service_resource()).list(&ListParams::default()).await.ok()?.items;
    let uids: Vec<String> = apis.iter().filter_map(|a| a.metadata.uid.clone()).collect();
    let orphans =
        routes.iter().filter(|r| !r.metadata.owner_references.iter().flatten().any(|o| uids.contains(&o.uid))).count();
    let converged = apis
        .iter()
        .filter(|a| {
            let reason = a.data["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .map(|c| c["reason"].clone());
            reason == Some(json!("ImplementationNotReady")) && a.data["status"]["apiStatus"]["url"].is_string()
        })
        .count();
    Some(Census { apis: apis.len(), converged, routes: routes.len(), orphans })
}

/// Waits until all `n` APIs of `ns` converged with one route each and no orphan; the time it took.
pub async fn wait_converged(client: &Client, ns: &str, n: usize, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(c) = census(client, ns).await {
            if c.apis == n && c.converged == n && c.routes == n && c.orphans == 0 {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < timeout,
                "not converged after {timeout:?}: {} APIs, {} converged, {} routes, {} orphans",
                c.apis,
                c.converged,
                c.routes,
                c.orphans
            );
        }
        assert!(started.elapsed() < timeout, "the API server did not answer within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Toxiproxy (scripts/testenv builds it) between the operator and the API server.
pub struct Toxiproxy {
    _server: Child,
    api: String,
    /// The operator's kubeconfig, pointed at the proxy.
    pub kubeconfig: PathBuf,
}

impl Toxiproxy {
    pub async fn start(dir: &std::path::Path) -> Self {
        let binary = Command::new(repo().join("scripts/testenv"))
            .args(["tool", "toxiproxy"])
            .output()
            .await
            .expect("scripts/testenv tool toxiproxy");
        assert!(binary.status.success(), "building toxiproxy");
        let binary = String::from_utf8_lossy(&binary.stdout).trim().to_owned();
        let free =
            || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
        let (api_port, listen_port) = (free(), free());
        let server = Command::new(binary)
            .args(["-host", "127.0.0.1", "-port", &api_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting toxiproxy");
        let api = format!("127.0.0.1:{api_port}");
        let kubeconfig_path =
            oda_test_support::clients::operator_kubeconfig().map(|(paths, _)| paths).expect("KUBECONFIG");
        let kubeconfig = std::fs::read_to_string(&kubeconfig_path).expect("the operator's kubeconfig");
        let server_line = kubeconfig.lines().find(|l| l.trim_start().starts_with("server:")).expect("a server line");
        let upstream =
            server_line.trim().trim_start_matches("server:").trim().trim_start_matches("https://").to_owned();
        let started = Instant::now();
        loop {
            let proxy = json!({"name": "apiserver", "listen": format!("127.0.0.1:{listen_port}"), "upstream": upstream, "enabled": true});
            if http(&api, "POST", "/proxies", &proxy).await.0 == 201 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "toxiproxy does not answer");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let proxied = kubeconfig.replace(&upstream, &format!("127.0.0.1:{listen_port}"));
        let path = dir.join("operator-via-toxiproxy.kubeconfig");
        std::fs::write(&path, proxied).expect("writing the proxied kubeconfig");
        Self { _server: server, api, kubeconfig: path }
    }

    /// Adds a toxic (`type`, attributes) on the way back from the API server.
    pub async fn add(&self, name: &str, type_: &str, attributes: Value) {
        let toxic =
            json!({"name": name, "type": type_, "stream": "downstream", "toxicity": 1.0, "attributes": attributes});
        let (code, body) = http(&self.api, "POST", "/proxies/apiserver/toxics", &toxic).await;
        assert_eq!(code, 200, "adding toxic {name}: {body}");
    }

    pub async fn remove(&self, name: &str) {
        let (code, body) = http(&self.api, "DELETE", &format!("/proxies/apiserver/toxics/{name}"), &Value::Null).await;
        assert_eq!(code, 204, "removing toxic {name}: {body}");
    }
}
