//! The ExposedAPI's `CORS` policy, with the defaults its CRD documents (the API server applies
//! none) and the checks the route CRDs and Istio's webhook would otherwise make late or never.

use crate::core::validation::FieldError;
use crate::exposed_api::ExposedApiSpec;

const DEFAULT_ORIGINS: &str = "*";
const DEFAULT_HEADERS: &str =
    "Origin, Accept, X-Requested-With, Content-Type, Access-Control-Request-Method, Access-Control-Request-Headers";
const DEFAULT_METHODS: &str = "GET, POST, HEAD, OPTIONS";
const DEFAULT_MAX_AGE: i64 = 1800;
/// The methods both Istio and the Gateway API accept.
const METHODS: [&str; 10] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "*"];

/// A valid CORS policy, as both route backends write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cors {
    /// `*`, or `http(s)://host[:port]` where the host may start with `*.`.
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    /// Seconds a preflight answer may be cached; `None` for 0 (not cached).
    pub max_age: Option<u32>,
    pub allow_credentials: bool,
    /// `handlePreflightRequests.enabled`: `false` cannot be honoured while a CORS policy is on the
    /// route (the gateway answers preflights from allowed origins); reported as a deviation.
    pub answer_preflights: bool,
}

/// The requested CORS policy: `None` unless `CORS.enabled`, else the policy or every problem.
pub fn requested(spec: &ExposedApiSpec) -> Option<Result<Cors, Vec<FieldError>>> {
    let cors = spec.cors.as_ref().filter(|c| c.enabled == Some(true))?;
    let preflight = cors.handle_preflight_requests.clone().unwrap_or_default();
    let mut errors = Vec::new();
    let origins = csv(cors.allow_origins.as_deref().unwrap_or(DEFAULT_ORIGINS));
    for origin in &origins {
        if let Some(reason) = origin_problem(origin) {
            errors.push(FieldError { field: "spec.CORS.allowOrigins", reason: format!("{origin:?} {reason}") });
        }
    }
    if origins.len() > 1 && origins.iter().any(|o| o == "*") {
        errors.push(FieldError {
            field: "spec.CORS.allowOrigins",
            reason: "\"*\" cannot be combined with other origins".into(),
        });
    }
    let methods: Vec<String> = csv(preflight.allow_methods.as_deref().unwrap_or(DEFAULT_METHODS))
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    for method in methods.iter().filter(|m| !METHODS.contains(&m.as_str())) {
        errors.push(FieldError {
            field: "spec.CORS.handlePreflightRequests.allowMethods",
            reason: format!("{method:?} is not one of {}", METHODS.join(", ")),
        });
    }
    let headers = csv(preflight.allow_headers.as_deref().unwrap_or(DEFAULT_HEADERS));
    for header in headers.iter().filter(|h| !is_token(h)) {
        errors.push(FieldError {
            field: "spec.CORS.handlePreflightRequests.allowHeaders",
            reason: format!("{header:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"),
        });
    }
    let max_age = preflight.max_age.unwrap_or(DEFAULT_MAX_AGE);
    let max_age = match u32::try_from(max_age) {
        Ok(0) => None,
        Ok(seconds) if seconds <= i32::MAX as u32 => Some(seconds),
        _ => {
            errors.push(FieldError {
                field: "spec.CORS.handlePreflightRequests.maxAge",
                reason: format!("{max_age} is out of range 0-{}", i32::MAX),
            });
            None
        }
    };
    if !errors.is_empty() {
        return Some(Err(errors));
    }
    Some(Ok(Cors {
        origins,
        methods,
        headers,
        max_age,
        allow_credentials: cors.allow_credentials == Some(true),
        answer_preflights: preflight.enabled != Some(false),
    }))
}

/// Items of a comma-separated list, trimmed, empty ones dropped.
fn csv(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// What is wrong with an origin, as the Gateway API CRD's pattern (the stricter one) sees it.
fn origin_problem(origin: &str) -> Option<&'static str> {
    if origin == "*" {
        return None;
    }
    let Some((scheme, rest)) = origin.split_once("://") else { return Some("has no http:// or https:// scheme") };
    if scheme != "http" && scheme != "https" {
        return Some("must use http or https");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Some("has an invalid port");
    }
    let host = host.strip_prefix("*.").unwrap_or(host);
    let label_ok = |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if host != "*" && !host.split('.').all(label_ok) {
        return Some("must be scheme://host[:port], without a path");
    }
    None
}

/// An RFC 7230 token.
fn is_token(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposed_api::{Cors as CorsSpec, PreflightRequests};

    fn spec(cors: CorsSpec) -> ExposedApiSpec {
        ExposedApiSpec { cors: Some(cors), ..Default::default() }
    }

    #[test]
    fn documented_defaults_apply_when_fields_are_absent() {
        assert_eq!(requested(&ExposedApiSpec::default()), None);
        assert_eq!(requested(&spec(CorsSpec { enabled: Some(false), ..Default::default() })), None);
        let cors = requested(&spec(CorsSpec { enabled: Some(true), ..Default::default() })).unwrap().unwrap();
        assert_eq!(cors.origins, ["*"]);
        assert_eq!(cors.methods, ["GET", "POST", "HEAD", "OPTIONS"]);
        assert_eq!(cors.headers.len(), 6);
        assert_eq!((cors.max_age, cors.allow_credentials, cors.answer_preflights), (Some(1800), false, true));
    }

    #[test]
    fn values_are_split_normalised_and_checked() {
        let cors = spec(CorsSpec {
            enabled: Some(true),
            allow_credentials: Some(true),
            allow_origins: Some("https://a.example.org, http://*.example.org:8080,".into()),
            handle_preflight_requests: Some(PreflightRequests {
                enabled: Some(false),
                allow_methods: Some("get, PUT".into()),
                allow_headers: Some("X-Api-Key".into()),
                max_age: Some(0),
            }),
        });
        let cors = requested(&cors).unwrap().unwrap();
        assert_eq!(cors.origins, ["https://a.example.org", "http://*.example.org:8080"]);
        assert_eq!(cors.methods, ["GET", "PUT"]);
        assert_eq!((cors.max_age, cors.allow_credentials, cors.answer_preflights), (None, true, false));

        let bad = spec(CorsSpec {
            enabled: Some(true),
            allow_origins: Some("*, ftp://x, https://a/b".into()),
            handle_preflight_requests: Some(PreflightRequests {
                allow_methods: Some("FETCH".into()),
                allow_headers: Some("Bad Header".into()),
                max_age: Some(-1),
                ..Default::default()
            }),
            ..Default::default()
        });
        let errors = requested(&bad).unwrap().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "spec.CORS.allowOrigins",
                "spec.CORS.allowOrigins",
                "spec.CORS.allowOrigins",
                "spec.CORS.handlePreflightRequests.allowMethods",
                "spec.CORS.handlePreflightRequests.allowHeaders",
                "spec.CORS.handlePreflightRequests.maxAge"
            ]
        );
    }
}
