//! A third Gateway API implementation for one test: Envoy Gateway (`ODA_TESTENV_ENVOY_GATEWAY`,
//! built by `scripts/testenv` from `github.com/envoyproxy/gateway`), the CNCF reference
//! implementation, with the test plane's real Envoy (`ODA_TESTENV_ENVOY`) as its data plane.
//!
//! Its control plane runs out of cluster with the `Custom` provider: resources from Kubernetes
//! (`KUBECONFIG`, watching only the test namespace), infrastructure `Host` (it runs one Envoy per
//! Gateway as its own child process, through func-e, whose download is skipped: the test plane's
//! Envoy is linked where func-e looks for the version the test's EnvoyProxy names). Its controller
//! namespace (`ENVOY_GATEWAY_NAMESPACE`) is the test namespace.
//!
//! xDS is mTLS. `envoy-gateway certgen --local` writes one CA's certificates under configHome,
//! where the host infrastructure finds Envoy's; but with Kubernetes resources the control plane
//! reads its own from `/certs` (a Pod's mount, hard-coded), and the OIDC HMAC salt and Envoy's
//! certificate from the Secrets `envoy-oidc-hmac` and `envoy` of its namespace. So it runs in a
//! mount namespace of its own (`unshare`, hence root) where its certgen directory is bind-mounted
//! on `/certs` (an empty directory on the machine), and the test writes the two Secrets.
//!
//! One Envoy Gateway at a time: it listens on fixed ports (xDS 18000, wasm 18002, metrics 8080 and
//! 19001, health 8081, webhook 9443, on every address), so tests using it take a process-wide lock
//! for their Envoy Gateway's lifetime.
//!
//! Envoy Gateway reports a Gateway `Programmed` from the Envoy Service and Deployment/DaemonSet it
//! would create in Kubernetes, which the host infrastructure does not create. As the Istio tests'
//! "manual deployment" does, the test provides them: a Service with the Gateway's address
//! (`spec.addresses` of the Gateway, `externalIPs` of the Service: the machine's non-loopback
//! address, `ODA_TESTENV_HOST_IP`) and a DaemonSet whose status says one Envoy is available (the
//! plane runs no DaemonSet controller), both labelled with the owning Gateway as Envoy Gateway
//! labels its own. The Envoy itself listens on the listener's port (a free one) on every address.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use serde_json::json;

use super::dataplane::free_port;
use super::gateway_status::{create_test_gateway_class, programmed_at};
use super::*;

/// Envoy Gateway's controller name (its default).
pub const EG_CONTROLLER: &str = "gateway.envoyproxy.io/gatewayclass-controller";
/// The Gateway of an [`EnvoyGateway`], in the test namespace.
pub const EG_GATEWAY: &str = "eg";
/// Its one listener.
pub const EG_LISTENER: &str = "http";
/// The port of Envoy Gateway's xDS server (fixed in v1.9).
const XDS_PORT: u16 = 18000;
/// Where Envoy Gateway v1.9 reads its certificate when its resources come from Kubernetes.
const CERTS_MOUNT: &str = "/certs";

/// `gateway.envoyproxy.io/v1alpha1` kinds.
pub fn eg_resource(kind: &str, plural: &str) -> ApiResource {
    api_resource("gateway.envoyproxy.io", "v1alpha1", kind, plural)
}

/// One Envoy Gateway at a time (the fixed xDS port).
static ONE_AT_A_TIME: LazyLock<Arc<tokio::sync::Mutex<()>>> = LazyLock::new(Default::default);

/// What `scripts/testenv up` provides to run an Envoy Gateway.
#[derive(Clone, Debug)]
pub struct EnvoyGatewayPlane {
    binary: PathBuf,
    envoy: PathBuf,
    pub host_ip: String,
}

impl EnvoyGatewayPlane {
    /// The binaries and the host address, or `None` (and a line saying why the test is skipped).
    pub fn from_env(test: &str) -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var("ODA_TESTENV_ENVOY_GATEWAY"), var("ODA_TESTENV_ENVOY"), var("ODA_TESTENV_HOST_IP")) {
            (Some(binary), Some(envoy), Some(host_ip)) => match certs_mountable() {
                Ok(()) => Some(EnvoyGatewayPlane { binary: binary.into(), envoy: envoy.into(), host_ip }),
                Err(why) => {
                    eprintln!("{test}: skipped: Envoy Gateway cannot run here: {why}");
                    None
                }
            },
            _ => {
                eprintln!(
                    "{test}: skipped: no Envoy Gateway (ODA_TESTENV_ENVOY_GATEWAY, ODA_TESTENV_ENVOY and \
                     ODA_TESTENV_HOST_IP come from `scripts/testenv up` with its data plane)"
                );
                None
            }
        }
    }
}

/// Whether [`CERTS_MOUNT`] exists (or can be made) and a mount namespace of our own can be entered
/// (root, or the capability to mount), which running Envoy Gateway here takes.
fn certs_mountable() -> Result<(), String> {
    std::fs::create_dir_all(CERTS_MOUNT).map_err(|e| format!("no directory {CERTS_MOUNT} ({e})"))?;
    let probe = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .output()
        .map_err(|e| format!("no `unshare` ({e})"))?;
    if probe.status.success() {
        Ok(())
    } else {
        Err(format!("no mount namespace of its own: {}", String::from_utf8_lossy(&probe.stderr).trim()))
    }
}

/// An Envoy Gateway serving the Gateway [`EG_GATEWAY`] of the test namespace. Stopped (with the
/// Envoy it runs) when dropped.
pub struct EnvoyGateway {
    pub port: u16,
    pub host_ip: String,
    /// The GatewayClass' name (the test namespace's).
    pub class: String,
    /// The Envoy version run (the one the test's EnvoyProxy names).
    pub envoy_version: String,
    log: PathBuf,
    child: Option<tokio::process::Child>,
    _lock: tokio::sync::OwnedMutexGuard<()>,
}

impl EnvoyGateway {
    /// Creates the EnvoyProxy, GatewayClass, Gateway and the Gateway's stand-in Service and
    /// DaemonSet, starts Envoy Gateway and waits until the Gateway is `Programmed` at the host
    /// address and its Envoy listens.
    pub async fn start(ns: &TestNamespace, plane: &EnvoyGatewayPlane) -> Self {
        let lock = ONE_AT_A_TIME.clone().lock_owned().await;
        wait_for(Duration::from_secs(30), || async {
            std::net::TcpListener::bind(("0.0.0.0", XDS_PORT))
                .map_err(|e| format!("port {XDS_PORT} (Envoy Gateway's xDS) busy: another Envoy Gateway runs? {e}"))
        })
        .await;
        let envoy_version = envoy_version(&plane.envoy);
        let port = free_port(&plane.host_ip);
        let class = ns.name().to_owned();

        let dir = std::env::temp_dir().join("oda-e2e-envoy-gateway").join(ns.name());
        std::fs::create_dir_all(&dir).expect("envoy gateway dir");
        // func-e runs $dataHome/envoy-versions/<version>/bin/envoy when it exists (no download).
        let bin = dir.join("data/envoy-versions").join(&envoy_version).join("bin");
        std::fs::create_dir_all(&bin).expect("func-e's version dir");
        let _ = std::fs::remove_file(bin.join("envoy"));
        std::os::unix::fs::symlink(&plane.envoy, bin.join("envoy")).expect("linking Envoy");
        // One CA for both ends of xDS (mTLS): Envoy Gateway's own certificates (`certgen --local`)
        // under configHome, where the host infrastructure finds Envoy's.
        let certgen = std::process::Command::new(&plane.binary)
            .args(["certgen", "--local", "--config-home"])
            .arg(dir.join("config"))
            .output()
            .expect("envoy-gateway certgen");
        assert!(certgen.status.success(), "certgen: {}", String::from_utf8_lossy(&certgen.stderr));
        let certs = dir.join("config/certs");
        // With Kubernetes resources, the control plane reads its own certificate from /certs (a
        // Pod's mount, also with host infrastructure) and the OIDC HMAC salt from the Secret
        // certgen would write in its namespace.
        // Also Envoy's certificate as the Secret `envoy` it reads for every GatewayClass.
        let read = |file: &str| k8s_openapi::ByteString(std::fs::read(certs.join(file)).expect("a certgen file"));
        let secrets = Api::<Secret>::namespaced(ns.client(), ns.name());
        for (name, type_, data) in [
            ("envoy-oidc-hmac", "Opaque", json!({"hmac-secret": read("envoy-oidc-hmac/hmac-secret")})),
            (
                "envoy",
                "kubernetes.io/tls",
                json!({"tls.crt": read("envoy/tls.crt"), "tls.key": read("envoy/tls.key"), "ca.crt": read("envoy/ca.crt")}),
            ),
        ] {
            let secret: Secret =
                serde_json::from_value(json!({"metadata": {"name": name}, "type": type_, "data": data}))
                    .expect("a Secret");
            secrets
                .create(&PostParams::default(), &secret)
                .await
                .unwrap_or_else(|e| panic!("creating Secret {name}: {e}"));
        }
        let admin = free_port("127.0.0.1");
        let config = dir.join("envoy-gateway.yaml");
        std::fs::write(&config, config_yaml(ns.name(), &dir, admin)).expect("writing the config");

        create_objects(ns, &class, port, &plane.host_ip, &envoy_version).await;

        let log = dir.join("envoy-gateway.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let kubeconfig = std::env::var("KUBECONFIG").unwrap_or_default();
        let kubeconfig = kubeconfig.split(':').find(|p| !p.is_empty()).unwrap_or_default().to_owned();
        // In a mount namespace of its own, /certs is its certgen directory.
        let child = tokio::process::Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!("mount --bind \"$0\" {CERTS_MOUNT} && exec \"$@\""))
            .arg(certs.join("envoy-gateway"))
            .arg(&plane.binary)
            .arg("server")
            .arg(format!("--config-path={}", config.display()))
            .env("KUBECONFIG", &kubeconfig)
            .env("ENVOY_GATEWAY_NAMESPACE", ns.name())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("envoy-gateway starts");
        let mut eg = EnvoyGateway {
            port,
            host_ip: plane.host_ip.clone(),
            class,
            envoy_version,
            log,
            child: Some(child),
            _lock: lock,
        };

        let gateways = dynamic_api(ns.client(), ns.name(), &gateway_api_gateway_resource());
        let host_ip = plane.host_ip.clone();
        let listening = format!("{}:{port}", plane.host_ip);
        let ready = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                if !eg.running() {
                    return;
                }
                if let Ok(gw) = gateways.get(EG_GATEWAY).await
                    && programmed_at(&gw, &host_ip)
                    && tokio::net::TcpStream::connect(&listening).await.is_ok()
                {
                    return;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        if ready.is_err() || !eg.running() {
            let gw = gateways.get(EG_GATEWAY).await.ok().and_then(|g| g.data.get("status").cloned());
            let running = eg.running();
            panic!(
                "Envoy Gateway of {} has not programmed Gateway {EG_GATEWAY} at {listening} in 120 s (running: \
                 {running}); Gateway status: {gw:?}\nEnvoy Gateway log:\n{}",
                ns.name(),
                eg.log_tail()
            );
        }
        eg
    }

    /// The listener's base URL (`http://<host ip>:<port>`), what the operator publishes.
    pub fn base(&self) -> String {
        format!("http://{}:{}", self.host_ip, self.port)
    }

    /// The test's GatewayClass as Envoy Gateway left it (with its `status`).
    pub async fn gateway_class(&self, client: Client) -> DynamicObject {
        super::gateway_status::read_gateway_class(client, &self.class).await
    }

    /// The last lines of the log (Envoy Gateway's and its Envoy's): shown when a test fails.
    pub fn log_tail(&self) -> String {
        super::last_lines(&self.log(), 60, |_| false)
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether Envoy Gateway still runs.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for EnvoyGateway {
    /// SIGTERM to Envoy Gateway (it stops its Envoy), then SIGKILL to its whole process group.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Some(pid) = child.id() {
            // The process group we started (process_group(0): pgid = pid): Envoy Gateway and the
            // Envoy it runs.
            signal_group(pid, "TERM");
            for _ in 0..50 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            signal_group(pid, "KILL");
        }
        let _ = child.start_kill();
    }
}

/// Sends `signal` to process group `pgid` with kill(1): no unsafe FFI for a test's clean-up.
fn signal_group(pgid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{signal}"), "--".into(), format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// `x.y.z` of `envoy --version`.
fn envoy_version(envoy: &Path) -> String {
    let out = std::process::Command::new(envoy).arg("--version").output().expect("envoy --version");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split('/')
        .find(|part| {
            let nums: Vec<&str> = part.split('.').collect();
            nums.len() == 3 && nums.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or_else(|| panic!("no version in `envoy --version`: {text}"))
        .to_owned()
}

/// The EnvoyGateway configuration: Kubernetes resources of the test namespace, host
/// infrastructure under `dir`, admin on loopback.
fn config_yaml(ns: &str, dir: &Path, admin: u16) -> String {
    let d = dir.display();
    format!(
        r#"apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyGateway
gateway:
  controllerName: {EG_CONTROLLER}
provider:
  type: Custom
  custom:
    resource:
      type: Kubernetes
      kubernetes:
        watch:
          type: Namespaces
          namespaces: ["{ns}"]
        leaderElection:
          disable: true
    infrastructure:
      type: Host
      host:
        configHome: {d}/config
        dataHome: {d}/data
        stateHome: {d}/state
        runtimeDir: {d}/run
admin:
  address:
    host: 127.0.0.1
    port: {admin}
logging:
  level:
    default: info
"#
    )
}

/// The EnvoyProxy (host provider, the Envoy version the test plane has), the GatewayClass `class`
/// (owned by the test namespace, with that EnvoyProxy as parameters), the Gateway [`EG_GATEWAY`]
/// with one HTTP listener on `port` and the address `host_ip`, and the Gateway's stand-in Service
/// and DaemonSet.
async fn create_objects(ns: &TestNamespace, class: &str, port: u16, host_ip: &str, envoy_version: &str) {
    let client = ns.client();
    let proxy = dynamic_object(
        &eg_resource("EnvoyProxy", "envoyproxies"),
        ns.name(),
        "host-envoy",
        &[],
        json!({"spec": {"provider": {"type": "Host", "host": {"envoyVersion": envoy_version}}}}),
    );
    create_strict(&dynamic_api(client.clone(), ns.name(), &eg_resource("EnvoyProxy", "envoyproxies")), &proxy).await;

    let spec = json!({
        "controllerName": EG_CONTROLLER,
        "description": "Envoy Gateway of one e2e test",
        "parametersRef": {
            "group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": "host-envoy", "namespace": ns.name(),
        },
    });
    create_test_gateway_class(ns, class, spec, &[]).await;

    let gateway = dynamic_object(
        &gateway_api_gateway_resource(),
        ns.name(),
        EG_GATEWAY,
        &[],
        json!({"spec": {
            "gatewayClassName": class,
            "addresses": [{"type": "IPAddress", "value": host_ip}],
            "listeners": [{
                "name": EG_LISTENER, "port": i32::from(port), "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            }],
        }}),
    );
    create_strict(&dynamic_api(client.clone(), ns.name(), &gateway_api_gateway_resource()), &gateway).await;

    // The stand-ins for what Envoy Gateway's Kubernetes infrastructure would create.
    let owner = [
        ("gateway.envoyproxy.io/owning-gateway-name", EG_GATEWAY),
        ("gateway.envoyproxy.io/owning-gateway-namespace", ns.name()),
        ("app.kubernetes.io/name", "envoy"),
        ("app.kubernetes.io/component", "proxy"),
        ("app.kubernetes.io/managed-by", "envoy-gateway"),
    ];
    let mut svc = service("envoy-eg", &owner, &[("http", i32::from(port))]);
    if let Some(spec) = svc.spec.as_mut() {
        spec.external_ips = Some(vec![host_ip.to_owned()]);
    }
    Api::<Service>::namespaced(client.clone(), ns.name())
        .create(&PostParams::default(), &svc)
        .await
        .unwrap_or_else(|e| panic!("creating the Envoy Service: {e}"));

    let daemon_sets = Api::<DaemonSet>::namespaced(client.clone(), ns.name());
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "envoy-eg", "labels": labels(&owner)},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": "envoy"}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "envoy"}},
                "spec": {"containers": [{"name": "envoy", "image": "envoy-on-the-host"}]},
            },
        },
    }))
    .expect("a DaemonSet");
    daemon_sets.create(&PostParams::default(), &ds).await.unwrap_or_else(|e| panic!("creating the DaemonSet: {e}"));
    let status = json!({"status": {
        "currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberMisscheduled": 0,
        "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 1,
    }});
    daemon_sets
        .patch_status("envoy-eg", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("writing the DaemonSet's status: {e}"));
}
