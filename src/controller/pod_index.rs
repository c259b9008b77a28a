//! Indexes for the annotation-based metrics patterns: Service selectors and pod metadata per
//! namespace, fed by watches (pods metadata-only), so that finding the pods of a Service or the
//! Services of a pod is a lookup, never a LIST.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Pod, Service};
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

/// What the operator needs of a pod: its labels and the annotations it may own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodFacts {
    pub labels: Labels,
    pub annotations: Labels,
}

/// Pods of the watched namespaces: namespace → pod → facts.
#[derive(Default, Debug)]
pub struct PodIndex {
    pods: HashMap<String, BTreeMap<String, PodFacts>>,
}

impl PodIndex {
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
        let annotations = pod
            .annotations()
            .iter()
            .filter(|(k, _)| OWNED_PREFIXES.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let facts = PodFacts { labels: pod.labels().clone(), annotations };
        self.pods.entry(pod.namespace().unwrap_or_default()).or_default().insert(pod.name_any(), facts);
    }

    fn delete(&mut self, pod: &PartialObjectMeta<Pod>) {
        if let Some(pods) = self.pods.get_mut(&pod.namespace().unwrap_or_default()) {
            pods.remove(&pod.name_any());
        }
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
