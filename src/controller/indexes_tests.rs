use super::*;
use crate::exposed_api::{ExposedAPI, ExposedApiSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};

fn slice(ns: &str, name: &str, service: &str, ready: bool) -> EndpointSlice {
    let mut s = EndpointSlice {
        endpoints: Some(vec![Endpoint {
            addresses: vec!["10.0.0.1".into()],
            conditions: Some(EndpointConditions { ready: Some(ready), ..Default::default() }),
            ..Default::default()
        }]),
        ..Default::default()
    };
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(ns.into());
    s.metadata.labels = Some([("kubernetes.io/service-name".to_owned(), service.to_owned())].into());
    s
}

fn api(ns: &str, name: &str, implementation: &str) -> CachedApi {
    let mut a =
        ExposedAPI::new(name, ExposedApiSpec { implementation: Some(implementation.into()), ..Default::default() });
    a.metadata.namespace = Some(ns.into());
    CachedApi::new(a).unwrap()
}

#[test]
fn readiness_follows_every_slice_both_ways() {
    let mut index = ReadinessIndex::default();
    index.apply(&slice("ns", "a-1", "a", false));
    assert!(!index.ready("ns", "a"));
    index.apply(&slice("ns", "a-2", "a", true));
    assert!(index.ready("ns", "a"));
    assert!(!index.ready("other", "a"));
    index.apply(&slice("ns", "a-2", "a", false));
    assert!(!index.ready("ns", "a"));
    index.apply(&slice("ns", "a-1", "a", true));
    index.delete(&slice("ns", "a-1", "a", true));
    assert!(!index.ready("ns", "a"));
}

#[test]
fn relist_replaces_the_live_index_when_done() {
    let mut index: Relisting<ReadinessIndex> = Relisting::default();
    index.handle(&Event::Apply(slice("ns", "a-1", "a", true)));
    index.handle(&Event::<EndpointSlice>::Init);
    assert!(index.get().ready("ns", "a"), "stale but complete until the re-list is done");
    index.handle(&Event::InitApply(slice("ns", "b-1", "b", true)));
    index.handle(&Event::<EndpointSlice>::InitDone);
    assert!(!index.get().ready("ns", "a"), "a slice deleted while disconnected is gone");
    assert!(index.get().ready("ns", "b"));
}

#[test]
fn implementation_index_follows_spec_changes() {
    let mut index = ImplementationIndex::default();
    index.apply(&api("ns", "x", "svc-a"));
    index.apply(&api("ns", "y", "svc-a"));
    assert_eq!(index.apis_of("ns", "svc-a"), ["x", "y"]);
    index.apply(&api("ns", "x", "svc-b"));
    assert_eq!(index.apis_of("ns", "svc-a"), ["y"]);
    assert_eq!(index.apis_of("ns", "svc-b"), ["x"]);
    index.delete(&api("ns", "y", "svc-a"));
    assert!(index.apis_of("ns", "svc-a").is_empty());
}
