//! A second Gateway API implementation for one test: a Traefik of the test's own
//! (`ODA_TESTENV_TRAEFIK`, built by `scripts/testenv` from `github.com/traefik/traefik/v3`) running
//! out of cluster with its `kubernetesGateway` provider, with a GatewayClass of its own (named after
//! the test namespace, `controllerName: traefik.io/gateway-controller`) and a Gateway of that class
//! in the test namespace, with one HTTP listener on Traefik's entrypoint.
//!
//! Traefik watches only the test namespace (`namespaces`) and only its own GatewayClass (a label
//! selector on the class), so tests running at once each configure their own Traefik. The
//! entrypoint listens on a free port of the machine's non-loopback address (`ODA_TESTENV_HOST_IP`),
//! which Traefik also writes to the Gateway's `status.addresses` (its `statusAddress.ip`): that is
//! where the operator reads the published URL's host. The GatewayClass (cluster-scoped) is owned by
//! the test namespace, so the garbage collector removes it with the namespace.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use kube::Client;
use kube::api::DynamicObject;
use serde_json::json;

use super::dataplane::free_port;
use super::gateway_status::create_test_gateway_class;
use super::gateway_status::programmed_at;
use super::*;

/// Traefik's Gateway API controller name.
pub const TRAEFIK_CONTROLLER: &str = "traefik.io/gateway-controller";
/// The Gateway of a [`Traefik`], in the test namespace.
pub const TRAEFIK_GATEWAY: &str = "traefik-gw";
/// Its one listener.
pub const TRAEFIK_LISTENER: &str = "http";
/// The label that selects a test's GatewayClass for its Traefik alone.
const CLASS_LABEL: &str = "oda-e2e/traefik";

/// What `scripts/testenv up` provides to run a Traefik.
#[derive(Clone, Debug)]
pub struct TraefikPlane {
    binary: PathBuf,
    pub host_ip: String,
}

impl TraefikPlane {
    /// The Traefik binary and the host address, or `None` (and a line saying why the test is
    /// skipped) when the plane was started without them.
    pub fn from_env(test: &str) -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var("ODA_TESTENV_TRAEFIK"), var("ODA_TESTENV_HOST_IP")) {
            (Some(binary), Some(host_ip)) => Some(TraefikPlane { binary: binary.into(), host_ip }),
            _ => {
                eprintln!(
                    "{test}: skipped: no Traefik (ODA_TESTENV_TRAEFIK and ODA_TESTENV_HOST_IP come from \
                     `scripts/testenv up` with its data plane)"
                );
                None
            }
        }
    }
}

/// A Traefik serving the Gateway [`TRAEFIK_GATEWAY`] of the test namespace. Killed when dropped.
pub struct Traefik {
    pub port: u16,
    pub host_ip: String,
    /// The GatewayClass' name (the test namespace's).
    pub class: String,
    log: PathBuf,
    child: tokio::process::Child,
}

impl Traefik {
    /// Creates the GatewayClass and the Gateway, starts Traefik and waits until it has programmed
    /// the Gateway with the host address.
    pub async fn start(ns: &TestNamespace, plane: &TraefikPlane) -> Self {
        let port = free_port(&plane.host_ip);
        let ping = free_port("127.0.0.1");
        let class = ns.name().to_owned();
        create_class_and_gateway(ns, &class, port).await;

        let dir = std::env::temp_dir().join("oda-e2e-traefik");
        std::fs::create_dir_all(&dir).expect("traefik dir");
        let log = dir.join(format!("{}.log", ns.name()));
        let out = std::fs::File::create(&log).expect("traefik log file");
        let err = out.try_clone().expect("traefik log file");
        // Traefik's provider reads a kubeconfig file from KUBECONFIG (one file, not a list).
        let kubeconfig = std::env::var("KUBECONFIG").unwrap_or_default();
        let kubeconfig = kubeconfig.split(':').find(|p| !p.is_empty()).unwrap_or_default().to_owned();
        let provider = "--providers.kubernetesGateway";
        let child = tokio::process::Command::new(&plane.binary)
            .arg(format!("--entryPoints.web.address={}:{port}", plane.host_ip))
            .arg(format!("--entryPoints.traefik.address=127.0.0.1:{ping}"))
            .arg("--ping=true")
            .arg(format!("{provider}=true"))
            .arg(format!("{provider}.namespaces={}", ns.name()))
            .arg(format!("{provider}.labelSelector={CLASS_LABEL}={class}"))
            .arg(format!("{provider}.statusAddress.ip={}", plane.host_ip))
            .arg("--providers.providersThrottleDuration=0s")
            .arg("--global.checkNewVersion=false")
            .arg("--global.sendAnonymousUsage=false")
            .arg("--log.level=INFO")
            .arg("--log.noColor=true")
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("traefik starts");
        let mut traefik = Traefik { port, host_ip: plane.host_ip.clone(), class, log, child };

        let ping = format!("http://127.0.0.1:{ping}/ping");
        let gateways = dynamic_api(ns.client(), ns.name(), &gateway_api_gateway_resource());
        let host_ip = plane.host_ip.clone();
        let ready = tokio::time::timeout(Duration::from_secs(90), async {
            while !http::get(&ping).await.is_ok_and(|a| a.status == 200) {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            loop {
                if let Ok(gw) = gateways.get(TRAEFIK_GATEWAY).await
                    && programmed_at(&gw, &host_ip)
                {
                    return;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        if ready.is_err() {
            let gw = gateways.get(TRAEFIK_GATEWAY).await.ok().and_then(|g| g.data.get("status").cloned());
            let running = traefik.running();
            panic!(
                "Traefik of {} has not programmed Gateway {TRAEFIK_GATEWAY} at {} in 90 s (running: {running}); \
                 Gateway status: {gw:?}\nTraefik log:\n{}",
                ns.name(),
                traefik.host_ip,
                traefik.log_tail()
            );
        }
        traefik
    }

    /// The entrypoint's base URL (`http://<host ip>:<port>`), what the operator publishes.
    pub fn base(&self) -> String {
        format!("http://{}:{}", self.host_ip, self.port)
    }

    /// The test's GatewayClass as Traefik left it (with its `status`).
    pub async fn gateway_class(&self, client: Client) -> DynamicObject {
        super::gateway_status::read_gateway_class(client, &self.class).await
    }

    /// The last lines of Traefik's log: shown when a test fails.
    pub fn log_tail(&self) -> String {
        super::last_lines(&std::fs::read_to_string(&self.log).unwrap_or_default(), 40, |_| false)
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether Traefik still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The GatewayClass `class` (owned by the test namespace, labelled for its Traefik) and the Gateway
/// [`TRAEFIK_GATEWAY`] of that class with one HTTP listener on `port`.
async fn create_class_and_gateway(ns: &TestNamespace, class: &str, port: u16) {
    let spec = json!({"controllerName": TRAEFIK_CONTROLLER, "description": "Traefik of one e2e test"});
    create_test_gateway_class(ns, class, spec, &[(CLASS_LABEL, class)]).await;

    let gateway = dynamic_object(
        &gateway_api_gateway_resource(),
        ns.name(),
        TRAEFIK_GATEWAY,
        &[],
        json!({"spec": {
            "gatewayClassName": class,
            "listeners": [{
                "name": TRAEFIK_LISTENER, "port": i32::from(port), "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            }],
        }}),
    );
    create_strict(&dynamic_api(ns.client(), ns.name(), &gateway_api_gateway_resource()), &gateway).await;
}
