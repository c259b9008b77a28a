//! Clients, namespaces and the resources the benchmark reads and writes.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Client, Config, ResourceExt};

/// Errors of the harness: a message is enough.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Label on every namespace the benchmark creates (leftovers are deleted at start).
pub const NS_LABEL: &str = "oda-bench";
/// Field manager the operator uses (the floor writes as it does).
pub const OPERATOR_MANAGER: &str = "oda-api-operator";

/// The admin client (fixtures, watches) and the operator identity (the floor's writes).
#[derive(Clone)]
pub struct Clients {
    pub admin: Client,
    pub operator: Client,
    /// The kubeconfig path(s) the operator process gets as `KUBECONFIG`.
    pub operator_kubeconfig: String,
}

impl Clients {
    /// From `KUBECONFIG` (admin) and `ODA_OPERATOR_KUBECONFIG` (operator; falls back to the admin).
    pub async fn from_env() -> Result<Self> {
        let admin_paths = std::env::var("KUBECONFIG")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or("KUBECONFIG is not set: run `eval \"$(scripts/testenv up)\"` first (see docs/testenv.md)")?;
        let operator_paths = std::env::var("ODA_OPERATOR_KUBECONFIG")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or(admin_paths.clone());
        Ok(Self {
            admin: client_from(&admin_paths).await?,
            operator: client_from(&operator_paths).await?,
            operator_kubeconfig: operator_paths,
        })
    }
}

async fn client_from(paths: &str) -> Result<Client> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths.split(':').filter(|p| !p.is_empty()) {
        let kc = Kubeconfig::read_from(path).map_err(|e| format!("reading kubeconfig {path}: {e}"))?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc)?,
        });
    }
    let kc = merged.ok_or("empty kubeconfig list")?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// `oda.tmforum.org/v1` ExposedAPI.
pub fn exposed_api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("oda.tmforum.org", "v1", "ExposedAPI"), "exposedapis")
}

/// `networking.istio.io/v1alpha3` VirtualService, as the operator writes it by default.
pub fn virtual_service_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.istio.io", "v1alpha3", "VirtualService"),
        "virtualservices",
    )
}

pub fn dynamic(client: &Client, ns: &str, ar: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, ar)
}

/// A DNS-label-safe suffix that differs between runs.
pub fn run_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:06x}", (nanos ^ (u128::from(std::process::id()) << 24)) % 0x100_0000)
}

/// Creates a namespace labelled [`NS_LABEL`].
pub async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some([(NS_LABEL.to_owned(), "true".to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|e| format!("creating namespace {name}: {e}"))?;
    Ok(())
}

/// Deletes a namespace and waits until the namespace controller has emptied and removed it.
pub async fn delete_namespace(client: &Client, name: &str, timeout: Duration) -> Result<Duration> {
    let api = Api::<Namespace>::all(client.clone());
    let start = Instant::now();
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(start.elapsed()),
        Err(e) => return Err(format!("deleting namespace {name}: {e}").into()),
    }
    let mut last_note = Instant::now();
    loop {
        match api.get_opt(name).await {
            Ok(None) => return Ok(start.elapsed()),
            Ok(Some(_)) | Err(_) if start.elapsed() > timeout => {
                return Err(format!("namespace {name} still exists after {} s", timeout.as_secs()).into());
            }
            _ => {}
        }
        if last_note.elapsed() > Duration::from_secs(30) {
            eprintln!("bench: waiting for namespace {name} to be deleted ({:.0} s)", start.elapsed().as_secs_f64());
            last_note = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Deletes namespaces left by earlier (interrupted) runs and waits until they are gone.
pub async fn delete_leftovers(client: &Client, timeout: Duration) -> Result<()> {
    let api = Api::<Namespace>::all(client.clone());
    let leftovers = api.list(&ListParams::default().labels(&format!("{NS_LABEL}=true"))).await?;
    for ns in leftovers {
        let name = ns.name_any();
        eprintln!("bench: deleting leftover namespace {name}");
        delete_namespace(client, &name, timeout).await?;
    }
    Ok(())
}

/// Events the operator published in `ns` (each series counted by its count).
pub async fn operator_events(client: &Client, ns: &str) -> Result<u64> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let list = events.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .filter(|e| e.reporting_controller.as_deref() == Some(OPERATOR_MANAGER))
        .map(|e| e.series.as_ref().map_or(1, |s| u64::try_from(s.count).unwrap_or(1)))
        .sum())
}

/// Name → resourceVersion of every object of `ar` in `ns`.
pub async fn resource_versions(
    client: &Client,
    ns: &str,
    ar: &ApiResource,
) -> Result<std::collections::BTreeMap<String, String>> {
    let list = dynamic(client, ns, ar).list(&ListParams::default()).await?;
    Ok(list.items.into_iter().map(|o| (o.name_any(), o.resource_version().unwrap_or_default())).collect())
}

/// Retries transient failures (throttling, server errors, timeouts, connection resets) of `call`.
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(200);
    for attempt in 1.. {
        match call().await {
            Ok(v) => return Ok(v),
            Err(kube::Error::Api(e)) if attempt < 8 && (e.code == 429 || e.code >= 500) => {}
            Err(kube::Error::Api(e)) => return Err(format!("{what}: {e}").into()),
            Err(e) if attempt < 8 => eprintln!("bench: {what}: {e}; retrying"),
            Err(e) => return Err(format!("{what}: {e}").into()),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    unreachable!()
}
