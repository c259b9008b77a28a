//! The operator's own recent writes, until their watch events arrive.
//!
//! A write's watch event comes back a little later than its response. A reconcile running in
//! between would read the cache from before the write, see a difference, and write again (and the
//! echo event would trigger yet another reconcile). So each write's result is kept here and read in
//! place of the stale cache entry, and its echo is recognised by its resourceVersion, dropped from
//! here, and does not trigger a reconcile.

use std::collections::HashMap;
use std::sync::Arc;

use kube::core::DynamicObject;
use kube::{Resource, ResourceExt};

use crate::exposed_api::{ExposedAPI, ExposedApiStatus};

type ObjectKey = (String, String, String);
type ApiKey = (String, String);

#[derive(Default, Debug)]
pub struct RecentWrites {
    objects: HashMap<ObjectKey, Arc<DynamicObject>>,
    statuses: HashMap<ApiKey, (String, ExposedApiStatus)>,
}

fn object_key(plural: &str, obj: &DynamicObject) -> ObjectKey {
    (plural.to_owned(), obj.namespace().unwrap_or_default(), obj.name_any())
}

impl RecentWrites {
    /// Our last write of a child, if its echo has not arrived yet.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Arc<DynamicObject>> {
        self.objects.get(&(plural.to_owned(), namespace.to_owned(), name.to_owned())).cloned()
    }

    /// Records the result of a write that was based on the version `before`. A write that changed
    /// nothing (same resourceVersion) sends no event, so there is nothing to wait for.
    pub fn wrote_object(&mut self, plural: &str, before: Option<&str>, written: DynamicObject) {
        let Some(after) = written.resource_version() else { return };
        if before != Some(after.as_str()) {
            self.objects.insert(object_key(plural, &written), Arc::new(written));
        }
    }

    /// A watch event for a child; true when it is the echo of our own last write. An event at or
    /// after our write (someone else's later change, e.g. a controller's status) also ends the
    /// overlay: the cache is current from then on, even if the echo came before we recorded it.
    pub fn seen_object(&mut self, plural: &str, obj: &DynamicObject, deleted: bool) -> bool {
        let key = object_key(plural, obj);
        let ours = self.objects.get(&key).and_then(|w| w.resource_version());
        let echo = !deleted && ours.is_some() && ours == obj.resource_version();
        if echo || deleted || not_older(obj.resource_version().as_deref(), ours.as_deref()) {
            self.objects.remove(&key);
        }
        echo
    }

    /// Our last status write of an API, if its echo has not arrived yet.
    pub fn status(&self, namespace: &str, name: &str) -> Option<&ExposedApiStatus> {
        self.statuses.get(&(namespace.to_owned(), name.to_owned())).map(|(_, s)| s)
    }

    /// Records a status write that took the API from version `before` to version `after`.
    pub fn wrote_status(&mut self, api: &ExposedAPI, after: Option<String>, status: ExposedApiStatus) {
        let key = (api.namespace().unwrap_or_default(), api.name_any());
        match after {
            Some(after) if Some(&after) != api.metadata.resource_version.as_ref() => {
                self.statuses.insert(key, (after, status));
            }
            _ => {}
        }
    }

    /// A watch event for an API; true when it is the echo of our own last status write.
    pub fn seen_api(&mut self, api: &impl Resource, deleted: bool) -> bool {
        let key = (api.namespace().unwrap_or_default(), api.name_any());
        let ours = self.statuses.get(&key).map(|(rv, _)| rv.as_str());
        let seen = api.meta().resource_version.as_deref();
        let echo = !deleted && ours.is_some() && ours == seen;
        if echo || deleted || not_older(seen, ours) {
            self.statuses.remove(&key);
        }
        echo
    }

    /// After a re-list the caches are fresh; echoes lost with the old watch never come.
    pub fn forget_objects(&mut self, plural: &str) {
        self.objects.retain(|(p, _, _), _| p != plural);
    }

    pub fn forget_statuses(&mut self) {
        self.statuses.clear();
    }
}

/// Whether version `seen` is not older than `ours`. Resource versions are etcd revisions on every
/// API server this runs against; when either is not a number, nothing is assumed.
fn not_older(seen: Option<&str>, ours: Option<&str>) -> bool {
    match (seen.and_then(|s| s.parse::<u64>().ok()), ours.and_then(|o| o.parse::<u64>().ok())) {
        (Some(seen), Some(ours)) => seen >= ours,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::{ApiResource, GroupVersionKind};

    fn vs(rv: &str) -> DynamicObject {
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"));
        let mut obj = DynamicObject::new("a", &ar).within("ns");
        obj.metadata.resource_version = Some(rv.into());
        obj
    }

    #[test]
    fn a_write_stands_in_for_the_cache_until_its_echo() {
        let mut recent = RecentWrites::default();
        recent.wrote_object("virtualservices", None, vs("5"));
        assert!(recent.object("virtualservices", "ns", "a").is_some());
        assert!(!recent.seen_object("virtualservices", &vs("4"), false), "an older event is not the echo");
        assert!(recent.object("virtualservices", "ns", "a").is_some());
        assert!(recent.seen_object("virtualservices", &vs("5"), false), "the echo");
        assert!(recent.object("virtualservices", "ns", "a").is_none());
    }

    #[test]
    fn a_later_change_by_someone_else_ends_the_overlay() {
        let mut recent = RecentWrites::default();
        // Our echo (5) came before the write was recorded; the next event (6) is someone else's.
        recent.wrote_object("httproutes", None, vs("5"));
        assert!(!recent.seen_object("httproutes", &vs("6"), false));
        assert!(recent.object("httproutes", "ns", "a").is_none(), "the cache is current again");
    }

    #[test]
    fn no_op_writes_and_deletions_leave_nothing_behind() {
        let mut recent = RecentWrites::default();
        recent.wrote_object("virtualservices", Some("5"), vs("5"));
        assert!(recent.object("virtualservices", "ns", "a").is_none());
        recent.wrote_object("virtualservices", Some("5"), vs("6"));
        assert!(!recent.seen_object("virtualservices", &vs("7"), true));
        assert!(recent.object("virtualservices", "ns", "a").is_none());
        recent.wrote_object("virtualservices", None, vs("8"));
        recent.forget_objects("virtualservices");
        assert!(recent.object("virtualservices", "ns", "a").is_none());
    }

    #[test]
    fn status_writes_are_matched_by_resource_version() {
        let mut recent = RecentWrites::default();
        let mut api = ExposedAPI::new("a", Default::default());
        api.metadata.namespace = Some("ns".into());
        api.metadata.resource_version = Some("10".into());
        recent.wrote_status(&api, Some("11".into()), ExposedApiStatus::default());
        assert!(recent.status("ns", "a").is_some());
        assert!(!recent.seen_api(&api, false));
        api.metadata.resource_version = Some("11".into());
        assert!(recent.seen_api(&api, false));
        assert!(recent.status("ns", "a").is_none());
    }
}
