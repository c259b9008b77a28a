//! The driver on the fake API server: the steps folded, the status written once and only when it
//! changed, the first failure returned after it, the requeue of `core::decision`; and an external
//! system (a fake `ExternalSystem`) synced after the route and released first on deletion.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use kube::runtime::controller::Action;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::context::Context;
use super::error::ReconcileError;
use super::events::Journal;
use super::external::{ExternalSystem, Synced};
use super::pipeline::{error_policy, reconcile};
use super::test_context::{FakeApi, Fixture, NS, Setup, exposed_api, fixture, owned, spec};
use crate::azure::AzureError;
use crate::backend::istio::virtual_service_resource;
use crate::config::VirtualServiceVersion;
use crate::core::decision::{BLOCKED_RECHECK, RESYNC};
use crate::core::status::{ConditionSpec, ReadyReason};
use crate::core::url::PublishedUrl;
use crate::core::validation::ValidApi;
use crate::exposed_api::{ApimStatus, ExposedAPI, ExposedApiSpec, ExposedApiStatus};

const VS: &str = "/apis/networking.istio.io/v1alpha3/namespaces/c1/virtualservices/a";
const API: &str = "/apis/oda.tmforum.org/v1/namespaces/c1/exposedapis/a";

/// The test API with these spec fields, stored on the fake server (its status is written there).
fn stored(fx: &Fixture, extra: Value) -> Arc<ExposedAPI> {
    let api = exposed_api("a", spec("/c1/x", extra));
    fx.store_api(&api);
    Arc::new(api)
}

/// The `Ready` reason of the last status written.
fn ready(fx: &Fixture) -> String {
    let status = fx.api.writes().into_iter().rev().find(|w| w.path.ends_with("/status")).expect("a status write");
    let conditions = status.body["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let ready = conditions.iter().find(|c| c["type"] == "Ready").expect("a Ready condition");
    ready["reason"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_new_api_gets_its_route_then_one_status_write_and_is_looked_at_again_hourly() {
    let fx = fixture();
    let action = reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    assert_eq!(fx.api.write_lines(), [format!("PATCH {VS}"), format!("PATCH {API}/status")]);
    assert_eq!(fx.api.writes()[1].manager().as_deref(), Some("oda-api-operator"));
    assert_eq!(fx.api.writes()[1].body["metadata"]["uid"], "api-uid", "the write is guarded by the uid");
}

#[tokio::test]
async fn a_second_reconcile_of_a_converged_api_writes_nothing() {
    let fx = fixture();
    reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap();
    let before = fx.api.writes().len();
    reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap();
    assert_eq!(fx.api.writes().len(), before, "{:?}", fx.api.write_lines());
}

#[tokio::test]
async fn an_invalid_spec_is_reported_and_waits_for_a_change() {
    let fx = fixture();
    let invalid = exposed_api("a", json!({"apiType": "openapi"}));
    fx.store_api(&invalid);
    let invalid = Arc::new(invalid);
    assert_eq!(reconcile(invalid, fx.ctx.clone()).await.unwrap(), Action::await_change());
    assert_eq!(fx.api.write_lines(), [format!("PATCH {API}/status")]);
    assert_eq!(ready(&fx), "InvalidSpec");
}

#[tokio::test]
async fn a_failed_step_is_returned_after_the_status_that_reports_it_is_written() {
    let fx = fixture();
    fx.api.fail("PATCH", "/virtualservices/", 403);
    let error = reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap_err();
    assert_eq!(error.category(), "ApplyFailed");
    assert_eq!(fx.api.write_lines(), [format!("PATCH {VS}"), format!("PATCH {API}/status")]);
    assert_eq!(ready(&fx), "ApplyFailed");
}

#[tokio::test]
async fn a_failed_status_write_is_the_error() {
    let fx = fixture();
    fx.api.fail("PATCH", "/status", 500);
    let error = reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap_err();
    assert_eq!(error.category(), "StatusWriteFailed");
}

#[tokio::test]
async fn a_route_that_is_not_the_api_s_blocks_it_and_is_rechecked_in_minutes() {
    let mut fx = fixture();
    let vs = virtual_service_resource(VirtualServiceVersion::V1alpha3);
    fx.observe(&vs, json!({"metadata": {"name": "a", "namespace": NS}}));
    assert_eq!(reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap(), Action::requeue(BLOCKED_RECHECK));
    assert_eq!(fx.api.write_lines(), [format!("PATCH {API}/status")]);
    assert_eq!(ready(&fx), "NotOwned");
}

#[tokio::test]
async fn fail_closed_withholds_the_route_of_a_token_that_cannot_be_required() {
    let mut fx = fixture();
    let vs = virtual_service_resource(VirtualServiceVersion::V1alpha3);
    fx.observe(&vs, json!({"metadata": {"name": "a", "namespace": NS, "ownerReferences": owned()}}));
    reconcile(stored(&fx, json!({"apiKeyVerification": {"enabled": true}})), fx.ctx.clone()).await.unwrap();
    assert_eq!(fx.api.write_lines(), [format!("DELETE {VS}"), format!("PATCH {API}/status")]);
    assert_eq!(ready(&fx), "SecurityPolicyNotEnforceable");
}

#[tokio::test]
async fn a_finalizer_no_longer_needed_is_removed_after_the_status() {
    let fx = fixture();
    let mut held = exposed_api("a", spec("/c1/x", json!({})));
    held.metadata.finalizers = Some(vec!["oda.tmforum.org/exposedapi-cleanup".into()]);
    fx.store_api(&held);
    reconcile(Arc::new(held), fx.ctx.clone()).await.unwrap();
    assert_eq!(fx.api.write_lines(), [format!("PATCH {VS}"), format!("PATCH {API}/status"), format!("PATCH {API}")]);
    assert_eq!(fx.stored_api("a")["metadata"]["finalizers"], json!([]));
}

/// An external system that logs what it is asked, with the number of writes made before.
struct System {
    server: FakeApi,
    log: Mutex<Vec<String>>,
    blocked: Option<(ReadyReason, String)>,
    fails: bool,
}

fn failure() -> ReconcileError {
    ReconcileError::Cleanup(kube::Error::Api(kube::core::Status::failure("down", "Unavailable").with_code(503).boxed()))
}

impl ExternalSystem for System {
    fn sync<'a>(
        &'a self,
        _: &'a Context,
        _: &'a ExposedAPI,
        valid: &'a ValidApi,
        _: Option<&'a ExposedApiStatus>,
        _: &'a Journal,
    ) -> BoxFuture<'a, Synced> {
        self.log.lock().push(format!("sync {} after {} writes", valid.name, self.server.writes().len()));
        let condition = ConditionSpec { type_: "External", status: true, reason: "Synced", message: "in sync".into() };
        let url = PublishedUrl { url: "https://ext.example/c1/x".into(), developer_ui: None, ip: None };
        Box::pin(futures::future::ready(Synced {
            condition,
            record: Some(ApimStatus { api_id: "ext-a".into(), ..Default::default() }),
            blocked: self.blocked.clone(),
            url: Some(url),
            policy_failure: None,
            failure: self.fails.then(failure),
            requeue: Duration::from_secs(600),
        }))
    }

    fn release<'a>(&'a self, _: &'a Context, _: &'a ExposedAPI) -> BoxFuture<'a, Result<(), ReconcileError>> {
        self.log.lock().push(format!("release after {} writes", self.server.writes().len()));
        Box::pin(futures::future::ready(if self.fails { Err(failure()) } else { Ok(()) }))
    }

    fn policy_conditions(&self, _: &ExposedApiSpec, _: &Synced) -> Vec<ConditionSpec> {
        Vec::new()
    }
}

fn with_system(blocked: Option<(ReadyReason, String)>, fails: bool) -> (Fixture, Arc<System>) {
    let server = FakeApi::default();
    let system = Arc::new(System { server: server.clone(), log: Mutex::default(), blocked, fails });
    let external: Arc<dyn ExternalSystem> = system.clone();
    (Setup { external: Some(external), server, ..Setup::default() }.build(), system)
}

#[tokio::test]
async fn the_external_system_is_synced_after_the_route_and_its_say_folded_into_the_status() {
    let (fx, system) = with_system(None, false);
    let action = reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(600)), "the system's own cadence");
    assert_eq!(*system.log.lock(), ["sync a after 1 writes"]);
    let status = &fx.api.writes()[1].body["status"];
    assert_eq!(status["apim"]["apiId"], "ext-a");
    assert_eq!(status["apiStatus"]["url"], "https://ext.example/c1/x");
    assert!(status["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "External"));
}

#[tokio::test]
async fn the_external_system_s_failure_is_returned_after_the_status_is_written() {
    let (fx, _) = with_system(None, true);
    let error = reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap_err();
    assert_eq!(error.category(), "CleanupFailed");
    assert_eq!(fx.api.write_lines(), [format!("PATCH {VS}"), format!("PATCH {API}/status")]);
}

#[tokio::test]
async fn the_external_system_s_refusal_is_the_ready_reason() {
    let (fx, _) = with_system(Some((ReadyReason::NotOwned, "not ours".into())), false);
    reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap();
    assert_eq!(ready(&fx), "NotOwned");
}

#[tokio::test]
async fn the_external_system_is_not_asked_while_the_route_is_blocked() {
    let (mut fx, system) = with_system(None, false);
    let vs = virtual_service_resource(VirtualServiceVersion::V1alpha3);
    fx.observe(&vs, json!({"metadata": {"name": "a", "namespace": NS}}));
    reconcile(stored(&fx, json!({})), fx.ctx.clone()).await.unwrap();
    assert!(system.log.lock().is_empty());
}

/// An API being deleted, holding the finalizer, stored on the fake server.
fn deleted(fx: &Fixture) -> Arc<ExposedAPI> {
    let mut api = exposed_api("a", spec("/c1/x", json!({"rateLimit": {"enabled": true, "limit": "5"}})));
    api.metadata.finalizers = Some(vec!["oda.tmforum.org/exposedapi-cleanup".into()]);
    api.metadata.deletion_timestamp = serde_json::from_value(json!("2026-01-01T00:00:00Z")).unwrap();
    fx.store_api(&api);
    Arc::new(api)
}

#[tokio::test]
async fn on_deletion_the_external_system_is_released_first_then_the_objects_then_the_finalizer() {
    let (mut fx, system) = with_system(None, false);
    let filter = json!({"metadata": {"name": "oda-rl.c1.a", "namespace": "istio-ingress", "labels": {
        "app.kubernetes.io/managed-by": "oda-api-operator", "oda.tmforum.org/gateway-policy": "rate-limit",
        "oda.tmforum.org/exposedapi-uid": "api-uid", "oda.tmforum.org/exposedapi-namespace": NS}}});
    fx.observe(&crate::backend::gateway_policy::envoy_filter_resource(), filter);
    let api = deleted(&fx);
    assert_eq!(reconcile(api, fx.ctx.clone()).await.unwrap(), Action::await_change());
    assert_eq!(*system.log.lock(), ["release after 0 writes"]);
    let filter = "/apis/networking.istio.io/v1alpha3/namespaces/istio-ingress/envoyfilters/oda-rl.c1.a";
    assert_eq!(fx.api.write_lines(), [format!("DELETE {filter}"), format!("PATCH {API}")]);
    assert_eq!(fx.stored_api("a")["metadata"]["finalizers"], json!([]));
}

#[tokio::test]
async fn a_failed_release_keeps_the_finalizer() {
    let (fx, _) = with_system(None, true);
    let error = reconcile(deleted(&fx), fx.ctx.clone()).await.unwrap_err();
    assert_eq!(error.category(), "CleanupFailed");
    assert!(fx.api.writes().is_empty());
}

#[tokio::test]
async fn backoff_doubles_per_failure_but_throttling_neither_counts_nor_waits_longer_than_asked() {
    let fx = fixture();
    let api = Arc::new(exposed_api("a", spec("/c1/x", json!({}))));
    let throttled = || ReconcileError::Azure(AzureError::RetryAfter(Duration::from_secs(2), 429));
    let transient = || ReconcileError::Azure(AzureError::Transient("503".into()));
    for _ in 0..5 {
        assert_eq!(error_policy(api.clone(), &throttled(), fx.ctx.clone()), Action::requeue(Duration::from_secs(2)));
    }
    // Five throttled tries before it: the first transient failure still waits the first step.
    assert_eq!(error_policy(api.clone(), &transient(), fx.ctx.clone()), Action::requeue(Duration::from_secs(5)));
    assert_eq!(error_policy(api.clone(), &transient(), fx.ctx.clone()), Action::requeue(Duration::from_secs(10)));
    assert_eq!(error_policy(api.clone(), &throttled(), fx.ctx.clone()), Action::requeue(Duration::from_secs(2)));
    assert_eq!(error_policy(api, &transient(), fx.ctx.clone()), Action::requeue(Duration::from_secs(20)));
}
