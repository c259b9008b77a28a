//! Shared helpers for the end-to-end tests, which run against a real control plane.
//!
//! Start one with `eval "$(scripts/testenv up)"` (see docs/testenv.md). The harness reads:
//!
//! - `KUBECONFIG`: the admin identity (required; may be a `:`-separated list),
//! - `ODA_OPERATOR_KUBECONFIG`: the operator identity, bound only to the `oda-api-operator`
//!   ClusterRole (optional; falls back to `KUBECONFIG`),
//! - `E2E_KEEP_NAMESPACES=1`: keep each test's namespace for debugging instead of deleting it.
//!
//! Every test gets its own namespace ([`TestNamespace`]), so tests run in parallel.
//!
//! The clients are created per test: a `kube::Client` is bound to the Tokio runtime that built
//! it, and every `#[tokio::test]` has its own runtime.
#![allow(dead_code)] // not every test module uses every helper

use std::fmt::Debug;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams};
use kube::{Client, Resource};
use oda_test_support::clients;
pub use oda_test_support::clients::operator_identity_is_separate;
use oda_test_support::namespaces::create_labelled_namespace;
pub use oda_test_support::resources::*;

/// How long [`wait_for`] sleeps between attempts.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Garbage collection of objects owned by a custom resource can take up to the controller
/// manager's ~30 s discovery resync (plus GC queue time) when the CRD is new.
pub const GC_TIMEOUT: Duration = Duration::from_secs(90);
/// Field manager used by the test fixtures for server-side apply.
pub const FIELD_MANAGER: &str = "oda-e2e";

const NO_CLUSTER: &str = "no cluster: run `eval \"$(scripts/testenv up)\"` (see docs/testenv.md)";

// ---------------------------------------------------------------------------------------------
// clients

/// Panics with instructions and `reason` when no cluster is configured.
fn no_cluster<T>(reason: String) -> T {
    panic!("{NO_CLUSTER}\n({reason})")
}

/// Client with the admin identity, from `KUBECONFIG`.
///
/// Panics with instructions when no cluster is configured. `~/.kube/config` is deliberately
/// NOT used as a fallback, so the tests never touch a cluster by accident.
pub async fn admin_client() -> Client {
    clients::admin_client().await.unwrap_or_else(no_cluster)
}

/// Client with the operator's identity (User `oda-api-operator`, bound to the ClusterRole of
/// deploy/rbac.yaml), from `ODA_OPERATOR_KUBECONFIG`; falls back to [`admin_client`].
pub async fn operator_client() -> Client {
    clients::operator_client().await.unwrap_or_else(no_cluster)
}

// ---------------------------------------------------------------------------------------------
// waiting

/// What one attempt of [`wait_for`] returns: done with a value, or not yet (with a reason that
/// is shown if the wait times out).
pub trait Attempt {
    type Output;
    fn into_result(self) -> Result<Self::Output, String>;
}

impl<T> Attempt for Option<T> {
    type Output = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "condition not met (None)".to_string())
    }
}

impl<T, E: Debug> Attempt for Result<T, E> {
    type Output = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

impl Attempt for bool {
    type Output = ();
    fn into_result(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("condition not met (false)".to_string()) }
    }
}

/// Polls `attempt` every [`POLL_INTERVAL`] until it returns `Some(v)` / `Ok(v)` / `true`, and
/// returns `v`. Panics after `timeout` with the caller's location and the last reason
/// (the `Err` value or "None"/"false").
///
/// ```ignore
/// let vs = wait_for(Duration::from_secs(30), || async {
///     vs_api.get_opt("my-api").await.ok().flatten()
/// }).await;
/// ```
#[track_caller]
pub fn wait_for<F, Fut, A>(timeout: Duration, mut attempt: F) -> impl Future<Output = A::Output>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = A>,
    A: Attempt,
{
    let caller = Location::caller();
    async move {
        let start = Instant::now();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let last = match attempt().await.into_result() {
                Ok(v) => return v,
                Err(reason) => reason,
            };
            if start.elapsed() >= timeout {
                panic!(
                    "wait_for at {caller} timed out after {:.1} s ({tries} attempts); last attempt: {last}",
                    start.elapsed().as_secs_f64()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// namespaces

static NS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Unique, DNS-label-safe name: `e2e-<test>-<suffix>` (at most 63 characters).
pub fn unique_namespace_name(test: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mix =
        nanos ^ (u128::from(std::process::id()) << 40) ^ (u128::from(NS_COUNTER.fetch_add(1, Ordering::Relaxed)) << 20);
    let suffix = base36((mix % 36u128.pow(8)) as u64);
    let mut slug: String =
        test.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    let slug = slug.trim_matches('-');
    let max_slug = 63 - "e2e-".len() - 1 - suffix.len();
    let slug = slug[..slug.len().min(max_slug)].trim_end_matches('-');
    if slug.is_empty() { format!("e2e-{suffix}") } else { format!("e2e-{slug}-{suffix}") }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; 8];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).expect("ascii")
}

/// A namespace of its own for one test, deleted (best effort, without waiting) when dropped —
/// also when the test panics. Set `E2E_KEEP_NAMESPACES=1` to keep it for debugging. When the test
/// passed, the Istio objects left in it are first validated by istioctl ([`validate_istio_objects`]);
/// a rejection fails the test.
/// Leftovers can be removed with `kubectl delete ns -l oda-testenv/e2e=true`.
pub struct TestNamespace {
    name: String,
    client: Client,
}

impl TestNamespace {
    /// Creates `e2e-<test>-<suffix>` labelled `oda-testenv/e2e=true`.
    pub async fn new(test: &str) -> Self {
        let client = admin_client().await;
        let name = unique_namespace_name(test);
        create_labelled_namespace(&client, &name, "oda-testenv/e2e").await.unwrap_or_else(|e| panic!("{e}"));
        TestNamespace { name, client }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin client used to create the namespace.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// A typed, namespaced API in this namespace with the admin client.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace now and waits until it is gone (it takes a few seconds while the
    /// namespace controller empties it). Dropping the guard afterwards is harmless.
    pub async fn delete_and_wait(&self, timeout: Duration) {
        let api = Api::<Namespace>::all(self.client.clone());
        let _ = api.delete(&self.name, &DeleteParams::background()).await;
        wait_for(timeout, || async { matches!(api.get_opt(&self.name).await, Ok(None)) }).await;
    }
}

/// Removes the finalizers of the ExposedAPIs in `ns`: the test's operator, which would remove them,
/// has stopped, and the namespace could not go while they remain.
async fn release_finalizers(client: Client, ns: &str) {
    let apis: Api<kube::core::DynamicObject> = Api::namespaced_with(client, ns, &exposed_api_resource());
    let Ok(list) = apis.list_metadata(&Default::default()).await else { return };
    let patch = serde_json::json!({ "metadata": { "finalizers": null } });
    for api in list.items.iter().filter(|a| a.metadata.finalizers.as_ref().is_some_and(|f| !f.is_empty())) {
        let name = api.metadata.name.clone().unwrap_or_default();
        if let Err(e) = apis.patch(&name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await {
            eprintln!("warning: removing the finalizers of ExposedAPI {ns}/{name}: {e}");
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var("E2E_KEEP_NAMESPACES").is_ok_and(|v| !v.is_empty() && v != "0") {
            eprintln!("E2E_KEEP_NAMESPACES: keeping namespace {}", self.name);
            return;
        }
        // The test's runtime is shutting down (or unwinding), and a kube Client only works on
        // the runtime that built it: delete from a short-lived thread with its own runtime.
        let name = self.name.clone();
        let validate = !std::thread::panicking();
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return Ok(());
            };
            rt.block_on(async move {
                let client = admin_client().await;
                let validated = if validate { validate_istio_objects(client.clone(), &name).await } else { Ok(()) };
                let delete = async {
                    // No kubelet confirms the deletion of Pods bound to the simulated Node.
                    release_simulated_pods(client.clone(), &name).await;
                    release_finalizers(client.clone(), &name).await;
                    Api::<Namespace>::all(client).delete(&name, &DeleteParams::background()).await
                };
                match tokio::time::timeout(Duration::from_secs(10), delete).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(kube::Error::Api(e))) if e.code == 404 => {}
                    Ok(Err(e)) => eprintln!("warning: deleting namespace {name}: {e}"),
                    Err(_) => eprintln!("warning: deleting namespace {name}: timed out"),
                }
                validated
            })
        });
        if let Ok(Err(rejected)) = handle.join() {
            panic!("{rejected}");
        }
    }
}

pub mod azure;
pub mod dataplane;
pub mod envoy_gateway;
mod fixtures;
pub mod gateway_status;
pub mod http;
mod istioctl;
pub mod jwt;
mod node;
pub mod prometheus;
pub mod traefik;
pub use fixtures::*;
pub use istioctl::*;
pub use node::*;

/// The last `n` lines of a text (a process's log, shown when a test fails), without those `skip`
/// matches.
pub fn last_lines(text: &str, n: usize, skip: impl Fn(&str) -> bool) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !skip(l)).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
