//! A `Context` for unit tests of the controller's steps: a real `kube::Client` whose requests go to
//! an in-process fake API server, which records every request (method, path, query, body) and
//! answers from a small object map; and real reflector stores, filled through their writers.
//!
//! The fake is a recorder of the steps' writes, not a second Kubernetes: server-side apply merges
//! the body into the stored object (new ones get a uid), JSON patches are applied (a failed `test`
//! is a 422), deletes honour the uid precondition (409), unknown objects are 404, and a request can
//! be made to fail with any code ([`FakeApi::fail`]).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::Resource;
use kube::client::Body;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::cached::CachedObject;
use super::context::{ChildStores, Context, State};
use super::discovery::Discovered;
use super::external::ExternalSystem;
use super::recorder::Recorder;
use crate::backend::{Backends, Installed};
use crate::config::{OperatorConfig, WatchNamespaces};
use crate::core::component::component_resource;
use crate::core::gateway_address::Gateway;
use crate::exposed_api::ExposedAPI;
use crate::telemetry::Telemetry;

/// The namespace of the test APIs.
pub const NS: &str = "c1";
/// The uid of the test APIs.
pub const UID: &str = "api-uid";

/// One request the fake API server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Recorded {
    /// `METHOD path`, for asserting on the sequence of requests.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The `fieldManager` of the request, when it names one.
    pub fn manager(&self) -> Option<String> {
        let field = self.query.split('&').find_map(|pair| pair.strip_prefix("fieldManager="))?;
        Some(field.replace("%2F", "/").replace("%2f", "/"))
    }
}

#[derive(Default)]
struct Server {
    /// Objects by their path (`/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>`).
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    /// `(method, path fragment, code)`: requests answered with that error.
    failures: Vec<(String, String, u16)>,
    version: u64,
}

/// The fake API server: a handle on what it holds and what it was asked.
#[derive(Clone, Default)]
pub struct FakeApi(Arc<Mutex<Server>>);

/// The path of an object of `resource`.
pub fn path_of(resource: &ApiResource, namespace: &str, name: &str) -> String {
    format!("{}/{name}", DynamicObject::url_path(resource, Some(namespace)))
}

fn status(code: u16, reason: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": reason, "reason": reason, "code": code})
}

/// Objects are merged: maps key by key, anything else replaced (null removes).
fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match value {
                    Value::Null => {
                        into.remove(key);
                    }
                    _ => merge(into.entry(key.clone()).or_insert(Value::Null), value),
                }
            }
        }
        (into, from) => *into = from.clone(),
    }
}

impl FakeApi {
    /// Stores an object as the API server would hold it (a uid and resourceVersion unless given).
    pub fn put(&self, resource: &ApiResource, mut object: Value) {
        let (ns, name) = (object["metadata"]["namespace"].as_str(), object["metadata"]["name"].as_str());
        let path = path_of(resource, ns.unwrap_or(NS), name.unwrap_or_default());
        let mut server = self.0.lock();
        server.version += 1;
        let meta = &mut object["metadata"];
        if meta["uid"].is_null() {
            meta["uid"] = json!(format!("uid-{}", server.version));
        }
        if meta["resourceVersion"].is_null() {
            meta["resourceVersion"] = json!(server.version.to_string());
        }
        server.objects.insert(path, object);
    }

    /// The object at `path`, as it is now.
    pub fn get(&self, path: &str) -> Option<Value> {
        self.0.lock().objects.get(path).cloned()
    }

    /// Answers requests of `method` whose path contains `fragment` with the error `code`.
    pub fn fail(&self, method: &str, fragment: &str, code: u16) {
        self.0.lock().failures.push((method.to_owned(), fragment.to_owned(), code));
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.0.lock().requests.clone()
    }

    /// The writes received (every request but GET), in order.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.method != "GET").collect()
    }

    /// The writes, as `METHOD path` lines.
    pub fn write_lines(&self) -> Vec<String> {
        self.writes().iter().map(Recorded::line).collect()
    }

    fn answer(&self, request: Recorded, content_type: &str) -> (u16, Value) {
        let mut server = self.0.lock();
        server.requests.push(request.clone());
        let failed = server.failures.iter().find(|(m, p, _)| *m == request.method && request.path.contains(p.as_str()));
        if let Some((_, _, code)) = failed {
            return (*code, status(*code, "Injected"));
        }
        let segments = request.path.split('/').filter(|s| !s.is_empty()).count();
        let prefix = if request.path.starts_with("/api/") { 2 } else { 3 };
        let path = match segments - prefix {
            5 => request.path.rsplit_once('/').map_or(request.path.clone(), |(p, _)| p.to_owned()),
            _ => request.path.clone(),
        };
        if segments - prefix == 3 && request.method == "GET" {
            let under = format!("{path}/");
            let items: Vec<Value> = server
                .objects
                .iter()
                .filter(|(k, _)| k.strip_prefix(&under).is_some_and(|rest| !rest.contains('/')))
                .map(|(_, v)| v.clone())
                .collect();
            return (200, json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}));
        }
        server.version += 1;
        let version = server.version.to_string();
        let existing = server.objects.get_mut(&path);
        match (request.method.as_str(), existing) {
            ("GET", Some(object)) => (200, object.clone()),
            ("DELETE", Some(object)) => {
                let want = &request.body["preconditions"]["uid"];
                if !want.is_null() && *want != object["metadata"]["uid"] {
                    return (409, status(409, "Conflict"));
                }
                let object = object.clone();
                server.objects.remove(&path);
                (200, object)
            }
            ("PATCH", Some(object)) if content_type.contains("json-patch") => {
                let mut patched = object.clone();
                // As the API server does, a `test` of null passes on a missing member.
                let ops = request.body.as_array().into_iter().flatten().filter(|op| {
                    let path = op["path"].as_str().unwrap_or_default();
                    !(op["op"] == "test" && op["value"].is_null() && patched.pointer(path).is_none())
                });
                let ops = serde_json::from_value::<json_patch::Patch>(Value::Array(ops.cloned().collect()));
                if !ops.is_ok_and(|ops| json_patch::patch(&mut patched, &ops).is_ok()) {
                    return (422, status(422, "Invalid"));
                }
                patched["metadata"]["resourceVersion"] = json!(version);
                *object = patched.clone();
                (200, patched)
            }
            ("PATCH", Some(object)) => {
                merge(object, &request.body);
                object["metadata"]["resourceVersion"] = json!(version);
                (200, object.clone())
            }
            // Server-side apply creates a missing object, not through a subresource.
            ("PATCH", None) if content_type.contains("apply-patch") && segments - prefix == 4 => {
                let mut object = request.body.clone();
                object["metadata"]["uid"] = json!(format!("uid-{version}"));
                object["metadata"]["resourceVersion"] = json!(version);
                server.objects.insert(path, object.clone());
                (201, object)
            }
            ("POST", _) => (201, request.body),
            _ => (404, status(404, "NotFound")),
        }
    }

    async fn serve(self, request: Request<Body>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap_or_default();
        let recorded = Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let (code, answer) = self.answer(recorded, content_type);
        let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
        *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::IM_A_TEAPOT);
        response
    }

    /// A client whose every request this fake answers.
    pub fn client(&self) -> kube::Client {
        let fake = self.clone();
        let service = tower::service_fn(move |request| {
            let fake = fake.clone();
            async move { Ok::<_, Infallible>(fake.serve(request).await) }
        });
        kube::Client::new(service, NS)
    }
}

/// What a test context is made of, before it is built.
pub struct Setup {
    pub config: OperatorConfig,
    pub installed: Installed,
    pub discovered: Discovered,
    pub external: Option<Arc<dyn ExternalSystem>>,
    /// Kinds cached besides those the backends declare (e.g. a test policy engine's).
    pub watched: Vec<ApiResource>,
    /// The fake API server the client talks to.
    pub server: FakeApi,
}

impl Default for Setup {
    fn default() -> Self {
        let discovered = Discovered {
            exposed_api_status_subresource: true,
            component: Some(true),
            virtual_service: true,
            service_monitor: true,
            gateway_api: true,
            gateway_class: true,
            http_route: true,
            http_route_cors: true,
            envoy_filter: true,
            istio_security: true,
            ..Discovered::default()
        };
        Self {
            config: OperatorConfig::default(),
            installed: Installed::ALL,
            discovered,
            external: None,
            watched: Vec::new(),
            server: FakeApi::default(),
        }
    }
}

/// A built context, its fake API server and the writers of its caches.
pub struct Fixture {
    pub api: FakeApi,
    pub ctx: Arc<Context>,
    children: HashMap<(String, String), (Arc<ApiResource>, Writer<CachedObject>)>,
    components: Writer<CachedObject>,
}

impl Setup {
    /// Builds the context: a cache for every kind the backends declare and for the policy kinds.
    /// Needs a Tokio runtime (the client's buffer task).
    pub fn build(self) -> Fixture {
        let api = self.server;
        let client = api.client();
        let backends = Backends::new(&self.config, self.installed).with_engines(|_| true);
        let declared = backends.kinds.iter().map(|k| k.resource.clone()).chain(backends.policy_kinds());
        let kinds = declared.chain(self.watched);
        let (mut children, mut stores) = (HashMap::new(), ChildStores::default());
        for resource in kinds {
            let resource = Arc::new(resource);
            let writer = Writer::new(resource.clone());
            stores.insert(resource.clone(), writer.as_reader());
            children.insert((resource.group.clone(), resource.plural.clone()), (resource, writer));
        }
        let components = Writer::new(Arc::new(component_resource()));
        let (gateway_store, _) = reflector::store::<Gateway>();
        let (apis, _) = reflector::store::<super::cached_api::CachedApi>();
        let telemetry = Telemetry::default();
        // Events are not published: the queue's task is dropped, so they go nowhere.
        let (recorder, _) = Recorder::start(client.clone(), ("oda-api-operator", None), telemetry.metrics.clone());
        let ctx = Context {
            client,
            config: self.config,
            namespaces: WatchNamespaces::All,
            discovered: self.discovered,
            backends,
            state: Arc::new(State::default()),
            recorder,
            children: stores,
            components: Some(components.as_reader()),
            gateways: Some(gateway_store),
            apis,
            telemetry,
            external: self.external,
        };
        Fixture { api, ctx: Arc::new(ctx), children, components }
    }
}

/// A context of the default configuration (VirtualServices, ServiceMonitors, every CRD).
pub fn fixture() -> Fixture {
    Setup::default().build()
}

impl Fixture {
    /// Puts an object in the cache of its kind (as its watch would) and on the fake server.
    pub fn observe(&mut self, resource: &ApiResource, object: Value) {
        let (kind, writer) =
            self.children.get_mut(&(resource.group.clone(), resource.plural.clone())).expect("a cached kind");
        let mut object = object;
        object["apiVersion"] = json!(kind.api_version);
        object["kind"] = json!(kind.kind);
        self.api.put(kind, object.clone());
        let path = path_of(
            kind,
            object["metadata"]["namespace"].as_str().unwrap_or(NS),
            object["metadata"]["name"].as_str().unwrap(),
        );
        let stored = self.api.get(&path).expect("stored");
        writer.apply_watcher_event(&Event::Apply(serde_json::from_value(stored).expect("an object")));
    }

    /// A Component in its cache and on the fake server.
    pub fn component(&mut self, object: Value) {
        let resource = component_resource();
        self.api.put(&resource, object.clone());
        let stored = self.api.get(&path_of(&resource, NS, object["metadata"]["name"].as_str().unwrap())).unwrap();
        self.components.apply_watcher_event(&Event::Apply(serde_json::from_value(stored).expect("a Component")));
    }

    /// The implementation Service `impl` selecting `app=impl`, in the selector index and on the
    /// server.
    pub fn service(&self) {
        let service = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "impl", "namespace": NS}, "spec": {"selector": {"app": "impl"}}});
        self.api.put(&ApiResource::erase::<Service>(&()), service.clone());
        let service: Service = serde_json::from_value(service).expect("a Service");
        self.ctx.state.selectors.write().handle(&Event::Apply(service));
    }

    /// A pod of Service `impl` with these annotations, in the pod index and on the server.
    pub fn pod(&self, name: &str, annotations: Value) {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS,
            "labels": {"app": "impl"}, "annotations": annotations}});
        self.api.put(&ApiResource::erase::<Pod>(&()), pod.clone());
        let pod: Pod = serde_json::from_value(pod).expect("a Pod");
        self.ctx.state.pods.write().handle(&Event::Apply(pod));
    }

    /// Puts the ExposedAPI on the fake server (for the writes that need it there: finalizers).
    pub fn store_api(&self, api: &ExposedAPI) {
        self.api.put(&ApiResource::erase::<ExposedAPI>(&()), serde_json::to_value(api).expect("an API"));
    }

    /// The ExposedAPI as the fake server holds it now.
    pub fn stored_api(&self, name: &str) -> Value {
        self.api.get(&path_of(&ApiResource::erase::<ExposedAPI>(&()), NS, name)).expect("the API is stored")
    }
}

/// An ExposedAPI in [`NS`] with uid [`UID`], generation 1 and this spec.
pub fn exposed_api(name: &str, spec: Value) -> ExposedAPI {
    serde_json::from_value(json!({
        "apiVersion": "oda.tmforum.org/v1", "kind": "ExposedAPI",
        "metadata": {"name": name, "namespace": NS, "uid": UID, "resourceVersion": "1", "generation": 1},
        "spec": spec,
    }))
    .expect("an ExposedAPI")
}

/// A valid OpenAPI API's spec on Service `impl`, with `extra` fields merged in.
pub fn spec(path: &str, extra: Value) -> Value {
    let mut spec = json!({"apiType": "openapi", "implementation": "impl", "path": path, "port": 8080});
    merge(&mut spec, &extra);
    spec
}

/// An `ownerReferences` entry naming the test API as controller.
pub fn owned() -> Value {
    json!([{"apiVersion": "oda.tmforum.org/v1", "kind": "ExposedAPI", "name": "a", "uid": UID, "controller": true}])
}

/// The API, validated as the pipeline validates it.
pub fn valid(api: &ExposedAPI) -> crate::core::validation::ValidApi {
    crate::core::validation::validate(api, NS).expect("a valid API")
}

/// An object as JSON (e.g. a desired object, to cache it as already written).
pub fn as_json(object: &DynamicObject) -> Value {
    serde_json::to_value(object).expect("an object")
}
