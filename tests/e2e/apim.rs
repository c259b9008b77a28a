//! The Azure API Management backend end to end, on the real test plane, with the operator binary
//! and the Azure stand-in binary as processes: the Ingress, the API and its policy, the status URL,
//! only the changed calls, a converged restart, drift and deletion behind our back, a foreign API,
//! deletion behind the finalizer, each fault class, and both ways of finding the APIM instance.

use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::operator::{condition, exposed_apis, wait_for_reason};
use crate::support::azure::{OperatorProcess, RESOURCE_GROUP, SERVICE, SUBSCRIPTION, StandIn, TENANT, ingress_class};
use crate::support::*;

const GATEWAY: &str = "https://canvas-apim.azure-api.net";

/// An API whose document is the TMF620 OpenAPI 3 JSON the stand-in hosts (the operator reads it
/// to declare its format; the stand-in checks the declared format against it).
fn spec(standin: &StandIn, path: &str) -> Value {
    let mut spec = exposed_api_spec("impl", path, 8080);
    spec["specification"] = json!({"url": standin.document_url("tmf620.json")});
    spec
}

fn api_id(ns: &str, name: &str) -> String {
    format!("oda-{ns}-{name}")
}

/// The settings of direct mode with a fixed backend base URL (no Ingress address needed).
fn with_base_url(mut env: Vec<(String, String)>) -> Vec<(String, String)> {
    env.push(("APIM_BACKEND_BASE_URL".into(), "https://mesh.internal".into()));
    env
}

async fn patch_spec(ns: &str, name: &str, spec: Value) {
    let patch = json!({"spec": spec});
    exposed_apis(ns)
        .await
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patching the spec");
}

async fn wait_for_synced_reason(ns: &str, name: &str, reason: &str) -> kube::core::DynamicObject {
    let apis = exposed_apis(ns).await;
    wait_for(Duration::from_secs(60), || async {
        let obj = apis.get(name).await.map_err(|e| e.to_string())?;
        match condition(&obj, "ApimSynced") {
            Some((_, r, _)) if r == reason => Ok(obj),
            other => Err(format!("ApimSynced is {other:?}, waiting for {reason}")),
        }
    })
    .await
}

#[tokio::test]
async fn an_api_is_imported_behind_its_ingress_and_only_changed_calls_follow() {
    let ns = TestNamespace::new("apim-create").await;
    implementation(&ns, "impl", &[], true).await;
    let standin = StandIn::start(&[]).await;
    standin.lro("location", 2).await;
    let operator = OperatorProcess::start(&standin.operator_env(ns.name()));
    let mut first = spec(&standin, "/a1");
    first["CORS"] = json!({"enabled": true, "allowOrigins": "https://a.example"});
    create_exposed_api(ns.client(), ns.name(), "a1", &[], first.clone()).await;

    // The Ingress first; nothing goes to APIM before it has an address to forward to.
    let ingresses: Api<Ingress> = Api::namespaced(ns.client(), ns.name());
    let ingress =
        wait_for(Duration::from_secs(60), || async { ingresses.get_opt("apim-api-ingress-a1").await.ok().flatten() })
            .await;
    assert_eq!(ingress.owner_references()[0].name, "a1");
    let spec_of = ingress.spec.clone().unwrap_or_default();
    assert_eq!(spec_of.ingress_class_name, Some(ingress_class(ns.name())));
    wait_for_synced_reason(ns.name(), "a1", "IngressAddressPending").await;
    assert_eq!(wait_for_reason(ns.name(), "a1", "AddressPending").await.data["status"]["apim"], Value::Null);
    assert!(standin.writes("/apis/").await.is_empty());

    let address = json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.9"}]}}});
    ingresses.patch_status("apim-api-ingress-a1", &PatchParams::default(), &Patch::Merge(&address)).await.unwrap();
    let api = wait_for_reason(ns.name(), "a1", "Exposed").await;
    let id = api_id(ns.name(), "a1");
    assert_eq!(api.data["status"]["apiStatus"]["url"], format!("{GATEWAY}/a1"), "the gateway URL is read from APIM");
    assert_eq!(api.data["status"]["apim"]["apiId"], id);
    assert!(api.finalizers().iter().any(|f| f == "oda.tmforum.org/exposedapi-cleanup"));
    assert_eq!(condition(&api, "CORS").map(|c| c.1), Some("Applied".into()));
    let stored = standin.api(&id).await.expect("the API is in APIM");
    assert_eq!(stored["properties"]["serviceUrl"], "http://10.0.0.9/a1");
    let policy = stored["policy"].as_str().unwrap_or_default().to_owned();
    assert!(policy.contains("<origin>https://a.example</origin>"), "{policy}");
    let api_put = format!(
        "PUT /subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.ApiManagement/service/{SERVICE}/apis/{id}"
    );
    let policy_put = format!("{api_put}/policies/policy");
    assert_eq!(standin.writes("/apis/").await, [api_put.clone(), policy_put.clone()]);
    // The document is OpenAPI 3 JSON: declared so (a `.json` is not taken for Swagger 2.0).
    let requests = standin.requests().await;
    let import =
        requests.iter().find(|r| r["method"] == "PUT" && r["body"].as_str().is_some_and(|b| b.contains("format")));
    let body: Value = serde_json::from_str(import.and_then(|r| r["body"].as_str()).unwrap_or("{}")).unwrap();
    assert_eq!(body["properties"]["format"], "openapi+json-link");

    // A policy change sends the policy only; a path change the API only.
    let mut limited = first.clone();
    limited["rateLimit"] = json!({"enabled": true, "limit": "5", "interval": "pm"});
    patch_spec(ns.name(), "a1", limited).await;
    let obj = wait_for(Duration::from_secs(60), || async {
        let obj = exposed_apis(ns.name()).await.get("a1").await.ok()?;
        (condition(&obj, "RateLimit")?.1 == "Applied").then_some(obj)
    })
    .await;
    assert_eq!(condition(&obj, "Ready").map(|c| c.1), Some("Exposed".into()));
    let policy = standin.api(&id).await.unwrap()["policy"].as_str().unwrap_or_default().to_owned();
    assert!(policy.contains("<rate-limit-by-key calls=\"5\" renewal-period=\"60\""), "{policy}");
    assert_eq!(standin.writes("/apis/").await, [api_put.clone(), policy_put.clone(), policy_put.clone()]);

    // The rate limit off again: the policy goes back, the API is untouched.
    patch_spec(ns.name(), "a1", json!({"rateLimit": {"enabled": false}})).await;
    wait_for(Duration::from_secs(60), || async {
        let obj = exposed_apis(ns.name()).await.get("a1").await.ok()?;
        condition(&obj, "RateLimit").is_none().then_some(())
    })
    .await;
    let policy = standin.api(&id).await.unwrap()["policy"].as_str().unwrap_or_default().to_owned();
    assert!(!policy.contains("rate-limit-by-key"), "{policy}");
    assert_eq!(standin.writes("/apis/").await.iter().filter(|w| **w == api_put).count(), 1);
    operator.stop().await;
}

#[tokio::test]
async fn a_converged_restart_sends_nothing_drift_is_repaired_and_a_foreign_api_is_left_alone() {
    let ns = TestNamespace::new("apim-restart").await;
    implementation(&ns, "impl", &[], true).await;
    let standin = StandIn::start(&[]).await;
    let foreign = api_id(ns.name(), "b3");
    standin.insert_foreign(&foreign, "/someone-else").await;
    let env = with_base_url(standin.operator_env(ns.name()));
    let operator = OperatorProcess::start(&env);
    for name in ["b1", "b2", "b3"] {
        create_exposed_api(ns.client(), ns.name(), name, &[], spec(&standin, &format!("/{name}"))).await;
    }
    for name in ["b1", "b2"] {
        wait_for_reason(ns.name(), name, "Exposed").await;
    }
    let mut metrics = spec(&standin, "/b4/metrics");
    metrics["apiType"] = json!("prometheus");
    create_exposed_api(ns.client(), ns.name(), "b4", &[], metrics).await;
    let metrics = wait_for_synced_reason(ns.name(), "b4", "NotImported").await;
    assert_eq!(condition(&metrics, "Ready").map(|c| c.1), Some("InvalidSpec".into()));
    let api = wait_for_reason(ns.name(), "b3", "NotOwned").await;
    let (_, _, message) = condition(&api, "ApimSynced").unwrap();
    assert!(message.contains(&foreign), "{message}");
    let stored = standin.api(&foreign).await.unwrap();
    assert_eq!(stored["properties"]["displayName"], "foreign");
    assert!(standin.writes(&foreign).await.is_empty(), "nothing is sent to a foreign API");
    assert_eq!(
        standin.api(&api_id(ns.name(), "b1")).await.unwrap()["properties"]["serviceUrl"],
        "https://mesh.internal/b1"
    );

    operator.stop().await;
    let before = standin.writes("/apis/").await;
    let at_restart = standin.requests().await.len();
    let operator = OperatorProcess::start(&env);
    // Each status records what was written: no API of ours is read, the drift sweep's list (one
    // page here) finds nothing changed, and nothing is sent.
    let lists = || async {
        let requests = standin.requests().await;
        requests[at_restart..].iter().filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/apis"))).count()
    };
    wait_for(Duration::from_secs(60), || async { (lists().await >= 1).then_some(()) }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(standin.writes("/apis/").await, before, "a converged restart sends nothing");
    let ours = [api_id(ns.name(), "b1"), api_id(ns.name(), "b2")];
    let requests = standin.requests().await;
    let read: Vec<String> = requests[at_restart..]
        .iter()
        .filter(|r| r["listener"] == "arm")
        .filter_map(|r| r["path"].as_str().map(|p| format!("{} {p}", r["method"].as_str().unwrap_or_default())))
        .filter(|r| ours.iter().any(|id| r.ends_with(&format!("/apis/{id}"))))
        .collect();
    assert!(read.is_empty(), "a converged restart reads no API of ours: {read:?}");

    // Deleted in the portal: missing from the next sweep's list (APIM_RESYNC_SECS=10), imported again.
    let b1 = api_id(ns.name(), "b1");
    standin.delete_api(&b1).await;
    wait_for(Duration::from_secs(60), || async { standin.api(&b1).await }).await;
    wait_for_reason(ns.name(), "b1", "Exposed").await;

    // The policy edited in the portal (only its own ETag moves): found by the sweep's policy check
    // (APIM_POLICY_RESYNC_SECS=20) and written again, with the edited policy's ETag as If-Match.
    let b2 = api_id(ns.name(), "b2");
    let portal = "<policies><inbound><base /></inbound></policies>";
    standin.edit_policy(&b2, portal).await;
    wait_for(Duration::from_secs(60), || async {
        let policy = standin.api(&b2).await?["policy"].as_str()?.to_owned();
        (policy != portal).then_some(())
    })
    .await;
    let requests = standin.requests().await;
    let rewrite = requests.iter().rev().find(|r| {
        r["method"] == "PUT" && r["path"].as_str().is_some_and(|p| p.ends_with(&format!("{b2}/policies/policy")))
    });
    assert!(rewrite.is_some_and(|r| r["ifMatch"].as_str().is_some_and(|m| m != "*")), "{rewrite:?}");
    operator.stop().await;
}

#[tokio::test]
async fn the_sweep_finds_an_api_changed_behind_the_operators_back_and_puts_it_back() {
    let ns = TestNamespace::new("apim-sweep").await;
    implementation(&ns, "impl", &[], true).await;
    let standin = StandIn::start(&[]).await;
    // Two APIs a page: the sweep must follow nextLink to see the third.
    standin.page_cap(2).await;
    let operator = OperatorProcess::start(&with_base_url(standin.operator_env(ns.name())));
    for name in ["e1", "e2", "e3"] {
        create_exposed_api(ns.client(), ns.name(), name, &[], spec(&standin, &format!("/{name}"))).await;
    }
    for name in ["e1", "e2", "e3"] {
        wait_for_reason(ns.name(), name, "Exposed").await;
    }
    let before = standin.writes("/apis/").await;
    let e2 = api_id(ns.name(), "e2");
    // Someone points the API elsewhere in the portal: the list shows it, the operator puts it back.
    standin.edit_api(&e2, json!({"serviceUrl": "https://elsewhere.example/e2"})).await;
    wait_for(Duration::from_secs(60), || async {
        let url = standin.api(&e2).await?["properties"]["serviceUrl"].as_str()?.to_owned();
        (url == "https://mesh.internal/e2").then_some(())
    })
    .await;
    let written: Vec<String> = standin.writes("/apis/").await[before.len()..].to_vec();
    assert!(
        !written.is_empty() && written.iter().all(|w| w.contains(&e2)),
        "only the changed API is written: {written:?}"
    );
    let requests = standin.requests().await;
    let lists: Vec<&str> = requests
        .iter()
        .filter(|r| r["method"] == "GET" && r["path"].as_str().is_some_and(|p| p.ends_with("/apis")))
        .filter_map(|r| r["query"].as_str())
        .collect();
    assert!(lists.iter().any(|q| q.contains("$filter=") && q.contains("startswith")), "{lists:?}");
    assert!(lists.iter().any(|q| q.contains("$skip=2")), "the next page is followed: {lists:?}");
    operator.stop().await;
}

#[tokio::test]
async fn deletion_removes_the_apim_api_before_the_finalizer_even_when_apim_refuses_at_first() {
    let ns = TestNamespace::new("apim-delete").await;
    implementation(&ns, "impl", &[], true).await;
    let standin = StandIn::start(&[]).await;
    let operator = OperatorProcess::start(&with_base_url(standin.operator_env(ns.name())));
    create_exposed_api(ns.client(), ns.name(), "d1", &[], spec(&standin, "/d1")).await;
    wait_for_reason(ns.name(), "d1", "Exposed").await;
    let id = api_id(ns.name(), "d1");
    standin.fail_next(&format!("DELETE /subscriptions/{SUBSCRIPTION}"), 409, 2, None).await;
    exposed_apis(ns.name()).await.delete("d1", &DeleteParams::default()).await.unwrap();
    let blocked = wait_for(Duration::from_secs(60), || async {
        let obj = exposed_apis(ns.name()).await.get("d1").await.ok()?;
        condition(&obj, "DeletionBlocked")
    })
    .await;
    assert!(blocked.2.contains(&id), "{blocked:?}");
    assert!(standin.api(&id).await.is_some(), "the API stays until APIM deletes it");
    wait_for(Duration::from_secs(90), || async {
        exposed_apis(ns.name()).await.get_opt("d1").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(standin.api(&id).await.is_none());
    let requests = standin.requests().await;
    let deletes: Vec<&Value> = requests.iter().filter(|r| r["method"] == "DELETE").collect();
    assert_eq!(deletes.len(), 3, "two refused, one done");
    assert!(
        deletes
            .iter()
            .all(|d| d["ifMatch"] == "*" && d["query"].as_str().unwrap_or("").contains("deleteRevisions=true"))
    );
    operator.stop().await;
}

#[tokio::test]
async fn each_error_class_gets_its_answer() {
    let ns = TestNamespace::new("apim-faults").await;
    implementation(&ns, "impl", &[], true).await;
    let standin = StandIn::start(&[]).await;
    // Throttled (429 with Retry-After), unavailable (503), a server error, a stale ETag, the
    // connection dropped mid-answer (0): retried.
    for (name, status) in [("t429", 429), ("t503", 503), ("t500", 500), ("t412", 412), ("t000", 0)] {
        standin.fail_next(&format!("/apis/{}", api_id(ns.name(), name)), status, 1, Some(1)).await;
    }
    // Refused (400): a condition, and no hot loop.
    standin.fail_next(&format!("/apis/{}", api_id(ns.name(), "t400")), 400, 100, None).await;
    let operator = OperatorProcess::start(&with_base_url(standin.operator_env(ns.name())));
    for name in ["t429", "t503", "t500", "t412", "t000", "t400"] {
        create_exposed_api(ns.client(), ns.name(), name, &[], spec(&standin, &format!("/{name}"))).await;
    }
    for name in ["t429", "t503", "t500", "t412", "t000"] {
        wait_for_reason(ns.name(), name, "Exposed").await;
    }
    let refused = wait_for_synced_reason(ns.name(), "t400", "Rejected").await;
    assert_eq!(condition(&refused, "Ready").map(|c| c.1), Some("ApplyFailed".into()));
    // Counted from the refusal on: before it, a shared 429 wait may have requeued it once.
    let refused_id = api_id(ns.name(), "t400");
    let tries = || async {
        standin.requests().await.iter().filter(|r| r["path"].as_str().unwrap_or("").ends_with(&refused_id)).count()
    };
    let at_refusal = tries().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = tries().await - at_refusal;
    assert!(after <= 1, "a refusal is not retried in a loop ({after} requests after it)");

    // Expired tokens: one 401, a fresh token, and the call goes through.
    let tokens_before = standin.requests().await.iter().filter(|r| r["listener"] == "entra").count();
    standin.expire_tokens().await;
    patch_spec(ns.name(), "t429", json!({"CORS": {"enabled": true}})).await;
    let obj = wait_for(Duration::from_secs(60), || async {
        let obj = exposed_apis(ns.name()).await.get("t429").await.ok()?;
        (condition(&obj, "CORS")?.1 == "Applied").then_some(obj)
    })
    .await;
    assert_eq!(condition(&obj, "ApimSynced").map(|c| c.1), Some("Synced".into()));
    let tokens_after = standin.requests().await.iter().filter(|r| r["listener"] == "entra").count();
    assert!(tokens_after > tokens_before, "a fresh token was fetched");
    // No secret in the status.
    assert!(!serde_json::to_string(&obj).unwrap().contains("s3cret"));
    operator.stop().await;
}

#[tokio::test]
async fn key_vault_mode_finds_the_instance_and_upserts_the_openid_provider() {
    let ns = TestNamespace::new("apim-vault").await;
    implementation(&ns, "impl", &[], true).await;
    let secrets = [
        ("apim-service-name", SERVICE),
        ("resource-group", RESOURCE_GROUP),
        ("subscription-id", SUBSCRIPTION),
        ("aad-tenant-id", TENANT),
        ("aad-client-id", "portal-app"),
    ];
    let standin = StandIn::start(&secrets).await;
    let mut env: Vec<(String, String)> = with_base_url(standin.operator_env(ns.name()))
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "APIM_SUBSCRIPTION_ID" | "APIM_RESOURCE_GROUP" | "APIM_SERVICE_NAME"))
        .collect();
    env.extend([
        ("APIM_CONFIG_SOURCE".to_owned(), "keyvault".to_owned()),
        ("KEY_VAULT_URL".to_owned(), standin.vault.clone()),
        ("APIM_OIDC_PROVIDER_ID".to_owned(), "entra-id".to_owned()),
        ("APIM_GATEWAY_URL".to_owned(), "https://apim.example".to_owned()),
    ]);
    let operator = OperatorProcess::start(&env);
    create_exposed_api(ns.client(), ns.name(), "k1", &[], spec(&standin, "/k1")).await;
    let api = wait_for_reason(ns.name(), "k1", "Exposed").await;
    assert_eq!(api.data["status"]["apiStatus"]["url"], "https://apim.example/k1");
    let requests = standin.requests().await;
    let read: Vec<&str> =
        requests.iter().filter(|r| r["listener"] == "vault").filter_map(|r| r["path"].as_str()).collect();
    assert!(read.contains(&"/secrets/apim-service-name"), "{read:?}");
    let provider = requests
        .iter()
        .find(|r| {
            r["method"] == "PUT" && r["path"].as_str().unwrap_or("").ends_with("/openidConnectProviders/entra-id")
        })
        .expect("the OpenID Connect provider is upserted");
    let body: Value = serde_json::from_str(provider["body"].as_str().unwrap_or("{}")).unwrap();
    assert_eq!(body["properties"]["clientId"], "portal-app");
    assert_eq!(
        body["properties"]["metadataEndpoint"],
        format!("{}/{TENANT}/v2.0/.well-known/openid-configuration", standin.entra)
    );
    assert!(standin.api(&api_id(ns.name(), "k1")).await.is_some());
    operator.stop().await;
}

#[tokio::test]
async fn an_unreadable_document_is_a_condition_and_nothing_is_sent() {
    let ns = TestNamespace::new("apim-document").await;
    implementation(&ns, "impl", &[], true).await;
    let standin = StandIn::start(&[]).await;
    let operator = OperatorProcess::start(&with_base_url(standin.operator_env(ns.name())));
    let mut missing = spec(&standin, "/u1");
    let url = standin.document_url("missing.json");
    missing["specification"] = json!({"url": url});
    create_exposed_api(ns.client(), ns.name(), "u1", &[], missing).await;
    let api = wait_for_synced_reason(ns.name(), "u1", "DocumentUnusable").await;
    let message = condition(&api, "ApimSynced").map(|c| c.2).unwrap_or_default();
    assert!(message.contains(&url) && message.contains("404"), "{message}");
    assert!(standin.writes("/apis/").await.is_empty(), "nothing is sent");
    operator.stop().await;
}
