//! Key Vault mode: the APIM instance's settings read from the reference operator's secrets
//! (`GET {vault}/secrets/{name}?api-version=7.4`, with a token for the vault audience).

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::Value;

use super::http::Http;
use super::{AzureError, Secret, TokenSource};

pub const VAULT_SCOPE: &str = "https://vault.azure.net/.default";

/// The settings the reference operator keeps in Key Vault, by its secret names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultSettings {
    pub service_name: String,
    pub resource_group: String,
    pub subscription_id: String,
    pub tenant_id: String,
    pub client_id: String,
}

pub struct KeyVault {
    http: Http,
    url: String,
    api_version: String,
    tokens: Arc<dyn TokenSource>,
}

impl KeyVault {
    pub fn new(url: &str, api_version: &str, tokens: Arc<dyn TokenSource>) -> Result<Self, AzureError> {
        Ok(Self {
            http: Http::new()?,
            url: url.trim_end_matches('/').to_owned(),
            api_version: api_version.into(),
            tokens,
        })
    }

    /// One secret's value; a 401 is retried once with a fresh token.
    pub async fn secret(&self, name: &str) -> Result<Secret, AzureError> {
        let url = format!("{}/secrets/{name}?api-version={}", self.url, self.api_version);
        let mut fresh = false;
        loop {
            let token = self.tokens.token(VAULT_SCOPE, fresh).await?;
            let request = hyper::Request::get(&url)
                .header("authorization", format!("Bearer {}", token.expose()))
                .body(Full::new(Bytes::new()))
                .map_err(|e| AzureError::Config(format!("{url}: {e}")))?;
            let answer = self.http.send(request).await?;
            let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
            let message = || body.pointer("/error/message").and_then(Value::as_str).unwrap_or_default().to_owned();
            match answer.status {
                200 => {
                    let value = body.get("value").and_then(Value::as_str).unwrap_or_default().trim();
                    if value.is_empty() {
                        return Err(AzureError::Config(format!("the Key Vault secret {name} is empty")));
                    }
                    return Ok(Secret::new(value));
                }
                401 if !fresh => fresh = true,
                401 => return Err(AzureError::Auth(format!("Key Vault: {}", message()))),
                status => {
                    let code = body.pointer("/error/code").and_then(Value::as_str).unwrap_or_default().to_owned();
                    return Err(AzureError::Rejected {
                        status,
                        code,
                        message: format!("Key Vault secret {name}: {}", message()),
                    });
                }
            }
        }
    }

    /// The reference operator's five settings (`apim-service-name`, `resource-group`,
    /// `subscription-id`, `aad-tenant-id`, `aad-client-id`).
    pub async fn settings(&self) -> Result<VaultSettings, AzureError> {
        let read = async |name: &str| self.secret(name).await.map(|s| s.expose().to_owned());
        Ok(VaultSettings {
            service_name: read("apim-service-name").await?,
            resource_group: read("resource-group").await?,
            subscription_id: read("subscription-id").await?,
            tenant_id: read("aad-tenant-id").await?,
            client_id: read("aad-client-id").await?,
        })
    }
}
