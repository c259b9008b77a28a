//! Properties of validation and rendering over hostile input: neither ever panics, and nothing
//! rendered from an API that validation accepted carries a path validation would reject.

use oda_api_operator::backend::apim::ApimBackend;
use oda_api_operator::backend::gateway_api::HttpRouteBackend;
use oda_api_operator::backend::ingress::IngressRoute;
use oda_api_operator::backend::istio::VirtualServiceRoute;
use oda_api_operator::backend::route::Route;
use oda_api_operator::config::{ApimConfig, OperatorConfig, RouteBackend};
use oda_api_operator::core::validation::{path_problem, validate};
use oda_api_operator::exposed_api::{Cors, ExposedAPI, ExposedApiSpec, RateLimit};
use oda_api_operator::render::{RenderOptions, render};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Strings mixing ordinary path characters with the hostile ones.
fn text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "/", "/", "/", "a", "b", "v4", "tmf-api", "Z", "0", "-", ".", "..", "%", "%2e", "%41", "?", "#", "\\", " ",
        "\t", "\n", "\u{0}", "é", "*", ":", "@", "'", "\"", "<", ">", "&", ";", "=", "{", "}", "//", "${x}",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
}

/// A path of valid segments (percent-encodings and sub-delims included).
fn good_path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9._~!$&'()*+,;=:@-]{1,8}|%[0-9A-F]{2}", 0..6).prop_map(|segments| {
        let path = segments.iter().filter(|s| *s != "." && *s != "..").cloned().collect::<Vec<_>>().join("/");
        format!("/{path}")
    })
}

/// An optional field, set now and then, to anything.
fn rare() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.15, text())
}

fn spec() -> impl Strategy<Value = ExposedApiSpec> {
    let api_type = prop::sample::select(vec!["openapi", "prometheus", "mcp", "graphql", ""]);
    // Mostly a good Service name and port, so that the paths decide.
    let implementation = prop_oneof![4 => Just("impl".to_owned()), 1 => text()];
    let port = prop_oneof![4 => Just(Some(8080i64)), 1 => prop::option::of(-2i64..70_000)];
    (
        (prop_oneof![2 => good_path(), 3 => text()], implementation, api_type, port),
        (rare(), rare(), rare()),
        (rare(), rare(), rare()),
    )
        .prop_map(
            |((path, implementation, api_type, port), (name, hostname, ui), (origins, limit, identifier))| {
                let path = if path.starts_with('/') { path } else { format!("/{path}") };
                let implementation = implementation.to_ascii_lowercase();
                ExposedApiSpec {
                    name,
                    api_type: Some(api_type.to_owned()),
                    implementation: Some(if implementation.is_empty() { "impl".into() } else { implementation }),
                    path: Some(path),
                    port,
                    hostname,
                    developer_ui: ui,
                    specification: Some(json!({"url": "https://specs.example/a.json"})),
                    cors: origins.map(|o| Cors { enabled: Some(true), allow_origins: Some(o), ..Default::default() }),
                    rate_limit: limit.map(|l| RateLimit {
                        enabled: Some(true),
                        limit: Some(l),
                        identifier,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            },
        )
}

fn api(spec: ExposedApiSpec) -> ExposedAPI {
    let mut api = ExposedAPI::new("api", spec);
    api.metadata.namespace = Some("components".into());
    api.metadata.uid = Some("uid-1".into());
    api
}

fn at(value: &Value, pointer: &str) -> String {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The generator reaches valid APIs often enough for the first property to mean something.
#[test]
fn the_generator_makes_valid_apis_too() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let valid = (0..1000)
        .filter(|_| validate(&api(spec().new_tree(&mut runner).expect("a value").current()), "x").is_ok())
        .count();
    assert!(valid >= 100, "only {valid} of 1000 generated APIs are valid");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_and_rendering_never_panic_and_emit_only_valid_paths(spec in spec()) {
        let api = api(spec);
        let Ok(valid) = validate(&api, "components") else { return Ok(()) };
        prop_assert!(path_problem(&valid.path).is_none());
        let config = OperatorConfig::default();
        let vs = VirtualServiceRoute::new(&config).desired(&valid).expect("a VirtualService");
        let route = HttpRouteBackend::new(&config, true).desired(&valid).expect("an HTTPRoute");
        let ingress = IngressRoute::new(&ApimConfig::default()).desired(&valid).expect("an Ingress");
        let paths = [
            at(&vs.data, "/spec/http/0/match/0/uri/prefix"),
            at(&route.data, "/spec/rules/0/matches/0/path/value"),
            at(&ingress.data, "/spec/rules/0/http/paths/0/path"),
        ];
        for path in &paths {
            prop_assert!(path_problem(path).is_none(), "{path:?} rendered from {:?}", valid.path);
        }
        let import = oda_api_operator::backend::apim::import::guess("https://specs/x.json");
        let apim = ApimBackend::new(&ApimConfig::default()).desired(&valid, &api.spec, Some("https://mesh/x".into()), &import);
        if let Ok(apim) = apim {
            let path = format!("/{}", apim.api.properties.path);
            prop_assert!(path == "/" || path_problem(&path).is_none(), "{path:?}");
            prop_assert!(apim.api_id.len() <= 80 && apim.api_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        }
    }

    #[test]
    fn render_answers_every_document_without_panicking(spec in spec()) {
        let yaml = serde_json::to_string(&api(spec)).expect("JSON is YAML");
        let options = RenderOptions {
            ingress_address: Some("20.1.2.3".into()),
            ingress_port: 80,
            namespace: "components".into(),
            with_status: true,
        };
        for backend in [RouteBackend::VirtualService, RouteBackend::HttpRoute, RouteBackend::AzureApim] {
            let config = OperatorConfig { route_backend: backend, ..OperatorConfig::default() };
            let _ = render(&yaml, &config, &options);
        }
    }
}
