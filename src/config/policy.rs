//! Settings of the gateway policies: where the gateway-wide objects go, how tokens are verified,
//! what happens when verification cannot be enforced, and the timeouts of streaming APIs.

use std::collections::BTreeMap;

use clap::{Args, ValueEnum};

/// Istio's own Gateway API controller: the default of `ISTIO_GATEWAY_CONTROLLERS`.
pub const ISTIO_GATEWAY_CONTROLLER: &str = "istio.io/gateway-controller";

/// Envoy Gateway's controller (its default `controllerName`): the default of
/// `ENVOY_GATEWAY_CONTROLLERS`.
pub const ENVOY_GATEWAY_CONTROLLER: &str = "gateway.envoyproxy.io/gatewayclass-controller";

/// What happens to an API that asks for `apiKeyVerification` the operator cannot enforce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Unenforceable {
    /// The route is not published (an existing one is removed) and the API is `Ready=False`.
    #[value(name = "FailClosed")]
    FailClosed,
    /// The route is published unprotected; the condition and a Warning say so.
    #[value(name = "FailOpen")]
    FailOpen,
}

/// Gateway policy settings (flattened into the operator configuration).
#[derive(Args, Clone, Debug)]
pub struct PolicyConfig {
    /// Namespace of the gateway workload, where the rate-limit EnvoyFilters and the JWT policies of
    /// VirtualService-routed APIs go. (With HTTPRoute they go to the Gateway's namespace.)
    #[arg(long, env = "GATEWAY_NAMESPACE", default_value = "istio-ingress")]
    pub gateway_namespace: String,

    /// Labels of the gateway pods (`k=v,k=v`), the `workloadSelector` of those objects.
    #[arg(long, env = "GATEWAY_WORKLOAD_SELECTOR", default_value = "istio=ingressgateway")]
    pub gateway_workload_selector: String,

    /// Issuer of the tokens `apiKeyVerification` requires (the Canvas identity provider, e.g. a
    /// Keycloak realm URL). Unset: verification cannot be enforced.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// JWKS URL of the issuer; unset: Istio reads it from the issuer's OpenID discovery document.
    #[arg(long, env = "JWT_JWKS_URI")]
    pub jwt_jwks_uri: Option<String>,

    /// Audiences a token must name (comma-separated); any when unset.
    #[arg(long, env = "JWT_AUDIENCES")]
    pub jwt_audiences: Option<String>,

    /// An API asking for `apiKeyVerification` that cannot be enforced: `FailClosed` withholds its
    /// route, `FailOpen` publishes it unprotected (both reported).
    #[arg(long, env = "APIKEY_UNENFORCEABLE", default_value = "FailClosed", value_enum)]
    pub api_key_unenforceable: Unenforceable,

    /// The gateway's Envoy keeps one rate-limit bucket per client (Istio 1.26 or later). Off: one
    /// bucket per API, shared by all clients, and the condition says so.
    #[arg(long, env = "RATE_LIMIT_PER_CLIENT", default_value_t = true, action = clap::ArgAction::Set)]
    pub rate_limit_per_client: bool,

    /// `controllerName`s of the GatewayClasses whose Gateways enforce Istio's EnvoyFilter,
    /// RequestAuthentication and AuthorizationPolicy (comma-separated). With HTTPRoutes on a
    /// Gateway of another class, none is written: `rateLimit` is not supported and
    /// `apiKeyVerification` cannot be enforced.
    #[arg(long, env = "ISTIO_GATEWAY_CONTROLLERS", default_value = ISTIO_GATEWAY_CONTROLLER)]
    pub istio_gateway_controllers: String,

    /// `controllerName`s of the GatewayClasses served by Envoy Gateway (comma-separated): with
    /// HTTPRoutes on their Gateways, the policies become Envoy Gateway's own SecurityPolicy and
    /// BackendTrafficPolicy.
    #[arg(long, env = "ENVOY_GATEWAY_CONTROLLERS", default_value = ENVOY_GATEWAY_CONTROLLER)]
    pub envoy_gateway_controllers: String,

    /// Route timeout in seconds for streaming APIs (`apiType: mcp`); 0 disables the timeout.
    #[arg(long, env = "STREAMING_TIMEOUT_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u32).range(0..=99_999))]
    pub streaming_timeout_seconds: u32,
}

impl PolicyConfig {
    /// The issuer, treating an empty value as unset.
    pub fn jwt_issuer(&self) -> Option<&str> {
        non_empty(self.jwt_issuer.as_deref())
    }

    pub fn jwt_jwks_uri(&self) -> Option<&str> {
        non_empty(self.jwt_jwks_uri.as_deref())
    }

    pub fn jwt_audiences(&self) -> Vec<String> {
        let list = self.jwt_audiences.as_deref().unwrap_or_default();
        list.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect()
    }

    /// The controllers that enforce Istio's policy objects.
    pub fn istio_gateway_controllers(&self) -> Vec<String> {
        controllers(&self.istio_gateway_controllers)
    }

    /// The controllers that are Envoy Gateway.
    pub fn envoy_gateway_controllers(&self) -> Vec<String> {
        controllers(&self.envoy_gateway_controllers)
    }

    /// The gateway pod labels; malformed entries are skipped (they could select nothing).
    pub fn workload_labels(&self) -> BTreeMap<String, String> {
        let pairs = self.gateway_workload_selector.split(',').filter_map(|pair| pair.split_once('='));
        pairs
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .collect()
    }

    /// The route timeout of streaming APIs, as a duration string.
    pub fn streaming_timeout(&self) -> String {
        format!("{}s", self.streaming_timeout_seconds)
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            gateway_namespace: "istio-ingress".into(),
            gateway_workload_selector: "istio=ingressgateway".into(),
            jwt_issuer: None,
            jwt_jwks_uri: None,
            jwt_audiences: None,
            api_key_unenforceable: Unenforceable::FailClosed,
            rate_limit_per_client: true,
            istio_gateway_controllers: ISTIO_GATEWAY_CONTROLLER.into(),
            envoy_gateway_controllers: ENVOY_GATEWAY_CONTROLLER.into(),
            streaming_timeout_seconds: 3600,
        }
    }
}

/// A comma-separated list of `controllerName`s, blanks dropped.
fn controllers(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_audiences_and_timeout() {
        let config = PolicyConfig {
            gateway_workload_selector: "istio=ingressgateway, app = istio-ingress,bad".into(),
            jwt_audiences: Some(" a,,b ".into()),
            jwt_issuer: Some(" ".into()),
            istio_gateway_controllers: "istio.io/gateway-controller, ,example.com/istio-fork".into(),
            ..Default::default()
        };
        let labels = config.workload_labels();
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(labels, [("app", "istio-ingress"), ("istio", "ingressgateway")]);
        assert_eq!(config.jwt_audiences(), ["a", "b"]);
        assert_eq!(config.jwt_issuer(), None);
        assert_eq!(config.streaming_timeout(), "3600s");
        assert_eq!(config.istio_gateway_controllers(), ["istio.io/gateway-controller", "example.com/istio-fork"]);
        assert_eq!(PolicyConfig::default().istio_gateway_controllers(), ["istio.io/gateway-controller"]);
    }

    #[test]
    fn envoy_gateway_controllers() {
        let default = PolicyConfig::default();
        assert_eq!(default.envoy_gateway_controllers(), ["gateway.envoyproxy.io/gatewayclass-controller"]);
        let config = PolicyConfig {
            envoy_gateway_controllers: " gateway.envoyproxy.io/gatewayclass-controller,, example.com/eg-2 ".into(),
            ..Default::default()
        };
        assert_eq!(
            config.envoy_gateway_controllers(),
            ["gateway.envoyproxy.io/gatewayclass-controller", "example.com/eg-2"]
        );
        let blank = PolicyConfig { envoy_gateway_controllers: " ".into(), ..default };
        assert_eq!(blank.envoy_gateway_controllers(), Vec::<String>::new());
    }
}
