//! What a reconcile tells: the writes it made, noted as it goes, told in one Event at its end,
//! with the conditions that changed reason.

use kube::Resource;
use kube::runtime::events::{Event, EventType};
use tracing::{info, warn};

use super::context::Context;
use crate::core::policy;
use crate::core::status::{ConditionSpec, METRICS, READY, ReadyCondition, ReadyReason};
use crate::exposed_api::{ExposedAPI, ExposedApiStatus};

pub(super) use super::journal::Journal;

/// Queues an Event: Events inform, they must not slow convergence (see `recorder`).
pub(super) fn publish(ctx: &Context, api: &ExposedAPI, type_: EventType, reason: &str, note: &str) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    ctx.recorder.publish(event, api.object_ref(&()));
}

/// What a reconcile found, for its Event.
pub(super) struct Told<'a> {
    pub scraping: Option<&'a ConditionSpec>,
    pub policies: &'a [ConditionSpec],
    pub ready: &'a ReadyCondition,
}

/// The Event of a reconcile: its writes and any condition that changed reason, under the most
/// telling reason (`Ready`'s, else scraping's, else `Applied`); and a Warning for policies that
/// became unenforced.
pub(super) fn tell(
    ctx: &Context,
    api: &ExposedAPI,
    previous: Option<&ExposedApiStatus>,
    told: Told<'_>,
    mut notes: Vec<String>,
) {
    let mut event = None;
    if let Some(scraping) = told.scraping
        && previous_reason(previous, METRICS) != Some(scraping.reason)
    {
        let type_ = if scraping.status { EventType::Normal } else { EventType::Warning };
        if !already_said(&notes, &scraping.message) {
            notes.push(scraping.message.clone());
        }
        event = Some((type_, format!("Metrics{}", scraping.reason)));
    }
    // A policy that is not enforced gets a Warning of its own, whatever else this reconcile tells;
    // an enforced one is told with the rest.
    let changed = told.policies.iter().filter(|p| previous_reason(previous, p.type_) != Some(p.reason));
    let (enforced, unenforced): (Vec<&ConditionSpec>, Vec<&ConditionSpec>) = changed.partition(|p| p.status);
    notes.extend(enforced.iter().map(|p| format!("{}: {}", p.type_, p.message)));
    for reason in [policy::NOT_SUPPORTED, policy::INVALID_SPEC, policy::NOT_OWNED, policy::APPLY_FAILED] {
        let words: Vec<String> =
            unenforced.iter().filter(|p| p.reason == reason).map(|p| format!("{}: {}", p.type_, p.message)).collect();
        if !words.is_empty() {
            warn!(policies = %words.join("; "), "requested policies are not enforced");
            publish(ctx, api, EventType::Warning, &format!("Policy{reason}"), &words.join("; "));
        }
    }
    let reason = told.ready.reason;
    if previous_reason(previous, READY) != Some(reason.as_str()) {
        info!(reason = reason.as_str(), message = %told.ready.message, "status changed");
        notes.push(told.ready.message.clone());
        event = Some((reason_event_type(reason), reason.as_str().to_owned()));
    }
    if !notes.is_empty() {
        let (type_, reason) = event.unwrap_or((EventType::Normal, "Applied".to_owned()));
        publish(ctx, api, type_, &reason, &notes.join("; "));
    }
}

/// Whether a note already names the object a message is about ("Created ServiceMonitor x" says
/// what "ServiceMonitor x applied" would), so that an Event says each thing once.
fn already_said(notes: &[String], message: &str) -> bool {
    let subject: Vec<&str> = message.split_whitespace().take(2).collect();
    subject.len() == 2 && notes.iter().any(|n| n.contains(&subject.join(" ")))
}

fn previous_reason<'a>(previous: Option<&'a ExposedApiStatus>, type_: &str) -> Option<&'a str> {
    previous?.conditions.iter().find(|c| c.type_ == type_).map(|c| c.reason.as_str())
}

/// Warnings: what needs someone to act (a spec, an owner, a permission, the gateway's verdict).
/// Waiting for an address, a ready endpoint or a controller's report is normal.
pub(super) fn reason_event_type(reason: ReadyReason) -> EventType {
    if reason.stalls() || reason == ReadyReason::ApplyFailed { EventType::Warning } else { EventType::Normal }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_event_says_each_thing_once() {
        let notes = vec!["Created ServiceMonitor m1".to_owned()];
        assert!(super::already_said(&notes, "ServiceMonitor m1 applied"));
        assert!(!super::already_said(&notes, "ServiceMonitor m2 applied"));
        assert!(!super::already_said(&[], "ServiceMonitor m1 applied"));
    }
}
