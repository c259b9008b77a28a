//! The drift sweep's decisions, pure: what a page of `GET …/apis` shows of the operator's APIs
//! against what each ExposedAPI's status recorded, which recorded APIs the whole list lacks, the
//! `$filter` that lists only the operator's ids, and which policies are due for an ETag check in a
//! window (each API at a fixed slot of the period, so the checks are spread evenly). The list
//! carries no ETag per API (`ApiCollection` items are `ApiContract`s), so an API is compared by a
//! digest of the properties the operator owns, as APIM shows them.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

/// The properties of an API that a change in the portal shows up in and that the operator writes
/// or depends on (a revision made current moves `apiRevision`/`isCurrent`).
const OWNED: &[&str] = &[
    "displayName",
    "description",
    "path",
    "serviceUrl",
    "protocols",
    "subscriptionRequired",
    "subscriptionKeyParameterNames",
    "apiRevision",
    "isCurrent",
    "apiVersion",
    "apiVersionSetId",
    "type",
];

/// sha256 (hex) of the owned properties of an API as APIM shows it (`properties` of a `GET` or of
/// a list item); an absent property counts as `null`, objects with their keys sorted.
pub fn listed_digest(properties: &Value) -> String {
    let owned: Vec<String> = OWNED.iter().map(|key| canonical(properties.get(*key).unwrap_or(&Value::Null))).collect();
    let parts: Vec<&str> = owned.iter().map(String::as_str).collect();
    super::fingerprint(&parts)
}

/// JSON text with object keys sorted at every level, whatever order the server used.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, String> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let fields: Vec<String> =
                sorted.iter().map(|(k, v)| format!("{}:{v}", Value::String((*k).clone()))).collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// What a page shows of one recorded API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    /// Its owned properties differ from the record (changed in the portal, or by another writer).
    Changed { seen: String },
    /// The record holds no digest (a status written before the sweep existed): read it once.
    Unrecorded { seen: String },
}

/// The API id of a list item: its `name`, else the last segment of its `id`.
pub fn item_id(item: &Value) -> Option<&str> {
    let name = item.get("name").and_then(Value::as_str).filter(|n| !n.is_empty());
    name.or_else(|| item.get("id").and_then(Value::as_str).and_then(|id| id.rsplit('/').next()))
}

/// The recorded APIs (id → recorded digest) that a page shows drifted, with what it showed; and
/// every id the page held.
pub fn page_drift(
    items: &[Value],
    recorded: &BTreeMap<String, Option<String>>,
) -> (Vec<(String, Drift)>, HashSet<String>) {
    let mut drifted = Vec::new();
    let mut seen_ids = HashSet::new();
    for item in items {
        let Some(id) = item_id(item) else { continue };
        seen_ids.insert(id.to_owned());
        let Some(digest) = recorded.get(id) else { continue };
        let seen = listed_digest(item.get("properties").unwrap_or(&Value::Null));
        match digest {
            Some(digest) if *digest == seen => {}
            Some(_) => drifted.push((id.to_owned(), Drift::Changed { seen })),
            None => drifted.push((id.to_owned(), Drift::Unrecorded { seen })),
        }
    }
    (drifted, seen_ids)
}

/// The recorded ids that no page of a complete listing held: deleted behind the operator's back.
pub fn missing<'a>(recorded: impl IntoIterator<Item = &'a String>, seen: &HashSet<String>) -> Vec<String> {
    recorded.into_iter().filter(|id| !seen.contains(*id)).cloned().collect()
}

/// `startswith(name,'<prefix>')` when every recorded id starts with the prefix (the usual case),
/// so the list holds only the operator's APIs; else no filter (ids of an older prefix must show).
pub fn list_filter<'a>(prefix: &str, mut ids: impl Iterator<Item = &'a String>) -> Option<String> {
    let usable = !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (usable && ids.all(|id| id.starts_with(prefix))).then(|| format!("startswith(name,'{prefix}')"))
}

/// Whether the policy of `api_id` is due in the window `(from, to]` (seconds since the epoch):
/// each API has a fixed slot in `period` (a hash of its id), so in any window of length `w` about
/// `N·w/period` policies are checked, and each once per period.
pub fn policy_due(api_id: &str, (from, to): (u64, u64), period: u64) -> bool {
    let period = period.max(1);
    if to <= from {
        return false;
    }
    if to - from >= period {
        return true;
    }
    let slot = u64::from_str_radix(&super::short_hash(api_id), 16).unwrap_or(0) % period;
    let (a, b) = (from % period, to % period);
    if a < b { a < slot && slot <= b } else { slot > a || slot <= b }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(id: &str, path: &str) -> Value {
        json!({"id": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.ApiManagement/service/n/apis/{id}"),
            "type": "Microsoft.ApiManagement/service/apis", "name": id,
            "properties": {"displayName": id, "path": path, "serviceUrl": "https://mesh/x", "protocols": ["https"],
                "subscriptionRequired": false, "isCurrent": true, "apiRevision": "1"}})
    }

    fn digest_of(item: &Value) -> String {
        listed_digest(&item["properties"])
    }

    #[test]
    fn a_page_shows_which_recorded_apis_drifted() {
        let (a, b, c) = (item("oda-ns-a", "a"), item("oda-ns-b", "b"), item("oda-ns-c", "c"));
        let recorded = BTreeMap::from([
            ("oda-ns-a".to_owned(), Some(digest_of(&a))),
            ("oda-ns-b".to_owned(), Some(digest_of(&b))),
            ("oda-ns-c".to_owned(), None),
            ("oda-ns-gone".to_owned(), Some("x".to_owned())),
        ]);
        let mut edited = b.clone();
        edited["properties"]["serviceUrl"] = json!("https://elsewhere/b");
        let foreign = item("someone-else", "s");
        let (drifted, seen) = page_drift(&[a.clone(), edited.clone(), c.clone(), foreign], &recorded);
        assert_eq!(
            drifted,
            [
                ("oda-ns-b".to_owned(), Drift::Changed { seen: digest_of(&edited) }),
                ("oda-ns-c".to_owned(), Drift::Unrecorded { seen: digest_of(&c) }),
            ]
        );
        assert_eq!(missing(recorded.keys(), &seen), ["oda-ns-gone"]);
    }

    #[test]
    fn only_owned_properties_count_and_key_order_does_not() {
        let a = item("oda-ns-a", "a");
        let mut noisy = a.clone();
        noisy["properties"]["provisioningState"] = json!("Succeeded");
        assert_eq!(digest_of(&a), digest_of(&noisy));
        let keys = |header: &str, query: &str| {
            let mut with = a.clone();
            with["properties"]["subscriptionKeyParameterNames"] = json!({"header": header, "query": query});
            with
        };
        let reordered: Value = serde_json::from_str(
            &serde_json::to_string(&keys("K", "q"))
                .unwrap()
                .replace(r#"{"header":"K","query":"q"}"#, r#"{"query":"q","header":"K"}"#),
        )
        .unwrap();
        assert_eq!(digest_of(&keys("K", "q")), digest_of(&reordered));
        for (key, value) in [
            ("path", json!("moved")),
            ("displayName", json!("renamed")),
            ("protocols", json!(["http", "https"])),
            ("subscriptionRequired", json!(true)),
            ("isCurrent", json!(false)),
            ("apiRevision", json!("2")),
        ] {
            let mut changed = a.clone();
            changed["properties"][key] = value;
            assert_ne!(digest_of(&a), digest_of(&changed), "{key}");
        }
        // An item without `name` is known by its resource id.
        let mut unnamed = a.clone();
        unnamed.as_object_mut().unwrap().remove("name");
        assert_eq!(item_id(&unnamed), Some("oda-ns-a"));
    }

    #[test]
    fn the_filter_names_the_prefix_only_when_every_id_has_it() {
        let ids = ["oda-a".to_owned(), "oda-b".to_owned()];
        assert_eq!(list_filter("oda-", ids.iter()), Some("startswith(name,'oda-')".into()));
        let old = ["oda-a".to_owned(), "old-b".to_owned()];
        assert_eq!(list_filter("oda-", old.iter()), None);
        assert_eq!(list_filter("", ids.iter()), None);
        assert_eq!(list_filter("o'da", ids.iter()), None, "nothing that would need quoting");
    }

    #[test]
    fn each_policy_is_due_once_per_period_and_windows_spread_them() {
        let period = 1000;
        let ids: Vec<String> = (0..2000).map(|i| format!("oda-ns-api-{i}")).collect();
        // Consecutive windows cover the period once: every policy is due exactly once.
        let windows: Vec<(u64, u64)> = (0..10).map(|i| (5_000 + i * 100, 5_000 + (i + 1) * 100)).collect();
        for id in &ids {
            let due = windows.iter().filter(|w| policy_due(id, **w, period)).count();
            assert_eq!(due, 1, "{id}");
        }
        // Spread: a tenth of the period holds about a tenth of them.
        let first = ids.iter().filter(|id| policy_due(id, windows[0], period)).count();
        assert!((100..=300).contains(&first), "{first} of 2000 in a tenth of the period");
        assert!(ids.iter().all(|id| policy_due(id, (0, 5_000), period)), "a window as long as the period holds all");
        assert!(!policy_due(&ids[0], (7, 7), period));
        // A window across the period's end.
        let wrapped = ids.iter().filter(|id| policy_due(id, (950, 1050), period)).count();
        assert!((100..=300).contains(&wrapped), "{wrapped}");
    }
}
