//! Reading an API's document before its import, so that the format declared to APIM is what the
//! document is (`backend::apim::import`). Bounded in size, time and redirects (a redirect is
//! followed only to `https`); the result is kept per URL for the drift-check interval, so a
//! converged API costs no download per reconcile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;

use super::AzureError;
use crate::backend::apim::import::{self, Import};
use crate::config::ApimImportMode;

/// Largest document read (TMF documents are well under 2 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// How long reading one document may take, redirects included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
const MAX_REDIRECTS: usize = 3;

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

pub struct Documents {
    client: Client,
    mode: ApimImportMode,
    keep: Duration,
    cache: Mutex<HashMap<String, (Instant, Import)>>,
}

impl Documents {
    pub fn new(mode: ApimImportMode, keep: Duration) -> Result<Self, AzureError> {
        Ok(Self { client: super::http::Http::client()?, mode, keep, cache: Mutex::new(HashMap::new()) })
    }

    /// The import of the document at `url`; the error names the URL and what was seen there.
    pub async fn import(&self, url: &str) -> Result<Import, String> {
        if let Ok(cache) = self.cache.lock()
            && let Some((at, import)) = cache.get(url)
            && at.elapsed() < self.keep
        {
            return Ok(import.clone());
        }
        let bytes = tokio::time::timeout(FETCH_TIMEOUT, self.fetch(url))
            .await
            .map_err(|_| format!("the document at {url} was not read within {FETCH_TIMEOUT:?}; nothing was sent"))??;
        let import = import::import(url, self.mode, &bytes)
            .map_err(|seen| format!("the document at {url} is not importable: {seen}; nothing was sent"))?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(url.to_owned(), (Instant::now(), import.clone()));
        }
        Ok(import)
    }

    async fn fetch(&self, url: &str) -> Result<Bytes, String> {
        let mut current = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let unreadable = |why: String| format!("the document at {url} could not be read: {why}; nothing was sent");
            let request = hyper::Request::get(&current)
                .header("accept", "application/json, application/yaml;q=0.9, */*;q=0.5")
                .body(Full::new(Bytes::new()))
                .map_err(|e| unreadable(e.to_string()))?;
            let response = self.client.request(request).await.map_err(|e| unreadable(e.to_string()))?;
            let status = response.status();
            if status.is_redirection() {
                let next = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default();
                if !next.starts_with("https://") {
                    return Err(unreadable(format!(
                        "redirected ({status}) to {next:?}; only https redirects are followed"
                    )));
                }
                current = next.to_owned();
                continue;
            }
            if !status.is_success() {
                return Err(unreadable(format!("answered {status}")));
            }
            let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES);
            return body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| unreadable(format!("{e} (at most {MAX_DOCUMENT_BYTES} bytes are read)")));
        }
        Err(format!("the document at {url} redirects more than {MAX_REDIRECTS} times; nothing was sent"))
    }
}
