//! The APIM backend's Azure client against the stand-in, both for real over HTTP: tokens (secret
//! and workload-identity flows), the API PUT and its long-running operation, the policy only after
//! it, ETags and If-Match, and each error class (azure-apim §2.8, §4.4).

use std::sync::Arc;
use std::time::Duration;

use oda_api_operator::azure::token::Credential;
use oda_api_operator::azure::{ArmClient, ArmConfig, AzureError, ClientSecret, KeyVault, Secret, TokenSource};
use oda_api_operator::backend::apim::policy_xml;
use oda_azure_standin::{LroMode, Options, ServiceKey, StandIn};
use serde_json::{Value, json};

const TENANT: &str = "00000000-0000-0000-0000-00000000aaaa";

fn service() -> ServiceKey {
    ServiceKey { subscription: "sub-1".into(), resource_group: "canvas".into(), name: "canvas-apim".into() }
}

async fn standin() -> StandIn {
    StandIn::start(Options {
        tenant: TENANT.into(),
        clients: vec![("operator".into(), Some("s3cret".into())), ("workload".into(), None)],
        federated_token: Some("federated-1".into()),
        services: vec![service()],
        ..Default::default()
    })
    .await
    .expect("the stand-in listens")
}

fn client(standin: &StandIn, tokens: Arc<dyn TokenSource>) -> ArmClient {
    let config = ArmConfig {
        endpoint: format!("http://{}", standin.arm),
        scope: "https://management.azure.com/.default".into(),
        service_path:
            "/subscriptions/sub-1/resourceGroups/canvas/providers/Microsoft.ApiManagement/service/canvas-apim".into(),
        api_version: "2024-05-01".into(),
        poll_default: Duration::from_millis(10),
        lro_timeout: Duration::from_secs(5),
    };
    ArmClient::new(config, tokens).unwrap()
}

fn secret_tokens(standin: &StandIn) -> Arc<dyn TokenSource> {
    let credential = Credential::Secret(Secret::new("s3cret"));
    ClientSecret::new(&format!("http://{}", standin.entra), TENANT, "operator", credential).unwrap()
}

fn api_body(path: &str) -> Value {
    json!({"properties": {"displayName": "p", "path": path, "protocols": ["https"], "subscriptionRequired": false,
        "serviceUrl": "https://mesh.internal/p", "format": "swagger-link-json",
        "value": "http://127.0.0.1:1/documents/tmf620.swagger.json"}})
}

fn policy_body() -> Value {
    json!({"properties": {"format": "xml", "value": policy_xml(None, None, None)}})
}

#[tokio::test]
async fn an_api_is_created_through_its_long_running_operation_then_its_policy() {
    let standin = standin().await;
    let control = standin.control();
    control.set_lro(LroMode::Location { polls: 2 }).await;
    let arm = client(&standin, secret_tokens(&standin));

    let created = arm.put_api("oda-c-p", &api_body("p"), None).await.unwrap();
    assert_eq!(created.body["properties"]["provisioningState"], "Succeeded");
    let put = arm.put_policy("oda-c-p", &policy_body(), None).await.unwrap();
    assert!(put.etag.is_some());
    let etag = arm.api_etag("oda-c-p").await.unwrap();
    assert_eq!(etag, control.api(&service(), "oda-c-p").await.map(|a| a.etag));

    // The order on the wire: the PUT, its polls, and only then the policy.
    let requests = control.requests().await;
    let arm_calls: Vec<String> = requests
        .iter()
        .filter(|r| r.listener == "arm")
        .map(|r| {
            format!(
                "{} {}{}",
                r.method,
                r.path.rsplit("/service/canvas-apim").next().unwrap_or_default(),
                if r.query.contains("asyncId") { " (poll)" } else { "" }
            )
        })
        .collect();
    assert_eq!(
        arm_calls,
        [
            "PUT /apis/oda-c-p",
            "GET /apis/oda-c-p (poll)",
            "GET /apis/oda-c-p (poll)",
            "GET /apis/oda-c-p (poll)",
            "PUT /apis/oda-c-p/policies/policy",
            "HEAD /apis/oda-c-p"
        ]
    );
    assert!(
        requests.iter().all(|r| r.authorization.as_deref() != Some("Bearer s3cret")),
        "tokens are redacted in the record"
    );

    // An update names the ETag it read (the spec requires If-Match for updates): none is
    // refused, a stale one is 412, the current one passes; the same for the policy.
    let refused = arm.put_api("oda-c-p", &api_body("p"), None).await;
    assert!(matches!(&refused, Err(AzureError::Rejected { status: 400, message, .. }) if message.contains("If-Match")));
    assert!(matches!(arm.put_api("oda-c-p", &api_body("p"), Some("\"stale\"")).await, Err(AzureError::Precondition)));
    let current = arm.api_etag("oda-c-p").await.unwrap();
    arm.put_api("oda-c-p", &api_body("p"), current.as_deref()).await.unwrap();
    assert!(arm.put_policy("oda-c-p", &policy_body(), None).await.is_err());
    let policy_etag = arm.etag_of("/apis/oda-c-p/policies/policy").await.unwrap();
    assert!(policy_etag.is_some());
    arm.put_policy("oda-c-p", &policy_body(), policy_etag.as_deref()).await.unwrap();

    // Every request counted by kind in /metrics (the number ARM's limits count).
    let metrics = oda_api_operator::telemetry::Metrics::default().encode();
    for kind in ["PUT api", "GET operation", "HEAD api", "PUT policy", "HEAD policy"] {
        assert!(
            metrics.contains(&format!("oda_api_operator_arm_requests_total{{kind=\"{kind}\"}}")),
            "{kind}: {metrics}"
        );
    }

    // Gone behind our back: absent, and created again by the next PUT.
    control.delete_api(&service(), "oda-c-p").await;
    assert_eq!(arm.get_api("oda-c-p").await.unwrap(), None);
    arm.put_api("oda-c-p", &api_body("p"), None).await.unwrap();

    // Deletion needs If-Match: `*`, or the current ETag (a stale one is refused).
    assert!(matches!(arm.delete_api("oda-c-p", "\"stale\"").await, Err(AzureError::Precondition)));
    arm.delete_api("oda-c-p", "*").await.unwrap();
    arm.delete_api("oda-c-p", "*").await.unwrap();
    assert_eq!(arm.get_api("oda-c-p").await.unwrap(), None);
}

#[tokio::test]
async fn the_2022_accepted_style_is_followed_too() {
    let standin = standin().await;
    standin.control().set_lro(LroMode::Accepted { polls: 1 }).await;
    let arm = client(&standin, secret_tokens(&standin));
    let created = arm.put_api("oda-c-q", &api_body("q"), None).await.unwrap();
    assert_eq!(created.body["name"], "oda-c-q");
    arm.delete_api("oda-c-q", "*").await.unwrap();
}

#[tokio::test]
async fn an_operation_throttled_while_polled_is_followed_to_its_end() {
    let standin = standin().await;
    let control = standin.control();
    control.set_lro(LroMode::Location { polls: 2 }).await;
    let arm = client(&standin, secret_tokens(&standin));
    // The first poll is throttled (429, Retry-After 1 s): waited out, not given up, so the policy
    // that follows does not meet the operation still holding the API (409).
    control.fail_next("GET", 429, 1, Some(1)).await;
    let created = arm.put_api("oda-c-t", &api_body("t"), None).await.unwrap();
    assert_eq!(created.body["properties"]["provisioningState"], "Succeeded");
    arm.put_policy("oda-c-t", &policy_body(), None).await.unwrap();
    let polls = control.requests().await.iter().filter(|r| r.query.contains("asyncId")).count();
    assert_eq!(polls, 4, "the throttled poll, two while it runs, the final answer");
}

#[tokio::test]
async fn errors_are_classified_by_status() {
    let standin = standin().await;
    let control = standin.control();
    let arm = client(&standin, secret_tokens(&standin));

    // An expired token: retried once with a fresh one, transparently.
    arm.put_api("oda-c-a", &api_body("a"), None).await.unwrap();
    control.expire_tokens().await;
    arm.put_api("oda-c-a", &api_body("a"), Some("*")).await.unwrap();

    // Throttled: the wait Azure asks for.
    control.fail_next("PUT", 429, 1, Some(1)).await;
    let throttled = arm.put_api("oda-c-a", &api_body("a"), None).await;
    assert!(
        matches!(throttled, Err(AzureError::RetryAfter(wait, 429)) if wait == Duration::from_secs(1)),
        "{throttled:?}"
    );
    // The wait is ARM's per principal: another API's call waits too, and nothing is sent.
    let sent = control.requests().await.len();
    let other = arm.get_api("oda-c-other").await;
    assert!(matches!(other, Err(AzureError::RetryAfter(wait, 429)) if wait <= Duration::from_secs(1)), "{other:?}");
    assert_eq!(control.requests().await.len(), sent, "no request during the wait");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    control.fail_next("PUT", 500, 1, None).await;
    assert!(matches!(arm.put_api("oda-c-a", &api_body("a"), None).await, Err(AzureError::Transient(_))));
    // The connection dropped mid-answer: transient too, and the next call goes through.
    control.fail_next("GET", 0, 1, None).await;
    let reset = arm.get_api("oda-c-a").await;
    assert!(matches!(reset, Err(AzureError::Transient(_))), "{reset:?}");
    assert!(arm.get_api("oda-c-a").await.unwrap().is_some());

    // A duplicate path: refused with ARM's words, naming the field.
    let refused = arm.put_api("oda-c-b", &api_body("a"), None).await;
    let Err(AzureError::Rejected { status: 400, code, message }) = refused else { panic!("{refused:?}") };
    assert_eq!(code, "ValidationError");
    assert!(message.contains("path"), "{message}");

    // The reference's invalid CORS XML is refused as APIM would.
    let invalid = json!({"properties": {"format": "xml", "value": "<policies><inbound><cors><max-age>5</max-age></cors></inbound></policies>"}});
    assert!(matches!(arm.put_policy("oda-c-a", &invalid, None).await, Err(AzureError::Rejected { status: 400, .. })));

    // Forbidden is a condition, not a retry.
    control.fail_next("GET", 403, 1, None).await;
    assert!(matches!(arm.get_api("oda-c-a").await, Err(AzureError::Rejected { status: 403, .. })));
}

#[tokio::test]
async fn workload_identity_reads_its_rotated_token_file() {
    let standin = standin().await;
    let file = std::env::temp_dir().join(format!("oda-federated-{}", std::process::id()));
    std::fs::write(&file, "federated-1\n").unwrap();
    let tokens: Arc<dyn TokenSource> = ClientSecret::new(
        &format!("http://{}", standin.entra),
        TENANT,
        "workload",
        Credential::FederatedTokenFile(file.clone()),
    )
    .unwrap();
    let arm = client(&standin, tokens.clone());
    arm.put_api("oda-c-w", &api_body("w"), None).await.unwrap();

    // The kubelet rotated the file; the next fresh token is got with the new content.
    standin.control().rotate_federated_token("federated-2").await;
    std::fs::write(&file, "federated-2\n").unwrap();
    standin.control().expire_tokens().await;
    arm.get_api("oda-c-w").await.unwrap().expect("the API");

    // A wrong secret is an authentication error that says what to check.
    let wrong = ClientSecret::new(
        &format!("http://{}", standin.entra),
        TENANT,
        "operator",
        Credential::Secret(Secret::new("nope")),
    )
    .unwrap();
    let failed = client(&standin, wrong).get_api("oda-c-w").await;
    let Err(AzureError::Auth(why)) = failed else { panic!("{failed:?}") };
    assert!(why.contains("401"), "{why}");
    assert!(!format!("{:?}", Secret::new("s3cret")).contains("s3cret"));
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn key_vault_mode_reads_the_reference_secrets() {
    let names = ["apim-service-name", "resource-group", "subscription-id", "aad-tenant-id", "aad-client-id"];
    let standin = StandIn::start(Options {
        tenant: TENANT.into(),
        clients: vec![("operator".into(), Some("s3cret".into()))],
        secrets: names.iter().map(|n| ((*n).to_owned(), format!("value-of-{n}"))).collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    let vault = KeyVault::new(&format!("http://{}", standin.vault), "7.4", secret_tokens(&standin)).unwrap();
    // The stand-in only takes tokens for the vault audience here: the client asked for one.
    let settings = vault.settings().await.unwrap();
    assert_eq!(settings.service_name, "value-of-apim-service-name");
    assert_eq!(settings.client_id, "value-of-aad-client-id");
    assert!(matches!(vault.secret("missing").await, Err(AzureError::Rejected { status: 404, .. })));
    standin.control().deny_vault(true).await;
    let denied = vault.secret("resource-group").await;
    assert!(matches!(&denied, Err(AzureError::Rejected { status: 403, .. })), "{denied:?}");
}

#[tokio::test]
async fn the_openid_connect_provider_is_upserted() {
    let standin = standin().await;
    let arm = client(&standin, secret_tokens(&standin));
    let body = json!({"properties": {"displayName": "Entra ID", "metadataEndpoint": "https://login/x/v2.0/.well-known/openid-configuration", "clientId": "portal", "clientSecret": "hidden"}});
    let created = arm.put_openid_provider("AzureAD", &body).await.unwrap();
    assert!(created.body["properties"].get("clientSecret").is_none(), "secrets never come back");
    arm.put_openid_provider("AzureAD", &body).await.unwrap();
    let missing = json!({"properties": {"displayName": "x"}});
    assert!(matches!(arm.put_openid_provider("Bad", &missing).await, Err(AzureError::Rejected { status: 400, .. })));
}

#[tokio::test]
async fn a_managed_identity_gets_its_token_from_imds() {
    let standin = standin().await;
    let imds = oda_api_operator::azure::ManagedIdentity::new(&format!("http://{}", standin.imds), None).unwrap();
    let arm = client(&standin, imds);
    arm.put_api("oda-c-m", &api_body("m"), None).await.unwrap();
    let unknown =
        oda_api_operator::azure::ManagedIdentity::new(&format!("http://{}", standin.imds), Some("nobody")).unwrap();
    let failed = client(&standin, unknown).get_api("oda-c-m").await;
    assert!(matches!(&failed, Err(AzureError::Auth(why)) if why.contains("Identity not found")), "{failed:?}");
}

/// What Microsoft's published contract refuses is refused over the wire as ARM does (400
/// ValidationError naming the element), and what the operator now sends is accepted.
#[tokio::test]
async fn the_standin_refuses_what_the_published_contract_refuses() {
    use oda_api_operator::backend::apim::Jwt;
    use oda_api_operator::core::cors::Cors;
    let standin = standin().await;
    let arm = client(&standin, secret_tokens(&standin));
    let mut long = api_body("p");
    long["properties"]["displayName"] = json!("n".repeat(301));
    let refused = arm.put_api("oda-c-p", &long, None).await;
    let Err(AzureError::Rejected { status: 400, code, message }) = refused else { panic!("{refused:?}") };
    assert_eq!(code, "ValidationError");
    assert!(message.contains("longer than 300"), "{message}");

    arm.put_api("oda-c-p", &api_body("p"), None).await.unwrap();
    let policy = |xml: String| json!({"properties": {"format": "xml", "value": xml}});
    // The policy of before: validate-jwt with an empty <audiences>, a wildcard-host origin.
    let no_audience = "<policies><inbound><base/><validate-jwt header-name=\"Authorization\"><openid-config \
        url=\"https://idp/.well-known/openid-configuration\"/><audiences/></validate-jwt></inbound></policies>";
    let refused = arm.put_policy("oda-c-p", &policy(no_audience.into()), None).await;
    assert!(matches!(&refused, Err(AzureError::Rejected { status: 400, message, .. }) if message.contains("audience")));
    let cors = |origins: &[&str]| Cors {
        origins: origins.iter().map(|o| o.to_string()).collect(),
        methods: vec!["GET".into()],
        headers: vec![],
        max_age: None,
        allow_credentials: false,
        answer_preflights: true,
    };
    let wildcard = policy_xml(Some(&cors(&["https://*.example.org"])), None, None);
    let refused = arm.put_policy("oda-c-p", &policy(wildcard), None).await;
    assert!(matches!(&refused, Err(AzureError::Rejected { status: 400, message, .. }) if message.contains("wildcard")));
    let jwt = Jwt {
        openid_config_url: "https://idp/.well-known/openid-configuration".into(),
        audiences: vec!["api://canvas".into()],
        issuers: vec![],
    };
    let accepted = policy_xml(Some(&cors(&["https://a.example.org"])), None, Some(&jwt));
    arm.put_policy("oda-c-p", &policy(accepted), None).await.unwrap();
}

/// The import format is read from the document (a TMF v5 OpenAPI 3 JSON is `openapi+json-link`,
/// which the old guess by name declared `swagger-link-json`); the stand-in downloads the document
/// and refuses one of another kind than declared; an unreachable document sends nothing.
#[tokio::test]
async fn the_import_format_is_the_documents_own() {
    use oda_api_operator::azure::Documents;
    use oda_api_operator::config::ApimImportMode;
    let standin = standin().await;
    let arm = client(&standin, secret_tokens(&standin));
    let documents = Documents::new(ApimImportMode::Link, Duration::from_secs(60)).unwrap();
    let url = format!("http://{}/documents/tmf620.json", standin.control);
    let import = documents.import(&url).await.unwrap();
    assert_eq!(import.format, "openapi+json-link");
    let mut body = api_body("p");
    body["properties"]["format"] = json!("swagger-link-json");
    body["properties"]["value"] = json!(url);
    let refused = arm.put_api("oda-c-p", &body, None).await;
    assert!(matches!(&refused, Err(AzureError::Rejected { status: 400, .. })), "{refused:?}");
    body["properties"]["format"] = json!(import.format);
    arm.put_api("oda-c-p", &body, None).await.unwrap();

    let yaml = documents.import(&format!("http://{}/documents/tmf620.yaml", standin.control)).await.unwrap();
    assert_eq!(yaml.format, "openapi-link");
    let inline = Documents::new(ApimImportMode::Inline, Duration::from_secs(60)).unwrap();
    let sent = inline.import(&url).await.unwrap();
    assert_eq!(sent.format, "openapi+json");
    body["properties"]["format"] = json!(sent.format);
    body["properties"]["value"] = json!(sent.value);
    arm.put_api("oda-c-p", &body, Some("*")).await.unwrap();

    let missing = format!("http://{}/documents/missing.json", standin.control);
    let unusable = documents.import(&missing).await.unwrap_err();
    assert!(unusable.contains(&missing) && unusable.contains("404"), "{unusable}");
    standin.control().put_document("page.json", "<html>Not Found</html>").await;
    let page = documents.import(&format!("http://{}/documents/page.json", standin.control)).await.unwrap_err();
    assert!(page.contains("<html>"), "{page}");
}

#[tokio::test]
async fn the_list_of_apis_is_paged_filtered_and_refuses_what_it_cannot_filter() {
    let standin = standin().await;
    let control = standin.control();
    control.set_lro(LroMode::Immediate).await;
    let arm = client(&standin, secret_tokens(&standin));
    for i in 0..5 {
        arm.put_api(&format!("oda-c-{i}"), &api_body(&format!("p{i}")), None).await.unwrap();
    }
    control.insert_api(&service(), "someone-else", "/theirs").await;
    control.set_page_cap(2).await;
    let (mut ids, mut next, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = arm.list_apis(next.as_deref(), Some("startswith(name,'oda-')"), 100).await.unwrap();
        pages += 1;
        ids.extend(page.items.iter().filter_map(|i| i["name"].as_str().map(String::from)));
        match page.next {
            Some(link) => next = Some(link),
            None => break,
        }
    }
    assert_eq!(ids, ["oda-c-0", "oda-c-1", "oda-c-2", "oda-c-3", "oda-c-4"], "the filter holds, every page is read");
    assert_eq!(pages, 3, "pages of two, the cap beats $top");
    let first = arm.list_apis(None, None, 100).await.unwrap();
    assert_eq!(first.items[0]["properties"]["path"], "p0", "items are ApiContracts with their properties");
    // An OData expression the stand-in does not evaluate is refused, never ignored.
    let refused = arm.list_apis(None, Some("startswith(name,'a') or startswith(name,'b')"), 100).await;
    assert!(matches!(&refused, Err(AzureError::Rejected { status: 400, message, .. }) if message.contains("$filter")));
    assert!(matches!(arm.list_apis(None, None, 0).await, Err(AzureError::Rejected { status: 400, .. })), "$top ≥ 1");
    // A link off ARM is not followed with the token.
    assert!(matches!(
        arm.list_apis(Some("https://elsewhere.example/apis"), None, 100).await,
        Err(AzureError::Config(_))
    ));
    let metrics = oda_api_operator::telemetry::Metrics::default().encode();
    assert!(metrics.contains("oda_api_operator_arm_requests_total{kind=\"GET apis\"}"), "{metrics}");
}
