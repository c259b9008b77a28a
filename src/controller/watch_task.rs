//! Running a side watch: a task per watch, scoped to the watched namespaces when it should be,
//! signalling its first complete list, reporting Forbidden in `/readyz`, aborted with the operator.

use std::sync::Arc;

use futures::StreamExt;
use kube::Resource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::oneshot;
use tracing::warn;

use super::error::watch_forbidden;
use crate::config::WatchNamespaces;
use crate::telemetry::Health;

/// Drops objects outside the watched namespaces from a cluster-wide watch.
pub(super) fn keep_namespaces<K: Resource>(event: Event<K>, namespaces: &WatchNamespaces) -> Option<Event<K>> {
    let keep = |obj: &K| obj.meta().namespace.as_deref().is_some_and(|ns| namespaces.matches(ns));
    match &event {
        Event::Apply(obj) | Event::InitApply(obj) | Event::Delete(obj) if !keep(obj) => None,
        _ => Some(event),
    }
}

/// Whether the operator starts only once a watch has listed, or also when the watch is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Listing {
    Required,
    /// A kind the operator may not be allowed to list (in a gateway namespace): a Forbidden watch
    /// counts as listed, empty, and the writes it would serve fail with their conditions.
    Optional,
}

/// Runs a watch in a task, handing each event to `on_event`; the receiver fires after the first
/// complete list. With `namespaces`, events of other namespaces are dropped before `on_event`. A
/// Forbidden watch is a standing problem in `/readyz` until it recovers.
pub(super) fn spawn_watch<K, S>(
    tasks: &Tasks,
    health: Arc<Health>,
    namespaces: Option<WatchNamespaces>,
    (kind, listing): (&str, Listing),
    stream: S,
    mut on_event: impl FnMut(Event<K>) + Send + 'static,
) -> oneshot::Receiver<()>
where
    K: Resource + Send + 'static,
    S: futures::Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let (kind, source) = (kind.to_owned(), format!("watch {kind}"));
    tasks.track(tokio::spawn(async move {
        let mut listed = Some(tx);
        let mut stream = std::pin::pin!(stream.default_backoff());
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    health.problem(&source, None);
                    let done = matches!(event, Event::InitDone);
                    let event = match &namespaces {
                        Some(namespaces) => keep_namespaces(event, namespaces),
                        None => Some(event),
                    };
                    if let Some(event) = event {
                        on_event(event);
                    }
                    if done && let Some(tx) = listed.take() {
                        let _ = tx.send(());
                    }
                }
                Err(e) => {
                    warn!(%kind, error = %e, "watch failed; retrying with backoff");
                    if watch_forbidden(&e) {
                        health.problem(&source, Some(format!("forbidden: {e}")));
                        if listing == Listing::Optional
                            && let Some(tx) = listed.take()
                        {
                            let _ = tx.send(());
                        }
                    }
                }
            }
        }
    }));
    rx
}

/// Side-watch tasks of a running operator, aborted when it stops.
#[derive(Clone, Default)]
pub(super) struct Tasks(Arc<parking_lot::Mutex<Vec<tokio::task::AbortHandle>>>);

impl Tasks {
    pub(super) fn track<T>(&self, handle: tokio::task::JoinHandle<T>) {
        self.0.lock().push(handle.abort_handle());
    }

    pub fn abort_all(&self) {
        self.0.lock().drain(..).for_each(|t| t.abort());
    }
}
