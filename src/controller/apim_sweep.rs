//! The drift sweep of the APIM backend: once per `APIM_RESYNC_SECS` (jittered by a tenth) it lists
//! the operator's APIs page by page (`GET …/apis`, `$filter` on the id prefix, 100 a page) and
//! compares each page with what every ExposedAPI's `status.apim` recorded (`backend::apim::drift`);
//! and it checks the policy ETags whose slot falls since the last sweep, so each policy is checked
//! once per `APIM_POLICY_RESYNC_SECS`, spread over it (a policy edit shows in no list). Only an API
//! that drifted, is missing or whose policy moved is marked and requeued: its reconcile then reads
//! APIM as before (HEADs, plan, writes). Every other reconcile trusts its record and reads nothing,
//! so a converged restart costs one sweep: O(N/page) requests, not O(N).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tracing::{info, warn};

use super::context::{Context, Requeue};
use crate::azure::{ArmClient, AzureError};
use crate::backend::apim::drift::{self, Drift};

/// APIs asked for per page: the most the service is known to return in one.
const PAGE: u32 = 100;
/// A listing longer than this is taken for a server that keeps linking: the sweep stops.
const MAX_PAGES: usize = 10_000;
/// The shortest wait before a failed sweep is tried again.
const RETRY: Duration = Duration::from_secs(30);

type Key = (String, String);

/// Why the sweep asks an API's reconcile to read APIM again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Why {
    /// Its properties in the list differ from the record (or the record has no digest yet).
    Listed,
    /// No page of a complete listing held it.
    Missing,
    /// Its policy's ETag is not the recorded one.
    Policy,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Suspect {
    pub why: Why,
    /// The digest the list showed (kept as the record when APIM turns out unchanged).
    pub seen: Option<String>,
}

/// The sweep's half shared with the per-API step: the ARM client, the timings and the APIs marked.
pub struct Sweeper {
    arm: Arc<ArmClient>,
    prefix: String,
    resync: Duration,
    policy_resync: Duration,
    suspects: Mutex<HashMap<Key, Suspect>>,
}

impl Sweeper {
    pub fn new(arm: Arc<ArmClient>, prefix: &str, resync: Duration, policy_resync: Duration) -> Arc<Self> {
        let suspects = Mutex::new(HashMap::new());
        // As API ids are made (`ApimBackend::api_id`), so the ids start with it.
        let prefix =
            prefix.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        Arc::new(Self { arm, prefix, resync, policy_resync, suspects })
    }

    fn marked(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Suspect>> {
        // A panic while it was held leaves at worst an API read once more.
        self.suspects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why the API must be read again, if the sweep said so.
    pub(super) fn suspect(&self, key: &Key) -> Option<Suspect> {
        self.marked().get(key).cloned()
    }

    /// The API's reconcile read APIM and converged: the mark goes.
    pub(super) fn settled(&self, key: &Key) {
        self.marked().remove(key);
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// `period` ± a tenth, so replicas and restarts do not sweep in step.
fn jittered(period: Duration) -> Duration {
    let noise = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
    let tenth = period / 10;
    period - tenth + tenth * 2 * (noise % 1000) / 1000
}

/// The sweep, every period, for as long as the operator runs (started by `ExternalSystem::background`).
pub(super) async fn sweep_forever(sweeper: Arc<Sweeper>, ctx: Arc<Context>, requeue: Requeue) {
    // The records are read from the API cache: wait until it has listed. (A fresh wait each time:
    // one awaited before the list completed was seen not to wake.)
    loop {
        match tokio::time::timeout(Duration::from_millis(10), ctx.apis.wait_until_ready()).await {
            Ok(Ok(())) => break,
            Ok(Err(_)) => return,
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
    // The first sweep at once (drift while the operator was away), its policy window one period.
    let mut covered = now_secs().saturating_sub(sweeper.resync.as_secs());
    loop {
        let now = now_secs();
        let wait = match sweep(&sweeper, &ctx, &requeue, (covered, now)).await {
            Ok(()) => {
                covered = now;
                jittered(sweeper.resync)
            }
            Err(e) => {
                // The window is kept: the next sweep checks these policies too.
                warn!(error = %e, "the APIM drift sweep failed; trying again");
                let asked = match e {
                    AzureError::RetryAfter(after, _) => after,
                    _ => RETRY,
                };
                asked.max(RETRY).min(sweeper.resync)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// What an ExposedAPI's status recorded of its API, and whose it is.
#[derive(Clone, Debug, PartialEq)]
struct Record {
    key: Key,
    listed: Option<String>,
    policy_etag: Option<String>,
}

/// Every recorded API in the cache (the operator's own status writes not yet echoed included),
/// by API id.
fn records(ctx: &Context) -> BTreeMap<String, Record> {
    let mut found = BTreeMap::new();
    for cached in ctx.apis.state() {
        let namespace = cached.namespace().unwrap_or_default();
        let Some(api) = ctx.namespaces.matches(&namespace).then(|| cached.decode().ok()).flatten() else { continue };
        if api.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = api.name_any();
        let recent = ctx.state.recent().status(&namespace, &name).cloned();
        let Some(apim) = recent.or_else(|| api.status.clone()).and_then(|s| s.apim) else { continue };
        let record = Record { key: (namespace, name), listed: apim.listed, policy_etag: apim.policy_etag };
        found.entry(apim.api_id).or_insert(record);
    }
    found
}

/// One sweep over the window `(from, to]` of policy slots.
async fn sweep(sweeper: &Sweeper, ctx: &Context, requeue: &Requeue, window: (u64, u64)) -> Result<(), AzureError> {
    let records = records(ctx);
    sweeper.marked().retain(|key, _| records.values().any(|r| r.key == *key));
    if records.is_empty() {
        return Ok(());
    }
    let digests: BTreeMap<String, Option<String>> =
        records.iter().map(|(id, r)| (id.clone(), r.listed.clone())).collect();
    let filter = drift::list_filter(&sweeper.prefix, records.keys());
    let (mut next, mut pages, mut seen, mut found) = (None, 0, std::collections::HashSet::new(), Vec::new());
    loop {
        let page = sweeper.arm.list_apis(next.as_deref(), filter.as_deref(), PAGE).await?;
        pages += 1;
        let (drifted, ids) = drift::page_drift(&page.items, &digests);
        seen.extend(ids);
        found.extend(drifted.into_iter().map(|(id, drift)| {
            let seen = match drift {
                Drift::Changed { seen } | Drift::Unrecorded { seen } => seen,
            };
            (id, Suspect { why: Why::Listed, seen: Some(seen) })
        }));
        match page.next {
            Some(link) if pages < MAX_PAGES => next = Some(link),
            Some(_) => return Err(AzureError::Transient(format!("the list of APIs ran past {MAX_PAGES} pages"))),
            None => break,
        }
    }
    let missing = drift::missing(records.keys(), &seen);
    found.extend(missing.into_iter().map(|id| (id, Suspect { why: Why::Missing, seen: None })));
    let listed = found.len();
    mark(sweeper, ctx, requeue, &records, found);
    let mut moved = Vec::new();
    let mut checked = 0;
    let period = sweeper.policy_resync.as_secs();
    for (id, record) in records.iter().filter(|(id, _)| drift::policy_due(id, window, period)) {
        if sweeper.suspect(&record.key).is_some() {
            continue;
        }
        let etag = sweeper.arm.etag_of(&format!("/apis/{id}/policies/policy")).await?;
        checked += 1;
        if etag != record.policy_etag {
            moved.push((id.clone(), Suspect { why: Why::Policy, seen: None }));
        }
    }
    let policies = moved.len();
    mark(sweeper, ctx, requeue, &records, moved);
    info!(
        apis = records.len(),
        pages,
        drifted = listed,
        policies_checked = checked,
        policies_moved = policies,
        "APIM drift sweep"
    );
    Ok(())
}

/// Marks and requeues the APIs found, unless the operator rewrote one while the sweep ran (its
/// new record is newer than what the list showed).
fn mark(
    sweeper: &Sweeper,
    ctx: &Context,
    requeue: &Requeue,
    before: &BTreeMap<String, Record>,
    found: Vec<(String, Suspect)>,
) {
    if found.is_empty() {
        return;
    }
    let now = records(ctx);
    for (id, suspect) in found {
        let Some(record) = before.get(&id).filter(|r| now.get(&id) == Some(*r)) else { continue };
        let (namespace, name) = record.key.clone();
        info!(namespace = %namespace, exposedapi = %name, api_id = %id, why = ?suspect.why, "APIM API drifted; reconciling it");
        sweeper.marked().insert(record.key.clone(), suspect);
        ctx.telemetry.metrics.queued(record.key.clone());
        let _ = requeue.unbounded_send(ObjectRef::new(&name).within(&namespace));
    }
}
