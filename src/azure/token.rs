//! Bearer tokens for ARM. [`TokenSource`] is the seam: the client-secret and workload-identity
//! flows against a configurable authority host here, Microsoft's `azure_identity` credentials
//! behind the same trait where they serve.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use tokio::sync::Mutex;

use super::AzureError;
use super::http::Http;

/// A secret that never shows in logs or Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret, AzureError>> + Send + 'a>>;

/// Gives bearer tokens for a scope; `fresh` bypasses any cache (after a 401).
pub trait TokenSource: Send + Sync {
    fn token<'a>(&'a self, scope: &'a str, fresh: bool) -> TokenFuture<'a>;
}

/// Refresh this long before expiry (clock skew, request time).
const EARLY: Duration = Duration::from_secs(300);

/// Entra ID's client-credentials flow with a client secret, or with the workload identity's
/// federated token (read from its file on every request: the kubelet rotates it).
pub struct ClientSecret {
    http: Http,
    /// `https://login.microsoftonline.com/` (or the stand-in's address in tests).
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    pub credential: Credential,
    cache: Mutex<Option<(String, Secret, Instant)>>,
}

/// How the client proves who it is.
#[derive(Clone, Debug)]
pub enum Credential {
    Secret(Secret),
    FederatedTokenFile(std::path::PathBuf),
}

impl ClientSecret {
    pub fn new(
        authority: &str,
        tenant: &str,
        client_id: &str,
        credential: Credential,
    ) -> Result<Arc<Self>, AzureError> {
        Ok(Arc::new(Self {
            http: Http::new()?,
            authority: authority.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            credential,
            cache: Mutex::new(None),
        }))
    }

    async fn fetch(&self, scope: &str) -> Result<(Secret, Duration), AzureError> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", self.client_id.clone()),
            ("scope", scope.to_owned()),
        ];
        match &self.credential {
            Credential::Secret(secret) => form.push(("client_secret", secret.expose().to_owned())),
            Credential::FederatedTokenFile(path) => {
                let assertion = tokio::fs::read_to_string(path).await.map_err(|e| {
                    AzureError::Auth(format!("cannot read the federated token {}: {e}", path.display()))
                })?;
                form.push(("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()));
                form.push(("client_assertion", assertion.trim().to_owned()));
            }
        }
        let body: String = form.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
        let url = format!("{}/{}/oauth2/v2.0/token", self.authority, self.tenant);
        let request = hyper::Request::post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| AzureError::Config(e.to_string()))?;
        token_answer(self.http.send(request).await?, "Entra ID")
    }
}

impl TokenSource for ClientSecret {
    fn token<'a>(&'a self, scope: &'a str, fresh: bool) -> TokenFuture<'a> {
        Box::pin(cached(&self.cache, scope, fresh, || self.fetch(scope)))
    }
}

/// A token from the cache unless `fresh` or due for refresh, else fetched and cached; one fetch at
/// a time (the lock is held across it, so concurrent reconciles share it).
async fn cached<F, Fut>(
    cache: &Mutex<Option<(String, Secret, Instant)>>,
    scope: &str,
    fresh: bool,
    fetch: F,
) -> Result<Secret, AzureError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(Secret, Duration), AzureError>>,
{
    let mut cache = cache.lock().await;
    if !fresh
        && let Some((cached_scope, token, refresh_at)) = cache.as_ref()
        && cached_scope == scope
        && Instant::now() < *refresh_at
    {
        return Ok(token.clone());
    }
    let (token, lifetime) = fetch().await?;
    let refresh_at = Instant::now() + lifetime.saturating_sub(EARLY).max(lifetime / 2);
    *cache = Some((scope.to_owned(), token.clone(), refresh_at));
    Ok(token)
}

/// The token and its lifetime from a token endpoint's answer, or the endpoint's own words.
fn token_answer(answer: super::http::Answer, who: &str) -> Result<(Secret, Duration), AzureError> {
    let value: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
    if answer.status != 200 {
        let why = value.get("error_description").and_then(|d| d.as_str()).unwrap_or("no description");
        return Err(AzureError::Auth(format!("{who}: {} {why}", answer.status)));
    }
    let token = value.get("access_token").and_then(|t| t.as_str());
    let token = token.ok_or_else(|| AzureError::Auth(format!("{who}: no access_token in the answer")))?;
    // Entra ID sends `expires_in` as a number, IMDS as a string.
    let expires_in = match value.get("expires_in") {
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        Some(other) => other.as_u64(),
        None => None,
    };
    Ok((Secret::new(token), Duration::from_secs(expires_in.unwrap_or(300))))
}

/// Form encoding of a value (RFC 3986 unreserved characters pass).
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A managed identity's token from the instance metadata service (IMDS), for nodes without
/// workload identity; `endpoint` is `http://169.254.169.254` outside tests.
pub struct ManagedIdentity {
    http: Http,
    pub endpoint: String,
    /// The user-assigned identity to use; the node's only one when unset.
    pub client_id: Option<String>,
    cache: Mutex<Option<(String, Secret, Instant)>>,
}

impl ManagedIdentity {
    pub fn new(endpoint: &str, client_id: Option<&str>) -> Result<Arc<Self>, AzureError> {
        Ok(Arc::new(Self {
            http: Http::new()?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            client_id: client_id.map(String::from),
            cache: Mutex::new(None),
        }))
    }

    async fn fetch(&self, scope: &str) -> Result<(Secret, Duration), AzureError> {
        // IMDS takes a resource, not a scope.
        let resource = scope.strip_suffix("/.default").unwrap_or(scope);
        let mut url = format!(
            "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
            self.endpoint,
            urlencode(resource)
        );
        if let Some(client) = &self.client_id {
            url.push_str(&format!("&client_id={}", urlencode(client)));
        }
        let request = hyper::Request::get(url)
            .header("metadata", "true")
            .body(Full::new(Bytes::new()))
            .map_err(|e| AzureError::Config(e.to_string()))?;
        token_answer(self.http.send(request).await?, "managed identity")
    }
}

impl TokenSource for ManagedIdentity {
    fn token<'a>(&'a self, scope: &'a str, fresh: bool) -> TokenFuture<'a> {
        Box::pin(cached(&self.cache, scope, fresh, || self.fetch(scope)))
    }
}
