//! The ExposedAPI's `apiKeyVerification` policy. Plain Istio cannot look opaque keys up in a key
//! store; what it verifies natively is a JWT from a known issuer, so verification is enforced as
//! "a valid token of the Canvas identity provider is required" (design: istio-policies §2.3).
//! Without an issuer configured it cannot be enforced at all, and the configured failure mode
//! decides whether the API is published.

use crate::config::{PolicyConfig, Unenforceable};
use crate::core::gateway_class::Enforcer;
use crate::exposed_api::ExposedApiSpec;

/// Where a requested key is expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `header` (the value every Canvas example sets), `query` or nothing: Istio's default token
    /// locations (`Authorization: Bearer`, the `access_token` query parameter).
    Default,
    /// A variable name the shared token rule does not read; tokens there are not accepted, so the
    /// API stays protected (it refuses more, never less).
    Other(String),
}

/// What the operator does for an API's requested verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Require a valid token from this issuer.
    Jwt { issuer: String, location: Location },
    /// Cannot be enforced here; `closed` withholds the route.
    Unenforceable { why: String, closed: bool },
}

/// Where the keys of an API that asks for verification are expected; `None` unless
/// `apiKeyVerification.enabled`.
pub fn requested(spec: &ExposedApiSpec) -> Option<Location> {
    let keys = spec.api_key_verification.as_ref().filter(|k| k.enabled == Some(true))?;
    Some(match keys.location.as_deref().map(str::trim).unwrap_or_default() {
        "" | "header" | "query" => Location::Default,
        other => Location::Other(other.into()),
    })
}

/// The plan for an API, `None` unless `apiKeyVerification.enabled`. `gateway`: who serves the
/// route's Gateway (a Gateway of another implementation ignores Istio's token rule).
pub fn plan(
    spec: &ExposedApiSpec,
    config: &PolicyConfig,
    policy_kinds_installed: bool,
    gateway: &Enforcer,
) -> Option<Plan> {
    Some(plan_at(requested(spec)?, config, policy_kinds_installed, gateway))
}

/// The plan for keys expected at `location` (a valid API's [`ValidApi::api_keys`]).
///
/// [`ValidApi::api_keys`]: crate::core::validation::ValidApi::api_keys
pub fn plan_at(location: Location, config: &PolicyConfig, policy_kinds_installed: bool, gateway: &Enforcer) -> Plan {
    let closed = config.api_key_unenforceable == Unenforceable::FailClosed;
    if let Some(why) = gateway.ignores("RequestAuthentication and AuthorizationPolicy") {
        return Plan::Unenforceable { why, closed };
    }
    if !policy_kinds_installed {
        let why = "the RequestAuthentication and AuthorizationPolicy CRDs (security.istio.io/v1) are not installed";
        return Plan::Unenforceable { why: why.into(), closed };
    }
    let Some(issuer) = config.jwt_issuer() else {
        let why = "no token issuer is configured (JWT_ISSUER)";
        return Plan::Unenforceable { why: why.into(), closed };
    };
    Plan::Jwt { issuer: issuer.into(), location }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposed_api::ApiKeyVerification;

    fn spec(location: Option<&str>) -> ExposedApiSpec {
        let keys = ApiKeyVerification { enabled: Some(true), location: location.map(Into::into) };
        ExposedApiSpec { api_key_verification: Some(keys), ..Default::default() }
    }

    #[test]
    fn jwt_when_an_issuer_is_configured() {
        let config = PolicyConfig { jwt_issuer: Some("https://idp/realms/odari".into()), ..Default::default() };
        let jwt = |location| Plan::Jwt { issuer: "https://idp/realms/odari".into(), location };
        let istio = Enforcer::Istio;
        assert_eq!(plan(&spec(Some("header")), &config, true, &istio), Some(jwt(Location::Default)));
        assert_eq!(
            plan(&spec(Some("x-api-key")), &config, true, &istio),
            Some(jwt(Location::Other("x-api-key".into())))
        );
        assert_eq!(plan(&ExposedApiSpec::default(), &config, true, &istio), None);
        assert_eq!(plan(&spec(None), &config, true, &Enforcer::Unknown), Some(jwt(Location::Default)), "as before");
    }

    #[test]
    fn a_gateway_of_another_implementation_cannot_enforce_it() {
        let traefik = Enforcer::Other("traefik.io/gateway-controller".into());
        let mut config = PolicyConfig { jwt_issuer: Some("https://idp/realms/odari".into()), ..Default::default() };
        let Some(Plan::Unenforceable { why, closed }) = plan(&spec(None), &config, true, &traefik) else {
            panic!("not Istio: not enforceable")
        };
        assert!(closed && why.contains("traefik.io/gateway-controller"), "{why}");
        config.api_key_unenforceable = Unenforceable::FailOpen;
        let Some(Plan::Unenforceable { closed, .. }) = plan(&spec(None), &config, true, &traefik) else { panic!() };
        assert!(!closed);
        assert_eq!(plan(&ExposedApiSpec::default(), &config, true, &traefik), None, "not requested");
    }

    #[test]
    fn unenforceable_fails_closed_by_default() {
        let Some(Plan::Unenforceable { why, closed }) =
            plan(&spec(None), &PolicyConfig::default(), true, &Enforcer::Unknown)
        else {
            panic!("no issuer: not enforceable")
        };
        assert!(closed && why.contains("JWT_ISSUER"));
        let open = PolicyConfig {
            jwt_issuer: Some("https://idp".into()),
            api_key_unenforceable: Unenforceable::FailOpen,
            ..Default::default()
        };
        let Some(Plan::Unenforceable { why, closed }) = plan(&spec(None), &open, false, &Enforcer::Istio) else {
            panic!()
        };
        assert!(!closed && why.contains("CRDs"));
    }
}
