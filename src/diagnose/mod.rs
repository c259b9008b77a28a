//! `oda-api-operator diagnose`: one screen saying why an ExposedAPI is or is not ready, from the
//! cluster as it is: its conditions, its route and who controls it, the gateway address and where
//! it comes from, the implementation's EndpointSlices, conflicting routes, its policy objects,
//! recent Events, and whether this identity may do what the operator needs. Run in the operator's
//! pod (`kubectl exec deploy/oda-api-operator -- oda-api-operator diagnose NAME`) it reads the
//! operator's own settings and identity. Unlike a reconcile it LISTs freely: it runs once.

mod lookup;
mod plan;
pub mod report;

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::{Event, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, PostParams};
use kube::core::{ApiResource, DynamicObject};
use kube::{Client, ResourceExt};

use crate::backend::gateway_policy::API_UID_LABEL;
use crate::backend::route::AddressSource;
use crate::backend::route::Route;
use crate::backend::{Backends, Installed};
use crate::config::RunConfig;
use crate::core::ownership::{controller_of, is_controlled_by};
use crate::core::readiness::SERVICE_NAME_LABEL;
use crate::core::validation::{ValidApi, validate};
use crate::exposed_api::ExposedAPI;
use lookup::by_name;
pub use report::Report;

/// Why `diagnose` could not look.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error("ExposedAPI {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("reading from the API server: {0}")]
    Kube(#[from] kube::Error),
}

/// Reports on the ExposedAPI `name` in `namespace`, or on all of the namespace's.
pub async fn diagnose(
    client: &Client,
    config: &RunConfig,
    namespace: &str,
    name: Option<&str>,
) -> Result<Vec<Report>, DiagnoseError> {
    let apis: Api<ExposedAPI> = Api::namespaced(client.clone(), namespace);
    let targets = match name {
        // LIST by name, not GET: the operator's own identity may list and watch, not get.
        Some(name) => {
            let found = apis.list(&by_name(name)).await?.items.into_iter().next();
            vec![found.ok_or_else(|| DiagnoseError::NotFound { namespace: namespace.into(), name: name.into() })?]
        }
        None => apis.list(&ListParams::default()).await?.items,
    };
    // Every policy engine: the plan picks the one of the API's GatewayClass, as the operator does.
    let backends = Backends::new(&config.output, Installed::ALL).with_engines(|_| true);
    let mut reports = Vec::new();
    for api in &targets {
        reports.push(report(client, config, &backends, api, namespace).await);
    }
    Ok(reports)
}

async fn report(client: &Client, config: &RunConfig, backends: &Backends, api: &ExposedAPI, namespace: &str) -> Report {
    let status = api.status.clone().unwrap_or_default();
    let conditions: Vec<report::ConditionLine> = status
        .conditions
        .iter()
        .map(|c| report::ConditionLine {
            type_: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        })
        .collect();
    let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let valid = validate(api, namespace);
    let route = backends.route.as_ref();
    let mut report = Report {
        namespace: namespace.into(),
        name: api.name_any(),
        ready,
        url: status.api_status.as_ref().and_then(|s| s.url.clone()),
        conditions,
        invalid: valid.as_ref().err().map(|e| e.0.iter().map(ToString::to_string).collect()).unwrap_or_default(),
        route: Some(route_fact(client, route, api, namespace).await),
        gateway: gateway(client, config, route.address_source()).await,
        events: events(client, namespace, &api.name_any()).await,
        access: access(client, backends, namespace).await,
        ..Report::default()
    };
    if let Ok(valid) = &valid {
        report.endpoints = Some(endpoints(client, namespace, &valid.implementation).await);
        report.conflicts = conflicts(client, route, valid).await;
        report.policy_objects = policy_objects(client, backends, namespace, &api.uid().unwrap_or_default()).await;
        let planned = plan::planned(client, config, backends, (api, valid)).await;
        (report.planned, report.withheld) = (planned.objects, planned.withheld);
    }
    report
}

async fn route_fact(client: &Client, route: &dyn Route, api: &ExposedAPI, namespace: &str) -> report::RouteFact {
    let resource = route.resource();
    let name = route.object_name(&api.name_any());
    let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let found = objects.list(&by_name(&name)).await.ok().and_then(|l| l.items.into_iter().next());
    let mut fact = report::RouteFact { kind: resource.kind.clone(), name, ..Default::default() };
    if let Some(object) = found {
        fact.exists = true;
        fact.controlled_by = controller_of(&object.metadata).map(|o| format!("{} {}", o.kind, o.name));
        fact.ours = is_controlled_by(&object.metadata, &api.uid().unwrap_or_default());
        fact.managers = object.managed_fields().iter().filter_map(|m| m.manager.clone()).collect();
        fact.managers.sort();
        fact.managers.dedup();
    }
    fact
}

/// Where the URL's address comes from: the ingress gateway Services (VirtualService), the
/// component Gateway (HTTPRoute) or the APIM gateway.
async fn gateway(client: &Client, config: &RunConfig, source: AddressSource) -> Vec<String> {
    let output = &config.output;
    match source {
        AddressSource::External => output.apim.apim_gateway_url.iter().map(|u| format!("APIM gateway {u}")).collect(),
        AddressSource::Gateway => {
            let (gateway_ns, name) = crate::core::gateway_address::gateway_ref(&output.component_gateway);
            let resource = ApiResource::from_gvk_with_plural(
                &kube::core::GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "Gateway"),
                "gateways",
            );
            let Some(gateway_ns) = gateway_ns else {
                return vec![format!("Gateway {name} in each API's namespace")];
            };
            let gateways: Api<DynamicObject> = Api::namespaced_with(client.clone(), gateway_ns, &resource);
            match gateways.list(&by_name(name)).await.map(|l| l.items.into_iter().next()) {
                Ok(Some(g)) => {
                    let addresses = g.data.pointer("/status/addresses").cloned().unwrap_or_default();
                    vec![format!("Gateway {gateway_ns}/{name}: addresses {addresses}")]
                }
                Ok(None) => vec![],
                Err(e) => vec![format!("Gateway {gateway_ns}/{name}: cannot read it ({e})")],
            }
        }
        AddressSource::IstioIngress => {
            let services: Api<Service> = match config.ingress_namespace() {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let listed = services.list(&ListParams::default().labels(&config.ingress_selector)).await;
            let Ok(list) = listed else { return vec![format!("cannot list Services {}", config.ingress_selector)] };
            list.items
                .iter()
                .filter_map(|s| {
                    let ingress = s.status.as_ref()?.load_balancer.as_ref()?.ingress.clone().unwrap_or_default();
                    let addresses: Vec<String> =
                        ingress.iter().filter_map(|i| i.ip.clone().or_else(|| i.hostname.clone())).collect();
                    let what =
                        if addresses.is_empty() { "no load-balancer address".into() } else { addresses.join(", ") };
                    Some(format!(
                        "Service {}/{} ({}): {what}",
                        s.namespace().unwrap_or_default(),
                        s.name_any(),
                        config.ingress_selector
                    ))
                    .filter(|_| !addresses.is_empty())
                })
                .collect()
        }
    }
}

async fn endpoints(client: &Client, namespace: &str, service: &str) -> report::Endpoints {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{SERVICE_NAME_LABEL}={service}");
    let list = slices.list(&ListParams::default().labels(&selector)).await.map(|l| l.items).unwrap_or_default();
    let all = list.iter().flat_map(|s| s.endpoints.iter().flatten());
    let (ready, total) = all.fold((0, 0), |(ready, total), e| {
        let is_ready = e.conditions.as_ref().and_then(|c| c.ready) != Some(false);
        (ready + usize::from(is_ready), total + 1)
    });
    report::Endpoints { service: service.into(), ready, total, slices: list.len() }
}

async fn conflicts(client: &Client, route: &dyn Route, valid: &ValidApi) -> Vec<String> {
    let routes: Api<DynamicObject> = Api::all_with(client.clone(), &route.resource());
    let Ok(list) = routes.list(&ListParams::default()).await else { return Vec::new() };
    let key = route.route_key(valid);
    let own = (valid.namespace.clone(), route.object_name(&valid.name));
    list.items
        .iter()
        .filter(|o| (o.namespace().unwrap_or_default(), o.name_any()) != own && route.claims(o).contains(&key))
        .map(|o| format!("{} {}/{}", route.resource().kind, o.namespace().unwrap_or_default(), o.name_any()))
        .collect()
}

async fn policy_objects(client: &Client, backends: &Backends, namespace: &str, uid: &str) -> Vec<String> {
    let Some(target) = backends.policy_target(namespace) else { return Vec::new() };
    let mut found = Vec::new();
    for kind in backends.policy_kinds() {
        let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), &target.namespace, &kind);
        let selector = ListParams::default().labels(&format!("{API_UID_LABEL}={uid}"));
        if let Ok(list) = objects.list(&selector).await {
            found.extend(list.items.iter().map(|o| format!("{} {}/{}", kind.kind, target.namespace, o.name_any())));
        }
    }
    found
}

async fn events(client: &Client, namespace: &str, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let selector = ListParams::default().fields(&format!("involvedObject.kind=ExposedAPI,involvedObject.name={name}"));
    let mut list = match events.list(&selector).await {
        Ok(list) => list.items,
        Err(e) => return vec![format!("cannot list Events with this identity ({e})")],
    };
    list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0).or(e.last_timestamp.as_ref().map(|t| t.0)));
    let recent = list.iter().rev().take(8).rev();
    recent
        .map(|e| {
            let type_ = e.type_.clone().unwrap_or_default();
            format!("{type_} {}: {}", e.reason.clone().unwrap_or_default(), e.message.clone().unwrap_or_default())
        })
        .collect()
}

/// SelfSubjectAccessReviews of what the operator does for an API of `namespace`.
async fn access(client: &Client, backends: &Backends, namespace: &str) -> Vec<report::Access> {
    let route = backends.route.resource();
    let mut checks: Vec<(&str, String, String, Option<String>)> = vec![
        ("watch", "oda.tmforum.org".into(), "exposedapis".into(), Some(namespace.into())),
        ("patch", "oda.tmforum.org".into(), "exposedapis".into(), Some(namespace.into())),
        ("patch", route.group.clone(), route.plural.clone(), Some(namespace.into())),
        ("watch", route.group.clone(), route.plural.clone(), None),
        ("watch", "discovery.k8s.io".into(), "endpointslices".into(), Some(namespace.into())),
        ("watch", String::new(), "services".into(), None),
        ("create", "events.k8s.io".into(), "events".into(), Some(namespace.into())),
    ];
    // The optional facts of the route's gateway: the Istio Gateway's servers (URL scheme), the
    // GatewayClass's supported features (what an HTTPRoute may carry).
    match route.kind.as_str() {
        "VirtualService" => checks.push(("watch", "networking.istio.io".into(), "gateways".into(), None)),
        "HTTPRoute" => checks.push(("watch", "gateway.networking.k8s.io".into(), "gatewayclasses".into(), None)),
        _ => {}
    }
    if let Some(target) = backends.policy_target(namespace) {
        for kind in backends.policy_kinds() {
            checks.push(("patch", kind.group.clone(), kind.plural.clone(), Some(target.namespace.clone())));
        }
    }
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut answers = Vec::new();
    for (verb, group, resource, ns) in checks {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.clone()),
                    resource: Some(resource.clone()),
                    namespace: ns.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let allowed = reviews
            .create(&PostParams::default(), &review)
            .await
            .ok()
            .and_then(|r| r.status)
            .is_some_and(|s| s.allowed);
        let scope = ns.map_or(" (all namespaces)".to_owned(), |ns| format!(" in {ns}"));
        let group = if group.is_empty() { "core".to_owned() } else { group };
        answers.push(report::Access { check: format!("{verb} {group}/{resource}{scope}"), allowed });
    }
    answers
}
