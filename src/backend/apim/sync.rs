//! What to send to APIM for one API, from what was sent last (recorded in the ExposedAPI's status)
//! and what APIM shows now: nothing when the fingerprints and the ETag are unchanged; only the PUT
//! whose content changed; both when the API drifted or was deleted behind our back; nothing, and a
//! condition, when an API of that id exists that this ExposedAPI did not create (design:
//! azure-apim §5.3, §5.6).

use super::ApimDesired;

/// What was sent last, as the status records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApimRecord {
    pub api_id: String,
    /// The API's ETag after the last write (read back with HEAD).
    pub etag: String,
    pub fingerprint: String,
    pub policy_fingerprint: String,
    /// The policy's ETag after the last write (`None` in a status written before it was kept).
    pub policy_etag: Option<String>,
    /// The digest of the API's owned properties as APIM showed them after the last write
    /// (`drift::listed_digest`; `None` in a status written before it was kept).
    pub listed: Option<String>,
}

/// What APIM shows of the API id now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    Absent,
    /// The API's ETag and owned properties' digest, and its policy's ETag (enough when the id is
    /// recorded as ours).
    Etags {
        api: String,
        listed: Option<String>,
        policy: Option<String>,
    },
    /// The API as read (a GET: for an id not recorded, to see whose it is).
    Existing {
        description: String,
    },
}

/// The step to take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to send.
    UpToDate,
    /// PUT the API and/or (after the API's operation) its policy.
    Send { api: bool, policy: bool },
    /// The id belongs to an API this ExposedAPI did not create; nothing is sent.
    NotOwned(String),
}

/// The marker of the APIs this ExposedAPI created, in their description.
pub fn ownership_marker(uid: &str) -> String {
    format!("(ExposedAPI uid {uid})")
}

/// Whether the API is as the record says: the same ETag, or the same owned properties (an ETag
/// can move without a change of them, e.g. when its policy is written).
fn as_recorded(r: &ApimRecord, etag: &str, listed: Option<&String>) -> bool {
    etag == r.etag || listed.is_some_and(|l| r.listed.as_ref() == Some(l))
}

pub fn plan(desired: &ApimDesired, recorded: Option<&ApimRecord>, observed: &Observed, uid: &str) -> Step {
    let ours = recorded.filter(|r| r.api_id == desired.api_id);
    const BOTH: Step = Step::Send { api: true, policy: true };
    match (ours, observed) {
        (Some(r), Observed::Etags { api: etag, listed, policy: policy_etag })
            if as_recorded(r, etag, listed.as_ref()) =>
        {
            // A policy edited in the portal moves the policy's ETag only.
            let policy_drifted = r.policy_etag.as_ref().is_some_and(|recorded| policy_etag.as_ref() != Some(recorded));
            let (api, policy) = (
                r.fingerprint != desired.fingerprint,
                r.policy_fingerprint != desired.policy_fingerprint || policy_drifted,
            );
            if api || policy { Step::Send { api, policy } } else { Step::UpToDate }
        }
        (Some(_), _) | (None, Observed::Absent) => BOTH,
        // A write whose status record was lost: the description still says whose it is.
        (None, Observed::Existing { description }) if description.contains(&ownership_marker(uid)) => BOTH,
        (None, _) => Step::NotOwned(format!(
            "an APIM API with id {} exists and was not created for this ExposedAPI; it is left as it is",
            desired.api_id
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::apim::ApimBackend;
    use crate::config::ApimConfig;
    use crate::core::fixtures::core_api;
    use crate::exposed_api::ExposedApiSpec;

    fn desired() -> ApimDesired {
        let spec = ExposedApiSpec {
            specification: Some(serde_json::json!({"url": "https://x/a.json"})),
            ..Default::default()
        };
        ApimBackend::new(&ApimConfig::default())
            .desired(&core_api(), &spec, None, &crate::backend::apim::import::guess("https://x/a.json"))
            .unwrap()
    }

    fn record(d: &ApimDesired) -> ApimRecord {
        ApimRecord {
            api_id: d.api_id.clone(),
            etag: "\"e1\"".into(),
            fingerprint: d.fingerprint.clone(),
            policy_fingerprint: d.policy_fingerprint.clone(),
            policy_etag: Some("\"p1\"".into()),
            listed: Some("l1".into()),
        }
    }

    fn etags(api: &str, policy: &str) -> Observed {
        Observed::Etags { api: api.into(), listed: None, policy: Some(policy.into()) }
    }

    #[test]
    fn nothing_is_sent_when_nothing_changed() {
        let d = desired();
        assert_eq!(plan(&d, Some(&record(&d)), &etags("\"e1\"", "\"p1\""), "u"), Step::UpToDate);
    }

    #[test]
    fn only_what_changed_is_sent_and_drift_or_deletion_sends_both() {
        let d = desired();
        let same = etags("\"e1\"", "\"p1\"");
        let api_changed = ApimRecord { fingerprint: "old".into(), ..record(&d) };
        assert_eq!(plan(&d, Some(&api_changed), &same, "u"), Step::Send { api: true, policy: false });
        let policy_changed = ApimRecord { policy_fingerprint: "old".into(), ..record(&d) };
        assert_eq!(plan(&d, Some(&policy_changed), &same, "u"), Step::Send { api: false, policy: true });
        let both = Step::Send { api: true, policy: true };
        assert_eq!(plan(&d, Some(&record(&d)), &etags("\"edited\"", "\"p1\""), "u"), both);
        assert_eq!(plan(&d, Some(&record(&d)), &Observed::Absent, "u"), both);
        // The policy edited in the portal: its ETag moved, the API's did not.
        let policy_only = Step::Send { api: false, policy: true };
        assert_eq!(plan(&d, Some(&record(&d)), &etags("\"e1\"", "\"portal\""), "u"), policy_only);
        let deleted = Observed::Etags { api: "\"e1\"".into(), listed: None, policy: None };
        assert_eq!(plan(&d, Some(&record(&d)), &deleted, "u"), policy_only);
        let unrecorded = ApimRecord { policy_etag: None, ..record(&d) };
        assert_eq!(plan(&d, Some(&unrecorded), &etags("\"e1\"", "\"any\""), "u"), Step::UpToDate);
        assert_eq!(plan(&d, None, &Observed::Absent, "u"), both);
    }

    #[test]
    fn an_etag_moved_with_the_owned_properties_as_written_is_no_drift() {
        let d = desired();
        let read = |listed: &str| Observed::Etags {
            api: "\"moved\"".into(),
            listed: Some(listed.into()),
            policy: Some("\"p1\"".into()),
        };
        assert_eq!(plan(&d, Some(&record(&d)), &read("l1"), "u"), Step::UpToDate);
        assert_eq!(plan(&d, Some(&record(&d)), &read("edited"), "u"), Step::Send { api: true, policy: true });
        let unrecorded = ApimRecord { listed: None, ..record(&d) };
        assert_eq!(plan(&d, Some(&unrecorded), &read("l1"), "u"), Step::Send { api: true, policy: true });
    }

    #[test]
    fn a_foreign_api_of_the_same_id_is_left_alone() {
        let d = desired();
        let foreign = Observed::Existing { description: "someone's API".into() };
        assert!(matches!(plan(&d, None, &foreign, "u"), Step::NotOwned(m) if m.contains(&d.api_id)));
        let ours = Observed::Existing { description: format!("ODA ExposedAPI ns/n {}", ownership_marker("u")) };
        assert_eq!(plan(&d, None, &ours, "u"), Step::Send { api: true, policy: true });
        assert!(matches!(plan(&d, None, &ours, "other"), Step::NotOwned(_)));
    }
}
