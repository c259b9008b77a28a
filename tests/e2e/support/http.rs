//! Requests through a gateway and the small backends behind it: what the request-level tests
//! (`tests/e2e/effect/`) send and what answers them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The backend's name when the answer came from one of ours ([`Backend`]), else `None` (the
    /// gateway answered itself).
    pub fn backend(&self) -> Option<&str> {
        self.header(BACKEND_HEADER)
    }
}

/// One request (HTTP/1.1, no pooling, so every request is a new connection as a new client's would
/// be). `Err` only when no HTTP answer came at all.
pub async fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build_http();
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(Duration::from_secs(30), client.request(request))
        .await
        .map_err(|_| format!("{method} {url}: no answer in 30 s"))?
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(Duration::from_secs(60), body.collect())
        .await
        .map_err(|_| format!("{method} {url}: body not complete in 60 s"))?
        .map_err(|e| format!("{method} {url}: body: {e}"))?
        .to_bytes();
    Ok(Answer { status: parts.status.as_u16(), headers: parts.headers, body: String::from_utf8_lossy(&body).into() })
}

/// `GET url`.
pub async fn get(url: &str) -> Result<Answer, String> {
    send("GET", url, &[]).await
}

/// The header our backends name themselves in.
pub const BACKEND_HEADER: &str = "x-oda-e2e-backend";

/// A path (suffix) our backends answer by streaming: one chunk every 500 ms for the number of
/// seconds in the `x-stream-seconds` request header (default 3).
pub const STREAM_SUFFIX: &str = "/stream";

/// A path (suffix) our backends answer with a Prometheus text exposition of their request count,
/// `oda_e2e_backend_requests_total{backend="<name>"}` (what a metrics API's scrape reads).
pub const METRICS_SUFFIX: &str = "/metrics";

/// A small HTTP backend on the machine's non-loopback address (an implementation Pod's address),
/// answering every path with 200, its name in [`BACKEND_HEADER`] and the path in the body; it
/// counts requests. Stopped when dropped.
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    hits: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct BackendState {
    name: String,
    hits: Arc<AtomicU32>,
    extra: Arc<Vec<(String, String)>>,
}

impl Backend {
    /// Starts backend `name` on `host_ip`, any free port.
    pub async fn start(name: &str, host_ip: &str) -> Self {
        Self::start_with(name, host_ip, Vec::new()).await
    }

    /// Starts a backend that also answers the exact paths of `extra` with their bodies (e.g. a
    /// JWKS document).
    pub async fn start_with(name: &str, host_ip: &str, extra: Vec<(String, String)>) -> Self {
        let listener = tokio::net::TcpListener::bind((host_ip, 0)).await.expect("backend listens");
        let addr = listener.local_addr().expect("backend address");
        let hits = Arc::new(AtomicU32::new(0));
        let state = BackendState { name: name.to_owned(), hits: hits.clone(), extra: Arc::new(extra) };
        let app = axum::Router::new().fallback(answer).with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Backend { name: name.to_owned(), addr, hits, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Requests answered so far.
    pub fn hits(&self) -> u32 {
        self.hits.load(Ordering::Relaxed)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(state): State<BackendState>, request: Request) -> Response {
    state.hits.fetch_add(1, Ordering::Relaxed);
    let path = request.uri().path().to_owned();
    let builder = Response::builder().header(BACKEND_HEADER, state.name.as_str());
    if let Some((_, body)) = state.extra.iter().find(|(p, _)| *p == path) {
        return builder.header("content-type", "application/json").body(Body::from(body.clone())).unwrap_or_default();
    }
    if path.ends_with(METRICS_SUFFIX) {
        let body = format!(
            "# TYPE oda_e2e_backend_requests counter\noda_e2e_backend_requests_total{{backend=\"{}\"}} {}\n",
            state.name,
            state.hits.load(Ordering::Relaxed)
        );
        return builder
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Body::from(body))
            .unwrap_or_default();
    }
    if path.ends_with(STREAM_SUFFIX) {
        let seconds: u64 = request
            .headers()
            .get("x-stream-seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(3);
        let chunks = futures::stream::unfold(0u64, move |sent| async move {
            if sent >= seconds * 2 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            Some((Ok::<_, Infallible>(Bytes::from(format!("chunk {sent}\n"))), sent + 1))
        });
        return builder.body(Body::from_stream(chunks)).unwrap_or_default();
    }
    builder.body(Body::from(format!("{} {path}\n", state.name))).unwrap_or_default()
}
