//! A real Prometheus for one test, scraping what prometheus-operator (run by `scripts/testenv up`
//! with its data plane) configures from the test's ServiceMonitors.
//!
//! [`Prometheus::start`] creates a `Prometheus` resource in the test's namespace (EndpointSlice
//! discovery, every ServiceMonitor of that namespace). prometheus-operator writes the generated
//! configuration to the Secret `prometheus-<name>` (`prometheus.yaml.gz`) and a StatefulSet that
//! gets no Pods here (no statefulset controller, no kubelet). In their place this module runs the
//! `ODA_TESTENV_PROMETHEUS` binary on that configuration and, as the config-reloader sidecar of a
//! real Prometheus Pod does, rewrites the file and reloads Prometheus whenever the Secret changes.
//! Before writing, it does what the Pod's environment and service account would: `$(SHARD)` and
//! `$(POD_NAME)` are expanded (without that the sharding relabelling drops every target), and each
//! Kubernetes service discovery gets `kubeconfig_file` (the admin kubeconfig: it runs out of cluster).

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::ApiResource;
use serde_json::{Value, json};

use super::dataplane::free_port;
use super::*;

/// The `Prometheus` resource of a test (one per namespace).
pub const PROMETHEUS: &str = "e2e";
/// The key of the generated configuration in the operator's Secret.
const CONFIG_KEY: &str = "prometheus.yaml.gz";
/// Prometheus' own evaluation and default scrape interval (a ServiceMonitor's endpoint `interval`,
/// 15 s for the operator's, wins for its targets).
const SCRAPE_INTERVAL: &str = "5s";

/// `monitoring.coreos.com/v1` `Prometheus`.
pub fn prometheus_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("monitoring.coreos.com", "v1", "Prometheus"),
        "prometheuses",
    )
}

/// A Prometheus process on the operator-generated configuration of one test's namespace. Killed
/// (and its data removed) when dropped.
pub struct Prometheus {
    /// Its HTTP API: `http://127.0.0.1:<port>`.
    pub base: String,
    dir: PathBuf,
    log: PathBuf,
    child: tokio::process::Child,
    reloader: tokio::task::JoinHandle<()>,
}

impl Prometheus {
    /// The Prometheus binary, or `None` (and a line saying why the test is skipped) when the plane
    /// runs without its data plane.
    pub fn binary_from_env(test: &str) -> Option<PathBuf> {
        match std::env::var("ODA_TESTENV_PROMETHEUS").ok().filter(|v| !v.is_empty()) {
            Some(path) => Some(path.into()),
            None => {
                eprintln!(
                    "{test}: skipped: no Prometheus (ODA_TESTENV_PROMETHEUS comes from `scripts/testenv up` \
                     with its data plane, which also runs prometheus-operator)"
                );
                None
            }
        }
    }

    /// Creates the `Prometheus` resource in `ns`, waits for prometheus-operator's first
    /// configuration, and starts Prometheus on it.
    pub async fn start(ns: &TestNamespace, binary: PathBuf) -> Self {
        let own_namespace = json!({"matchLabels": {"kubernetes.io/metadata.name": ns.name()}});
        let resource = dynamic_object(
            &prometheus_resource(),
            ns.name(),
            PROMETHEUS,
            &[],
            json!({"spec": {
                // The plane runs no Endpoints controller: discovery reads EndpointSlices.
                "serviceDiscoveryRole": "EndpointSlice",
                "serviceMonitorSelector": {},
                "serviceMonitorNamespaceSelector": own_namespace,
                "scrapeInterval": SCRAPE_INTERVAL,
                "evaluationInterval": SCRAPE_INTERVAL,
            }}),
        );
        create_strict(&dynamic_api(ns.client(), ns.name(), &prometheus_resource()), &resource).await;

        let secrets: Api<Secret> = ns.api();
        let secret = format!("prometheus-{PROMETHEUS}");
        let kubeconfig = admin_kubeconfig_file();
        let first = wait_for(Duration::from_secs(60), || async {
            generated_config(&secrets, &secret).await.ok_or_else(|| {
                format!("no Secret {}/{secret} with {CONFIG_KEY} from prometheus-operator (is it running? `scripts/testenv status`)", ns.name())
            })
        })
        .await;

        let dir = std::env::temp_dir().join("oda-e2e-prometheus").join(ns.name());
        std::fs::create_dir_all(dir.join("data")).expect("prometheus dir");
        let config_file = dir.join("prometheus.yaml");
        let log = dir.join("prometheus.log");
        let pod_name = format!("prometheus-{PROMETHEUS}-0");
        std::fs::write(&config_file, runnable_config(&first, &pod_name, &kubeconfig)).expect("config written");

        let port = free_port("127.0.0.1");
        let base = format!("http://127.0.0.1:{port}");
        let log_file = std::fs::File::create(&log).expect("prometheus log");
        let child = tokio::process::Command::new(&binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-lifecycle")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));

        // The config-reloader's job: follow the Secret, rewrite the file, reload.
        let reloader = {
            let (config_file, base, mut last) = (config_file.clone(), base.clone(), first);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let Some(now) = generated_config(&secrets, &secret).await else { continue };
                    if now == last {
                        continue;
                    }
                    if std::fs::write(&config_file, runnable_config(&now, &pod_name, &kubeconfig)).is_ok()
                        && http::send("POST", &format!("{base}/-/reload"), &[]).await.is_ok_and(|a| a.status == 200)
                    {
                        last = now;
                    }
                }
            })
        };

        let prometheus = Prometheus { base, dir, log, child, reloader };
        let ready = format!("{}/-/ready", prometheus.base);
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            while !http::get(&ready).await.is_ok_and(|a| a.status == 200) {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        if waited.is_err() {
            panic!("Prometheus of {} not ready after 60 s; its log:\n{}", ns.name(), prometheus.log_tail());
        }
        prometheus
    }

    /// `GET /api/v1/<path>`: the `data` of a successful answer.
    pub async fn api(&self, path: &str) -> Result<Value, String> {
        let answer = http::get(&format!("{}/api/v1/{path}", self.base)).await?;
        let body: Value = serde_json::from_str(&answer.body).map_err(|e| format!("{path}: {e}: {}", answer.body))?;
        if body["status"] != "success" {
            return Err(format!("{path}: {}", answer.body));
        }
        Ok(body["data"].clone())
    }

    /// The samples of an instant query (`data.result`).
    pub async fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let data = self.api(&format!("query?query={encoded}")).await?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// The active targets (`/api/v1/targets`).
    pub async fn active_targets(&self) -> Result<Vec<Value>, String> {
        let data = self.api("targets?state=active").await?;
        Ok(data["activeTargets"].as_array().cloned().unwrap_or_default())
    }

    /// The configuration Prometheus runs (`/api/v1/status/config`), for diagnostics.
    pub async fn config(&self) -> String {
        self.api("status/config").await.map(|d| d["yaml"].as_str().unwrap_or_default().to_owned()).unwrap_or_else(|e| e)
    }

    /// The last lines of its log: shown when a test fails.
    pub fn log_tail(&self) -> String {
        super::last_lines(&std::fs::read_to_string(&self.log).unwrap_or_default(), 40, |_| false)
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.reloader.abort();
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}

/// The first file of `KUBECONFIG` (the admin identity): what Prometheus' discovery reads.
fn admin_kubeconfig_file() -> String {
    let paths = std::env::var("KUBECONFIG").expect("KUBECONFIG (the admin identity) is set");
    let first = std::env::split_paths(&paths).next().expect("KUBECONFIG names a file");
    std::fs::canonicalize(&first).unwrap_or(first).to_string_lossy().into_owned()
}

/// The generated configuration (gunzipped YAML) of Secret `name`, once prometheus-operator wrote it.
async fn generated_config(secrets: &Api<Secret>, name: &str) -> Option<String> {
    let secret = secrets.get_opt(name).await.ok().flatten()?;
    let gz = secret.data?.remove(CONFIG_KEY)?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz.0.as_slice()).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The operator's configuration as one Prometheus of shard 0 out of cluster runs it: `$(SHARD)`
/// and `$(POD_NAME)` expanded (the Pod's environment would), and `kubeconfig_file` on every
/// Kubernetes service discovery (in place of the in-cluster service account). Written as JSON,
/// which Prometheus' YAML reader takes.
pub fn runnable_config(generated: &str, pod_name: &str, kubeconfig: &str) -> String {
    let mut config: Value = serde_saphyr::from_str(generated)
        .unwrap_or_else(|e| panic!("prometheus-operator's configuration is not YAML: {e}\n{generated}"));
    expand(&mut config, pod_name);
    for job in config.get_mut("scrape_configs").and_then(Value::as_array_mut).into_iter().flatten() {
        for sd in job.get_mut("kubernetes_sd_configs").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(sd) = sd.as_object_mut() {
                sd.insert("kubeconfig_file".into(), Value::String(kubeconfig.to_owned()));
            }
        }
    }
    serde_json::to_string_pretty(&config).expect("JSON")
}

fn expand(value: &mut Value, pod_name: &str) {
    match value {
        Value::String(s) if s.contains("$(") => *s = s.replace("$(SHARD)", "0").replace("$(POD_NAME)", pod_name),
        Value::Array(items) => items.iter_mut().for_each(|v| expand(v, pod_name)),
        Value::Object(map) => map.values_mut().for_each(|v| expand(v, pod_name)),
        _ => {}
    }
}
