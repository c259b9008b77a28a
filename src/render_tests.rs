use super::*;
use crate::config::{OpenMetricsImplementation, RouteBackend, VirtualServiceVersion};

const CORE: &str = include_str!("../examples/productcatalog-core-api.yaml");
const METRICS: &str = include_str!("../examples/productcatalog-metrics-api.yaml");

fn options(address: Option<&str>) -> RenderOptions {
    RenderOptions {
        ingress_address: address.map(Into::into),
        ingress_port: 80,
        namespace: "components".into(),
        with_status: true,
    }
}

fn docs(out: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(out).unwrap()
}

#[test]
fn the_gateway_api_backend_renders_an_http_route() {
    let config = OperatorConfig {
        route_backend: RouteBackend::HttpRoute,
        component_gateway: "canvas/component-gateway".into(),
        ..Default::default()
    };
    let docs = docs(&render(CORE, &config, &options(Some("20.1.2.3"))).unwrap());
    assert_eq!(docs.len(), 2);
    assert_eq!(
        (&docs[0]["apiVersion"], &docs[0]["kind"]),
        (&json!("gateway.networking.k8s.io/v1"), &json!("HTTPRoute"))
    );
    assert_eq!(docs[0]["spec"]["parentRefs"][0]["name"], "component-gateway");
    assert_eq!(docs[0]["spec"]["rules"][0]["backendRefs"][0]["name"], "prdcat3-prodcatapi");
    let url = "https://20.1.2.3/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4";
    assert_eq!(docs[1]["status"]["apiStatus"]["url"], url);
}

#[test]
fn core_api_renders_the_reference_virtual_service_and_url() {
    let out = render(CORE, &OperatorConfig::default(), &options(Some("20.1.2.3"))).unwrap();
    let docs = docs(&out);
    assert_eq!(docs.len(), 2);
    let vs = &docs[0];
    assert_eq!(vs["kind"], "VirtualService");
    assert_eq!(
        vs["spec"],
        json!({
            "hosts": ["*"],
            "gateways": ["component-gateway"],
            "http": [{
                "match": [{"uri": {"prefix": "/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4"}}],
                "route": [{"destination": {"host": "prdcat3-prodcatapi", "port": {"number": 8080}}}]
            }]
        })
    );
    assert_eq!(
        vs["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "Helm", "oda.tmforum.org/componentName": "prdcat3-productcatalogmanagement"})
    );
    let status = &docs[1]["status"]["apiStatus"];
    assert_eq!(status["url"], "https://20.1.2.3/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4");
    assert_eq!(
        status["developerUI"],
        "https://20.1.2.3/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4/docs"
    );
    assert_eq!(status["ip"], "20.1.2.3");
}

#[test]
fn metrics_api_renders_service_monitor_before_the_route() {
    let out = render(METRICS, &OperatorConfig::default(), &options(None)).unwrap();
    let docs = docs(&out);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ServiceMonitor", "VirtualService", "ExposedAPI"]);
    assert_eq!(
        docs[0]["spec"],
        json!({
            "selector": {"matchLabels": {"name": "prdcat3-productcatalogmanagement-sm"}},
            "endpoints": [{"path": "/prdcat3-productcatalogmanagement/metrics", "interval": "15s", "scheme": "http", "targetPort": 4000}]
        })
    );
    assert!(docs[2]["status"]["apiStatus"].get("url").is_none(), "no address, no url");
}

#[test]
fn annotation_modes_render_the_pod_annotations() {
    let config = OperatorConfig {
        openmetrics_implementation: OpenMetricsImplementation::PrometheusAnnotation,
        ..Default::default()
    };
    let docs = docs(&render(METRICS, &config, &options(None)).unwrap());
    assert_eq!(docs[0]["kind"], "Pod");
    assert_eq!(docs[0]["metadata"]["annotations"]["prometheus.io/port"], "4000");
}

#[test]
fn public_hostname_and_port_suffix_apply() {
    let config = OperatorConfig {
        public_hostname: Some("components.example.org".into()),
        virtual_service_version: VirtualServiceVersion::V1,
        ..Default::default()
    };
    let mut opts = options(Some("20.1.2.3"));
    opts.ingress_port = 8443;
    let docs = docs(&render(CORE, &config, &opts).unwrap());
    assert_eq!(docs[0]["apiVersion"], "networking.istio.io/v1");
    assert_eq!(docs[0]["spec"]["hosts"], json!(["components.example.org"]));
    assert_eq!(
        docs[1]["status"]["apiStatus"]["url"],
        "https://components.example.org:8443/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4"
    );
}

#[test]
fn several_documents_render_in_order() {
    let input = format!("{CORE}\n---\n{METRICS}");
    let docs = docs(&render(&input, &OperatorConfig::default(), &options(None)).unwrap());
    assert_eq!(docs.len(), 5);
}

#[test]
fn invalid_documents_name_the_document_and_the_field() {
    let cases = [
        (
            CORE.replace("  path: /prdcat3", "  path: prdcat3"),
            "document 1 (ExposedAPI prdcat3-productcatalogmanagement-productcatalogmanagement): spec.path: \"prdcat3",
        ),
        (CORE.replace("port: 8080", "port: 70000"), "spec.port: 70000 is out of range 1-65535"),
        (CORE.replace("port: 8080", "port: eighty"), "spec.port: invalid type"),
        (CORE.replace("apiType: openapi", "apiType: soap"), "spec.apiType: unknown value \"soap\""),
        (CORE.replace("kind: ExposedAPI", "kind: Service"), "kind is \"Service\""),
        (
            format!("{METRICS}\n---\n{}", CORE.replace("  implementation: prdcat3-prodcatapi\n", "")),
            "document 2 (ExposedAPI prdcat3-productcatalogmanagement-productcatalogmanagement): spec.implementation: is required",
        ),
    ];
    for (input, expected) in cases {
        let err = render(&input, &OperatorConfig::default(), &options(None)).unwrap_err().to_string();
        assert!(err.contains(expected), "{err:?} lacks {expected:?}");
    }
    let err = render("a: [", &OperatorConfig::default(), &options(None)).unwrap_err();
    assert!(matches!(err, RenderError::Yaml(_)));
}

#[test]
fn policies_no_backend_enforces_are_in_the_rendered_status() {
    let mut api: Value = serde_saphyr::from_str(CORE).unwrap();
    api["spec"]["quota"] = json!({"identifier": "IP", "limit": "1000"});
    api["spec"]["template"] = json!("rate-limited");
    let input = serde_saphyr::to_string(&api).unwrap();
    let rendered = docs(&render(&input, &OperatorConfig::default(), &options(Some("20.1.2.3"))).unwrap());
    let conditions = rendered[1]["status"]["conditions"].as_array().unwrap();
    let reasons: Vec<(&str, &str)> =
        conditions.iter().map(|c| (c["type"].as_str().unwrap(), c["reason"].as_str().unwrap())).collect();
    assert_eq!(reasons, [("Quota", "NotSupported"), ("Template", "NotSupported")]);
    let plain = docs(&render(CORE, &OperatorConfig::default(), &options(Some("20.1.2.3"))).unwrap());
    assert!(plain[1]["status"].get("conditions").is_none(), "no policy requested, no policy condition");
}

fn with_policies(rate_limit: bool, api_keys: bool) -> String {
    let mut api: Value = serde_saphyr::from_str(CORE).unwrap();
    if rate_limit {
        api["spec"]["rateLimit"] = json!({"enabled": true, "limit": "100", "interval": "pm", "identifier": "IP"});
    }
    if api_keys {
        api["spec"]["apiKeyVerification"] = json!({"enabled": true, "location": "header"});
    }
    serde_saphyr::to_string(&api).unwrap()
}

fn kinds(docs: &[Value]) -> Vec<String> {
    docs.iter().map(|d| d["kind"].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn gateway_policies_render_with_their_shared_objects_and_conditions() {
    let config = OperatorConfig {
        policy: crate::config::PolicyConfig {
            jwt_issuer: Some("https://idp/realms/odari".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let docs = docs(&render(&with_policies(true, true), &config, &options(Some("20.1.2.3"))).unwrap());
    assert_eq!(
        kinds(&docs),
        ["EnvoyFilter", "EnvoyFilter", "RequestAuthentication", "AuthorizationPolicy", "VirtualService", "ExposedAPI"]
    );
    assert_eq!(docs[0]["metadata"]["name"], "oda-local-ratelimit-filter");
    assert_eq!(docs[1]["metadata"]["namespace"], "istio-ingress");
    let conditions = docs[5]["status"]["conditions"].as_array().unwrap();
    let reasons: Vec<&str> = conditions.iter().map(|c| c["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["AppliedPerGatewayReplica", "AppliedAsJWT"]);
}

#[test]
fn unenforceable_api_keys_render_no_route() {
    let docs = docs(&render(&with_policies(false, true), &OperatorConfig::default(), &options(None)).unwrap());
    assert_eq!(kinds(&docs), ["ExposedAPI"], "fail closed: nothing is published");
    assert_eq!(docs[0]["status"]["conditions"][0]["reason"], "NotSupported");
}

#[test]
fn the_apim_backend_renders_its_ingress_and_the_requests_it_would_send() {
    let mut api: Value = serde_saphyr::from_str(CORE).unwrap();
    api["spec"]["rateLimit"] = json!({"enabled": true, "limit": "10", "interval": "pm"});
    let config = OperatorConfig {
        route_backend: RouteBackend::AzureApim,
        apim: crate::config::ApimConfig {
            apim_subscription_id: Some("00000000-0000-0000-0000-000000000001".into()),
            apim_resource_group: Some("canvas".into()),
            apim_service_name: Some("canvas-apim".into()),
            apim_backend_base_url: Some("https://mesh.internal".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let input = serde_saphyr::to_string(&api).unwrap();
    let docs = docs(&render(&input, &config, &options(None)).unwrap());
    assert_eq!(kinds(&docs), ["Ingress", "APIMRequest", "APIMRequest", "ExposedAPI"]);
    let prefix = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/canvas/providers/Microsoft.ApiManagement/service/canvas-apim/apis/oda-components-prdcat3-productcatalogmanagement-productcatalogmanagement";
    assert_eq!(docs[1]["url"], format!("{prefix}?api-version=2024-05-01"));
    assert_eq!(docs[2]["url"], format!("{prefix}/policies/policy?api-version=2024-05-01"));
    assert!(docs[2]["body"]["properties"]["value"].as_str().unwrap().contains("rate-limit-by-key calls=\"10\""));
}

#[test]
fn the_apim_service_url_comes_from_the_ingress_address_without_a_base_url() {
    let api: Value = serde_saphyr::from_str(CORE).unwrap();
    let config = OperatorConfig {
        route_backend: RouteBackend::AzureApim,
        apim: crate::config::ApimConfig::default(),
        ..Default::default()
    };
    let input = serde_saphyr::to_string(&api).unwrap();
    let docs = docs(&render(&input, &config, &options(Some("10.0.0.5"))).unwrap());
    let url = docs[1]["body"]["properties"]["serviceUrl"].as_str().expect("a serviceUrl is printed");
    assert!(url.starts_with("http://10.0.0.5/"), "{url}");
}
