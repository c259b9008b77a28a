//! The plan of one valid API: every object the operator wants for it, and whether its route is
//! withheld, from the API, the configuration and what is known of its Gateway. Pure: the pipeline
//! applies it (each step takes its part), `render` prints it, and both therefore agree.

use kube::core::DynamicObject;

use super::policy_engine::{PolicyEngine, PolicyTarget};
use super::scrape::Scraper;
use super::{Backends, BuildError};
use crate::config::{OperatorConfig, Unenforceable};
use crate::core::api_keys::{self, Plan as ApiKeys};
use crate::core::decision;
use crate::core::gateway_address::gateway_ref;
use crate::core::gateway_class::{ClassFeatures, Enforcer};
use crate::core::policy::Enforcement;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedApiSpec;

/// What is known of the Gateway the API's route attaches to.
#[derive(Clone, Copy)]
pub struct GatewayFacts<'a> {
    /// Its GatewayClass (`None`: VirtualServices, offline, or not read yet).
    pub class: Option<&'a ClassFeatures>,
    /// Who enforces Istio's policy objects there.
    pub enforcer: &'a Enforcer,
    /// The policy engine of its implementation ([`Backends::engine_for`]), when it has one.
    pub engine: Option<&'a dyn PolicyEngine>,
    /// A system outside the cluster publishes the API (and verifies its keys itself).
    pub external: bool,
}

/// Everything the operator wants for one valid API.
pub struct Desired {
    /// What is done for `apiKeyVerification` (`None`: not requested, or the external system does it).
    pub api_keys: Option<ApiKeys>,
    /// The ServiceMonitor of a metrics API, in ServiceMonitor mode.
    pub monitor: Option<DynamicObject>,
    /// The policy engine's objects (of kinds whose CRDs are installed), where the engine places them.
    pub engine: Vec<DynamicObject>,
    /// The route.
    pub route: DynamicObject,
    /// Why the route is withheld whatever happens (a required token that cannot be enforced,
    /// `APIKEY_UNENFORCEABLE=FailClosed`); a failed token object withholds it too, at apply time.
    pub withheld: Option<String>,
}

pub fn plan(
    api: &ValidApi,
    spec: &ExposedApiSpec,
    (config, backends): (&OperatorConfig, &Backends),
    facts: GatewayFacts<'_>,
) -> Result<Desired, BuildError> {
    let policy = &config.policy;
    let api_keys = match facts.engine {
        _ if facts.external => None,
        Some(engine) => engine.api_keys(spec, policy),
        None => api_keys::plan(spec, policy, backends.installed.istio_security, facts.enforcer),
    };
    let monitor = match backends.scraper {
        Scraper::ServiceMonitor(monitor) if api.api_type.is_metrics() => monitor.desired(api)?,
        _ => None,
    };
    let route_kind = backends.route.resource().kind;
    let route_name = backends.route.object_name(&api.name);
    let engine = match facts.engine {
        Some(engine) => {
            let target = policy_target(config, &api.namespace, (&route_kind, &route_name), facts.class);
            engine.desired(api, &target, policy)?
        }
        None => Vec::new(),
    };
    // An engine that carries CORS itself: the route leaves it out.
    let route = if facts.engine.is_some_and(|e| !e.route_carries_cors()) {
        backends.route.desired_on(&ValidApi { cors: None, ..api.clone() }, facts.class)?
    } else {
        backends.route.desired_on(api, facts.class)?
    };
    let fail_closed = policy.api_key_unenforceable == Unenforceable::FailClosed;
    let withheld = decision::withheld(api_keys.as_ref(), &Enforcement::Enforced, fail_closed);
    Ok(Desired { api_keys, monitor, engine, route, withheld })
}

/// What the engine's policies of an API in `namespace` target: its route (kind and name) and the
/// route's Gateway, served by `implementation`.
pub fn policy_target<'a>(
    config: &'a OperatorConfig,
    namespace: &'a str,
    (kind, name): (&'a str, &'a str),
    implementation: Option<&'a ClassFeatures>,
) -> PolicyTarget<'a> {
    let (gateway_ns, gateway) = gateway_ref(&config.component_gateway);
    PolicyTarget { kind, name, gateway: (gateway_ns.unwrap_or(namespace), gateway), implementation }
}
