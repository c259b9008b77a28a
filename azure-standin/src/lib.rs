//! A stateful local stand-in for the Azure services the APIM backend talks to: Entra ID's token
//! endpoint, IMDS, Key Vault and the APIM subset of ARM, each on its own listener (so tokens are
//! checked per audience, as in Azure), enforcing the documented contracts the operator relies on
//! and answering with Azure's status codes, headers and error bodies. Tests steer it through
//! [`Control`] (fault injection, long-running-operation mode, token expiry) and read what it
//! received. What it cannot prove is in docs/azure-standin.md.

#![forbid(unsafe_code)]

mod arm;
mod contract;
mod control;
mod filter;
mod identity;
mod import_check;
mod list;
mod policy_check;
pub mod state;
mod vault;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub use control::Control;
pub use state::{Fault, LroMode, Recorded, ServiceKey, State};

pub(crate) type Shared = Arc<Mutex<State>>;

/// Who and what the stand-in knows at start.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub tenant: String,
    /// `(client id, secret)`; no secret: a workload identity client.
    pub clients: Vec<(String, Option<String>)>,
    /// The federated token a workload identity assertion must carry.
    pub federated_token: Option<String>,
    pub services: Vec<ServiceKey>,
    pub secrets: Vec<(String, String)>,
    /// Port of each listener (entra, imds, arm, vault, control); 0 picks a free one.
    pub ports: [u16; 5],
}

/// A running stand-in; its listeners stop when it is dropped.
pub struct StandIn {
    pub entra: SocketAddr,
    pub imds: SocketAddr,
    pub arm: SocketAddr,
    pub vault: SocketAddr,
    /// The control listener, for a stand-in run as its own process.
    pub control: SocketAddr,
    state: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl StandIn {
    pub async fn start(options: Options) -> std::io::Result<Self> {
        let mut state = State::new(&options.tenant);
        state.clients = options.clients.into_iter().collect();
        state.federated_token = options.federated_token;
        state.services = options.services;
        state.secrets = options.secrets.into_iter().collect();
        let state: Shared = Arc::new(Mutex::new(state));
        let routers = [
            Router::new().route("/{tenant}/oauth2/v2.0/token", post(identity::token)),
            Router::new().route("/metadata/identity/oauth2/token", get(identity::imds)),
            Router::new().fallback(arm::arm),
            Router::new().route("/secrets/{*path}", get(vault::secret)),
            control::router(),
        ];
        let mut addresses = Vec::new();
        let mut tasks = Vec::new();
        for (router, port) in routers.into_iter().zip(options.ports) {
            let listener = TcpListener::bind(("127.0.0.1", port)).await?;
            addresses.push(listener.local_addr()?);
            let app = router.with_state(state.clone());
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            }));
        }
        let [entra, imds, arm, vault, control] = addresses[..] else {
            return Err(std::io::Error::other("a listener did not start"));
        };
        Ok(Self { entra, imds, arm, vault, control, state, tasks })
    }

    pub fn control(&self) -> Control {
        Control(self.state.clone())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// Records a request (the token redacted).
pub(crate) fn record(
    state: &mut State,
    listener: &'static str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    state.requests.push(Recorded {
        listener,
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        if_match: header("if-match"),
        authorization: header("authorization")
            .map(|a| if a.starts_with("Bearer ") { "Bearer <redacted>".into() } else { "<redacted>".into() }),
        body: String::from_utf8_lossy(body).into_owned(),
        status: None,
    });
}

pub(crate) fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// The answer a fault forces, in ARM's form; status 0 drops the connection mid-answer (the
/// status line is out, the body fails), as a reset or a dying proxy does. (An answer to `HEAD`
/// has no body to fail: a test resets a GET, PUT or DELETE.)
pub(crate) fn fault_response(fault: &Fault) -> Response {
    if fault.status == 0 {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by the stand-in");
        let body = futures::stream::once(async move { Err::<axum::body::Bytes, _>(reset) });
        return axum::body::Body::from_stream(body).into_response();
    }
    let status = StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = match fault.status {
        429 => "TooManyRequests",
        403 => "AuthorizationFailed",
        412 => "PreconditionFailed",
        409 => "Conflict",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    };
    let mut response = arm::arm_error(status, code, "injected by the stand-in");
    if let Some(seconds) = fault.retry_after {
        set_header(&mut response, "retry-after", &seconds.to_string());
    }
    response.into_response()
}
