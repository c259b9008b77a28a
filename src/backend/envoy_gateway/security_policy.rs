//! The `SecurityPolicy` of an API: its CORS policy and its required token. Field names are those
//! of Envoy Gateway v1.9's CRD; every field the CRD would default is written (`cacheDuration`), so
//! that the stored spec equals the desired one and a converged object is not written again.

use serde::{Deserialize, Serialize};

use super::{TargetRef, token_settings};
use crate::backend::gateway_api::CorsLists;
use crate::backend::policy_engine::PolicyTarget;
use crate::config::PolicyConfig;
use crate::core::cors::Cors as CorsPolicy;
use crate::core::validation::ValidApi;

/// The name of the one JWT provider (unique within the policy, a qualified name).
pub const JWT_PROVIDER: &str = "canvas-identity-provider";
/// The CRD's default JWKS cache duration, written so the stored spec equals the desired one.
const JWKS_CACHE_DURATION: &str = "300s";
/// Where Istio's token rule reads tokens by default, which the ExposedAPI's `header` and `query`
/// locations mean: `Authorization: Bearer <token>`, and the `access_token` query parameter.
const AUTHORIZATION: &str = "Authorization";
const BEARER: &str = "Bearer ";
const ACCESS_TOKEN: &str = "access_token";
/// The largest number a Gateway API duration part takes (`[0-9]{1,5}`).
const DURATION_PART_MAX: u32 = 99_999;

/// The subset of `SecurityPolicy` spec the operator writes and reads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPolicySpec {
    pub target_refs: Vec<TargetRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<Jwt>,
}

/// `cors`: Envoy's CORS filter on the route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    #[serde(flatten)]
    pub lists: CorsLists,
    /// The ExposedAPI names none; read, never written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// A Gateway API duration (`0s`: preflight answers are not cached).
    pub max_age: String,
    pub allow_credentials: bool,
}

impl From<&CorsPolicy> for Cors {
    fn from(cors: &CorsPolicy) -> Self {
        Self {
            lists: CorsLists::from(cors),
            expose_headers: Vec::new(),
            max_age: duration(cors.max_age.unwrap_or(0)),
            allow_credentials: cors.allow_credentials,
        }
    }
}

/// `jwt`: a valid token of one of the providers is required (neither `optional` nor `failOpen`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Jwt {
    pub providers: Vec<JwtProvider>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JwtProvider {
    pub name: String,
    pub issuer: String,
    /// Any audience when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(rename = "remoteJWKS")]
    pub remote_jwks: RemoteJwks,
    pub extract_from: JwtExtractor,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RemoteJwks {
    pub uri: String,
    pub cache_duration: String,
}

/// Where tokens are read.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct JwtExtractor {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<JwtHeader>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JwtHeader {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_prefix: Option<String>,
}

/// The policy of an API: its valid CORS policy, and its required token when verification is
/// requested and enforceable; `None` when it asks for neither.
pub fn spec(api: &ValidApi, target: &PolicyTarget<'_>, config: &PolicyConfig) -> Option<SecurityPolicySpec> {
    let jwt = api.api_keys.as_ref().and(token_settings(config).ok()).map(|token| Jwt {
        providers: vec![JwtProvider {
            name: JWT_PROVIDER.into(),
            issuer: token.issuer.into(),
            audiences: config.jwt_audiences(),
            remote_jwks: RemoteJwks { uri: token.jwks_uri.into(), cache_duration: JWKS_CACHE_DURATION.into() },
            // Another `location` is not read, as on Istio: such an API refuses more, never less.
            extract_from: JwtExtractor {
                headers: vec![JwtHeader { name: AUTHORIZATION.into(), value_prefix: Some(BEARER.into()) }],
                params: vec![ACCESS_TOKEN.into()],
            },
        }],
    });
    let cors = api.cors.as_ref().map(Cors::from);
    (cors.is_some() || jwt.is_some()).then(|| SecurityPolicySpec { target_refs: TargetRef::route(target), cors, jwt })
}

/// Seconds as a Gateway API duration: `90s`, or `27h46m40s` past what one part takes; capped at
/// the largest one (about eleven years, far beyond what browsers keep a preflight answer).
fn duration(seconds: u32) -> String {
    if seconds <= DURATION_PART_MAX {
        return format!("{seconds}s");
    }
    let hours = (seconds / 3600).min(DURATION_PART_MAX);
    let (minutes, seconds) = if hours == DURATION_PART_MAX && seconds / 3600 > hours {
        (59, 59)
    } else {
        ((seconds % 3600) / 60, seconds % 60)
    };
    format!("{hours}h{minutes}m{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fit_the_gateway_api_pattern() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(1800), "1800s");
        assert_eq!(duration(99_999), "99999s");
        assert_eq!(duration(100_000), "27h46m40s");
        assert_eq!(duration(u32::MAX), "99999h59m59s");
    }
}
