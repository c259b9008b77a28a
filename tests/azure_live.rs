//! The opt-in check against a real Azure API Management instance (docs/azure-apim.md): what the
//! stand-in cannot prove on the management side. Ignored unless asked for
//! (`cargo test --test azure_live -- --ignored`), and it needs the `LIVE_*` variables.

use std::time::Duration;

use oda_api_operator::azure::token::Credential;
use oda_api_operator::azure::{ArmClient, ArmConfig, ClientSecret, Secret};
use oda_api_operator::backend::apim::ApimBackend;
use oda_api_operator::config::ApimConfig;
use oda_api_operator::core::validation::validate;
use oda_api_operator::exposed_api::ExposedAPI;
use serde_json::json;

fn live(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("the live check needs {name} (docs/azure-apim.md)"))
}

#[tokio::test]
#[ignore = "needs a real APIM instance and credentials (docs/azure-apim.md)"]
async fn one_api_is_imported_updated_and_deleted_in_a_real_instance() {
    let credential = Credential::Secret(Secret::new(live("LIVE_AZURE_CLIENT_SECRET")));
    let tokens = ClientSecret::new(
        "https://login.microsoftonline.com",
        &live("LIVE_AZURE_TENANT_ID"),
        &live("LIVE_AZURE_CLIENT_ID"),
        credential,
    )
    .expect("a token source");
    let config = ApimConfig {
        apim_subscription_id: Some(live("LIVE_APIM_SUBSCRIPTION_ID")),
        apim_resource_group: Some(live("LIVE_APIM_RESOURCE_GROUP")),
        apim_service_name: Some(live("LIVE_APIM_SERVICE_NAME")),
        apim_backend_base_url: Some("https://backend.invalid".into()),
        ..ApimConfig::default()
    };
    let arm = ArmClient::new(
        ArmConfig {
            endpoint: "https://management.azure.com".into(),
            scope: "https://management.azure.com/.default".into(),
            service_path: config.service_path().expect("the instance"),
            api_version: config.apim_api_version.clone(),
            poll_default: Duration::from_secs(5),
            lro_timeout: Duration::from_secs(300),
        },
        tokens,
    )
    .expect("an ARM client");

    let mut api: ExposedAPI = serde_json::from_value(json!({
        "apiVersion": "oda.tmforum.org/v1", "kind": "ExposedAPI",
        "metadata": {"name": "live-check", "namespace": "oda-live", "uid": "live-check-uid"},
        "spec": {"name": "live-check", "apiType": "openapi", "implementation": "impl", "port": 8080,
                 "path": "/oda-live-check/tmf-api/productCatalogManagement/v4",
                 "specification": {"url": live("LIVE_APIM_SPEC_URL")},
                 "CORS": {"enabled": true, "allowOrigins": "https://portal.example"}}
    }))
    .expect("an ExposedAPI");
    let backend = ApimBackend::new(&config);
    // The format from the document itself, as the operator reads it.
    let documents = oda_api_operator::azure::Documents::new(config.apim_import_mode, Duration::from_secs(60))
        .expect("a document client");
    let import = documents.import(&live("LIVE_APIM_SPEC_URL")).await.expect("the document is readable");
    let desired =
        backend.desired(&validate(&api, "oda-live").expect("valid"), &api.spec, None, &import).expect("desired");
    let body = serde_json::to_value(&desired.api).unwrap();
    arm.put_api(&desired.api_id, &body, None).await.expect("APIM imports the API");
    arm.put_policy(&desired.api_id, &serde_json::to_value(&desired.policy).unwrap(), None)
        .await
        .expect("APIM accepts the policy");
    let first = arm.api_etag(&desired.api_id).await.expect("HEAD").expect("the API exists");

    api.spec.rate_limit = Some(oda_api_operator::exposed_api::RateLimit {
        enabled: Some(true),
        limit: Some("5".into()),
        interval: Some("pm".into()),
        ..Default::default()
    });
    let changed =
        backend.desired(&validate(&api, "oda-live").expect("valid"), &api.spec, None, &import).expect("desired");
    let policy_etag = arm.etag_of(&format!("/apis/{}/policies/policy", changed.api_id)).await.expect("HEAD policy");
    arm.put_policy(&changed.api_id, &serde_json::to_value(&changed.policy).unwrap(), policy_etag.as_deref())
        .await
        .expect("APIM accepts the rate limit");
    let after = arm.api_etag(&desired.api_id).await.expect("HEAD").expect("the API exists");
    eprintln!("API ETag before and after the policy change: {first} / {after}");

    arm.delete_api(&desired.api_id, "*").await.expect("APIM deletes the API");
    assert_eq!(arm.api_etag(&desired.api_id).await.expect("HEAD"), None, "the API is gone");
}
