use super::*;
use crate::exposed_api::{OasValidation, Quota};

const ISTIO: PolicyFacts<'static> = PolicyFacts {
    kind: "VirtualService",
    cors_supported: true,
    implementation: None,
    gateway: &Enforcer::Unknown,
    streaming: false,
    per_client: true,
    rate_limit: &Enforcement::Enforced,
    api_keys: None,
    api_key_policy: &Enforcement::Enforced,
    fail_closed: true,
};

fn types(spec: &ExposedApiSpec) -> Vec<&'static str> {
    conditions(spec, &ISTIO).iter().map(|c| c.type_).collect()
}

#[test]
fn cors_is_applied_deviated_unsupported_or_invalid() {
    use crate::exposed_api::{Cors, PreflightRequests};
    let spec = |cors: Cors| ExposedApiSpec { cors: Some(cors), ..Default::default() };
    let on = spec(Cors { enabled: Some(true), ..Default::default() });
    let reason =
        |spec: &ExposedApiSpec, route: &PolicyFacts<'_>| conditions(spec, route).first().map(|c| (c.status, c.reason));
    assert_eq!(reason(&on, &ISTIO), Some((true, APPLIED)));
    let old_crd = PolicyFacts { kind: "HTTPRoute", cors_supported: false, ..ISTIO };
    assert_eq!(reason(&on, &old_crd), Some((false, NOT_SUPPORTED)));
    let no_preflight = spec(Cors {
        enabled: Some(true),
        handle_preflight_requests: Some(PreflightRequests { enabled: Some(false), ..Default::default() }),
        ..Default::default()
    });
    assert_eq!(reason(&no_preflight, &ISTIO), Some((true, APPLIED_WITH_DEVIATION)));
    let invalid = spec(Cors { enabled: Some(true), allow_origins: Some("ftp://x".into()), ..Default::default() });
    let condition = &conditions(&invalid, &ISTIO)[0];
    assert_eq!((condition.reason, condition.message.contains("spec.CORS.allowOrigins")), (INVALID_SPEC, true));
}

#[test]
fn features_the_gateway_class_does_not_list_are_not_supported() {
    use crate::exposed_api::Cors;
    let spec = ExposedApiSpec { cors: Some(Cors { enabled: Some(true), ..Default::default() }), ..Default::default() };
    let traefik = crate::core::fixtures::traefik_class();
    let on = |implementation, streaming| {
        let facts = PolicyFacts { kind: "HTTPRoute", implementation, streaming, ..ISTIO };
        conditions(&spec, &facts).into_iter().map(|c| (c.type_, c.status, c.reason, c.message)).collect::<Vec<_>>()
    };
    let traefik_conditions = on(Some(&traefik), true);
    let (type_, status, reason, message) = &traefik_conditions[0];
    assert_eq!((*type_, *status, *reason), (CORS, false, NOT_SUPPORTED));
    assert!(message.contains("traefik.io/gateway-controller") && message.contains("HTTPRouteCORS"), "{message}");
    let (type_, status, reason, message) = &traefik_conditions[1];
    assert_eq!((*type_, *status, *reason), (STREAMING_TIMEOUT, false, NOT_SUPPORTED));
    assert!(message.contains("traefik.io/gateway-controller does not list HTTPRouteRequestTimeout in"), "{message}");
    assert_eq!(traefik_conditions.len(), 2);
    // Supported, or nothing known: as before (Applied, no timeout condition).
    let listed = ClassFeatures {
        controller: "istio.io/gateway-controller".into(),
        supported: Some(
            ["HTTPRouteCORS", "HTTPRouteRequestTimeout", "HTTPRouteBackendRequestTimeout"].map(String::from).into(),
        ),
    };
    let silent = ClassFeatures { controller: "old.example/controller".into(), supported: None };
    for implementation in [Some(&listed), Some(&silent), None] {
        let conditions = on(implementation, true);
        assert_eq!(conditions.iter().map(|c| (c.0, c.2)).collect::<Vec<_>>(), [(CORS, APPLIED)]);
    }
    assert_eq!(on(Some(&traefik), false).len(), 1, "no timeout condition for a non-streaming API");
}

#[test]
fn only_requested_policies_get_a_condition() {
    assert!(types(&ExposedApiSpec::default()).is_empty());
    let off = ExposedApiSpec {
        quota: Some(Quota { identifier: Some(String::new()), limit: Some(String::new()) }),
        oas_validation: Some(OasValidation { request_enabled: Some(false), ..Default::default() }),
        template: Some(" ".into()),
        ..Default::default()
    };
    assert!(types(&off).is_empty(), "the Canvas' empty values mean off");
}

#[test]
fn unenforceable_policies_are_reported_not_supported() {
    let spec = ExposedApiSpec {
        quota: Some(Quota { identifier: Some("IP".into()), limit: Some("1000".into()) }),
        oas_validation: Some(OasValidation {
            request_enabled: Some(true),
            response_enabled: Some(true),
            ..Default::default()
        }),
        template: Some("https://example.org/plugins.yaml".into()),
        ..Default::default()
    };
    let conditions = conditions(&spec, &ISTIO);
    assert_eq!(conditions.iter().map(|c| c.type_).collect::<Vec<_>>(), [QUOTA, OAS_VALIDATION, TEMPLATE]);
    assert!(conditions.iter().all(|c| !c.status && c.reason == NOT_SUPPORTED));
    assert!(conditions[0].message.contains("\"1000\"") && conditions[0].message.contains("not enforced"));
    assert!(conditions[1].message.starts_with("request and response validation"));
    assert!(conditions[2].message.contains("never fetched"));
}

/// The Istio objects of `rateLimit` and `apiKeyVerification` on a Gateway of a known class: applied
/// on Istio's, not supported (and keys unverifiable) on another's, as before when not known.
#[test]
fn istio_policies_depend_on_who_serves_the_gateway() {
    use crate::config::{PolicyConfig, Unenforceable};
    use crate::core::api_keys::plan;
    use crate::exposed_api::{ApiKeyVerification, RateLimit};
    let spec = ExposedApiSpec {
        rate_limit: Some(RateLimit {
            enabled: Some(true),
            limit: Some("3".into()),
            interval: Some("pm".into()),
            ..Default::default()
        }),
        api_key_verification: Some(ApiKeyVerification { enabled: Some(true), location: None }),
        ..Default::default()
    };
    let mut config = PolicyConfig { jwt_issuer: Some("https://idp.example.org/realms/x".into()), ..Default::default() };
    let traefik = Enforcer::Other("traefik.io/gateway-controller".into());
    let on = |gateway: &Enforcer, config: &PolicyConfig| {
        let keys = plan(&spec, config, true, gateway);
        let fail_closed = config.api_key_unenforceable == Unenforceable::FailClosed;
        let facts = PolicyFacts { kind: "HTTPRoute", gateway, api_keys: keys.as_ref(), fail_closed, ..ISTIO };
        conditions(&spec, &facts).into_iter().map(|c| (c.type_, c.status, c.reason, c.message)).collect::<Vec<_>>()
    };
    for gateway in [Enforcer::Istio, Enforcer::Unknown] {
        let reasons: Vec<_> = on(&gateway, &config).into_iter().map(|c| (c.0, c.1, c.2)).collect();
        let applied = [(RATE_LIMIT, true, APPLIED_PER_GATEWAY_REPLICA), (API_KEY_VERIFICATION, true, APPLIED_AS_JWT)];
        assert_eq!(reasons, applied, "{gateway:?}");
    }
    let closed = on(&traefik, &config);
    let (type_, status, reason, message) = &closed[0];
    assert_eq!((*type_, *status, *reason), (RATE_LIMIT, false, NOT_SUPPORTED));
    assert!(message.contains("traefik.io/gateway-controller") && message.contains("EnvoyFilter"), "{message}");
    assert!(message.contains("would not be enforced") && message.contains("published without"), "{message}");
    let (type_, status, reason, message) = &closed[1];
    assert_eq!((*type_, *status, *reason), (API_KEY_VERIFICATION, false, NOT_SUPPORTED));
    assert!(message.contains("traefik.io/gateway-controller") && message.contains("withheld"), "{message}");
    config.api_key_unenforceable = Unenforceable::FailOpen;
    let open = on(&traefik, &config);
    assert!(open[1].3.contains("WITHOUT verification"), "{}", open[1].3);
}
