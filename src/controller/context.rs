//! What reconciles share: the watch-fed state and caches, the backends, the clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;
use kube::Client;
use kube::core::ApiResource;
use kube::runtime::reflector::{ObjectRef, Store};
use parking_lot::{Mutex as Lock, RwLock};

use super::cached::CachedObject;
use super::cached_api::CachedApi;
use super::discovery::Discovered;
use super::error::ReconcileError;
use super::indexes::{ImplementationIndex, Key, ReadinessIndex, Relisting};
use super::journal::Journal;
use super::recorder::Recorder;
use super::synced::Synced;
use super::{facts, pod_index, recent};
use crate::backend::Backends;
use crate::backend::route::{ConflictWaiters, RouteIndex};
use crate::config::{OperatorConfig, WatchNamespaces};
use crate::core::gateway_address::{Gateway, GatewayAddress};
use crate::core::gateway_class::ClassFeatures;
use crate::core::istio_gateway::IstioListener;
use crate::core::status::ConditionSpec;
use crate::core::validation::ValidApi;
use crate::exposed_api::{ExposedAPI, ExposedApiSpec, ExposedApiStatus};
use crate::telemetry::Telemetry;

/// Shared, watch-fed state the reconciler reads.
#[derive(Default)]
pub struct State {
    pub readiness: RwLock<Relisting<ReadinessIndex>>,
    pub implementations: RwLock<Relisting<ImplementationIndex>>,
    /// What the routes of the active route kind claim.
    pub routes: RwLock<Relisting<RouteIndex>>,
    pub waiters: Lock<ConflictWaiters>,
    /// The address of the ingress gateway Service (else Gateway), for VirtualServices.
    pub gateway: RwLock<Option<GatewayAddress>>,
    /// How the Istio Gateway(s) the VirtualServices bind to serve them (TLS or plain HTTP).
    pub istio_gateways: RwLock<Relisting<facts::Facts<IstioListener>>>,
    /// What each GatewayClass's implementation supports (`status.supportedFeatures`), for HTTPRoutes.
    pub gateway_classes: RwLock<Relisting<facts::Facts<ClassFeatures>>>,
    /// Service selectors and pods, for the annotation-based metrics patterns.
    pub selectors: RwLock<Relisting<pod_index::SelectorIndex>>,
    pub pods: RwLock<Relisting<pod_index::PodIndex>>,
    /// The operator's own writes whose watch events have not arrived yet (read through
    /// [`State::recent`]).
    pub recent: Mutex<recent::RecentWrites>,
    /// Signalled when the ExposedAPI cache has listed (orphans are only judged on a full cache).
    pub apis_listed: tokio::sync::Notify,
    /// Consecutive failures per API, for exponential backoff.
    pub failures: Lock<HashMap<Key, u32>>,
}

impl State {
    /// The operator's own recent writes. A panic while they were held leaves nothing half-done
    /// that matters (the overlay is only an optimisation), so a poisoned lock is used as it is.
    pub fn recent(&self) -> MutexGuard<'_, recent::RecentWrites> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything a reconcile needs.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub namespaces: WatchNamespaces,
    pub discovered: Discovered,
    /// The route backend (and the former ones), the scraper and the gateway policy builder.
    pub backends: Backends,
    pub state: Arc<State>,
    pub recorder: Recorder,
    /// Watch caches of the kinds the backends write.
    pub children: ChildStores,
    pub components: Option<Store<CachedObject>>,
    /// The component Gateway(s), for the URLs of HTTPRoutes.
    pub gateways: Option<Store<Gateway>>,
    pub apis: Store<CachedApi>,
    pub telemetry: Telemetry,
    /// The system outside the cluster that publishes each API after its route (Azure API
    /// Management with `ROUTE_BACKEND=AzureAPIM`).
    pub external: Option<Arc<dyn ExternalSystem>>,
}

/// The watch caches of the child kinds (and the kind their keys share), by group and plural.
#[derive(Clone, Default)]
pub struct ChildStores(HashMap<(String, String), (Arc<ApiResource>, Store<CachedObject>)>);

impl ChildStores {
    pub fn insert(&mut self, kind: Arc<ApiResource>, store: Store<CachedObject>) {
        self.0.insert(key(&kind), (kind, store));
    }

    pub fn get(&self, resource: &ApiResource) -> Option<&Store<CachedObject>> {
        self.0.get(&key(resource)).map(|(_, store)| store)
    }

    /// The cached object of `resource` named `name` in `namespace`.
    pub fn object(&self, resource: &ApiResource, namespace: &str, name: &str) -> Option<Arc<CachedObject>> {
        let (kind, store) = self.0.get(&key(resource))?;
        store.get(&ObjectRef::new_with(name, kind.clone()).within(namespace))
    }
}

fn key(resource: &ApiResource) -> (String, String) {
    (resource.group.clone(), resource.plural.clone())
}

/// The external-system role of the publishing contract: a system outside the cluster that
/// publishes an API once its route is in place (Azure API Management first, `apim`).
pub trait ExternalSystem: Send + Sync {
    /// Publishes a valid API whose route is in place; `previous` is the status it last recorded.
    fn sync<'a>(
        &'a self,
        ctx: &'a Context,
        api: &'a ExposedAPI,
        valid: &'a ValidApi,
        previous: Option<&'a ExposedApiStatus>,
        journal: &'a Journal,
    ) -> BoxFuture<'a, Synced>;

    /// Removes the API from the system; the ExposedAPI's finalizer goes only once this succeeds.
    fn release<'a>(&'a self, ctx: &'a Context, api: &'a ExposedAPI) -> BoxFuture<'a, Result<(), ReconcileError>>;

    /// The condition of every requested policy: the system carries the policies itself.
    fn policy_conditions(&self, spec: &ExposedApiSpec, synced: &Synced) -> Vec<ConditionSpec>;

    /// What the system does beside the reconciles (APIM: its drift sweep), started once the API
    /// cache has listed; `requeue` asks for an API's reconcile. `None` when it does nothing.
    fn background(&self, _ctx: Arc<Context>, _requeue: Requeue) -> Option<BoxFuture<'static, ()>> {
        None
    }
}

/// Asks for the reconcile of one API.
pub type Requeue = futures::channel::mpsc::UnboundedSender<ObjectRef<CachedApi>>;
