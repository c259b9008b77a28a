//! Clients, namespaces and the resources the benchmark reads and writes.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams};
use kube::core::ApiResource;
use kube::{Client, ResourceExt};
use oda_test_support::resources::dynamic_api;
use oda_test_support::{clients, namespaces};

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
        let not_set = "KUBECONFIG is not set: run `eval \"$(scripts/testenv up)\"` first (see docs/testenv.md)";
        let (operator_paths, var) = clients::operator_kubeconfig().ok_or(not_set)?;
        Ok(Self {
            admin: clients::admin_client().await?,
            operator: clients::client_from_kubeconfig_list(var, &operator_paths).await?,
            operator_kubeconfig: operator_paths,
        })
    }
}

/// A DNS-label-safe suffix that differs between runs.
pub fn run_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:06x}", (nanos ^ (u128::from(std::process::id()) << 24)) % 0x100_0000)
}

/// Creates a namespace labelled [`NS_LABEL`].
pub async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    namespaces::create_labelled_namespace(client, name, NS_LABEL).await?;
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
    let list = dynamic_api(client.clone(), ns, ar).list(&ListParams::default()).await?;
    Ok(list.items.into_iter().map(|o| (o.name_any(), o.resource_version().unwrap_or_default())).collect())
}
