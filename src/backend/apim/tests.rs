use super::*;
use crate::core::cors::Cors;
use crate::core::fixtures::core_api;
use crate::core::rate_limit::{ClientKey, Interval, RateLimit};
use crate::exposed_api::ApiKeyVerification;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::json;

fn spec(url: &str) -> ExposedApiSpec {
    ExposedApiSpec { specification: Some(json!({"url": url})), ..Default::default() }
}

/// A Swagger 2.0 JSON document's import by link.
fn link() -> import::Import {
    import::Import { format: "swagger-link-json", value: "https://specs.example.org/TMF620.swagger.json".into() }
}

fn backend() -> ApimBackend {
    ApimBackend::new(&ApimConfig {
        apim_backend_base_url: Some("https://istio-internal.example.org/".into()),
        apim_gateway_url: Some("https://canvas.azure-api.net".into()),
        ..Default::default()
    })
}

/// Every element (with its attributes, as written) and text of a document, checking that it is
/// well-formed; escaped characters stay escaped, so an injected element would show as one.
fn parse(xml: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut seen: Vec<String> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => return seen,
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name();
                let name: &str = name.as_ref();
                let mut item = name.to_owned();
                for attribute in e.attributes() {
                    let attribute = attribute.expect("a well-formed attribute");
                    let key: &str = attribute.key.as_ref();
                    item.push_str(&format!(" {key}={}", &*attribute.value));
                }
                seen.push(item);
            }
            Event::Text(t) => seen.push(format!("text:{}", &*t)),
            Event::GeneralRef(r) => {
                let entity = format!("&{};", &*r);
                match seen.last_mut() {
                    Some(text) if text.starts_with("text:") => text.push_str(&entity),
                    _ => seen.push(format!("text:{entity}")),
                }
            }
            _ => {}
        }
    }
}

#[test]
fn api_ids_are_bounded_and_safe() {
    let b = backend();
    assert_eq!(b.api_id("components", "R1.Product_API"), "oda-components-r1-product-api");
    let long = b.api_id("components", &"x".repeat(200));
    assert_eq!(long.len(), 80);
    assert_ne!(long, b.api_id("components", &"x".repeat(201)));
}

#[test]
fn the_api_body_imports_the_document_by_link_with_the_backend_url() {
    let d =
        backend().desired(&core_api(), &spec("https://specs.example.org/TMF620.swagger.json"), None, &link()).unwrap();
    assert_eq!(d.api_id, "oda-components-prdcat3-productcatalogmanagement-productcatalogmanagement");
    assert_eq!(
        serde_json::to_value(&d.api).unwrap(),
        json!({"properties": {
            "displayName": "prdcat3-productcatalogmanagement-productcatalogmanagement",
            "description": "ODA ExposedAPI components/prdcat3-productcatalogmanagement-productcatalogmanagement (ExposedAPI uid e715b931-4413-4cee-9f84-f747471063c4)",
            "path": "prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4",
            "protocols": ["https"],
            "serviceUrl": "https://istio-internal.example.org/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4",
            "subscriptionRequired": false,
            "format": "swagger-link-json",
            "value": "https://specs.example.org/TMF620.swagger.json"
        }})
    );
    assert_eq!(
        backend().public_url(&core_api()).as_deref(),
        Some("https://canvas.azure-api.net/prdcat3-productcatalogmanagement/tmf-api/productCatalogManagement/v4")
    );
    // The format is what the document's content called for, whatever its URL's name.
    let openapi = import::Import { format: "openapi+json-link", value: "https://x/a.json".into() };
    let v5 = backend().desired(&core_api(), &spec("https://x/a.json"), None, &openapi).unwrap();
    assert_eq!(v5.api.properties.format, "openapi+json-link");
    let none = backend().desired(&core_api(), &ExposedApiSpec::default(), None, &link());
    assert_eq!(none, Err(ApimSpecError::NoSpecification));
    let old = ExposedApiSpec { specification: Some(json!(["https://x/a.json"])), ..Default::default() };
    assert_eq!(specification_url(&old).as_deref(), Some("https://x/a.json"));
}

#[test]
fn api_keys_are_apim_subscription_keys() {
    let mut spec = spec("https://x/a.json");
    spec.api_key_verification = Some(ApiKeyVerification { enabled: Some(true), location: Some("x-api-key".into()) });
    let d = backend().desired(&core_api(), &spec, None, &link()).unwrap();
    assert!(d.api.properties.subscription_required);
    assert_eq!(
        d.api.properties.subscription_key_parameter_names.as_ref().map(|k| k.header.as_str()),
        Some("x-api-key")
    );
}

#[test]
fn the_policy_orders_cors_base_rate_limit_and_jwt() {
    let cors = Cors {
        origins: vec!["https://a.example.org".into()],
        methods: vec!["GET".into()],
        headers: vec!["Content-Type".into()],
        max_age: Some(1800),
        allow_credentials: true,
        answer_preflights: true,
    };
    let limit = RateLimit { limit: 100, interval: Interval::Minute, client: ClientKey::RemoteAddress };
    let jwt = Jwt {
        openid_config_url: "https://idp/.well-known/openid-configuration".into(),
        audiences: vec!["api".into()],
        issuers: vec![],
    };
    let xml = policy_xml(Some(&cors), Some(&limit), Some(&jwt));
    assert_eq!(
        parse(&xml),
        [
            "policies",
            "inbound",
            "cors allow-credentials=true terminate-unmatched-request=false",
            "allowed-origins",
            "origin",
            "text:https://a.example.org",
            "allowed-methods preflight-result-max-age=1800",
            "method",
            "text:GET",
            "allowed-headers",
            "header",
            "text:Content-Type",
            "header",
            "text:Authorization",
            "base",
            "rate-limit-by-key calls=100 renewal-period=60 counter-key=@(context.Request.IpAddress)",
            "validate-jwt header-name=Authorization failed-validation-httpcode=401 failed-validation-error-message=Unauthorized: a valid access token is required require-expiration-time=true require-scheme=Bearer require-signed-tokens=true",
            "openid-config url=https://idp/.well-known/openid-configuration",
            "audiences",
            "audience",
            "text:api",
            "backend",
            "base",
            "outbound",
            "base",
            "on-error",
            "base"
        ]
    );
    let bare = policy_xml(None, None, None);
    assert_eq!(
        bare,
        "<policies><inbound><base/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>"
    );
}

#[test]
fn hostile_values_come_out_escaped() {
    let cors = Cors {
        origins: vec!["https://a.example.org\"/><evil x=\"".into(), "https://b&c<d>".into()],
        methods: vec!["GET".into()],
        headers: vec![],
        max_age: None,
        allow_credentials: false,
        answer_preflights: true,
    };
    let jwt = Jwt {
        openid_config_url: "https://idp/x?a=1&b=\"2\"".into(),
        audiences: vec!["</audience><x>".into()],
        issuers: vec![],
    };
    let xml = policy_xml(Some(&cors), None, Some(&jwt));
    let seen = parse(&xml);
    assert!(!seen.iter().any(|e| e.starts_with("evil") || e == "x"), "{xml}");
    assert!(xml.contains("<origin>https://a.example.org&quot;/&gt;&lt;evil x=&quot;</origin>"), "{xml}");
    assert!(xml.contains("<origin>https://b&amp;c&lt;d&gt;</origin>"), "{xml}");
    assert!(xml.contains("url=\"https://idp/x?a=1&amp;b=&quot;2&quot;\""), "{xml}");
    assert!(xml.contains("<audience>&lt;/audience&gt;&lt;x&gt;</audience>"), "{xml}");
}

#[test]
fn the_fingerprint_follows_what_would_be_sent() {
    let b = backend();
    let base = b.desired(&core_api(), &spec("https://x/a.json"), None, &link()).unwrap();
    assert_eq!(base.fingerprint, b.desired(&core_api(), &spec("https://x/a.json"), None, &link()).unwrap().fingerprint);
    let limited = crate::core::validation::ValidApi {
        rate_limit: Some(RateLimit { limit: 5, interval: Interval::Second, client: ClientKey::Header("x-key".into()) }),
        ..core_api()
    };
    let changed = b.desired(&limited, &spec("https://x/a.json"), None, &link()).unwrap();
    assert_eq!(base.fingerprint, changed.fingerprint, "the API body is the same");
    assert_ne!(base.policy_fingerprint, changed.policy_fingerprint);
    let other = import::Import { format: "swagger-link-json", value: "https://x/b.json".into() };
    let moved = b.desired(&core_api(), &spec("https://x/b.json"), None, &other).unwrap();
    assert_ne!(base.fingerprint, moved.fingerprint);
    assert_eq!(base.policy_fingerprint, moved.policy_fingerprint);
    assert!(changed.policy.properties.value.contains("GetValueOrDefault(&quot;x-key&quot;,&quot;anonymous&quot;)"));
}

#[test]
fn what_apim_refuses_is_never_sent() {
    let mut long = spec("https://specs.example.org/TMF620.json");
    long.name = Some("n".repeat(400));
    let d = backend().desired(&core_api(), &long, None, &link()).unwrap();
    assert_eq!(d.api.properties.display_name.chars().count(), rules::MAX_DISPLAY_NAME);
    let mut api = core_api();
    api.path = format!("/{}", "p".repeat(401));
    let refused = backend().desired(&api, &spec("https://specs.example.org/TMF620.json"), None, &link()).unwrap_err();
    assert_eq!(refused.reason(), conditions::NOT_ACCEPTED);
    assert!(refused.to_string().contains("spec.path has 401 characters"), "{refused}");
    // A wildcard-host origin is fine for Istio's regex, not for APIM: the CORS is left out.
    let mut api = core_api();
    api.cors = Some(Cors {
        origins: vec!["https://*.example.org".into()],
        methods: vec!["GET".into()],
        headers: vec![],
        max_age: None,
        allow_credentials: false,
        answer_preflights: true,
    });
    let d = backend().desired(&api, &spec("https://specs.example.org/TMF620.json"), None, &link()).unwrap();
    assert!(!d.policy.properties.value.contains("<cors"), "{}", d.policy.properties.value);
}
