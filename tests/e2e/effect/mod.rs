//! Proof of effect: every status claim checked by requests through a real gateway. istiod (run by
//! `scripts/testenv up`) configures an Envoy of each test's own ([`Gateway`]); the operator
//! publishes the test's APIs on it with either route backend, and the tests call the published
//! URL: the API answers there (exact scheme, host, port and path prefix) and nowhere else, stops
//! answering when its implementation is not ready or it is deleted, and each policy the status calls
//! `Applied` is enforced. Without a data plane (`ODA_TESTENV_DATAPLANE=0`, or another cluster) the
//! tests say so and pass.

mod envoy_gateway;
mod metrics;
/// Two tests of an `async fn(RouteBackend)`: one on VirtualServices, one on HTTPRoutes.
macro_rules! on_both_backends {
    ($case:ident => $virtual_service:ident, $http_route:ident) => {
        #[tokio::test]
        async fn $virtual_service() {
            $case(super::RouteBackend::VirtualService).await;
        }

        #[tokio::test]
        async fn $http_route() {
            $case(super::RouteBackend::HttpRoute).await;
        }
    };
}

mod policies;
mod routing;
mod traefik;

use std::time::Duration;

use kube::core::DynamicObject;
use serde_json::Value;

use crate::operator::{Operator, exposed_apis, ready_condition};
use crate::support::dataplane::{DataPlane, GATEWAY_API_GATEWAY, Gateway, ISTIO_GATEWAY, served_implementation};
use crate::support::http::{self, Answer, Backend};
use crate::support::*;

/// How long a change may take to reach a gateway (istiod's debounce and push, Traefik's reload,
/// Envoy Gateway's translation; then Envoy's update).
const PROPAGATION: Duration = Duration::from_secs(30);

/// The route backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouteBackend {
    VirtualService,
    HttpRoute,
}

impl RouteBackend {
    fn flags(self, ns: &TestNamespace) -> Vec<String> {
        match self {
            Self::VirtualService => vec![
                format!("--component-gateway={}/{ISTIO_GATEWAY}", ns.name()),
                // The gateway's policies go to the namespace of the test's Envoy.
                format!("--gateway-namespace={}", ns.name()),
            ],
            Self::HttpRoute => {
                vec![
                    "--route-backend=HTTPRoute".into(),
                    format!("--component-gateway={}/{GATEWAY_API_GATEWAY}", ns.name()),
                ]
            }
        }
    }
}

/// A test's API path: under the namespace's name, so that no two tests share a prefix.
pub(crate) fn api_path(ns: &TestNamespace, api: &str) -> String {
    format!("/{}/{api}/tmf-api/x/v4", ns.name())
}

/// Creates ExposedAPI `name` for the implementation `impl` (Service port 8080) at [`api_path`],
/// with `extra` fields merged into its spec.
pub(crate) async fn expose_impl(ns: &TestNamespace, name: &str, extra: Value) {
    let mut spec = exposed_api_spec("impl", &api_path(ns, name), 8080);
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    create_exposed_api(ns.client(), ns.name(), name, &[], spec).await;
}

/// A gateway of the test's own (Istio's Envoy, Traefik, Envoy Gateway): its log ends the message
/// of a request that never got the answer expected.
pub(crate) trait OwnGateway {
    fn log_tail(&self) -> String;
}

impl OwnGateway for Gateway {
    fn log_tail(&self) -> String {
        Gateway::log_tail(self)
    }
}

/// Sends `method url` until `check` holds (changes take a moment to reach the gateway) and returns
/// the answer; panics after [`PROPAGATION`] with the last answer and the gateway's log.
pub(crate) async fn until(
    gateway: &impl OwnGateway,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    what: &str,
    check: impl Fn(&Answer) -> bool,
) -> Answer {
    let start = std::time::Instant::now();
    loop {
        let answer = http::send(method, url, headers).await;
        match &answer {
            Ok(a) if check(a) => return a.clone(),
            _ if start.elapsed() > PROPAGATION => panic!(
                "{method} {url}: expected {what} within {PROPAGATION:?}; last: {answer:?}\ngateway log:\n{}",
                gateway.log_tail()
            ),
            _ => tokio::time::sleep(POLL_INTERVAL).await,
        }
    }
}

/// An answer of the implementation `impl`.
pub(crate) fn from_impl(a: &Answer) -> bool {
    a.status == 200 && a.backend() == Some("impl")
}

/// The prologue of every test on a gateway of its own: its namespace, the gateway `start` starts
/// there, and the implementation `impl` (a [`Backend`] behind Service port 8080) ready; `None`
/// (the test is skipped, saying why) without a data plane.
pub(crate) async fn served<G>(
    test: &str,
    start: impl AsyncFnOnce(&TestNamespace) -> G,
) -> Option<(TestNamespace, G, Backend)> {
    let plane = DataPlane::from_env(test)?;
    let ns = TestNamespace::new(test).await;
    let gateway = start(&ns).await;
    let backend = Backend::start("impl", &plane.host_ip).await;
    served_implementation(&ns, &plane, "impl", 8080, &backend, true).await;
    Some((ns, gateway, backend))
}

/// An operator publishing HTTPRoutes on Gateway `gateway` of the test namespace, with `extra`
/// flags. It may write Istio's policy objects in the namespace (the Gateway's), so that only the
/// Gateway's class keeps them out.
pub(crate) async fn http_route_operator(ns: &TestNamespace, gateway: &str, extra: &[&str]) -> Operator {
    crate::gateway_policies::grant_gateway_policies(ns).await;
    let gateway = format!("--component-gateway={}/{gateway}", ns.name());
    let mut flags = vec!["--route-backend=HTTPRoute", &gateway];
    flags.extend(extra);
    Operator::start(ns.name(), &flags).await
}

/// One test's world: its namespace, a gateway, the implementation `impl` (a [`Backend`] behind
/// Service port 8080) and an operator publishing on the chosen backend.
pub(crate) struct World {
    pub ns: TestNamespace,
    pub gateway: Gateway,
    pub backend: Backend,
    pub operator: Option<Operator>,
}

impl World {
    /// `None` (the test is skipped) without a data plane.
    pub async fn new(test: &str, route: RouteBackend, extra: &[&str]) -> Option<Self> {
        let plane = DataPlane::from_env(test)?;
        let (ns, gateway, backend) = served(test, async |ns: &TestNamespace| {
            crate::gateway_policies::grant_gateway_policies(ns).await;
            Gateway::start(ns, &plane).await
        })
        .await?;
        let mut world = World { ns, gateway, backend, operator: None };
        world.start_operator(route, extra).await;
        Some(world)
    }

    pub async fn start_operator(&mut self, route: RouteBackend, extra: &[&str]) {
        if let Some(old) = self.operator.take() {
            old.stop().await;
        }
        let mut flags = route.flags(&self.ns);
        flags.extend(extra.iter().map(|f| f.to_string()));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        self.operator = Some(Operator::start(self.ns.name(), &flags).await);
    }

    /// This test's API path ([`api_path`]).
    pub fn path(&self, api: &str) -> String {
        api_path(&self.ns, api)
    }

    /// Creates ExposedAPI `name` for `impl` ([`expose_impl`]).
    pub async fn expose(&self, name: &str, extra: Value) {
        expose_impl(&self.ns, name, extra).await;
    }

    /// Waits until ExposedAPI `name` is `Ready` with `reason`, and returns it.
    pub async fn ready_with(&self, name: &str, reason: &str) -> DynamicObject {
        let apis = exposed_apis(self.ns.name()).await;
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Ok(api) = apis.get(name).await
                    && ready_condition(&api).is_some_and(|(_, r, _)| r == reason)
                {
                    return api;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        match found {
            Ok(api) => api,
            Err(_) => {
                let api = apis.get(name).await.ok();
                panic!(
                    "{name} not {reason} in 60 s: conditions {:?}\nEnvoy log:\n{}",
                    api.and_then(|a| a.data.pointer("/status/conditions").cloned()),
                    self.gateway.log_tail()
                )
            }
        }
    }

    /// The published URL of an API that is `Exposed`.
    pub async fn url(&self, name: &str) -> String {
        let api = self.ready_with(name, "Exposed").await;
        api.data.pointer("/status/apiStatus/url").and_then(Value::as_str).expect("a published URL").to_owned()
    }

    /// Waits until `GET url` reaches the implementation.
    pub async fn reaches(&self, url: &str) -> Answer {
        until(&self.gateway, "GET", url, &[], "200 from the implementation", from_impl).await
    }
}
