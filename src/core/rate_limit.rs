//! The ExposedAPI's `rateLimit` policy: `limit` (a string in the CRD), `interval` (`ps`, the
//! documented default, or `pm`) and `identifier` (what a client is counted by), checked here since
//! the API server checks none of it and Envoy would refuse a bad bucket only at the gateway.

use crate::core::validation::FieldError;
use crate::exposed_api::ExposedApiSpec;

/// A valid rate limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per interval (and the bucket's size).
    pub limit: u32,
    pub interval: Interval,
    pub client: ClientKey,
}

/// The refill interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    Second,
    Minute,
}

impl Interval {
    /// Envoy's `fill_interval`.
    pub fn fill_interval(self) -> &'static str {
        match self {
            Self::Second => "1s",
            Self::Minute => "60s",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::Second => "s",
            Self::Minute => "min",
        }
    }
}

/// What requests are counted by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientKey {
    /// The client address as Envoy trusts it.
    RemoteAddress,
    /// The value of a request header (lower case); requests without it share the route's bucket.
    Header(String),
}

impl ClientKey {
    pub fn describe(&self) -> String {
        match self {
            Self::RemoteAddress => "client IP".into(),
            Self::Header(name) => format!("value of header {name}"),
        }
    }
}

/// The requested rate limit: `None` unless `rateLimit.enabled`, else the limit or every problem.
pub fn requested(spec: &ExposedApiSpec) -> Option<Result<RateLimit, Vec<FieldError>>> {
    let rate = spec.rate_limit.as_ref().filter(|r| r.enabled == Some(true))?;
    let mut errors = Vec::new();
    let limit_text = rate.limit.as_deref().map(str::trim).unwrap_or_default();
    let limit = match limit_text.parse::<u32>() {
        Ok(n) if n > 0 => n,
        _ => {
            errors.push(FieldError {
                field: "spec.rateLimit.limit",
                reason: format!("{limit_text:?} is not a positive whole number of requests"),
            });
            0
        }
    };
    let interval = match rate.interval.as_deref().map(str::trim).unwrap_or_default() {
        "" | "ps" => Interval::Second,
        "pm" => Interval::Minute,
        other => {
            errors.push(FieldError {
                field: "spec.rateLimit.interval",
                reason: format!("{other:?} is not \"ps\" (per second) or \"pm\" (per minute)"),
            });
            Interval::Second
        }
    };
    let client = match client_key(rate.identifier.as_deref().unwrap_or_default()) {
        Ok(key) => key,
        Err(reason) => {
            errors.push(FieldError { field: "spec.rateLimit.identifier", reason });
            ClientKey::RemoteAddress
        }
    };
    if errors.is_empty() { Some(Ok(RateLimit { limit, interval, client })) } else { Some(Err(errors)) }
}

/// `IP` (and its spellings) or empty: the client address; a header name, also in APISIX's
/// `http_<name>` form: that header's value.
fn client_key(identifier: &str) -> Result<ClientKey, String> {
    let identifier = identifier.trim();
    let lower = identifier.to_ascii_lowercase();
    if matches!(lower.as_str(), "" | "ip" | "remote_addr" | "remote_address" | "client_ip") {
        return Ok(ClientKey::RemoteAddress);
    }
    let header = lower.strip_prefix("http_").map(|h| h.replace('_', "-")).unwrap_or(lower);
    let token = |c: char| c.is_ascii_alphanumeric() || c == '-';
    if header.chars().all(token) && !header.starts_with('-') {
        return Ok(ClientKey::Header(header));
    }
    Err(format!("{identifier:?} is neither IP nor a request header name: clients cannot be counted by it"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposed_api::RateLimit as Spec;

    fn spec(limit: &str, interval: Option<&str>, identifier: Option<&str>) -> ExposedApiSpec {
        ExposedApiSpec {
            rate_limit: Some(Spec {
                enabled: Some(true),
                limit: Some(limit.into()),
                interval: interval.map(Into::into),
                identifier: identifier.map(Into::into),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn off_unless_enabled() {
        assert!(requested(&ExposedApiSpec::default()).is_none());
        let mut off = spec("5", None, None);
        off.rate_limit.as_mut().unwrap().enabled = Some(false);
        assert!(requested(&off).is_none());
    }

    #[test]
    fn limits_intervals_and_identifiers() {
        let ok = requested(&spec(" 100 ", None, Some("IP"))).unwrap().unwrap();
        assert_eq!(ok, RateLimit { limit: 100, interval: Interval::Second, client: ClientKey::RemoteAddress });
        let pm = requested(&spec("6", Some("pm"), Some("http_x_api_key"))).unwrap().unwrap();
        assert_eq!((pm.interval.fill_interval(), pm.client), ("60s", ClientKey::Header("x-api-key".into())));
        let header = requested(&spec("6", Some("ps"), Some("X-Client"))).unwrap().unwrap();
        assert_eq!(header.client, ClientKey::Header("x-client".into()));
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = requested(&spec("lots", Some("ph"), Some("consumer name"))).unwrap().unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["spec.rateLimit.limit", "spec.rateLimit.interval", "spec.rateLimit.identifier"]);
        assert!(requested(&spec("0", None, None)).unwrap().is_err(), "a zero bucket refuses everything");
        assert!(requested(&spec("-3", None, None)).unwrap().is_err());
    }
}
