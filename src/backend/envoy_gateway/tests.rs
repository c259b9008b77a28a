use serde_json::{Value, json};

use super::*;
use crate::backend::policy_engine::{Failure, NotInForce};
use crate::core::policy::{
    APPLIED, APPLIED_AS_JWT, APPLIED_PER_GATEWAY_REPLICA, APPLIED_WITH_DEVIATION, APPLY_FAILED, Enforcement,
    INVALID_SPEC, NOT_ACCEPTED, NOT_OWNED, NOT_SUPPORTED, PENDING,
};
use crate::core::validation::validate;
use crate::exposed_api::ExposedAPI;

const ISSUER: &str = "https://idp.example/realms/oda";
const JWKS: &str = "https://idp.example/realms/oda/certs";
const UID: &str = "u-1";
const TARGET: PolicyTarget<'static> =
    PolicyTarget { kind: "HTTPRoute", name: "c1-x", gateway: ("canvas", "eg"), implementation: None };

/// An ExposedAPI `c1-x` in `components` with `extra` merged into a valid spec.
fn spec(extra: Value) -> ExposedApiSpec {
    let base = json!({"apiType": "openapi", "implementation": "c1-impl", "path": "/c1/x", "port": 8080});
    serde_json::from_value(base.merge(extra)).unwrap()
}

fn valid(spec: &ExposedApiSpec) -> ValidApi {
    let mut api = ExposedAPI::new("c1-x", spec.clone());
    api.metadata.namespace = Some("components".into());
    api.metadata.uid = Some(UID.into());
    api.metadata.labels = Some([("app".to_owned(), "c1".to_owned())].into());
    validate(&api, "components").unwrap()
}

fn config() -> PolicyConfig {
    PolicyConfig {
        jwt_issuer: Some(ISSUER.into()),
        jwt_jwks_uri: Some(JWKS.into()),
        jwt_audiences: Some("oda".into()),
        ..Default::default()
    }
}

fn desired(extra: Value, config: &PolicyConfig) -> Vec<DynamicObject> {
    EnvoyGatewayEngine.desired(&valid(&spec(extra)), &TARGET, config).unwrap()
}

fn kinds(objects: &[DynamicObject]) -> Vec<String> {
    objects.iter().map(|o| o.types.as_ref().unwrap().kind.clone()).collect()
}

const CORS_ON: &str = r#"{"CORS": {"enabled": true, "allowOrigins": "https://shop.example.org", "handlePreflightRequests": {"allowMethods": "GET, POST", "allowHeaders": "content-type"}}}"#;

fn cors() -> Value {
    serde_json::from_str(CORS_ON).unwrap()
}

#[test]
fn nothing_requested_nothing_written() {
    assert!(desired(json!({}), &config()).is_empty());
    assert!(desired(json!({"rateLimit": {"enabled": false, "limit": "3"}}), &config()).is_empty());
    // An invalid policy is reported on its condition, and not written.
    assert!(desired(json!({"rateLimit": {"enabled": true, "limit": "lots"}}), &config()).is_empty());
}

#[test]
fn cors_and_token_share_one_security_policy_owned_by_the_api() {
    let objects =
        desired(json!({"apiKeyVerification": {"enabled": true, "location": "header"}}).merge(cors()), &config());
    assert_eq!(kinds(&objects), ["SecurityPolicy"]);
    let policy = &objects[0];
    assert_eq!(policy.types.as_ref().unwrap().api_version, "gateway.envoyproxy.io/v1alpha1");
    assert_eq!(
        (policy.metadata.name.as_deref(), policy.metadata.namespace.as_deref()),
        (Some("c1-x"), Some("components"))
    );
    assert_eq!(policy.metadata.labels.as_ref().unwrap()["app"], "c1");
    let owner = &policy.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("ExposedAPI", UID, Some(true)));
    assert_eq!(
        policy.data["spec"],
        json!({
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "c1-x"}],
            "cors": {
                "allowOrigins": ["https://shop.example.org"], "allowMethods": ["GET", "POST"],
                "allowHeaders": ["content-type"], "maxAge": "1800s", "allowCredentials": false,
            },
            "jwt": {"providers": [{
                "name": "canvas-identity-provider", "issuer": ISSUER, "audiences": ["oda"],
                "remoteJWKS": {"uri": JWKS, "cacheDuration": "300s"},
                "extractFrom": {"headers": [{"name": "Authorization", "valuePrefix": "Bearer "}], "params": ["access_token"]},
            }]},
        })
    );
    let typed: SecurityPolicySpec = serde_json::from_value(policy.data["spec"].clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), policy.data["spec"], "read back as written");
}

#[test]
fn a_token_without_its_settings_is_not_written_and_says_why() {
    let keys = json!({"apiKeyVerification": {"enabled": true}});
    let no_jwks = PolicyConfig { jwt_jwks_uri: None, ..config() };
    assert!(desired(keys.clone(), &no_jwks).is_empty());
    assert!(api_keys_enforceable(&no_jwks).unwrap_err().contains("JWT_JWKS_URI"));
    let no_issuer = PolicyConfig { jwt_issuer: Some(" ".into()), ..config() };
    assert!(api_keys_enforceable(&no_issuer).unwrap_err().contains("JWT_ISSUER"));
    assert_eq!(api_keys_enforceable(&config()), Ok(()));
    let with_cors = desired(keys.clone().merge(cors()), &no_jwks);
    assert_eq!(with_cors[0].data["spec"].get("jwt"), None, "CORS only");
    let Some(Plan::Unenforceable { why, closed: true }) = api_keys_plan(&spec(keys.clone()), &no_jwks) else {
        panic!("fails closed by default")
    };
    assert!(why.contains("JWT_JWKS_URI"), "{why}");
    let open = PolicyConfig { api_key_unenforceable: Unenforceable::FailOpen, ..no_jwks };
    assert!(matches!(api_keys_plan(&spec(keys.clone()), &open), Some(Plan::Unenforceable { closed: false, .. })));
    assert_eq!(api_keys_plan(&spec(json!({})), &config()), None);
    let Some(Plan::Jwt { issuer, .. }) = api_keys_plan(&spec(keys.clone()), &config()) else { panic!("enforceable") };
    assert_eq!(issuer, ISSUER);
    assert_eq!(EnvoyGatewayEngine.api_keys(&spec(keys.clone()), &config()), api_keys_plan(&spec(keys), &config()));
}

fn rules(extra: Value, per_client: bool) -> Value {
    let config = PolicyConfig { rate_limit_per_client: per_client, ..config() };
    let objects = desired(extra, &config);
    assert_eq!(kinds(&objects), ["BackendTrafficPolicy"]);
    assert_eq!(objects[0].data["spec"]["targetRefs"][0]["name"], "c1-x");
    objects[0].data["spec"]["rateLimit"]["local"]["rules"].clone()
}

#[test]
fn rate_limits_per_header_per_address_or_shared() {
    let limited = |identifier: &str| json!({"rateLimit": {"enabled": true, "limit": "3", "interval": "pm", "identifier": identifier}});
    let limit = json!({"requests": 3, "unit": "Minute"});
    // Requests without the header share the route's default bucket, as on Istio.
    assert_eq!(
        rules(limited("X-Client"), true),
        json!([
            {"clientSelectors": [{"headers": [{"name": "x-client", "type": "Distinct", "invert": false}]}], "limit": limit},
            {"limit": limit},
        ])
    );
    assert_eq!(
        rules(limited("IP"), true),
        json!([
            {"clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0", "invert": false}}], "limit": limit},
            {"clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": "::/0", "invert": false}}], "limit": limit},
        ])
    );
    assert_eq!(rules(limited("x-client"), false), json!([{"limit": limit}]), "one bucket per API");
    let per_second = json!({"rateLimit": {"enabled": true, "limit": "10"}});
    assert_eq!(rules(per_second, false), json!([{"limit": {"requests": 10, "unit": "Second"}}]));
}

#[test]
fn a_streaming_api_gets_its_timeout_beside_its_rate_limit() {
    let streaming = json!({"apiType": "mcp", "rateLimit": {"enabled": true, "limit": "5"}});
    let objects = desired(streaming.clone(), &config());
    assert_eq!(kinds(&objects), ["BackendTrafficPolicy"]);
    assert_eq!(objects[0].data["spec"]["timeout"], json!({"http": {"requestTimeout": "3600s"}}));
    let typed: BackendTrafficPolicySpec = serde_json::from_value(objects[0].data["spec"].clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), objects[0].data["spec"], "read back as written");
    let off = PolicyConfig { streaming_timeout_seconds: 0, ..config() };
    let objects = desired(json!({"apiType": "mcp"}), &off);
    assert_eq!(objects[0].data["spec"].get("rateLimit"), None);
    assert_eq!(objects[0].data["spec"]["timeout"]["http"]["requestTimeout"], "0s");
    let all = desired(streaming.merge(cors()), &config());
    assert_eq!(kinds(&all), ["SecurityPolicy", "BackendTrafficPolicy"]);
}

#[test]
fn the_engine_carries_cors_itself_and_names_its_kinds() {
    let engine = EnvoyGatewayEngine;
    assert!(!engine.route_carries_cors());
    assert_eq!(engine.name(), "Envoy Gateway");
    let plurals: Vec<String> = engine.kinds().into_iter().map(|k| k.plural).collect();
    assert_eq!(plurals, ["securitypolicies", "backendtrafficpolicies"]);
}

// --- verdict ---------------------------------------------------------------------------------

/// The object as the cache has it: the desired one, at `generation`, with `ancestors`.
fn current(desired: &DynamicObject, generation: i64, ancestors: Value) -> DynamicObject {
    let mut object = desired.clone();
    object.metadata.generation = Some(generation);
    object.data["status"] = json!({ "ancestors": ancestors });
    object
}

fn ancestor(gateway: &str, accepted: (&str, &str, &str), seen: i64) -> Value {
    let (status, reason, message) = accepted;
    json!({
        "ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "canvas", "name": gateway, "sectionName": "http"},
        "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
        "conditions": [{"type": "Accepted", "status": status, "reason": reason, "message": message, "observedGeneration": seen}],
    })
}

fn accepted() -> Value {
    json!([ancestor("eg", ("True", "Accepted", "Policy has been accepted."), 2)])
}

/// The verdict for `extra` with every desired object observed through `observe`.
fn verdict_with(
    extra: Value,
    config: &PolicyConfig,
    observe: impl Fn(&DynamicObject) -> (Option<DynamicObject>, Option<Failure<'static>>),
) -> Verdict {
    let spec = spec(extra);
    let api = valid(&spec);
    let desired = EnvoyGatewayEngine.desired(&api, &TARGET, config).unwrap();
    let states: Vec<_> = desired.iter().map(&observe).collect();
    let observed: Vec<Observed<'_>> = desired
        .iter()
        .zip(&states)
        .map(|(desired, (current, failure))| Observed { desired, current: current.as_ref(), failure: *failure })
        .collect();
    EnvoyGatewayEngine.verdict(&spec, &api, &TARGET, config, &observed)
}

fn reasons(verdict: &Verdict) -> Vec<(&'static str, bool, &'static str)> {
    verdict.conditions.iter().map(|c| (c.type_, c.status, c.reason)).collect()
}

fn everything() -> Value {
    json!({
        "apiType": "mcp",
        "apiKeyVerification": {"enabled": true},
        "rateLimit": {"enabled": true, "limit": "3", "interval": "pm", "identifier": "x-client"},
    })
    .merge(cors())
}

#[test]
fn accepted_for_the_current_generation_every_policy_is_applied() {
    let verdict = verdict_with(everything(), &config(), |d| (Some(current(d, 2, accepted())), None));
    assert_eq!(
        reasons(&verdict),
        [
            ("CORS", true, APPLIED),
            ("RateLimit", true, APPLIED_PER_GATEWAY_REPLICA),
            ("APIKeyVerification", true, APPLIED_AS_JWT),
            ("StreamingTimeout", true, APPLIED),
        ]
    );
    assert_eq!(verdict.not_in_force, None);
    let rate = &verdict.conditions[1].message;
    assert!(rate.contains("per value of header x-client") && rate.contains("each gateway pod on its own"), "{rate}");
    assert!(verdict.conditions[3].message.contains("3600s"));
}

#[test]
fn not_reported_yet_or_for_an_older_generation_is_pending() {
    let cases = [json!(null), accepted(), json!([ancestor("other", ("True", "Accepted", ""), 2)])];
    for (case, generation) in cases.into_iter().zip([2, 3, 2]) {
        let verdict = verdict_with(everything(), &config(), |d| {
            let mut object = current(d, generation, case.clone());
            if case.is_null() {
                object.data.as_object_mut().unwrap().remove("status");
            }
            (Some(object), None)
        });
        assert!(verdict.conditions.iter().all(|c| !c.status && c.reason == PENDING), "{case}: {verdict:?}");
        let Some(NotInForce::Pending(message)) = &verdict.not_in_force else { panic!("{case}: pending") };
        assert!(message.starts_with("CORS, APIKeyVerification: SecurityPolicy components/c1-x"), "{message}");
        assert!(message.contains("; RateLimit, StreamingTimeout: BackendTrafficPolicy components/c1-x"), "{message}");
    }
    let unwritten = verdict_with(everything(), &config(), |_| (None, None));
    assert!(unwritten.conditions[0].message.contains("is not written yet"));
    assert!(matches!(unwritten.not_in_force, Some(NotInForce::Pending(_))));
}

#[test]
fn refused_by_envoy_gateway_with_its_own_reason() {
    let refusal = |reason: &'static str| {
        move |d: &DynamicObject| {
            let refused = json!([ancestor("eg", ("False", reason, "remote JWKS unreachable"), 2)]);
            let security = d.types.as_ref().unwrap().kind == SECURITY_POLICY;
            (Some(current(d, 2, if security { refused } else { accepted() })), None)
        }
    };
    let verdict = verdict_with(everything(), &config(), refusal("Invalid"));
    assert_eq!(
        reasons(&verdict),
        [
            ("CORS", false, "Invalid"),
            ("RateLimit", true, APPLIED_PER_GATEWAY_REPLICA),
            ("APIKeyVerification", false, "Invalid"),
            ("StreamingTimeout", true, APPLIED),
        ]
    );
    let message = &verdict.conditions[0].message;
    assert_eq!(
        message,
        "gateway.envoyproxy.io/gatewayclass-controller did not accept SecurityPolicy components/c1-x for Gateway \
         canvas/eg (Accepted=False: Invalid: remote JWKS unreachable)"
    );
    assert_eq!(verdict.not_in_force, Some(NotInForce::Refused(format!("CORS, APIKeyVerification: {message}"))));
    let odd = verdict_with(everything(), &config(), refusal("SomethingNew"));
    assert_eq!(odd.conditions[0].reason, NOT_ACCEPTED);
    assert!(odd.conditions[0].message.contains("SomethingNew"));
}

#[test]
fn an_object_of_another_owner_or_a_failed_write() {
    let foreign = |d: &DynamicObject| {
        let mut other = current(d, 1, accepted());
        other.metadata.owner_references = None;
        (Some(other), Some(Failure::NotOwned("SecurityPolicy components/c1-x exists and is not this ExposedAPI's")))
    };
    let verdict = verdict_with(cors(), &config(), foreign);
    assert_eq!(reasons(&verdict), [("CORS", false, NOT_OWNED)]);
    assert!(matches!(verdict.not_in_force, Some(NotInForce::Refused(_))));
    let failed = verdict_with(cors(), &config(), |d| {
        (Some(current(d, 2, accepted())), Some(Failure::Failed("the API server said no")))
    });
    assert_eq!(reasons(&failed), [("CORS", false, APPLY_FAILED)]);
    assert!(failed.conditions[0].message.contains("the API server said no"));
    assert!(matches!(failed.not_in_force, Some(NotInForce::Pending(_))), "retried");
    let first = verdict_with(cors(), &config(), |_| (None, Some(Failure::Failed("connection refused"))));
    assert_eq!(reasons(&first), [("CORS", false, APPLY_FAILED)]);
    assert_eq!(first.api_keys, Enforcement::Enforced, "no token is required");
    // A required token whose SecurityPolicy is someone else's is not in force: withheld (fail closed).
    let keys = json!({"apiKeyVerification": {"enabled": true}});
    let taken = verdict_with(keys.clone(), &config(), foreign);
    assert!(matches!(taken.api_keys, Enforcement::NotOwned(_)), "{:?}", taken.api_keys);
    let refused = verdict_with(keys, &config(), |_| (None, Some(Failure::Failed("403"))));
    assert!(matches!(refused.api_keys, Enforcement::Failed(_)), "{:?}", refused.api_keys);
}

#[test]
fn policies_without_an_object_keep_their_own_conditions() {
    let no_jwks = PolicyConfig { jwt_jwks_uri: None, ..config() };
    let keys = json!({"apiKeyVerification": {"enabled": true}});
    let verdict = verdict_with(keys.clone(), &no_jwks, |_| unreachable!("nothing is written"));
    assert_eq!(reasons(&verdict), [("APIKeyVerification", false, NOT_SUPPORTED)]);
    assert!(verdict.conditions[0].message.contains("JWT_JWKS_URI"), "{:?}", verdict.conditions);
    assert_eq!(verdict.not_in_force, None, "the caller's fail-closed logic decides");
    let invalid = json!({"CORS": {"enabled": true, "allowOrigins": "ftp://x"}});
    let verdict = verdict_with(invalid, &config(), |_| unreachable!("nothing is written"));
    assert_eq!(reasons(&verdict), [("CORS", false, INVALID_SPEC)]);
    let elsewhere = json!({"apiKeyVerification": {"enabled": true, "location": "x-api-key"}});
    let verdict = verdict_with(elsewhere, &config(), |d| (Some(current(d, 2, accepted())), None));
    assert_eq!(reasons(&verdict), [("APIKeyVerification", true, APPLIED_WITH_DEVIATION)]);
    let many = PolicyConfig { jwt_audiences: Some("a,b,c,d,e,f,g,h,i".into()), ..config() };
    let verdict = verdict_with(keys.clone(), &many, |_| unreachable!("nothing is written"));
    assert_eq!(reasons(&verdict), [("APIKeyVerification", false, NOT_SUPPORTED)]);
    assert!(verdict.conditions[0].message.contains("at most 8"), "{:?}", verdict.conditions);
    let quota = json!({"quota": {"identifier": "x", "limit": "5"}});
    let verdict = verdict_with(quota, &config(), |_| unreachable!());
    assert_eq!(reasons(&verdict), [("Quota", false, NOT_SUPPORTED)], "no gateway enforces it; reported last");
}

/// `a.merge(b)`: `b`'s fields over `a`'s.
trait Merge {
    fn merge(self, other: Value) -> Value;
}

impl Merge for Value {
    fn merge(mut self, other: Value) -> Value {
        if let (Some(mine), Some(theirs)) = (self.as_object_mut(), other.as_object()) {
            mine.extend(theirs.clone());
        }
        self
    }
}
