//! The API server's own metrics (admin identity): write requests by verb and resource, with their
//! server-side latency, and API Priority and Fairness queueing and rejections (server-side
//! throttling; kube-rs does no client-side rate limiting).

use std::collections::BTreeMap;

use kube::Client;
use kube::api::GetParams;
use serde::Serialize;

use crate::prom::Scrape;

const MUTATING: &[&str] = &["POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"];

/// Counters read at one moment.
#[derive(Clone, Default)]
pub struct Snapshot {
    /// "VERB resource[/subresource]" → (requests, seconds spent serving them).
    writes: BTreeMap<String, (f64, f64)>,
    rejected: f64,
    wait_seconds: f64,
    waited: f64,
}

/// What happened between two snapshots.
#[derive(Clone, Default, Serialize)]
pub struct Delta {
    /// Mutating requests by "VERB resource[/subresource]" (all clients: operator, harness,
    /// controller manager).
    pub writes: BTreeMap<String, f64>,
    /// Mean server-side latency of those requests, ms.
    pub write_latency_ms: BTreeMap<String, f64>,
    pub writes_total: f64,
    /// Requests rejected by API Priority and Fairness (429).
    pub apf_rejected: f64,
    /// Mean time a non-exempt request waited in an APF queue, ms.
    pub apf_wait_ms_mean: Option<f64>,
}

/// Reads `/metrics` of the API server; `None` when it cannot (e.g. not allowed on another cluster).
pub async fn snapshot(client: &Client) -> Option<Snapshot> {
    let request = kube::core::Request::new("").get("metrics", &GetParams::default()).ok()?;
    let text = client.request_text(request).await.ok()?;
    let scrape = Scrape::parse(&text);
    let mut snapshot = Snapshot::default();
    let key = |labels: &BTreeMap<String, String>| {
        let verb = labels.get("verb").map(String::as_str).unwrap_or_default();
        if !MUTATING.contains(&verb) {
            return None;
        }
        let resource = labels.get("resource").cloned().unwrap_or_default();
        Some(match labels.get("subresource").map(String::as_str) {
            Some(sub) if !sub.is_empty() => format!("{verb} {resource}/{sub}"),
            _ => format!("{verb} {resource}"),
        })
    };
    for s in &scrape.samples {
        let exempt = s.labels.get("priority_level").is_some_and(|p| p == "exempt");
        match s.name.as_str() {
            "apiserver_request_total" => {
                if let Some(k) = key(&s.labels) {
                    snapshot.writes.entry(k).or_default().0 += s.value;
                }
            }
            "apiserver_request_duration_seconds_sum" => {
                if let Some(k) = key(&s.labels) {
                    snapshot.writes.entry(k).or_default().1 += s.value;
                }
            }
            "apiserver_flowcontrol_rejected_requests_total" => snapshot.rejected += s.value,
            "apiserver_flowcontrol_request_wait_duration_seconds_sum" if !exempt => snapshot.wait_seconds += s.value,
            "apiserver_flowcontrol_request_wait_duration_seconds_count" if !exempt => snapshot.waited += s.value,
            _ => {}
        }
    }
    Some(snapshot)
}

/// `after − before`, keeping the request kinds that moved.
pub fn delta(before: &Option<Snapshot>, after: &Option<Snapshot>) -> Option<Delta> {
    let (Some(before), Some(after)) = (before, after) else { return None };
    let mut delta = Delta::default();
    for (k, (count, seconds)) in &after.writes {
        let (count0, seconds0) = before.writes.get(k).copied().unwrap_or_default();
        let requests = count - count0;
        if requests > 0.0 {
            delta.writes.insert(k.clone(), requests);
            delta.write_latency_ms.insert(k.clone(), 1000.0 * (seconds - seconds0) / requests);
            delta.writes_total += requests;
        }
    }
    delta.apf_rejected = after.rejected - before.rejected;
    let waited = after.waited - before.waited;
    delta.apf_wait_ms_mean = (waited > 0.0).then(|| 1000.0 * (after.wait_seconds - before.wait_seconds) / waited);
    Some(delta)
}
