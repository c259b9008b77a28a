//! The watches behind metrics scraping: Service selectors and Pods of the watched namespaces, fed
//! into `pod_index`. Pods are watched metadata-only for the annotation modes, whole for the
//! ServiceMonitor (whose `targetPort` must be a container port a Pod declares).

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::indexes::Index;
use super::pod_index::PodIndex;
use super::watch_task::Listing;
use super::watches::SideWatches;

impl SideWatches {
    /// Service selectors: a changed selector re-annotates, or changes what a ServiceMonitor finds.
    pub(super) fn service_selectors(&self) -> oneshot::Receiver<()> {
        let api: Api<Service> = self.scoped_typed();
        let this = self.handle();
        self.spawn_watch(
            true,
            ("Service", Listing::Required),
            watcher::watcher(api, watcher::Config::default().any_semantic()),
            move |event| {
                this.state.selectors.write().handle(&event);
                if let Event::Apply(svc) | Event::Delete(svc) = &event {
                    this.send_apis_of(&svc.namespace().unwrap_or_default(), &svc.name_any());
                }
            },
        )
    }

    /// Pods, whole when their declared ports are needed, else metadata only.
    pub(super) fn pods(&self, with_ports: bool) -> oneshot::Receiver<()> {
        if with_ports { self.pods_of::<Pod>() } else { self.pods_of::<PartialObjectMeta<Pod>>() }
    }

    /// A pod whose facts (labels, our annotations, ports) changed, appeared or went re-reconciles
    /// the APIs of the Services selecting it; a status-only change does not.
    fn pods_of<K>(&self) -> oneshot::Receiver<()>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + Sync
            + 'static,
        PodIndex: Index<K>,
    {
        let api: Api<K> = self.scoped_typed();
        let this = self.handle();
        self.spawn_watch(
            true,
            ("Pod", Listing::Required),
            watcher::watcher(api, watcher::Config::default().any_semantic()),
            move |event| {
                let touched = match &event {
                    Event::Apply(pod) | Event::Delete(pod) => {
                        Some((pod.namespace().unwrap_or_default(), pod.name_any(), pod.labels().clone()))
                    }
                    _ => None,
                };
                let changed = {
                    let mut index = this.state.pods.write();
                    let facts =
                        |index: &PodIndex| touched.as_ref().and_then(|(ns, name, _)| index.facts(ns, name).cloned());
                    let before = facts(index.get());
                    index.handle(&event);
                    before != facts(index.get())
                };
                let Some((ns, _, labels)) = touched.filter(|_| changed) else { return };
                let services: Vec<String> =
                    this.state.selectors.read().get().services_selecting(&ns, &labels).map(String::from).collect();
                for svc in services {
                    this.send_apis_of(&ns, &svc);
                }
            },
        )
    }
}
