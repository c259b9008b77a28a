//! The APIM step of `ROUTE_BACKEND=AzureAPIM`, after the Ingress is applied: the backend URL (the
//! Ingress's load-balancer address, or `APIM_BACKEND_BASE_URL`), what APIM shows of the API id,
//! [`sync::plan`], and the writes it asks for: the API with its long-running operation, then its
//! policy, their answers kept in status (`apim_sweep` finds drift). Deletion removes the API by the id recorded
//! in status, and only then does the ExposedAPI's finalizer go (`finalizer`).

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::core::DynamicObject;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use serde_json::Value;
use tracing::{info, warn};

use super::apim_sweep::{Suspect, Sweeper};
use super::children::observed;
use super::context::Context;
use super::error::ReconcileError;
use super::events::{Journal, publish};
use super::synced::Synced;
use crate::azure::{ArmClient, AzureError, Documents};
use crate::backend::apim::conditions::{self as c, synced};
use crate::backend::apim::drift::listed_digest;
use crate::backend::apim::sync::{self, ApimRecord, Observed, Step};
use crate::backend::apim::{ApimBackend, ApimDesired, ApimSpecError, specification_url};
use crate::backend::ingress::{IngressRoute, ingress_resource};
use crate::core::status::{ConditionSpec, ReadyReason};
use crate::core::url::PublishedUrl;
use crate::core::validation::ValidApi;
use crate::exposed_api::{ApiType, ApimStatus, ExposedAPI, ExposedApiStatus};

/// The APIM backend at run time: its pure half and the ARM client.
pub struct Apim {
    pub backend: ApimBackend,
    pub arm: Arc<ArmClient>,
    /// Reads each API's document to declare its import format.
    pub documents: Documents,
    /// How often an API in sync is reconciled again (its document read again).
    pub resync: Duration,
    /// The drift sweep: which APIs it found changed in APIM (only those are read again).
    pub sweeper: Arc<Sweeper>,
}

impl Synced {
    fn blocked(condition: ConditionSpec, ready: ReadyReason, requeue: Duration) -> Self {
        let message = condition.message.clone();
        let policy_failure = Some((c::policy_failure_reason(condition.reason), message.clone()));
        Self {
            condition,
            record: None,
            blocked: Some((ready, message)),
            url: None,
            policy_failure,
            failure: None,
            requeue,
        }
    }
}

/// Rechecks of what a person has to fix (a refusal, a foreign API) need no fast retry.
const RECHECK: Duration = Duration::from_secs(300);

pub(super) async fn sync(
    ctx: &Context,
    apim: &Apim,
    api: &ExposedAPI,
    valid: &ValidApi,
    previous: Option<&ExposedApiStatus>,
    journal: &Journal,
) -> Synced {
    let backend = &apim.backend;
    if valid.api_type != ApiType::Openapi {
        let message = format!(
            "apiType {} is not imported into APIM (only openapi APIs are); the Ingress routes it in the mesh",
            valid.api_type.as_str()
        );
        return Synced::blocked(synced(c::NOT_IMPORTED, false, message), ReadyReason::InvalidSpec, RECHECK);
    }
    let service_url = if backend.backend_url(&valid.path).is_some() {
        None
    } else {
        let ingress = observed(ctx, &ingress_resource(), &valid.namespace, &IngressRoute::name(&valid.name));
        match ingress.as_deref().and_then(load_balancer_address) {
            Some(address) => Some(ApimBackend::ingress_url(&address, &valid.path)),
            None => {
                let message = format!(
                    "waiting for Ingress {} to get a load-balancer address (or set APIM_BACKEND_BASE_URL)",
                    IngressRoute::name(&valid.name)
                );
                let condition = synced(c::INGRESS_ADDRESS_PENDING, false, message);
                let mut pending = Synced::blocked(condition, ReadyReason::AddressPending, RECHECK);
                pending.policy_failure = Some((crate::core::policy::APPLY_FAILED, "the API is not in APIM yet".into()));
                return pending;
            }
        }
    };
    let Some(url) = specification_url(&api.spec) else {
        let condition = synced(c::NO_SPECIFICATION, false, ApimSpecError::NoSpecification.to_string());
        return Synced::blocked(condition, ReadyReason::InvalidSpec, RECHECK);
    };
    let import = match apim.documents.import(&url).await {
        Ok(import) => import,
        Err(unusable) => {
            return Synced::blocked(synced(c::DOCUMENT_UNUSABLE, false, unusable), ReadyReason::InvalidSpec, RECHECK);
        }
    };
    let desired = match backend.desired(valid, &api.spec, service_url, &import) {
        Ok(desired) => desired,
        Err(e) => {
            let condition = synced(e.reason(), false, e.to_string());
            return Synced::blocked(condition, ReadyReason::InvalidSpec, RECHECK);
        }
    };
    // A reconcile handed an object older than the cache's, whose own write's overlay went with its
    // echo, would miss the record: the cache's latest status has it.
    let latest = ctx.apis.get(&ObjectRef::new(&api.name_any()).within(&api.namespace().unwrap_or_default()));
    let cached = latest.and_then(|latest| latest.decode().ok()).and_then(|latest| latest.status);
    let record = previous.and_then(|p| p.apim.as_ref()).or(cached.as_ref().and_then(|s| s.apim.as_ref()));
    let recorded = record.map(|r| ApimRecord {
        api_id: r.api_id.clone(),
        etag: r.etag.clone().unwrap_or_default(),
        fingerprint: r.fingerprint.clone().unwrap_or_default(),
        policy_fingerprint: r.policy_fingerprint.clone().unwrap_or_default(),
        policy_etag: r.policy_etag.clone(),
        listed: r.listed.clone(),
    });
    let key = (api.namespace().unwrap_or_default(), api.name_any());
    let listed = record.and_then(|r| r.listed.clone());
    let sweep = (listed, apim.sweeper.suspect(&key));
    let mut outcome = converge(ctx, apim, api, &desired, recorded.as_ref(), &sweep, journal).await;
    if matches!(outcome, Err(Failed::Azure(AzureError::Precondition))) {
        // Changed between our read and our write: read again and plan again, once, now.
        outcome = converge(ctx, apim, api, &desired, recorded.as_ref(), &sweep, journal).await;
    }
    if outcome.is_ok() {
        apim.sweeper.settled(&key);
    }
    match outcome {
        Ok(Converged::Record(record)) => Synced {
            condition: synced(c::SYNCED, true, format!("API {} in APIM is up to date", desired.api_id)),
            record: Some(record),
            blocked: None,
            url: backend.public_url(valid).map(|url| PublishedUrl { url, developer_ui: None, ip: None }),
            policy_failure: None,
            failure: None,
            requeue: apim.resync,
        },
        Ok(Converged::NotOwned(message)) => {
            Synced::blocked(synced(c::API_NOT_OWNED, false, message), ReadyReason::NotOwned, RECHECK)
        }
        Err(Failed::Azure(e)) => failed(e),
        Err(Failed::Kube(e)) => {
            let condition = synced(c::RETRYING, false, e.to_string());
            Synced { failure: Some(e), ..Synced::blocked(condition, ReadyReason::ApplyFailed, RECHECK) }
        }
    }
}

enum Converged {
    Record(ApimStatus),
    /// The id belongs to an API this ExposedAPI did not create.
    NotOwned(String),
}

enum Failed {
    Azure(AzureError),
    Kube(ReconcileError),
}

impl From<AzureError> for Failed {
    fn from(e: AzureError) -> Self {
        Self::Azure(e)
    }
}

/// Reads what APIM has and sends what the plan asks for; `(listed, suspect)` is the recorded list
/// digest and what the drift sweep found, if anything.
async fn converge(
    ctx: &Context,
    apim: &Apim,
    api: &ExposedAPI,
    desired: &ApimDesired,
    recorded: Option<&ApimRecord>,
    (listed, suspect): &(Option<String>, Option<Suspect>),
    journal: &Journal,
) -> Result<Converged, Failed> {
    let arm = &apim.arm;
    let id = &desired.api_id;
    let record = |etag: Option<String>, policy_etag: Option<String>, listed: Option<String>| ApimStatus {
        api_id: id.clone(),
        etag,
        fingerprint: Some(desired.fingerprint.clone()),
        policy_fingerprint: Some(desired.policy_fingerprint.clone()),
        policy_etag,
        service_url: desired.api.properties.service_url.clone(),
        listed,
    };
    // The record says this very content was written and the sweep found no drift since: it is
    // trusted, nothing is read (so a converged restart reads no API).
    let unchanged = |r: &&ApimRecord| {
        r.api_id == *id
            && !r.etag.is_empty()
            && r.fingerprint == desired.fingerprint
            && r.policy_fingerprint == desired.policy_fingerprint
    };
    if let (None, Some(r)) = (suspect, recorded.filter(unchanged)) {
        return Ok(Converged::Record(record(Some(r.etag.clone()), r.policy_etag.clone(), listed.clone())));
    }
    // The ETag seen is the If-Match of an update: a change made after this read is never
    // overwritten unseen (412, then read again).
    let policy_path = format!("/apis/{id}/policies/policy");
    let (observed, current) = if recorded.is_some_and(|r| r.api_id == *id) {
        // A GET, not a HEAD: the owned properties tell a change from an ETag that moved alone.
        match arm.get_api(id).await? {
            None => (Observed::Absent, None),
            Some(found) => {
                let policy = arm.etag_of(&policy_path).await?;
                let listed = found.body.get("properties").map(listed_digest);
                let etag = found.etag.clone().unwrap_or_default();
                (Observed::Etags { api: etag, listed, policy }, found.etag)
            }
        }
    } else {
        match arm.get_api(id).await? {
            None => (Observed::Absent, None),
            Some(found) => {
                (Observed::Existing { description: text(&found.body, "/properties/description") }, found.etag)
            }
        }
    };
    let uid = api.uid().unwrap_or_default();
    let (observed_policy, observed_listed) = match &observed {
        Observed::Etags { policy, listed, .. } => (policy.clone(), listed.clone()),
        _ => (None, None),
    };
    match sync::plan(desired, recorded, &observed, &uid) {
        Step::UpToDate => {
            // A status from before the policy's ETag was kept takes the one seen now.
            let policy_etag = recorded.and_then(|r| r.policy_etag.clone()).or(observed_policy);
            // APIM is as written: the ETag and properties just read are how APIM shows it now (a
            // record without a digest, or a list that shows an API unlike a GET, stops being found).
            let seen = suspect.as_ref().and_then(|s| s.seen.clone());
            let listed = seen.or(observed_listed).or_else(|| listed.clone());
            let etag = current.clone().or_else(|| recorded.map(|r| r.etag.clone()));
            Ok(Converged::Record(record(etag, policy_etag, listed)))
        }
        Step::NotOwned(message) => Ok(Converged::NotOwned(message)),
        Step::Send { api: send_api, policy: send_policy } => {
            super::finalizer::ensure(ctx, api).await.map_err(Failed::Kube)?;
            let encode = |e: serde_json::Error| AzureError::Config(e.to_string());
            let mut written_policy = observed_policy;
            // What APIM shows of the API after the writes: the PUT's answer, else what was read.
            let mut shown = (current.clone(), observed_listed);
            if send_api {
                let body = serde_json::to_value(&desired.api).map_err(encode)?;
                let written = arm.put_api(id, &body, current.as_deref()).await?;
                shown = (written.etag, written.body.get("properties").map(listed_digest));
                ctx.telemetry.metrics.wrote("ApimApi");
            }
            if send_policy {
                // An existing policy is updated with its own ETag (read by the drift check, else
                // one HEAD, only when writing).
                let policy_etag = match &observed {
                    Observed::Absent => None,
                    Observed::Etags { policy, .. } => policy.clone(),
                    Observed::Existing { .. } => arm.etag_of(&policy_path).await?,
                };
                let body = serde_json::to_value(&desired.policy).map_err(encode)?;
                written_policy = arm.put_policy(id, &body, policy_etag.as_deref()).await?.etag;
                ctx.telemetry.metrics.wrote("ApimPolicy");
            }
            // Read back only when the answers did not show it: a policy write that moves the API's
            // ETag is told from a change by the owned properties (`sync::plan`).
            let (etag, listed) = match shown {
                (Some(etag), Some(listed)) => (Some(etag), Some(listed)),
                _ => match arm.get_api(id).await? {
                    Some(read) => (read.etag, read.body.get("properties").map(listed_digest)),
                    None => (None, None),
                },
            };
            let note = match (send_api, matches!(observed, Observed::Absent)) {
                (true, true) => format!("Imported APIM API {id} with its policy"),
                (true, false) if send_policy => format!("Updated APIM API {id} and its policy"),
                (true, false) => format!("Updated APIM API {id}"),
                (false, _) => format!("Updated the policy of APIM API {id}"),
            };
            info!("{note}");
            journal.note(note);
            // An API recorded under another id (the id scheme changed) is ours: it goes.
            if let Some(old) = recorded.filter(|r| r.api_id != *id) {
                arm.delete_api(&old.api_id, "*").await?;
                journal.note(format!("Deleted APIM API {}: its id is now {id}", old.api_id));
            }
            Ok(Converged::Record(record(etag, written_policy, listed)))
        }
    }
}

/// The condition and retry of each error class (azure-apim §2.8): a refusal waits for a person,
/// throttling for the time Azure asked, the rest backs off.
fn failed(e: AzureError) -> Synced {
    let message = e.to_string();
    let (reason, retried) = match &e {
        AzureError::Rejected { .. } | AzureError::Config(_) => (c::REJECTED, false),
        AzureError::RetryAfter(..) => (c::THROTTLED, true),
        AzureError::Auth(_) => (c::AUTHENTICATION_FAILED, true),
        AzureError::Precondition | AzureError::Transient(_) | AzureError::Timeout(_) => (c::RETRYING, true),
    };
    warn!(error = %message, "APIM call failed");
    let blocked = Synced::blocked(synced(reason, false, message), ReadyReason::ApplyFailed, RECHECK);
    Synced { failure: retried.then_some(ReconcileError::Azure(e)), ..blocked }
}

/// The first load-balancer address of an Ingress.
fn load_balancer_address(ingress: &DynamicObject) -> Option<String> {
    let entry = ingress.data.pointer("/status/loadBalancer/ingress/0")?;
    let ip = entry.get("ip").and_then(Value::as_str).filter(|s| !s.is_empty());
    ip.or_else(|| entry.get("hostname").and_then(Value::as_str).filter(|s| !s.is_empty())).map(String::from)
}

fn text(body: &Value, pointer: &str) -> String {
    body.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// Deletion: `DELETE` the API recorded in status (`If-Match: *`, revisions too); the finalizer goes
/// once APIM confirms. Until then a `DeletionBlocked` condition says why, and it is retried with
/// backoff for as long as it takes (an administrator may remove the finalizer by hand).
pub(super) async fn release(ctx: &Context, apim: &Apim, api: &ExposedAPI) -> Result<(), ReconcileError> {
    let recent = ctx
        .state
        .recent
        .lock()
        .ok()
        .and_then(|r| r.status(&api.namespace().unwrap_or_default(), &api.name_any()).cloned());
    let status = recent.or_else(|| api.status.clone());
    let recorded = status.as_ref().and_then(|s| s.apim.as_ref()).map(|r| r.api_id.clone());
    if let Some(id) = recorded {
        if let Err(e) = apim.arm.delete_api(&id, "*").await {
            let message = format!("APIM has not deleted API {id}: {e}; the ExposedAPI stays until it has");
            warn!("{message}");
            publish(ctx, api, EventType::Warning, c::DELETE_FAILED, &message);
            super::apply::write_condition(ctx, api, status, synced_deletion(message)).await;
            return Err(ReconcileError::Azure(e));
        }
        ctx.telemetry.metrics.wrote("ApimApi");
        info!(api_id = %id, "deleted the APIM API");
    }
    Ok(())
}

fn synced_deletion(message: String) -> ConditionSpec {
    ConditionSpec { type_: c::DELETION_BLOCKED, status: true, reason: c::DELETE_FAILED, message }
}
