//! Steering the stand-in: in-process through [`Control`], or over its control listener when it
//! runs as its own process (the operator never talks to that listener).

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State as Extract;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::Shared;
use crate::state::{Fault, LroMode, Recorded, ServiceKey, StoredApi};

/// A handle on the stand-in's state.
#[derive(Clone)]
pub struct Control(pub(crate) Shared);

impl Control {
    /// The next `count` requests whose `METHOD path` contains `route` get `status`.
    pub async fn fail_next(&self, route: &str, status: u16, count: u32, retry_after: Option<u32>) {
        self.0.lock().await.faults.push(Fault { route: route.into(), status, retry_after, remaining: count });
    }

    pub async fn set_lro(&self, mode: LroMode) {
        self.0.lock().await.lro = mode;
    }

    /// Every token issued so far stops being valid.
    pub async fn expire_tokens(&self) {
        let mut state = self.0.lock().await;
        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(Instant::now);
        state.tokens.values_mut().for_each(|t| t.expires = past);
    }

    pub async fn set_token_lifetime(&self, lifetime: Duration) {
        self.0.lock().await.token_lifetime = lifetime;
    }

    /// The federated token file now holds `token`: older assertions are refused.
    pub async fn rotate_federated_token(&self, token: &str) {
        self.0.lock().await.federated_token = Some(token.into());
    }

    pub async fn deny_vault(&self, denied: bool) {
        self.0.lock().await.vault_denied = denied;
    }

    pub async fn requests(&self) -> Vec<Recorded> {
        self.0.lock().await.requests.clone()
    }

    pub async fn clear_requests(&self) {
        self.0.lock().await.requests.clear();
    }

    pub async fn api(&self, service: &ServiceKey, id: &str) -> Option<StoredApi> {
        self.0.lock().await.apis.get(&(service.clone(), id.to_owned())).cloned()
    }

    /// Someone deleted the API in the portal.
    pub async fn delete_api(&self, service: &ServiceKey, id: &str) {
        self.0.lock().await.apis.remove(&(service.clone(), id.to_owned()));
    }

    /// Someone edits the API's policy in the portal (its ETag moves; the API's does not).
    pub async fn edit_policy(&self, id: &str, value: &str) -> bool {
        let mut state = self.0.lock().await;
        let etag = state.etag();
        let Some(api) = state.apis.iter_mut().find(|((_, other), _)| other == id).map(|(_, api)| api) else {
            return false;
        };
        api.policy = Some(crate::state::Stored { value: json!(value), etag });
        true
    }

    /// Someone edits the API in the portal: `properties` merged into it, and its ETag moves.
    pub async fn edit_api(&self, id: &str, properties: &serde_json::Value) -> bool {
        let mut state = self.0.lock().await;
        let etag = state.etag();
        let Some(api) = state.apis.iter_mut().find(|((_, other), _)| other == id).map(|(_, api)| api) else {
            return false;
        };
        for (key, value) in properties.as_object().into_iter().flatten() {
            api.properties[key] = value.clone();
        }
        api.etag = etag;
        true
    }

    /// Pages of the API list hold at most `cap` APIs (at least one).
    pub async fn set_page_cap(&self, cap: usize) {
        self.0.lock().await.page_cap = cap.max(1);
    }

    /// Hosts `content` at `/documents/{name}` on the control listener.
    pub async fn put_document(&self, name: &str, content: &str) {
        self.0.lock().await.documents.insert(name.to_owned(), content.to_owned());
    }

    /// An API someone else created.
    pub async fn insert_api(&self, service: &ServiceKey, id: &str, path: &str) {
        let mut state = self.0.lock().await;
        let etag = state.etag();
        let api = StoredApi { properties: json!({"path": path, "displayName": "foreign"}), etag, policy: None };
        state.apis.insert((service.clone(), id.to_owned()), api);
    }
}

#[derive(Deserialize)]
struct FaultRequest {
    route: String,
    status: u16,
    count: u32,
    retry_after: Option<u32>,
}

#[derive(Deserialize)]
struct LroRequest {
    mode: String,
    #[serde(default)]
    polls: u32,
}

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/control/faults", post(fault))
        .route("/control/lro", post(lro))
        .route("/control/expire-tokens", post(expire))
        .route("/control/requests", get(requests))
        .route("/control/apis", get(apis))
        .route("/control/apis/{id}", axum::routing::put(foreign).delete(delete).patch(edit_api))
        .route("/control/page-cap", post(page_cap))
        .route("/control/apis/{id}/policy", axum::routing::put(edit_policy))
        .route("/documents/{name}", get(document).put(put_document))
}

/// Someone edits an API's policy in the portal.
async fn edit_policy(
    Extract(shared): Extract<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Json(value): axum::Json<String>,
) -> Response {
    match Control(shared).edit_policy(&id, &value).await {
        true => axum::http::StatusCode::NO_CONTENT.into_response(),
        false => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// Someone edits an API in the portal (a JSON object of properties to merge).
async fn edit_api(
    Extract(shared): Extract<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Json(properties): axum::Json<serde_json::Value>,
) -> Response {
    match Control(shared).edit_api(&id, &properties).await {
        true => axum::http::StatusCode::NO_CONTENT.into_response(),
        false => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct PageCapRequest {
    cap: usize,
}

async fn page_cap(Extract(shared): Extract<Shared>, axum::Json(p): axum::Json<PageCapRequest>) -> Response {
    Control(shared).set_page_cap(p.cap).await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// A hosted API document (what an ExposedAPI's `specification.url` points at in tests).
async fn document(
    Extract(shared): Extract<Shared>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    match shared.lock().await.documents.get(&name) {
        Some(content) => content.clone().into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// A test hosts (or replaces) a document.
async fn put_document(
    Extract(shared): Extract<Shared>,
    axum::extract::Path(name): axum::extract::Path<String>,
    content: String,
) -> Response {
    Control(shared).put_document(&name, &content).await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// Every API of every service: id, ETag, properties and the policy XML.
async fn apis(Extract(shared): Extract<Shared>) -> Response {
    let state = shared.lock().await;
    let list: Vec<_> = state
        .apis
        .iter()
        .map(|((_, id), api)| {
            json!({"id": id, "etag": api.etag, "properties": api.properties,
                "policy": api.policy.as_ref().map(|p| p.value.clone())})
        })
        .collect();
    axum::Json(list).into_response()
}

#[derive(Deserialize)]
struct ForeignRequest {
    path: String,
}

/// Someone else creates an API of this id in the first service.
async fn foreign(
    Extract(shared): Extract<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Json(f): axum::Json<ForeignRequest>,
) -> Response {
    let service = shared.lock().await.services.first().cloned();
    let Some(service) = service else { return axum::http::StatusCode::CONFLICT.into_response() };
    Control(shared).insert_api(&service, &id, &f.path).await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

/// Someone deletes the API in the portal, in every service.
async fn delete(Extract(shared): Extract<Shared>, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    shared.lock().await.apis.retain(|(_, api), _| *api != id);
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn fault(Extract(shared): Extract<Shared>, axum::Json(f): axum::Json<FaultRequest>) -> Response {
    Control(shared).fail_next(&f.route, f.status, f.count, f.retry_after).await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn lro(Extract(shared): Extract<Shared>, axum::Json(l): axum::Json<LroRequest>) -> Response {
    let mode = match l.mode.as_str() {
        "immediate" => LroMode::Immediate,
        "location" => LroMode::Location { polls: l.polls },
        "accepted" => LroMode::Accepted { polls: l.polls },
        _ => return (axum::http::StatusCode::BAD_REQUEST, "mode: immediate, location or accepted").into_response(),
    };
    Control(shared).set_lro(mode).await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn expire(Extract(shared): Extract<Shared>) -> Response {
    Control(shared).expire_tokens().await;
    axum::http::StatusCode::NO_CONTENT.into_response()
}

async fn requests(Extract(shared): Extract<Shared>) -> Response {
    let recorded = Control(shared).requests().await;
    let list: Vec<_> = recorded
        .iter()
        .map(|r| json!({"listener": r.listener, "method": r.method, "path": r.path, "query": r.query, "ifMatch": r.if_match, "body": r.body, "status": r.status}))
        .collect();
    axum::Json(list).into_response()
}
