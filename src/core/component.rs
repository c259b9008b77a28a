//! Propagation of an API's URL and readiness into its parent Component's status (reference
//! §2.9–§2.11), as a minimal JSON patch.
//!
//! The reference merge-patched the whole Component (with its resourceVersion, so it raced the
//! Component operator) and only ever set `ready: true`. Here each changed field of each entry whose
//! `uid` is the ExposedAPI's uid is replaced, guarded by a `test` of that entry's uid, so a
//! concurrent reordering of the array makes the patch fail instead of writing the wrong entry.

use serde_json::{Value, json};

/// The Component status arrays holding API entries, in the reference's search order.
pub const SEGMENTS: [&str; 3] = ["coreAPIs", "managementAPIs", "securityAPIs"];

/// `oda.tmforum.org/v1` `Component`.
pub fn component_resource() -> kube::core::ApiResource {
    kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("oda.tmforum.org", "v1", "Component"),
        "components",
    )
}

/// What the API publishes to its Component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published<'a> {
    pub api_uid: &'a str,
    pub url: Option<&'a str>,
    pub developer_ui: Option<&'a str>,
    pub ready: bool,
}

/// JSON-patch operations bringing the Component's entries for this API up to date; empty when
/// nothing changes (no write) or when the Component has no entry for the API yet.
pub fn propagation_patch(component: &Value, published: &Published<'_>) -> Vec<Value> {
    let mut ops = Vec::new();
    for segment in SEGMENTS {
        let Some(entries) = component.pointer(&format!("/status/{segment}")).and_then(Value::as_array) else {
            continue;
        };
        for (index, entry) in entries.iter().enumerate() {
            if entry.get("uid").and_then(Value::as_str) != Some(published.api_uid) {
                continue;
            }
            let base = format!("/status/{segment}/{index}");
            let mut changes = Vec::new();
            // Never remove a URL the Component already shows (the reference never did either).
            if let Some(url) = published.url {
                set_if_changed(&mut changes, entry, &base, "url", json!(url));
            }
            if let Some(ui) = published.developer_ui {
                set_if_changed(&mut changes, entry, &base, "developerUI", json!(ui));
            }
            set_if_changed(&mut changes, entry, &base, "ready", json!(published.ready));
            if !changes.is_empty() {
                ops.push(json!({"op": "test", "path": format!("{base}/uid"), "value": published.api_uid}));
                ops.extend(changes);
            }
        }
    }
    ops
}

fn set_if_changed(ops: &mut Vec<Value>, entry: &Value, base: &str, field: &str, value: Value) {
    if entry.get(field) != Some(&value) {
        // `add` replaces an existing member and creates a missing one.
        ops.push(json!({"op": "add", "path": format!("{base}/{field}"), "value": value}));
    }
}

/// Names of the ExposedAPIs a Component lists in its status, to reconcile them when it changes.
pub fn listed_api_names(component: &Value) -> Vec<String> {
    SEGMENTS
        .iter()
        .filter_map(|segment| component.pointer(&format!("/status/{segment}")).and_then(Value::as_array))
        .flatten()
        .filter_map(|entry| entry.get("name").and_then(Value::as_str).map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference fixture COMPONENT.json, reduced to what propagation reads.
    fn component() -> Value {
        json!({
            "apiVersion": "oda.tmforum.org/v1",
            "kind": "Component",
            "metadata": {"name": "prodcat-productcatalogmanagement", "namespace": "components"},
            "status": {
                "coreAPIs": [{
                    "developerUI": "https://components.ihc-dt.cluster-2.de/prodcat/docs",
                    "name": "prodcat-productcatalogmanagement-productcatalogmanagement",
                    "ready": false,
                    "uid": "abb81734-1a7a-489a-9332-7ea8ff23c395",
                    "url": "https://components.ihc-dt.cluster-2.de/prodcat/v4"
                }],
                "managementAPIs": [{
                    "name": "prodcat-productcatalogmanagement-metrics",
                    "ready": false,
                    "uid": "db3cc8c4-4db6-4a0a-9b44-ff4c4315535b",
                    "url": "https://components.ihc-dt.cluster-2.de/prodcat-productcatalogmanagement/metrics"
                }],
                "securityAPIs": [{
                    "name": "prodcat-productcatalogmanagement-partyrole",
                    "ready": false,
                    "uid": "a341b455-fdd4-4bc6-850a-bbad03b78444"
                }]
            }
        })
    }

    fn apply(mut doc: Value, ops: &[Value]) -> Value {
        for op in ops {
            let path = op["path"].as_str().unwrap();
            match op["op"].as_str().unwrap() {
                "test" => assert_eq!(doc.pointer(path), Some(&op["value"])),
                "add" => {
                    let (parent, field) = path.rsplit_once('/').unwrap();
                    doc.pointer_mut(parent).unwrap()[field] = op["value"].clone();
                }
                other => panic!("unexpected op {other}"),
            }
        }
        doc
    }

    #[test]
    fn golden_g21_url_and_developer_ui_reach_the_core_entry() {
        let published = Published {
            api_uid: "abb81734-1a7a-489a-9332-7ea8ff23c395",
            url: Some("https://NEW/url"),
            developer_ui: Some("https://NEW/docs"),
            ready: false,
        };
        let patched = apply(component(), &propagation_patch(&component(), &published));
        assert_eq!(
            patched["status"]["coreAPIs"][0],
            json!({
                "developerUI": "https://NEW/docs",
                "name": "prodcat-productcatalogmanagement-productcatalogmanagement",
                "ready": false,
                "uid": "abb81734-1a7a-489a-9332-7ea8ff23c395",
                "url": "https://NEW/url"
            })
        );
        assert_eq!(patched["status"]["managementAPIs"], component()["status"]["managementAPIs"]);
    }

    #[test]
    fn golden_g22_readiness_reaches_the_management_entry() {
        let published = Published {
            api_uid: "db3cc8c4-4db6-4a0a-9b44-ff4c4315535b",
            url: Some("https://components.ihc-dt.cluster-2.de/prodcat-productcatalogmanagement/metrics"),
            developer_ui: None,
            ready: true,
        };
        let ops = propagation_patch(&component(), &published);
        assert_eq!(ops.len(), 2, "a uid test and the ready flag only: {ops:?}");
        let patched = apply(component(), &ops);
        assert_eq!(patched["status"]["managementAPIs"][0]["ready"], json!(true));
        assert_eq!(patched["status"]["coreAPIs"], component()["status"]["coreAPIs"]);
    }

    #[test]
    fn nothing_to_write_when_up_to_date_or_absent() {
        let up_to_date = Published {
            api_uid: "db3cc8c4-4db6-4a0a-9b44-ff4c4315535b",
            url: Some("https://components.ihc-dt.cluster-2.de/prodcat-productcatalogmanagement/metrics"),
            developer_ui: None,
            ready: false,
        };
        assert!(propagation_patch(&component(), &up_to_date).is_empty());
        let unknown = Published { api_uid: "nope", ..up_to_date.clone() };
        assert!(propagation_patch(&component(), &unknown).is_empty());
        assert!(propagation_patch(&json!({"metadata": {}}), &up_to_date).is_empty(), "G23 without a crash");
    }

    #[test]
    fn readiness_goes_back_to_false() {
        let mut c = component();
        c["status"]["securityAPIs"][0]["ready"] = json!(true);
        let published =
            Published { api_uid: "a341b455-fdd4-4bc6-850a-bbad03b78444", url: None, developer_ui: None, ready: false };
        let patched = apply(c.clone(), &propagation_patch(&c, &published));
        assert_eq!(patched["status"]["securityAPIs"][0]["ready"], json!(false));
        assert!(patched["status"]["securityAPIs"][0].get("url").is_none());
    }

    #[test]
    fn lists_entry_names() {
        assert_eq!(listed_api_names(&component()).len(), 3);
    }
}
