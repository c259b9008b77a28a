//! Indexes for metrics scraping: Service selectors and pod facts per namespace, fed by watches
//! (pods metadata-only for the annotation modes; whole for ServiceMonitors, whose `targetPort`
//! must be a declared container port), so that finding the pods of a Service or the Services of a
//! pod is a lookup, never a LIST.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;

use super::indexes::Index;

type Labels = BTreeMap<String, String>;

/// Annotation key prefixes the operator may own; other annotations are not cached.
const OWNED_PREFIXES: [&str; 2] = ["prometheus.io/", "ad.datadoghq.com/"];

/// Selectors of the Services in the watched namespaces: namespace → Service → selector.
#[derive(Default, Debug)]
pub struct SelectorIndex {
    services: HashMap<String, BTreeMap<String, Labels>>,
}

impl SelectorIndex {
    /// `None` when the Service is unknown; an empty map when it has no selector.
    pub fn selector(&self, namespace: &str, service: &str) -> Option<&Labels> {
        self.services.get(namespace)?.get(service)
    }

    /// Services of a namespace whose (non-empty) selector matches these labels.
    pub fn services_selecting<'a>(&'a self, namespace: &str, labels: &'a Labels) -> impl Iterator<Item = &'a str> + 'a {
        self.services
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|(_, selector)| selects(selector, labels))
            .map(|(name, _)| name.as_str())
    }
}

impl Index<Service> for SelectorIndex {
    fn apply(&mut self, svc: &Service) {
        let selector = svc.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default();
        self.services.entry(svc.namespace().unwrap_or_default()).or_default().insert(svc.name_any(), selector);
    }

    fn delete(&mut self, svc: &Service) {
        if let Some(services) = self.services.get_mut(&svc.namespace().unwrap_or_default()) {
            services.remove(&svc.name_any());
        }
    }
}

/// What the operator needs of a pod: its labels, the annotations it may own, and the container
/// ports it declares (only known from a whole-pod watch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodFacts {
    pub labels: Labels,
    pub annotations: Labels,
    pub ports: Vec<i32>,
}

impl PodFacts {
    fn of(meta: &ObjectMeta, ports: Vec<i32>) -> Self {
        let annotations = meta
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| OWNED_PREFIXES.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self { labels: meta.labels.clone().unwrap_or_default(), annotations, ports }
    }
}

/// Pods of the watched namespaces: namespace → pod → facts.
#[derive(Default, Debug)]
pub struct PodIndex {
    pods: HashMap<String, BTreeMap<String, PodFacts>>,
}

impl PodIndex {
    /// The facts of one pod.
    pub fn facts(&self, namespace: &str, name: &str) -> Option<&PodFacts> {
        self.pods.get(namespace)?.get(name)
    }

    fn insert(&mut self, meta: &ObjectMeta, facts: PodFacts) {
        let (namespace, name) = (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default());
        self.pods.entry(namespace).or_default().insert(name, facts);
    }

    fn remove(&mut self, meta: &ObjectMeta) {
        if let Some(pods) = self.pods.get_mut(meta.namespace.as_deref().unwrap_or_default()) {
            pods.remove(meta.name.as_deref().unwrap_or_default());
        }
    }

    /// Pods selected by a (non-empty) selector, by name.
    pub fn selected(&self, namespace: &str, selector: &Labels) -> Vec<(String, PodFacts)> {
        self.pods
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|(_, pod)| selects(selector, &pod.labels))
            .map(|(name, pod)| (name.clone(), pod.clone()))
            .collect()
    }
}

impl Index<PartialObjectMeta<Pod>> for PodIndex {
    fn apply(&mut self, pod: &PartialObjectMeta<Pod>) {
        self.insert(&pod.metadata, PodFacts::of(&pod.metadata, Vec::new()));
    }

    fn delete(&mut self, pod: &PartialObjectMeta<Pod>) {
        self.remove(&pod.metadata);
    }
}

impl Index<Pod> for PodIndex {
    /// Declared ports of the containers and init containers (restartable sidecars serve too), as
    /// Prometheus' Kubernetes discovery reads them.
    fn apply(&mut self, pod: &Pod) {
        let spec = pod.spec.as_ref();
        let containers = spec.into_iter().flat_map(|s| s.containers.iter().chain(s.init_containers.iter().flatten()));
        let mut ports: Vec<i32> = containers.flat_map(|c| c.ports.iter().flatten()).map(|p| p.container_port).collect();
        ports.sort_unstable();
        ports.dedup();
        self.insert(&pod.metadata, PodFacts::of(&pod.metadata, ports));
    }

    fn delete(&mut self, pod: &Pod) {
        self.remove(&pod.metadata);
    }
}

/// Service selector semantics: every pair present; an empty selector selects nothing.
pub fn selects(selector: &Labels, labels: &Labels) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ServiceSpec;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn pod(name: &str, pod_labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> PartialObjectMeta<Pod> {
        let mut pod = PartialObjectMeta::<Pod>::default();
        pod.metadata.name = Some(name.into());
        pod.metadata.namespace = Some("ns".into());
        pod.metadata.labels = Some(labels(pod_labels));
        pod.metadata.annotations = Some(labels(annotations));
        pod
    }

    #[test]
    fn the_full_selector_picks_the_pods() {
        let mut pods = PodIndex::default();
        pods.apply(&pod(
            "a",
            &[("app", "x"), ("tier", "api")],
            &[("prometheus.io/scrape", "true"), ("other", "kept out")],
        ));
        pods.apply(&pod("b", &[("app", "x"), ("tier", "api")], &[]));
        pods.apply(&pod("c", &[("app", "x")], &[]));
        let selected = pods.selected("ns", &labels(&[("app", "x"), ("tier", "api")]));
        let names: Vec<&str> = selected.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b"], "the reference used only the first selector key");
        assert_eq!(selected[0].1.annotations, labels(&[("prometheus.io/scrape", "true")]));
        assert!(pods.selected("ns", &Labels::new()).is_empty());
        pods.delete(&pod("a", &[], &[]));
        assert_eq!(pods.selected("ns", &labels(&[("app", "x"), ("tier", "api")])).len(), 1);
    }

    #[test]
    fn whole_pods_bring_their_declared_ports() {
        use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec};
        let container = |ports: &[i32]| Container {
            ports: Some(ports.iter().map(|p| ContainerPort { container_port: *p, ..Default::default() }).collect()),
            ..Default::default()
        };
        let mut pod = Pod {
            spec: Some(PodSpec {
                containers: vec![container(&[8080, 4000]), container(&[])],
                init_containers: Some(vec![container(&[9090, 8080])]),
                ..Default::default()
            }),
            ..Default::default()
        };
        pod.metadata.name = Some("p".into());
        pod.metadata.namespace = Some("ns".into());
        pod.metadata.labels = Some(labels(&[("app", "x")]));
        let mut pods = PodIndex::default();
        pods.apply(&pod);
        assert_eq!(pods.facts("ns", "p").map(|f| f.ports.clone()), Some(vec![4000, 8080, 9090]));
        pods.delete(&pod);
        assert_eq!(pods.facts("ns", "p"), None);
    }

    #[test]
    fn services_selecting_a_pod() {
        let mut services = SelectorIndex::default();
        let svc = |name: &str, selector: &[(&str, &str)]| {
            let mut s = Service {
                spec: Some(ServiceSpec { selector: Some(labels(selector)), ..Default::default() }),
                ..Default::default()
            };
            s.metadata.name = Some(name.into());
            s.metadata.namespace = Some("ns".into());
            s
        };
        services.apply(&svc("metrics", &[("app", "x")]));
        services.apply(&svc("other", &[("app", "y")]));
        services.apply(&svc("headless", &[]));
        let pod_labels = labels(&[("app", "x"), ("pod-template-hash", "1")]);
        assert_eq!(services.services_selecting("ns", &pod_labels).collect::<Vec<_>>(), ["metrics"]);
        assert_eq!(services.selector("ns", "headless"), Some(&Labels::new()));
        assert_eq!(services.selector("ns", "missing"), None);
    }
}
