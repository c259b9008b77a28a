//! Publishes `events.k8s.io/v1` Events from a bounded queue, with a bounded de-duplication memory.
//!
//! Events inform; they must not slow what a user waits for. A reconcile only queues its Event, and
//! `SENDERS` requests publish them, so in a burst the writes that make APIs ready go first and the
//! Events follow (a full queue drops, as client-go's broadcaster does, and counts it).
//! kube's own `Recorder` keeps every Event it published in full for six minutes and sweeps that
//! map on every publish: at 10k APIs that is 10k Events held and a 10k-entry scan per Event. Here a
//! repeat of the same Event (same object, type, reason and note) within the TTL becomes a `series`
//! patch, and what is remembered per Event is its name and count, at most `CAPACITY` of them.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Client};
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tracing::warn;

use crate::telemetry::Metrics;

/// Events remembered for de-duplication; the oldest is forgotten first.
const CAPACITY: usize = 4096;
/// Events waiting to be published (a few MiB at most); more are dropped and counted.
const QUEUE: usize = 16_384;
/// Event requests in flight.
const SENDERS: usize = 2;
/// How long a published Event can still be continued as a series (as client-go and kube do).
const TTL: SignedDuration = SignedDuration::from_secs(6 * 60);

/// Where reconciles queue their Events.
#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::Sender<(Event, ObjectReference)>,
    metrics: Arc<Metrics>,
    dropping: Arc<AtomicBool>,
}

impl Recorder {
    /// The queue, and the task that publishes from it (it ends when every `Recorder` is dropped).
    pub fn start(
        client: Client,
        (controller, instance): (&str, Option<&str>),
        metrics: Arc<Metrics>,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (queue, mut queued) = mpsc::channel(QUEUE);
        let publisher = Publisher {
            client,
            controller: controller.to_owned(),
            instance: instance.unwrap_or(controller).to_owned(),
            seen: Mutex::default(),
        };
        let gauge = metrics.events_pending.clone();
        let task = async move {
            let publisher = &publisher;
            let gauge = &gauge;
            futures::stream::poll_fn(move |cx| queued.poll_recv(cx))
                .for_each_concurrent(SENDERS, |(event, regarding): (Event, ObjectReference)| async move {
                    if let Err(e) = publisher.publish(&event, &regarding).await {
                        let name = regarding.name.as_deref().unwrap_or_default();
                        warn!(exposedapi = %name, reason = %event.reason, error = %e, "cannot publish event");
                    }
                    gauge.dec();
                })
                .await;
        };
        (Self { queue, metrics, dropping: Arc::default() }, task)
    }

    /// Queues an Event about `regarding`; never waits.
    pub fn publish(&self, event: Event, regarding: ObjectReference) {
        match self.queue.try_send((event, regarding)) {
            Ok(()) => {
                self.metrics.events_pending.inc();
                self.dropping.store(false, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full((event, regarding))) => {
                self.metrics.events_dropped.inc();
                // One line when dropping starts, not one per Event.
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    let name = regarding.name.unwrap_or_default();
                    warn!(exposedapi = %name, reason = %event.reason, queued = QUEUE,
                        "event queue full: dropping Events until it drains (oda_api_operator_events_dropped_total)");
                }
            }
            // The publisher ended: the operator is stopping.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Who reports (the controller's name and this replica's), and what it published.
struct Publisher {
    client: Client,
    controller: String,
    instance: String,
    seen: Mutex<Seen>,
}

/// A published Event, as much as a repeat needs.
#[derive(Clone, Debug, PartialEq)]
struct Published {
    name: String,
    count: i32,
    at: Timestamp,
}

/// The de-duplication memory: published Events by key, and their keys oldest first.
#[derive(Default)]
struct Seen {
    by_key: HashMap<u64, Published>,
    order: VecDeque<u64>,
}

impl Seen {
    /// The Event published under `key` that a repeat at `now` continues, if any.
    fn repeat_of(&self, key: u64, now: Timestamp) -> Option<Published> {
        self.by_key.get(&key).filter(|p| now.duration_since(p.at) < TTL).cloned()
    }

    fn remember(&mut self, key: u64, published: Published) {
        if self.by_key.insert(key, published).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.by_key.remove(&oldest);
            }
        }
    }
}

impl Publisher {
    /// Creates the Event, or continues its series when the same Event was published within the TTL.
    async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = key(event, regarding);
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        let repeat = self.seen.lock().repeat_of(key, now);
        let published = match repeat {
            Some(before) => {
                let count = before.count + 1;
                let series = EventSeries { count, last_observed_time: MicroTime(now) };
                let patch = serde_json::json!({ "series": series });
                events.patch(&before.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
                Published { name: before.name, count, at: now }
            }
            None => {
                let created = events.create(&PostParams::default(), &self.build(event, regarding, now)).await?;
                Published { name: created.metadata.name.unwrap_or_default(), count: 1, at: now }
            }
        };
        self.seen.lock().remember(key, published);
        Ok(())
    }

    fn build(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        let prefix = regarding.name.as_deref().unwrap_or(&self.controller);
        K8sEvent {
            metadata: ObjectMeta {
                name: Some(format!("{prefix}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            type_: Some(type_name(event.type_).to_owned()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..K8sEvent::default()
        }
    }
}

fn type_name(type_: EventType) -> &'static str {
    match type_ {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

/// What makes two Events the same: the object (by uid, else by name) and what is said of it.
fn key(event: &Event, regarding: &ObjectReference) -> u64 {
    let mut hasher = DefaultHasher::new();
    (&regarding.uid, &regarding.namespace, &regarding.name, &regarding.kind).hash(&mut hasher);
    (type_name(event.type_), &event.reason, &event.action, &event.note).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(name: &str, at: Timestamp) -> Published {
        Published { name: name.into(), count: 1, at }
    }

    #[test]
    fn a_repeat_within_the_ttl_continues_the_series() {
        let (mut seen, now) = (Seen::default(), Timestamp::now());
        seen.remember(1, published("a.1", now));
        assert_eq!(seen.repeat_of(1, now + SignedDuration::from_secs(60)).map(|p| p.name), Some("a.1".into()));
        assert_eq!(seen.repeat_of(1, now + TTL), None, "an Event older than the TTL starts anew");
        assert_eq!(seen.repeat_of(2, now), None);
    }

    #[test]
    fn the_memory_is_bounded_and_forgets_the_oldest() {
        let (mut seen, now) = (Seen::default(), Timestamp::now());
        for key in 0..(CAPACITY as u64 + 10) {
            seen.remember(key, published("x", now));
        }
        seen.remember(CAPACITY as u64, published("again", now));
        assert_eq!(seen.by_key.len(), CAPACITY);
        assert_eq!(seen.order.len(), CAPACITY);
        assert!(seen.repeat_of(0, now).is_none() && seen.repeat_of(9, now).is_none());
        assert!(seen.repeat_of(10, now).is_some());
    }

    #[test]
    fn the_note_is_part_of_what_makes_an_event_the_same() {
        let regarding = ObjectReference { name: Some("api".into()), uid: Some("u".into()), ..Default::default() };
        let event = |note: &str| Event {
            type_: EventType::Normal,
            reason: "Exposed".into(),
            note: Some(note.into()),
            action: "Reconcile".into(),
            secondary: None,
        };
        assert_eq!(key(&event("a"), &regarding), key(&event("a"), &regarding));
        assert_ne!(key(&event("a"), &regarding), key(&event("b"), &regarding));
    }
}
