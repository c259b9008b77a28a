//! Key Vault's `GET /secrets/{name}[/{version}]`: the bearer challenge, the vault audience, the
//! api-version, RBAC denial and unknown secrets as Key Vault answers them.

use std::collections::HashMap;

use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Shared;

pub const VAULT_AUDIENCE: &str = "https://vault.azure.net";
const API_VERSIONS: &[&str] = &["7.4", "7.5", "2025-07-01"];

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

pub async fn secret(
    Extract(shared): Extract<Shared>,
    Path(path): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = shared.lock().await;
    let uri: axum::http::Uri = format!("/secrets/{path}").parse().unwrap_or_default();
    crate::record(&mut state, "vault", &axum::http::Method::GET, &uri, &headers, &[]);
    match query.get("api-version") {
        Some(v) if API_VERSIONS.contains(&v.as_str()) => {}
        _ => return error(StatusCode::BAD_REQUEST, "BadParameter", "The api-version is missing or not supported."),
    }
    if headers.get("authorization").is_none() {
        let mut response =
            error(StatusCode::UNAUTHORIZED, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.");
        let challenge = format!(
            "Bearer authorization=\"https://login.microsoftonline.com/{}\", resource=\"{VAULT_AUDIENCE}\"",
            state.tenant
        );
        crate::set_header(&mut response, "www-authenticate", &challenge);
        return response;
    }
    if let Some(denied) = crate::identity::unauthorized(&state, &headers, VAULT_AUDIENCE) {
        return denied;
    }
    if state.vault_denied {
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Caller is not authorized to perform action on resource (ForbiddenByRbac).",
        );
    }
    let name = path.split('/').next().unwrap_or_default();
    match state.secrets.get(name) {
        Some(value) => axum::Json(json!({
            "value": value, "id": format!("https://vault/secrets/{name}/0"), "attributes": {"enabled": true}
        }))
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "SecretNotFound",
            &format!("A secret with (name/id) {name} was not found in this key vault."),
        ),
    }
}
