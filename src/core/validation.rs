//! Validation of an ExposedAPI spec into the facts the outputs are built from.
//!
//! The schema cannot catch everything (the Canvas CRD preserves unknown fields, and objects may
//! predate it), so every field the operator relies on is checked here and reported by name.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::exposed_api::{ApiType, ExposedAPI};

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.port`.
    pub field: &'static str,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// All problems of an invalid ExposedAPI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSpec(pub Vec<FieldError>);

impl fmt::Display for InvalidSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for InvalidSpec {}

/// An ExposedAPI whose spec has everything the outputs need.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidApi {
    pub name: String,
    pub namespace: String,
    /// Absent only for objects not read from a cluster (offline `render`).
    pub uid: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub api_type: ApiType,
    pub implementation: String,
    pub path: String,
    pub port: u16,
    pub developer_ui: Option<String>,
    pub hostname: Option<String>,
    pub basic_auth: Option<Value>,
    /// The CORS policy, when requested and valid (an invalid one is reported on its own condition
    /// and leaves the API published without it).
    pub cors: Option<crate::core::cors::Cors>,
    /// The rate limit, when requested and valid (an invalid one is reported on its condition).
    pub rate_limit: Option<crate::core::rate_limit::RateLimit>,
    /// `apiKeyVerification` is requested, with keys expected there (whether and how it can be
    /// enforced is the gateway's matter).
    pub api_keys: Option<crate::core::api_keys::Location>,
}

/// Validates an ExposedAPI; `default_namespace` applies when the object carries none.
pub fn validate(api: &ExposedAPI, default_namespace: &str) -> Result<ValidApi, InvalidSpec> {
    let mut errors = Vec::new();
    let spec = &api.spec;
    let mut fail = |field: &'static str, reason: String| errors.push(FieldError { field, reason });

    let name = api.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        fail("metadata.name", "is required".into());
    }

    let api_type = match spec.api_type.as_deref() {
        None => {
            fail("spec.apiType", required_one_of());
            None
        }
        Some(value) => {
            let parsed = ApiType::parse(value);
            if parsed.is_none() {
                fail("spec.apiType", format!("unknown value {value:?}; {}", required_one_of()));
            }
            parsed
        }
    };

    let implementation = spec.implementation.clone().unwrap_or_default();
    if implementation.is_empty() {
        fail("spec.implementation", "is required: the name of the Service implementing the API".into());
    } else if !is_dns_label(&implementation) {
        fail(
            "spec.implementation",
            format!("{implementation:?} is not a valid Service name (lower-case letters, digits and '-', at most 63)"),
        );
    }

    let path = spec.path.clone().unwrap_or_default();
    if path.is_empty() {
        fail("spec.path", "is required: the root path of the API, starting with '/'".into());
    } else if let Some(reason) = path_problem(&path) {
        fail("spec.path", format!("{path:?} {reason}"));
    }

    let port = match spec.port {
        None => {
            fail("spec.port", "is required: the port of the implementation Service".into());
            None
        }
        Some(p) => {
            let port = u16::try_from(p).ok().filter(|p| *p > 0);
            if port.is_none() {
                fail("spec.port", format!("{p} is out of range 1-65535"));
            }
            port
        }
    };

    if let Some(ui) = spec.developer_ui.as_deref()
        && let Some(reason) = path_problem(ui)
    {
        fail("spec.developerUI", format!("{ui:?} {reason}"));
    }

    let hostname = spec.hostname.clone();
    if let Some(host) = hostname.as_deref()
        && let Some(reason) = hostname_problem(host)
    {
        fail("spec.hostname", format!("{host:?} {reason}"));
    }

    // Optional, but when given it names the API (APIM's display name): not blank.
    if let Some(display) = spec.name.as_deref()
        && (display.trim().is_empty() || display.chars().any(char::is_control))
    {
        fail("spec.name", format!("{display:?} must not be empty or contain control characters (omit it instead)"));
    }

    match (api_type, port, errors.is_empty()) {
        (Some(api_type), Some(port), true) => Ok(ValidApi {
            name,
            namespace: api.metadata.namespace.clone().unwrap_or_else(|| default_namespace.to_owned()),
            uid: api.metadata.uid.clone(),
            labels: api.metadata.labels.clone().unwrap_or_default(),
            api_type,
            implementation,
            path,
            port,
            developer_ui: spec.developer_ui.clone(),
            hostname,
            basic_auth: spec.basic_auth.clone(),
            cors: crate::core::cors::requested(spec).and_then(Result::ok),
            rate_limit: crate::core::rate_limit::requested(spec).and_then(Result::ok),
            api_keys: crate::core::api_keys::requested(spec),
        }),
        _ => Err(InvalidSpec(errors)),
    }
}

fn required_one_of() -> String {
    let names: Vec<&str> = ApiType::ALL.iter().map(|t| t.as_str()).collect();
    format!("must be one of {}", names.join(", "))
}

/// Why `path` cannot be the base path of an HTTP API: it must be an RFC 3986 `path-absolute`
/// (segments of `pchar`, percent-encoding allowed) without a query, fragment, dot-segment,
/// backslash, whitespace or control character, since it becomes a route prefix, an Ingress path
/// and an APIM path.
pub fn path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        return Some("must start with '/'");
    }
    if path.starts_with("//") {
        return Some("must not start with '//' (that would name a host)");
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain whitespace or control characters");
    }
    if path.contains('?') || path.contains('#') {
        return Some("must not contain a query ('?') or fragment ('#')");
    }
    if path.contains('\\') {
        return Some("must not contain a backslash");
    }
    let bytes = path.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Some("has a '%' that is not a percent-encoding (%XX)");
        }
    }
    if !path.chars().all(|c| c == '/' || c == '%' || is_pchar(c)) {
        return Some("has a character that is not allowed in a URI path (percent-encode it)");
    }
    let dot = |segment: &str| {
        let decoded = segment.replace("%2e", ".").replace("%2E", ".");
        decoded == "." || decoded == ".."
    };
    if path.split('/').any(dot) {
        return Some("must not contain '.' or '..' segments");
    }
    None
}

/// RFC 3986 `pchar` less percent-encodings: unreserved, sub-delims, ':' and '@'.
fn is_pchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@".contains(c)
}

/// Why `host` cannot be the public host name: a DNS name of lower-case RFC 1123 labels, optionally
/// behind a `*.` wildcard.
fn hostname_problem(host: &str) -> Option<&'static str> {
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.is_empty() || name.len() > 253 {
        return Some("is not a host name (1 to 253 characters)");
    }
    if host.contains(['/', ':']) || host.chars().any(char::is_whitespace) {
        return Some("is not a host name (no scheme, port or path)");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !name.split('.').all(label_ok) {
        return Some("is not a host name (lower-case letters, digits and '-' in dot-separated labels of at most 63)");
    }
    None
}

/// RFC 1035 label, the rule for Service names.
fn is_dns_label(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposed_api::ExposedApiSpec;

    fn api(spec: ExposedApiSpec) -> ExposedAPI {
        let mut api = ExposedAPI::new("c1-api", spec);
        api.metadata.namespace = Some("components".into());
        api
    }

    fn good() -> ExposedApiSpec {
        ExposedApiSpec {
            name: Some("api".into()),
            api_type: Some("openapi".into()),
            implementation: Some("c1-impl".into()),
            path: Some("/c1/tmf-api/x/v4".into()),
            port: Some(8080),
            ..Default::default()
        }
    }

    fn fields(spec: ExposedApiSpec) -> Vec<(&'static str, String)> {
        let err = validate(&api(spec), "components").unwrap_err();
        err.0.into_iter().map(|e| (e.field, e.reason)).collect()
    }

    #[test]
    fn accepts_a_complete_spec() {
        let valid = validate(&api(good()), "x").unwrap();
        assert_eq!(valid.port, 8080);
        assert_eq!(valid.namespace, "components");
        assert_eq!(valid.api_type, ApiType::Openapi);
    }

    #[test]
    fn each_invalid_field_is_named() {
        let cases: Vec<(ExposedApiSpec, &str, &str)> = vec![
            (ExposedApiSpec { path: None, ..good() }, "spec.path", "is required"),
            (ExposedApiSpec { path: Some("c1/api".into()), ..good() }, "spec.path", "must start with '/'"),
            (ExposedApiSpec { path: Some("/a b".into()), ..good() }, "spec.path", "whitespace"),
            (ExposedApiSpec { path: Some("/a?b=1".into()), ..good() }, "spec.path", "query"),
            (ExposedApiSpec { path: Some("/a#top".into()), ..good() }, "spec.path", "fragment"),
            (ExposedApiSpec { path: Some("/a/../b".into()), ..good() }, "spec.path", "'..' segments"),
            (ExposedApiSpec { path: Some("/a/%2E/b".into()), ..good() }, "spec.path", "'..' segments"),
            (ExposedApiSpec { path: Some("/a\\b".into()), ..good() }, "spec.path", "backslash"),
            (ExposedApiSpec { path: Some("/a%zz".into()), ..good() }, "spec.path", "percent-encoding"),
            (ExposedApiSpec { path: Some("/caf\u{e9}".into()), ..good() }, "spec.path", "percent-encode"),
            (ExposedApiSpec { path: Some("/a\u{7}".into()), ..good() }, "spec.path", "control"),
            (ExposedApiSpec { path: Some("//host/a".into()), ..good() }, "spec.path", "'//'"),
            (ExposedApiSpec { name: Some(" ".into()), ..good() }, "spec.name", "must not be empty"),
            (ExposedApiSpec { hostname: Some("API.example.com".into()), ..good() }, "spec.hostname", "lower-case"),
            (ExposedApiSpec { hostname: Some("".into()), ..good() }, "spec.hostname", "not a host name"),
            (ExposedApiSpec { implementation: None, ..good() }, "spec.implementation", "is required"),
            (
                ExposedApiSpec { implementation: Some("Bad_Name".into()), ..good() },
                "spec.implementation",
                "not a valid Service name",
            ),
            (ExposedApiSpec { port: None, ..good() }, "spec.port", "is required"),
            (ExposedApiSpec { port: Some(0), ..good() }, "spec.port", "out of range"),
            (ExposedApiSpec { port: Some(65536), ..good() }, "spec.port", "out of range"),
            (
                ExposedApiSpec { api_type: Some("graphql".into()), ..good() },
                "spec.apiType",
                "unknown value \"graphql\"",
            ),
            (
                ExposedApiSpec { api_type: None, ..good() },
                "spec.apiType",
                "must be one of openapi, prometheus, openmetrics, mcp",
            ),
            (ExposedApiSpec { developer_ui: Some("docs".into()), ..good() }, "spec.developerUI", "must start with '/'"),
            (ExposedApiSpec { hostname: Some("https://x".into()), ..good() }, "spec.hostname", "not a host name"),
        ];
        for (spec, field, reason) in cases {
            let errors = fields(spec);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].0, field);
            assert!(errors[0].1.contains(reason), "{field}: {:?} lacks {reason:?}", errors[0].1);
        }
    }

    #[test]
    fn percent_encodings_sub_delims_and_wildcard_hosts_are_fine() {
        for path in ["/a/%7Euser/v4", "/a;v=1/b", "/c1/tmf-api/x/v4/", "/a@b:c", "/"] {
            assert!(validate(&api(ExposedApiSpec { path: Some(path.into()), ..good() }), "x").is_ok(), "{path}");
        }
        for host in ["apis.example.com", "*.example.com", "a-1.b"] {
            assert!(validate(&api(ExposedApiSpec { hostname: Some(host.into()), ..good() }), "x").is_ok(), "{host}");
        }
    }

    #[test]
    fn reports_every_problem_at_once() {
        let spec = ExposedApiSpec { path: None, port: Some(-1), ..good() };
        let message = validate(&api(spec), "x").unwrap_err().to_string();
        assert!(message.contains("spec.path: is required"), "{message}");
        assert!(message.contains("spec.port: -1 is out of range"), "{message}");
    }
}
