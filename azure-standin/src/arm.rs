//! The APIM subset of Azure Resource Manager: the service, APIs (with long-running operations),
//! API policies and OpenID Connect providers, with ARM's api-version, ETag/If-Match and error rules
//! (design: shared/reference azure-apim §2, §4.3).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::Shared;
use crate::state::{LroMode, Operation, ServiceKey, State, Stored, StoredApi};

pub const ARM_AUDIENCE: &str = "https://management.azure.com";

/// ARM's error envelope.
pub fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// ARM's answer to a request the published contract refuses.
fn violation_response(v: &crate::contract::Violation) -> Response {
    let status = StatusCode::from_u16(v.status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({"error": {"code": v.code, "message": v.message, "target": v.target,
        "details": [{"code": v.code, "target": v.target, "message": v.message}]}});
    (status, axum::Json(body)).into_response()
}

fn validation(target: &str, message: &str) -> Response {
    let body = json!({"error": {"code": "ValidationError", "message": "One or more fields contain incorrect values:",
        "details": [{"code": "ValidationError", "target": target, "message": message}]}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn with_etag(status: StatusCode, etag: &str, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert("etag", value);
    }
    response
}

/// The ARM listener: one handler, since ARM paths are matched segment by segment.
pub async fn arm(
    Extract(shared): Extract<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = shared.lock().await;
    crate::record(&mut state, "arm", &method, &uri, &headers, &body);
    let response = answer(&mut state, method, uri, headers, body);
    // The answer goes into the log too: a test that fails shows what the operator was told.
    if let Some(last) = state.requests.last_mut() {
        last.status = Some(response.status().as_u16());
    }
    response
}

fn answer(state: &mut State, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(denied) = crate::identity::unauthorized(state, &headers, ARM_AUDIENCE) {
        return denied;
    }
    if let Some(fault) = state.take_fault(method.as_str(), uri.path()) {
        return crate::fault_response(&fault);
    }
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            let pairs = q.split('&').filter_map(|p| p.split_once('='));
            pairs.map(|(k, v)| (crate::list::decode(k), crate::list::decode(v))).collect()
        })
        .unwrap_or_default();
    // Microsoft's published contract first: what it refuses never reaches the handlers.
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    match crate::contract::contract() {
        Err(broken) => return arm_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", &broken),
        Ok(contract) => match contract.check(method.as_str(), uri.path(), &query, &header, &body) {
            Err(violation) => return violation_response(&violation),
            Ok(false) => {
                return arm_error(
                    StatusCode::NOT_FOUND,
                    "InvalidResourceType",
                    "The resource type could not be found.",
                );
            }
            Ok(true) => {}
        },
    }
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let (service, rest) = match segments.as_slice() {
        ["subscriptions", s, "resourceGroups", g, "providers", "Microsoft.ApiManagement", "service", n, rest @ ..] => {
            (ServiceKey { subscription: (*s).into(), resource_group: (*g).into(), name: (*n).into() }, rest.to_vec())
        }
        _ => return arm_error(StatusCode::NOT_FOUND, "InvalidResourceType", "The resource type could not be found."),
    };
    if !state.services.contains(&service) {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.ApiManagement/service/{}' was not found.", service.name),
        );
    }
    let base = format!("http://{}", headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"));
    let if_match = headers.get("if-match").and_then(|v| v.to_str().ok()).map(String::from);
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let ctx = Call { state, service, base, if_match, path: uri.path().to_owned(), query };
    match (method, rest.as_slice()) {
        (Method::GET, []) => {
            let name = &ctx.service.name;
            axum::Json(json!({"name": name, "type": "Microsoft.ApiManagement/service",
                "properties": {"gatewayUrl": format!("https://{name}.azure-api.net")}}))
            .into_response()
        }
        (Method::GET, ["apis"]) => crate::list::list_apis(ctx.state, &ctx.service, (&ctx.base, &ctx.path), &ctx.query),
        (Method::GET | Method::HEAD, ["apis", id]) if ctx.query.contains_key("asyncId") => ctx.poll(id),
        (Method::GET | Method::HEAD, ["apis", id]) => ctx.get_api(id),
        (Method::PUT, ["apis", id]) => ctx.put_api(id, body),
        (Method::DELETE, ["apis", id]) => ctx.delete_api(id),
        (Method::PUT, ["apis", id, "policies", "policy"]) => ctx.put_policy(id, body),
        (Method::GET | Method::HEAD, ["apis", id, "policies", "policy"]) => ctx.get_policy(id),
        (Method::PUT, ["openidConnectProviders", id]) => ctx.put_provider(id, body),
        (Method::GET | Method::HEAD, ["openidConnectProviders", id]) => ctx.get_provider(id),
        _ => arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "The requested resource was not found."),
    }
}

struct Call<'a> {
    state: &'a mut State,
    service: ServiceKey,
    base: String,
    if_match: Option<String>,
    path: String,
    query: BTreeMap<String, String>,
}

impl Call<'_> {
    fn key(&self, id: &str) -> (ServiceKey, String) {
        (self.service.clone(), id.to_owned())
    }

    fn api_body(&self, id: &str, api: &StoredApi, provisioning: &str) -> Value {
        let mut properties = api.properties.clone();
        properties["provisioningState"] = json!(provisioning);
        json!({"id": self.path_of(id), "type": "Microsoft.ApiManagement/service/apis", "name": id, "properties": properties})
    }

    fn path_of(&self, id: &str) -> String {
        let s = &self.service;
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/apis/{id}",
            s.subscription, s.resource_group, s.name
        )
    }

    fn not_found(id: &str) -> Response {
        arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", &format!("Api not found. ({id})"))
    }

    fn get_api(self, id: &str) -> Response {
        match self.state.apis.get(&self.key(id)) {
            Some(api) => with_etag(StatusCode::OK, &api.etag, self.api_body(id, api, "Succeeded")),
            None => Self::not_found(id),
        }
    }

    /// `If-Match`: absent passes on a create (the spec's IfMatchOptionalParameter: "not required
    /// when creating an entity, but required when updating an entity"); `*` needs the object; an
    /// ETag must be the current one.
    fn precondition(&self, current: Option<&str>) -> Option<Response> {
        if current.is_some() && self.if_match.is_none() {
            return Some(validation("If-Match", "The If-Match header is required when updating an entity."));
        }
        let wanted = self.if_match.as_deref()?;
        let ok = match current {
            None => false,
            Some(etag) => wanted == "*" || wanted == etag,
        };
        (!ok)
            .then(|| arm_error(StatusCode::PRECONDITION_FAILED, "PreconditionFailed", "The entity tag does not match."))
    }

    fn put_api(self, id: &str, body: Option<Value>) -> Response {
        let Some(properties) = body.as_ref().and_then(|b| b.get("properties")).cloned() else {
            return validation("properties", "The request body has no properties.");
        };
        let Some(path) = properties.get("path").and_then(Value::as_str) else {
            return validation("path", "Path is required.");
        };
        let taken = self
            .state
            .apis
            .iter()
            .any(|((s, other), a)| s == &self.service && other != id && a.properties["path"] == json!(path));
        if taken {
            return validation("path", "Cannot create API with specified path: it is already used by another API.");
        }
        if let Some(url) = properties.get("serviceUrl").and_then(Value::as_str)
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return validation("serviceUrl", "The service URL must be absolute.");
        }
        let key = self.key(id);
        let existing = self.state.apis.get(&key).cloned();
        if let Some(failed) = self.precondition(existing.as_ref().map(|a| a.etag.as_str())) {
            return failed;
        }
        if let (Some(format), Some(value)) =
            (properties.get("format").and_then(Value::as_str), properties.get("value").and_then(Value::as_str))
            && let Err(message) = crate::import_check::check(format, value, &self.state.documents)
        {
            return validation("value", &message);
        }
        let mut stored_properties = properties.clone();
        if let Some(map) = stored_properties.as_object_mut() {
            map.remove("format");
            map.remove("value");
        }
        let etag = self.state.etag();
        let api = StoredApi {
            properties: stored_properties,
            etag: etag.clone(),
            policy: existing.as_ref().and_then(|a| a.policy.clone()),
        };
        self.state.apis.insert(key.clone(), api.clone());
        let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
        match self.state.lro {
            LroMode::Immediate => with_etag(status, &etag, self.api_body(id, &api, "Succeeded")),
            LroMode::Location { polls } | LroMode::Accepted { polls } => {
                let final_body = self.api_body(id, &api, "Succeeded");
                let n = self.state.serial();
                self.state.operations.insert(n, Operation::new(polls, status.as_u16(), Some(final_body), Some(key)));
                let location = format!(
                    "{}{}?api-version=2024-05-01&asyncId={n}&asyncCode={}",
                    self.base,
                    self.path,
                    status.as_u16()
                );
                let mut response = if matches!(self.state.lro, LroMode::Accepted { .. }) {
                    StatusCode::ACCEPTED.into_response()
                } else {
                    with_etag(status, &etag, self.api_body(id, &api, "InProgress"))
                };
                self.operation_headers(&mut response, &location, n);
                response
            }
        }
    }

    /// The headers of a long-running operation, as the spec's examples show them.
    fn operation_headers(&self, response: &mut Response, location: &str, n: u64) {
        let s = &self.service;
        let status = format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}/tenant/operationResults/{n}?api-version=2024-05-01",
            self.base, s.subscription, s.resource_group, s.name
        );
        crate::set_header(response, "location", location);
        crate::set_header(response, "azure-asyncoperation", &status);
        crate::set_header(response, "retry-after", "0");
    }

    fn poll(self, id: &str) -> Response {
        let Some(n) = self.query.get("asyncId").and_then(|n| n.parse::<u64>().ok()) else { return Self::not_found(id) };
        let Some(op) = self.state.operations.get_mut(&n) else { return Self::not_found(id) };
        if op.running() {
            op.polls_left -= 1;
            let mut response = StatusCode::ACCEPTED.into_response();
            crate::set_header(&mut response, "retry-after", "0");
            return response;
        }
        let Some(op) = self.state.operations.remove(&n) else { return Self::not_found(id) };
        let status = StatusCode::from_u16(op.status).unwrap_or(StatusCode::OK);
        match op.body {
            Some(body) => (status, axum::Json(body)).into_response(),
            None => status.into_response(),
        }
    }

    fn delete_api(self, id: &str) -> Response {
        let key = self.key(id);
        let Some(existing) = self.state.apis.get(&key).cloned() else { return StatusCode::NO_CONTENT.into_response() };
        if let Some(failed) = self.precondition(Some(&existing.etag)) {
            return failed;
        }
        self.state.apis.remove(&key);
        match self.state.lro {
            LroMode::Immediate => StatusCode::NO_CONTENT.into_response(),
            LroMode::Location { polls } | LroMode::Accepted { polls } => {
                let n = self.state.serial();
                self.state.operations.insert(n, Operation::new(polls, 204, None, None));
                let mut response = StatusCode::ACCEPTED.into_response();
                let location = format!("{}{}?api-version=2024-05-01&asyncId={n}&asyncCode=204", self.base, self.path);
                self.operation_headers(&mut response, &location, n);
                response
            }
        }
    }

    fn put_policy(self, id: &str, body: Option<Value>) -> Response {
        let key = self.key(id);
        if !self.state.apis.contains_key(&key) {
            return Self::not_found(id);
        }
        if self.state.operations.values().any(|op| op.running() && op.api.as_ref() == Some(&key)) {
            return arm_error(StatusCode::CONFLICT, "Conflict", "An operation on the API is still in progress.");
        }
        let properties = body.as_ref().and_then(|b| b.get("properties")).cloned().unwrap_or_default();
        let Some(value) = properties.get("value").and_then(Value::as_str) else {
            return validation("value", "A policy value is required.");
        };
        if let Err(message) = crate::policy_check::check(value) {
            return validation("value", &message);
        }
        let current = self.state.apis.get(&key).and_then(|a| a.policy.as_ref()).map(|p| p.etag.clone());
        if let Some(failed) = self.precondition(current.as_deref()) {
            return failed;
        }
        let etag = self.state.etag();
        let Some(api) = self.state.apis.get_mut(&key) else { return Self::not_found(id) };
        let status = if api.policy.is_some() { StatusCode::OK } else { StatusCode::CREATED };
        // APIM re-formats what it stores: clients must never compare policies as strings.
        let stored = value.replace("><", ">\r\n<");
        api.policy = Some(Stored { value: json!(stored), etag: etag.clone() });
        with_etag(status, &etag, json!({"name": "policy", "properties": {"format": "xml", "value": stored}}))
    }

    fn get_policy(self, id: &str) -> Response {
        match self.state.apis.get(&self.key(id)).and_then(|a| a.policy.as_ref()) {
            Some(policy) => with_etag(
                StatusCode::OK,
                &policy.etag,
                json!({"name": "policy", "properties": {"format": "xml", "value": policy.value}}),
            ),
            None => arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "Policy not found."),
        }
    }

    fn put_provider(self, id: &str, body: Option<Value>) -> Response {
        let properties = body.as_ref().and_then(|b| b.get("properties")).cloned().unwrap_or_default();
        let key = self.key(id);
        let existing = self.state.providers.get(&key).map(|p| p.etag.clone());
        if let Some(failed) = self.precondition(existing.as_deref()) {
            return failed;
        }
        let etag = self.state.etag();
        self.state.providers.insert(key, Stored { value: properties.clone(), etag: etag.clone() });
        let status = if existing.is_some() { StatusCode::OK } else { StatusCode::CREATED };
        with_etag(status, &etag, json!({"name": id, "properties": without_secret(properties)}))
    }

    fn get_provider(self, id: &str) -> Response {
        match self.state.providers.get(&self.key(id)) {
            Some(p) => {
                with_etag(StatusCode::OK, &p.etag, json!({"name": id, "properties": without_secret(p.value.clone())}))
            }
            None => arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "OpenID Connect provider not found."),
        }
    }
}

fn without_secret(mut properties: Value) -> Value {
    if let Some(map) = properties.as_object_mut() {
        map.remove("clientSecret");
    }
    properties
}
