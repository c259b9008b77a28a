//! Reading the operator's `/metrics` (Prometheus / OpenMetrics text) over plain HTTP/1.1.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::cluster::Result;

/// An HTTP/1.1 client for the operator's endpoints on loopback.
#[derive(Clone)]
pub struct HttpClient(Client<HttpConnector, Empty<Bytes>>);

impl HttpClient {
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        Self(Client::builder(TokioExecutor::new()).build(connector))
    }

    /// `GET http://127.0.0.1:<port><path>`: the status code and the body, within `timeout`.
    pub async fn get(&self, port: u16, path: &str, timeout: Duration) -> Result<(u16, String)> {
        let uri: hyper::Uri = format!("http://127.0.0.1:{port}{path}").parse()?;
        let request = async {
            let response = self.0.get(uri).await?;
            let code = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, crate::cluster::Error>((code, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(timeout, request).await.map_err(|_| format!("GET {path}: timed out"))?
    }
}

/// One sample: metric name, labels, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition: its counters, gauges and untyped samples (among them the `_sum` and
/// `_count` of histograms and summaries; their buckets and quantiles are left out).
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
}

impl Scrape {
    pub fn parse(text: &str) -> Self {
        use prometheus_parse::Value;
        let Ok(scrape) = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))) else {
            return Self::default();
        };
        let samples = scrape
            .samples
            .into_iter()
            .filter_map(|s| {
                let value = match s.value {
                    Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
                    Value::Histogram(_) | Value::Summary(_) => return None,
                };
                let labels = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                Some(Sample { name: s.metric, labels, value })
            })
            .collect();
        Self { samples }
    }

    /// Sum over every sample of `name` (all label values); `None` when the metric is absent.
    pub fn sum(&self, name: &str) -> Option<f64> {
        let mut found = false;
        let total = self.samples.iter().filter(|s| s.name == name).inspect(|_| found = true).map(|s| s.value).sum();
        found.then_some(total)
    }

    /// Values of `name` by the value of `label`.
    pub fn by_label(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in self.samples.iter().filter(|s| s.name == name) {
            *out.entry(s.labels.get(label).cloned().unwrap_or_default()).or_insert(0.0) += s.value;
        }
        out
    }
}

/// The operator metrics the benchmark reads.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct OperatorMetrics {
    pub reconciles: f64,
    pub writes: f64,
    pub writes_by_kind: BTreeMap<String, f64>,
    pub errors_by_reason: BTreeMap<String, f64>,
    pub reconcile_seconds_sum: f64,
    pub reconcile_seconds_count: f64,
    pub queue_depth: Option<f64>,
    /// Events queued in the operator, not yet published.
    pub events_pending: Option<f64>,
    pub events_dropped: f64,
}

impl OperatorMetrics {
    pub fn from_scrape(s: &Scrape) -> Self {
        Self {
            reconciles: s.sum("oda_api_operator_reconciles_total").unwrap_or(0.0),
            writes: s.sum("oda_api_operator_writes_total").unwrap_or(0.0),
            writes_by_kind: s.by_label("oda_api_operator_writes_total", "kind"),
            errors_by_reason: s.by_label("oda_api_operator_reconcile_errors_total", "reason"),
            reconcile_seconds_sum: s.sum("oda_api_operator_reconcile_duration_seconds_sum").unwrap_or(0.0),
            reconcile_seconds_count: s.sum("oda_api_operator_reconcile_duration_seconds_count").unwrap_or(0.0),
            queue_depth: s.sum("oda_api_operator_queue_depth"),
            events_pending: s.sum("oda_api_operator_events_pending"),
            events_dropped: s.sum("oda_api_operator_events_dropped_total").unwrap_or(0.0),
        }
    }

    /// What happened between `earlier` and `self` (counters only; the gauge is `self`'s).
    pub fn since(&self, earlier: &Self) -> Self {
        let diff = |a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>| {
            a.iter()
                .map(|(k, v)| (k.clone(), v - b.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v != 0.0)
                .collect()
        };
        Self {
            reconciles: self.reconciles - earlier.reconciles,
            writes: self.writes - earlier.writes,
            writes_by_kind: diff(&self.writes_by_kind, &earlier.writes_by_kind),
            errors_by_reason: diff(&self.errors_by_reason, &earlier.errors_by_reason),
            reconcile_seconds_sum: self.reconcile_seconds_sum - earlier.reconcile_seconds_sum,
            reconcile_seconds_count: self.reconcile_seconds_count - earlier.reconcile_seconds_count,
            queue_depth: self.queue_depth,
            events_pending: self.events_pending,
            events_dropped: self.events_dropped - earlier.events_dropped,
        }
    }

    /// Mean duration of one reconcile, in milliseconds.
    pub fn mean_reconcile_ms(&self) -> Option<f64> {
        (self.reconcile_seconds_count > 0.0).then(|| 1000.0 * self.reconcile_seconds_sum / self.reconcile_seconds_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP oda_api_operator_reconciles Reconciles of ExposedAPIs.
# TYPE oda_api_operator_reconciles counter
oda_api_operator_reconciles_total 12
oda_api_operator_writes_total{kind="VirtualService"} 5
oda_api_operator_writes_total{kind="status"} 6
oda_api_operator_reconcile_errors_total{reason="ApplyFailed",kind="VirtualService"} 1
# TYPE oda_api_operator_reconcile_duration_seconds histogram
oda_api_operator_reconcile_duration_seconds_sum 0.5
oda_api_operator_reconcile_duration_seconds_count 10
oda_api_operator_reconcile_duration_seconds_bucket{le="+Inf"} 10
oda_api_operator_queue_depth 0
# EOF
"#;

    #[test]
    fn parses_the_operator_metrics() {
        let m = OperatorMetrics::from_scrape(&Scrape::parse(TEXT));
        assert_eq!(m.reconciles, 12.0);
        assert_eq!(m.writes, 11.0);
        assert_eq!(m.writes_by_kind.get("status"), Some(&6.0));
        assert_eq!(m.errors_by_reason.get("ApplyFailed"), Some(&1.0));
        assert_eq!(m.mean_reconcile_ms(), Some(50.0));
        assert_eq!(m.queue_depth, Some(0.0));
        let s = Scrape::parse(TEXT);
        let errors = s.samples.iter().find(|s| s.name.ends_with("errors_total")).unwrap();
        assert_eq!(errors.labels.get("kind").map(String::as_str), Some("VirtualService"));
        assert_eq!(s.sum("absent"), None);
        assert_eq!(s.sum("oda_api_operator_reconcile_duration_seconds_bucket"), None);
    }

    #[test]
    fn keeps_the_labels_of_histogram_sums() {
        let s = Scrape::parse(
            "# TYPE apiserver_request_duration_seconds histogram\n\
             apiserver_request_duration_seconds_bucket{verb=\"APPLY\",resource=\"virtualservices\",le=\"0.1\"} 3\n\
             apiserver_request_duration_seconds_sum{verb=\"APPLY\",resource=\"virtualservices\"} 0.25\n\
             apiserver_request_duration_seconds_count{verb=\"APPLY\",resource=\"virtualservices\"} 3\n",
        );
        assert_eq!(s.by_label("apiserver_request_duration_seconds_sum", "verb").get("APPLY"), Some(&0.25));
        assert_eq!(s.sum("apiserver_request_duration_seconds_count"), Some(3.0));
    }
}
