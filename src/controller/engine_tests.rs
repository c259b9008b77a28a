//! The policy-engine step on the fake API server, with a small engine that records what it is
//! told: its objects applied, a foreign one left alone, one no longer wanted removed, and the
//! verdict fed with what was observed.

use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use parking_lot::Mutex;
use serde_json::json;

use super::engine::engage;
use super::events::Journal;
use super::test_context::{Fixture, NS, Setup, exposed_api, owned, spec, valid};
use crate::backend::BuildError;
use crate::backend::policy_engine::{Observed, PolicyEngine, PolicyTarget, Verdict};
use crate::config::PolicyConfig;
use crate::core::api_keys::Plan;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedApiSpec;

const GUARDS: &str = "/apis/test.io/v1/namespaces/c1/guards";

fn kind(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("test.io", "v1", kind), plural)
}

/// What the verdict was told of each object: its name, whether it was there, and why it failed.
type Seen = Vec<(String, bool, Option<String>)>;

/// An engine of two kinds (`Guard`, `Limit`) that records what its verdict is given.
#[derive(Default)]
struct Recording(Mutex<Seen>);

impl PolicyEngine for Recording {
    fn name(&self) -> &'static str {
        "Test"
    }

    fn kinds(&self) -> Vec<ApiResource> {
        vec![kind("Guard", "guards"), kind("Limit", "limits")]
    }

    fn api_keys(&self, _: &ExposedApiSpec, _: &PolicyConfig) -> Option<Plan> {
        None
    }

    fn desired(&self, _: &ValidApi, _: &PolicyTarget<'_>, _: &PolicyConfig) -> Result<Vec<DynamicObject>, BuildError> {
        Ok(Vec::new())
    }

    fn verdict(
        &self,
        _: &ExposedApiSpec,
        _: &ValidApi,
        _: &PolicyTarget<'_>,
        _: &PolicyConfig,
        observed: &[Observed<'_>],
    ) -> Verdict {
        let seen = observed.iter().map(|o| {
            let name = o.desired.metadata.name.clone().unwrap_or_default();
            (name, o.current.is_some(), o.failure.map(|f| f.message().to_owned()))
        });
        self.0.lock().extend(seen);
        Verdict::default()
    }
}

fn fixture() -> Fixture {
    Setup { watched: Recording::default().kinds(), ..Setup::default() }.build()
}

/// A `kind` object named `a`, controlled by the test API.
fn object(kind: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "test.io/v1", "kind": kind,
        "metadata": {"name": "a", "namespace": NS, "ownerReferences": owned()}, "spec": {"on": true},
    }))
    .unwrap()
}

/// The step run with `desired`; what the verdict saw, and the failure returned.
async fn engage_with(fx: &Fixture, desired: &[DynamicObject]) -> (Seen, Option<String>) {
    let (api, engine) = (exposed_api("a", spec("/c1/x", json!({}))), Recording::default());
    let engaged = engage(&fx.ctx, &api, (&valid(&api), None), (&engine, desired), &Journal::default()).await.unwrap();
    let seen = std::mem::take(&mut *engine.0.lock());
    (seen, engaged.failure.map(|e| e.category().to_owned()))
}

#[tokio::test]
async fn the_engine_s_objects_are_applied_and_the_verdict_sees_them_written() {
    let fx = fixture();
    let (seen, failure) = engage_with(&fx, &[object("Guard")]).await;
    assert_eq!(fx.api.write_lines(), [format!("PATCH {GUARDS}/a")]);
    assert_eq!(fx.api.writes()[0].manager().as_deref(), Some("oda-api-operator"));
    assert_eq!(seen, [("a".to_owned(), true, None)]);
    assert_eq!(failure, None);
}

#[tokio::test]
async fn an_object_in_place_is_not_written_again() {
    let mut fx = fixture();
    fx.observe(&kind("Guard", "guards"), serde_json::to_value(object("Guard")).unwrap());
    let (seen, _) = engage_with(&fx, &[object("Guard")]).await;
    assert!(fx.api.writes().is_empty());
    assert_eq!(seen, [("a".to_owned(), true, None)]);
}

#[tokio::test]
async fn a_foreign_object_is_left_alone_and_the_verdict_is_told_why() {
    let mut fx = fixture();
    fx.observe(&kind("Guard", "guards"), json!({"metadata": {"name": "a", "namespace": NS}}));
    let (seen, failure) = engage_with(&fx, &[object("Guard")]).await;
    assert!(fx.api.writes().is_empty());
    let why = seen[0].2.as_deref().unwrap_or_default();
    assert!(seen[0].1 && why.contains("is not this ExposedAPI's"), "{seen:?}");
    assert_eq!(failure, None, "a foreign object is reported, not retried");
}

#[tokio::test]
async fn a_refused_write_is_returned_and_the_verdict_is_told() {
    let fx = fixture();
    fx.api.fail("PATCH", "/guards/", 403);
    let (seen, failure) = engage_with(&fx, &[object("Guard")]).await;
    assert_eq!(failure.as_deref(), Some("ApplyFailed"));
    assert!(!seen[0].1 && seen[0].2.is_some(), "{seen:?}");
}

#[tokio::test]
async fn an_object_of_a_kind_the_engine_does_not_declare_is_never_written() {
    let fx = fixture();
    let (seen, _) = engage_with(&fx, &[object("Stranger")]).await;
    assert!(fx.api.writes().is_empty());
    assert!(seen[0].2.as_deref().is_some_and(|why| why.contains("does not declare")));
}
