//! Entra ID's token endpoint (client secret and workload-identity assertion flows) and the IMDS
//! managed-identity endpoint, and the bearer-token check the resource listeners apply.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Shared;
use crate::arm::arm_error;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn aad_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({
        "error": error, "error_description": format!("AADSTS700016: {description}"), "error_codes": [700016],
        "trace_id": "00000000-0000-0000-0000-000000000000", "correlation_id": "00000000-0000-0000-0000-000000000000",
        "timestamp": "2026-12-01 00:00:00Z"
    });
    (status, axum::Json(body)).into_response()
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    Extract(shared): Extract<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut state = shared.lock().await;
    // Recorded without the form: it holds the secret or the assertion.
    let uri: axum::http::Uri = format!("/{tenant}/oauth2/v2.0/token").parse().unwrap_or_default();
    crate::record(&mut state, "entra", &axum::http::Method::POST, &uri, &HeaderMap::new(), &[]);
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if tenant != state.tenant {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_request", "tenant not found");
    }
    if field("grant_type") != "client_credentials" {
        return aad_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "grant_type must be client_credentials");
    }
    let Some(audience) = field("scope").strip_suffix("/.default").map(String::from) else {
        return aad_error(StatusCode::BAD_REQUEST, "invalid_scope", "the scope must end in /.default");
    };
    let Some(secret) = state.clients.get(field("client_id")).cloned() else {
        return aad_error(StatusCode::BAD_REQUEST, "unauthorized_client", "application not found in the directory");
    };
    let authenticated = match (secret, field("client_assertion_type")) {
        (Some(secret), "") => field("client_secret") == secret,
        (None, ASSERTION_TYPE) => {
            let assertion = field("client_assertion");
            !assertion.is_empty() && state.federated_token.as_deref() == Some(assertion)
        }
        _ => false,
    };
    if !authenticated {
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", "invalid client secret or assertion");
    }
    let (access_token, expires_in) = state.issue_token(&audience);
    let body = json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": access_token});
    axum::Json(body).into_response()
}

/// `GET /metadata/identity/oauth2/token` (IMDS): string-typed expiries, the `Metadata` header.
pub async fn imds(
    Extract(shared): Extract<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = shared.lock().await;
    let bad = |description: &str| {
        let body = json!({"error": "invalid_request", "error_description": description});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return bad("Required metadata header not specified");
    }
    if !query.contains_key("api-version") {
        return bad("Required query variable 'api-version' is missing");
    }
    let Some(resource) = query.get("resource").filter(|r| !r.ends_with("/.default")) else {
        return bad("Required query variable 'resource' is missing or is a scope");
    };
    if let Some(client) = query.get("client_id")
        && !state.clients.contains_key(client)
    {
        return bad("Identity not found");
    }
    let (access_token, expires_in) = state.issue_token(resource.trim_end_matches('/'));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    axum::Json(json!({
        "access_token": access_token, "expires_in": expires_in.to_string(),
        "expires_on": (now + expires_in).to_string(), "resource": resource, "token_type": "Bearer"
    }))
    .into_response()
}

/// The ARM-style answer for a request without a valid token for `audience`, if any.
pub fn unauthorized(state: &crate::state::State, headers: &HeaderMap, audience: &str) -> Option<Response> {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = bearer else {
        return Some(arm_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(info) = state.tokens.get(token) else {
        return Some(arm_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", "The access token is invalid."));
    };
    if info.audience.trim_end_matches('/') != audience.trim_end_matches('/') {
        return Some(arm_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenAudience",
            &format!("The access token has been obtained for the wrong audience: {}", info.audience),
        ));
    }
    if info.expires <= Instant::now() {
        return Some(arm_error(
            StatusCode::UNAUTHORIZED,
            "ExpiredAuthenticationToken",
            "The access token expiry has passed.",
        ));
    }
    None
}
