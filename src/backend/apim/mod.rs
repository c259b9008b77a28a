//! The Azure side of the APIM backend, pure: from a valid API and the settings, the APIM API id,
//! the body of `PUT …/apis/{apiId}`, the API policy XML and a fingerprint of what would be sent
//! (design: shared/reference azure-apim §2.2, §2.3, §5.2–5.6). The I/O half (tokens, the ARM
//! client, long-running operations) uses these and sends nothing when the fingerprint and the
//! observed ETag say nothing changed.

pub mod conditions;
pub mod drift;
pub mod import;
mod policy_xml;
pub mod rules;
pub mod sync;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::ApimConfig;
use crate::core::validation::ValidApi;
use crate::exposed_api::ExposedApiSpec;
pub use policy_xml::{Jwt, policy_xml};

/// Longest API id generated (some API versions document 80).
const MAX_API_ID: usize = 80;

/// What the APIM backend would send for one API.
#[derive(Clone, Debug, PartialEq)]
pub struct ApimDesired {
    pub api_id: String,
    pub api: ApiPut,
    pub policy: PolicyPut,
    /// sha256 of the API body and the api-version: equal means the API needs no PUT.
    pub fingerprint: String,
    /// sha256 of the policy and the api-version: equal means the policy needs no PUT.
    pub policy_fingerprint: String,
}

/// The body of `PUT …/apis/{apiId}`.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ApiPut {
    pub properties: ApiProperties,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiProperties {
    pub display_name: String,
    pub description: String,
    /// Without the leading slash, as APIM stores it.
    pub path: String,
    pub protocols: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    /// APIM's own API keys (subscription keys) when `apiKeyVerification` asks for them; off
    /// otherwise (APIM's default would require them).
    pub subscription_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_key_parameter_names: Option<KeyNames>,
    /// The import: the format the document's content calls for, and its URL (or content, inline).
    pub format: String,
    pub value: String,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct KeyNames {
    pub header: String,
    pub query: String,
}

/// The body of `PUT …/apis/{apiId}/policies/policy`.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PolicyPut {
    pub properties: PolicyProperties,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PolicyProperties {
    pub format: String,
    pub value: String,
}

/// Why an API cannot go to APIM as it is.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApimSpecError {
    #[error("spec.specification has no document URL: APIM imports the API from its OpenAPI document")]
    NoSpecification,
    #[error("{field} has {length} characters; APIM accepts at most {max}: shorten it")]
    TooLong { field: &'static str, length: usize, max: usize },
}

impl ApimSpecError {
    /// The `ApimSynced` reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoSpecification => conditions::NO_SPECIFICATION,
            Self::TooLong { .. } => conditions::NOT_ACCEPTED,
        }
    }
}

/// The APIM backend's pure half.
#[derive(Clone, Debug)]
pub struct ApimBackend {
    pub config: ApimConfig,
    pub jwt: Option<Jwt>,
}

impl ApimBackend {
    pub fn new(config: &ApimConfig) -> Self {
        let jwt = match (config.apim_jwt_mode, config.apim_jwt_openid_config_url.as_deref()) {
            (crate::config::ApimJwtMode::ValidateJwt, Some(url)) if !url.trim().is_empty() => Some(Jwt {
                openid_config_url: url.trim().to_owned(),
                audiences: config.jwt_audiences(),
                issuers: config.jwt_issuers(),
            }),
            _ => None,
        };
        Self { config: config.clone(), jwt }
    }

    /// `<prefix><namespace>-<name>`, lower case, other characters as `-`, at most 80 characters
    /// (cut with a hash of `namespace/name`).
    pub fn api_id(&self, namespace: &str, name: &str) -> String {
        let raw = format!("{}{namespace}-{name}", self.config.apim_api_id_prefix).to_ascii_lowercase();
        let id: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
        if id.len() <= MAX_API_ID {
            id
        } else {
            format!("{}-{}", &id[..MAX_API_ID - 9], short_hash(&format!("{namespace}/{name}")))
        }
    }

    /// Everything that would be sent for the API; `service_url` is the backend URL (from the
    /// settings, or the Ingress's address observed by the I/O half), `import` the document's
    /// import as its content says (`import::import`, read by the I/O half).
    pub fn desired(
        &self,
        api: &ValidApi,
        spec: &ExposedApiSpec,
        service_url: Option<String>,
        import: &import::Import,
    ) -> Result<ApimDesired, ApimSpecError> {
        specification_url(spec).ok_or(ApimSpecError::NoSpecification)?;
        let keys = spec.api_key_verification.as_ref().filter(|k| k.enabled == Some(true));
        let header =
            keys.and_then(|k| k.location.as_deref()).map(str::trim).filter(|l| !matches!(*l, "" | "header" | "query"));
        let service_url = service_url.or_else(|| self.backend_url(&api.path));
        let path = api.path.trim_matches('/').to_owned();
        if let Some((field, length, max)) = rules::too_long(&path, service_url.as_deref()) {
            return Err(ApimSpecError::TooLong { field, length, max });
        }
        let name = spec.name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| api.name.clone());
        let api_put = ApiPut {
            properties: ApiProperties {
                display_name: rules::display_name(&name),
                // The marker says whose API this is, should the status record of a write be lost.
                description: format!(
                    "ODA ExposedAPI {}/{} {}",
                    api.namespace,
                    api.name,
                    sync::ownership_marker(api.uid.as_deref().unwrap_or_default())
                ),
                path,
                protocols: vec!["https".into()],
                service_url,
                subscription_required: keys.is_some(),
                subscription_key_parameter_names: header
                    .map(|h| KeyNames { header: h.to_owned(), query: "subscription-key".into() }),
                format: import.format.into(),
                value: import.value.clone(),
            },
        };
        // Invalid CORS or rate limits are reported on their conditions and left out, as on Istio;
        // so is CORS APIM's policy cannot express (rules::cors_problems).
        let cors = api.cors.as_ref().filter(|c| rules::cors_problems(c).is_empty());
        let xml = policy_xml(cors, api.rate_limit.as_ref(), self.jwt.as_ref());
        let policy = PolicyPut { properties: PolicyProperties { format: "xml".into(), value: xml } };
        let version = &self.config.apim_api_version;
        let policy_fingerprint = fingerprint(&[&policy.properties.value, version]);
        let api_fingerprint = fingerprint(&[&serde_json::to_string(&api_put).unwrap_or_default(), version]);
        let api_id = self.api_id(&api.namespace, &api.name);
        Ok(ApimDesired { api_id, api: api_put, policy, fingerprint: api_fingerprint, policy_fingerprint })
    }

    /// `APIM_BACKEND_BASE_URL` + the API path, when set.
    pub fn backend_url(&self, path: &str) -> Option<String> {
        let base = self.config.apim_backend_base_url.as_deref()?.trim().trim_end_matches('/');
        (!base.is_empty()).then(|| format!("{base}{path}"))
    }

    /// The backend URL through the Ingress into the mesh, at its load-balancer `address`.
    pub fn ingress_url(address: &str, path: &str) -> String {
        format!("http://{address}{path}")
    }

    /// The public URL of the API: the APIM gateway URL and its path.
    pub fn public_url(&self, api: &ValidApi) -> Option<String> {
        let base = self.config.apim_gateway_url.as_deref()?.trim().trim_end_matches('/');
        (!base.is_empty()).then(|| format!("{base}/{}", api.path.trim_matches('/')))
    }
}

/// The document URL of `spec.specification`: an object `{url}` (v1), or the first entry of the
/// older arrays of objects or strings.
pub fn specification_url(spec: &ExposedApiSpec) -> Option<String> {
    let url = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("url").and_then(Value::as_str).map(String::from),
        _ => None,
    };
    let found = match spec.specification.as_ref()? {
        Value::Array(items) => items.iter().find_map(url),
        other => url(other),
    };
    found.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty())
}

fn fingerprint(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Eight hex digits of the sha256 of `text`, for shortened names.
pub fn short_hash(text: &str) -> String {
    fingerprint(&[text])[..8].to_owned()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
