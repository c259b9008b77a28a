//! Reading the operator's `/metrics` (Prometheus / OpenMetrics text) over plain HTTP/1.1.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `GET http://127.0.0.1:<port><path>`: the status code and the body.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(bad)?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Ok((code, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}

/// One sample: metric name, labels, value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub samples: Vec<Sample>,
}

impl Scrape {
    pub fn parse(text: &str) -> Self {
        let samples =
            text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(parse_line).collect();
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

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    let (name, labels, rest) = match line.find('{') {
        Some(open) if open < line.find(' ').unwrap_or(usize::MAX) => {
            let close = line.rfind('}')?;
            (&line[..open], parse_labels(&line[open + 1..close]), &line[close + 1..])
        }
        _ => {
            let (name, rest) = line.split_once(' ')?;
            (name, BTreeMap::new(), rest)
        }
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample { name: name.to_owned(), labels, value })
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(if escaped == 'n' { '\n' } else { escaped });
                    }
                }
                '"' => {
                    end = at + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key.trim().trim_start_matches(',').trim().to_owned(), value);
        rest = &after[end..];
    }
    out
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
oda_api_operator_reconcile_errors_total{reason="ApplyFailed",extra="a \"q\", b"} 1
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
        assert_eq!(errors.labels.get("extra").map(String::as_str), Some("a \"q\", b"));
        assert_eq!(s.sum("absent"), None);
    }

    #[test]
    fn dechunks() {
        assert_eq!(dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world");
    }
}
