//! The ARM calls of the APIM backend (§2.2–2.8): the API (GET, HEAD, PUT with the long-running
//! operation protocol, DELETE with `If-Match`), its policy, and the error classes. A 401 is
//! retried once with a fresh token; everything else is classified for the caller.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::Method;
use hyper::body::Bytes;
use serde_json::Value;

use super::http::{Answer, Http};
use super::{AzureError, TokenSource};

/// The wait after a `429`/`503` that names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Where and how to call ARM.
#[derive(Clone, Debug)]
pub struct ArmConfig {
    /// `https://management.azure.com` (or the stand-in's address in tests).
    pub endpoint: String,
    pub scope: String,
    /// `/subscriptions/…/providers/Microsoft.ApiManagement/service/<name>`.
    pub service_path: String,
    pub api_version: String,
    /// Poll interval when Azure names none, and the deadline of one long-running operation.
    pub poll_default: Duration,
    pub lro_timeout: Duration,
}

pub struct ArmClient {
    http: Http,
    config: ArmConfig,
    tokens: Arc<dyn TokenSource>,
    /// Until when ARM asked us to wait (`429`/`503` + `Retry-After`): ARM throttles per principal,
    /// so the wait holds for every API, not only the one whose call was refused.
    throttled_until: std::sync::Mutex<Option<Instant>>,
}

/// An object as ARM returned it, with its ETag.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned {
    pub body: Value,
    pub etag: Option<String>,
}

/// One page of `GET P/apis` (Api_ListByService): its `ApiContract` items and the next page's link.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiPage {
    pub items: Vec<Value>,
    pub next: Option<String>,
}

impl ArmClient {
    pub fn new(config: ArmConfig, tokens: Arc<dyn TokenSource>) -> Result<Self, AzureError> {
        Ok(Self { http: Http::new()?, config, tokens, throttled_until: std::sync::Mutex::new(None) })
    }

    /// What is left of the wait ARM asked for, if any.
    fn throttled(&self) -> Option<Duration> {
        let until = (*self.throttled_until.lock().ok()?)?;
        until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    fn url(&self, suffix: &str, extra: &str) -> String {
        let endpoint = self.config.endpoint.trim_end_matches('/');
        format!("{endpoint}{}{suffix}?api-version={}{extra}", self.config.service_path, self.config.api_version)
    }

    /// One request with a bearer token; a 401 is retried once with a fresh one.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, AzureError> {
        if let Some(wait) = self.throttled() {
            return Err(AzureError::RetryAfter(wait, 429));
        }
        let mut fresh = false;
        loop {
            let token = self.tokens.token(&self.config.scope, fresh).await?;
            let mut request = hyper::Request::builder().method(method.clone()).uri(url);
            request = request.header("authorization", format!("Bearer {}", token.expose()));
            if let Some(etag) = if_match {
                request = request.header("if-match", etag);
            }
            let payload = match body {
                Some(body) => {
                    request = request.header("content-type", "application/json");
                    Bytes::from(serde_json::to_vec(body).map_err(|e| AzureError::Config(e.to_string()))?)
                }
                None => Bytes::new(),
            };
            let request = request.body(Full::new(payload)).map_err(|e| AzureError::Config(format!("{url}: {e}")))?;
            super::metrics::count(method.as_str(), url);
            let answer = self.http.send(request).await?;
            if matches!(answer.status, 429 | 503) {
                let wait = retry_after(&answer).unwrap_or(DEFAULT_RETRY_AFTER);
                if let Ok(mut until) = self.throttled_until.lock() {
                    *until = Some(Instant::now() + wait);
                }
            }
            if answer.status == 401 && !fresh {
                fresh = true;
                continue;
            }
            return Ok(answer);
        }
    }

    /// `GET P/apis/{id}`: the API and its ETag, `None` when absent.
    pub async fn get_api(&self, id: &str) -> Result<Option<Versioned>, AzureError> {
        let answer = self.call(Method::GET, &self.url(&format!("/apis/{id}"), ""), None, None).await?;
        match answer.status {
            200 => Ok(Some(versioned(&answer))),
            404 => Ok(None),
            _ => Err(classify(&answer)),
        }
    }

    /// A page of the service's APIs: the first (`next` `None`), with `$filter` and `$top`, or the
    /// one `next` links to. A link to another host than ARM's is not followed: the bearer token
    /// would go with it.
    pub async fn list_apis(&self, next: Option<&str>, filter: Option<&str>, top: u32) -> Result<ApiPage, AzureError> {
        let url = match next {
            Some(link) => {
                let endpoint = self.config.endpoint.trim_end_matches('/');
                if !link.starts_with(&format!("{endpoint}/")) {
                    return Err(AzureError::Config(format!(
                        "ARM's nextLink {link} is not on {endpoint}: not followed (the token would leave ARM)"
                    )));
                }
                link.to_owned()
            }
            None => {
                let filter = filter.map(|f| format!("&$filter={}", encode(f))).unwrap_or_default();
                self.url("/apis", &format!("{filter}&$top={top}"))
            }
        };
        let answer = self.call(Method::GET, &url, None, None).await?;
        if answer.status != 200 {
            return Err(classify(&answer));
        }
        let body = body_of(&answer);
        let items = body.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
        let next = body.get("nextLink").and_then(Value::as_str).filter(|l| !l.is_empty()).map(String::from);
        Ok(ApiPage { items, next })
    }

    /// `GET P`: the service's public gateway URL (`properties.gatewayUrl`).
    pub async fn gateway_url(&self) -> Result<Option<String>, AzureError> {
        let answer = self.call(Method::GET, &self.url("", ""), None, None).await?;
        match answer.status {
            200 => Ok(body_of(&answer).pointer("/properties/gatewayUrl").and_then(Value::as_str).map(String::from)),
            _ => Err(classify(&answer)),
        }
    }

    /// `HEAD P/apis/{id}`: the ETag alone, `None` when absent (the cheap drift check).
    pub async fn api_etag(&self, id: &str) -> Result<Option<String>, AzureError> {
        let answer = self.call(Method::HEAD, &self.url(&format!("/apis/{id}"), ""), None, None).await?;
        match answer.status {
            200 => Ok(answer.header("etag")),
            404 => Ok(None),
            _ => Err(classify(&answer)),
        }
    }

    /// `PUT P/apis/{id}` and its long-running operation: the final API, with its ETag (the first
    /// answer's when the final one names none).
    pub async fn put_api(&self, id: &str, body: &Value, if_match: Option<&str>) -> Result<Versioned, AzureError> {
        let url = self.url(&format!("/apis/{id}"), "");
        let answer = self.call(Method::PUT, &url, Some(body), if_match).await?;
        if !matches!(answer.status, 200..=202) {
            return Err(classify(&answer));
        }
        let first = answer.header("etag");
        let mut done = self.finish(answer).await?.unwrap_or(Versioned { body: Value::Null, etag: None });
        done.etag = done.etag.or(first);
        Ok(done)
    }

    /// `HEAD P{path}`: the ETag of any entity, `None` when absent.
    pub async fn etag_of(&self, path: &str) -> Result<Option<String>, AzureError> {
        let answer = self.call(Method::HEAD, &self.url(path, ""), None, None).await?;
        match answer.status {
            200 => Ok(answer.header("etag")),
            404 => Ok(None),
            _ => Err(classify(&answer)),
        }
    }

    /// `PUT P/apis/{id}/policies/policy` (after the API's operation has finished); `if_match`
    /// the policy's observed ETag when it is an update (the spec requires it then).
    pub async fn put_policy(&self, id: &str, body: &Value, if_match: Option<&str>) -> Result<Versioned, AzureError> {
        let url = self.url(&format!("/apis/{id}/policies/policy"), "");
        let answer = self.call(Method::PUT, &url, Some(body), if_match).await?;
        match answer.status {
            200 | 201 => Ok(versioned(&answer)),
            _ => Err(classify(&answer)),
        }
    }

    /// `PUT P/openidConnectProviders/{id}` (upserted at start-up), with the observed ETag as
    /// `If-Match` when it exists.
    pub async fn put_openid_provider(&self, id: &str, body: &Value) -> Result<Versioned, AzureError> {
        let path = format!("/openidConnectProviders/{id}");
        let current = self.etag_of(&path).await?;
        let answer = self.call(Method::PUT, &self.url(&path, ""), Some(body), current.as_deref()).await?;
        match answer.status {
            200 | 201 => Ok(versioned(&answer)),
            _ => Err(classify(&answer)),
        }
    }

    /// `DELETE P/apis/{id}?deleteRevisions=true` with `If-Match` (ARM requires one); done also
    /// when the API is already gone.
    pub async fn delete_api(&self, id: &str, if_match: &str) -> Result<(), AzureError> {
        let url = self.url(&format!("/apis/{id}"), "&deleteRevisions=true");
        let answer = self.call(Method::DELETE, &url, None, Some(if_match)).await?;
        match answer.status {
            200 | 204 | 404 => Ok(()),
            202 => self.finish(answer).await.map(|_| ()),
            _ => Err(classify(&answer)),
        }
    }

    /// The long-running operation protocol (§2.7): done at once without polling headers and with
    /// a final provisioning state; else the `Location` (preferred) or `Azure-AsyncOperation`
    /// URL is polled, honouring `Retry-After`, until it answers or the deadline passes.
    async fn finish(&self, answer: Answer) -> Result<Option<Versioned>, AzureError> {
        let location = answer.header("location");
        let async_operation = answer.header("azure-asyncoperation");
        let state = provisioning_state(&answer);
        let pending =
            answer.status == 202 || state.as_deref().is_some_and(|s| !matches!(s, "Succeeded" | "Failed" | "Canceled"));
        if !pending || (location.is_none() && async_operation.is_none()) {
            return match state.as_deref() {
                Some("Failed" | "Canceled") => Err(classify(&answer)),
                _ => Ok((answer.status != 204).then(|| versioned(&answer))),
            };
        }
        let (url, by_location) = match (location, async_operation) {
            (Some(url), _) => (url, true),
            (None, Some(url)) => (url, false),
            (None, None) => return Ok(Some(versioned(&answer))),
        };
        let deadline = Instant::now() + self.config.lro_timeout;
        let mut wait = retry_after(&answer).unwrap_or(self.config.poll_default);
        loop {
            if Instant::now() + wait > deadline {
                return Err(AzureError::Timeout(self.config.lro_timeout));
            }
            tokio::time::sleep(wait).await;
            // An operation already started is followed to its end: a throttle (ours, shared by every
            // call, or ARM's answer to the poll) is waited out, not taken for a failure, since an
            // operation left unpolled holds the API (409) until it ends.
            let polled = match self.call(Method::GET, &url, None, None).await {
                Err(AzureError::RetryAfter(after, _)) => {
                    wait = after;
                    continue;
                }
                polled => polled?,
            };
            wait = retry_after(&polled).unwrap_or(self.config.poll_default);
            match (by_location, polled.status) {
                (true, 202) | (_, 429 | 503) => continue,
                (true, 200 | 201) => return Ok(Some(versioned(&polled))),
                (true, 204) => return Ok(None),
                (false, 200) => match body_of(&polled).get("status").and_then(Value::as_str) {
                    Some("Succeeded") => return Ok(None),
                    Some("Failed" | "Canceled") => return Err(classify(&polled)),
                    _ => continue,
                },
                _ => return Err(classify(&polled)),
            }
        }
    }
}

/// Percent-encodes a query value (all but unreserved characters).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn body_of(answer: &Answer) -> Value {
    serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
}

fn versioned(answer: &Answer) -> Versioned {
    Versioned { body: body_of(answer), etag: answer.header("etag") }
}

fn provisioning_state(answer: &Answer) -> Option<String> {
    body_of(answer).pointer("/properties/provisioningState").and_then(Value::as_str).map(String::from)
}

fn retry_after(answer: &Answer) -> Option<Duration> {
    answer.header("retry-after")?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The error class of a failed answer, decided on the status; ARM's code and message are kept
/// for the condition.
fn classify(answer: &Answer) -> AzureError {
    let body = body_of(answer);
    let error = body.get("error").cloned().unwrap_or(Value::Null);
    let code = error.get("code").and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut message = error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
    for detail in error.get("details").and_then(Value::as_array).into_iter().flatten() {
        let target = detail.get("target").and_then(Value::as_str).unwrap_or_default();
        let text = detail.get("message").and_then(Value::as_str).unwrap_or_default();
        message.push_str(&format!(" {target}: {text}"));
    }
    match answer.status {
        401 => AzureError::Auth(format!("{code}: {message}")),
        412 => AzureError::Precondition,
        429 | 503 => AzureError::RetryAfter(retry_after(answer).unwrap_or(DEFAULT_RETRY_AFTER), answer.status),
        // 409: another operation on the object is still running (§2.8): back off and retry.
        409 | 500..=599 => AzureError::Transient(format!("{} {code}: {message}", answer.status)),
        status => AzureError::Rejected { status, code, message },
    }
}
