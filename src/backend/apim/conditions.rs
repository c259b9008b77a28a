//! The conditions of the APIM backend, pure: `ApimSynced` (what became of the API in APIM),
//! `DeletionBlocked`, and one per requested policy, enforced by the APIM API policy or the API's
//! subscription keys rather than by gateway objects.

use crate::core::policy::{
    API_KEY_VERIFICATION, APPLIED, APPLIED_WITH_DEVIATION, APPLY_FAILED, CORS, INVALID_SPEC, NOT_OWNED, NOT_SUPPORTED,
    OAS_VALIDATION, QUOTA, RATE_LIMIT, TEMPLATE,
};
use crate::core::status::ConditionSpec;
use crate::exposed_api::ExposedApiSpec;

/// Type of the condition about the API in APIM.
pub const APIM_SYNCED: &str = "ApimSynced";
/// Type of the condition set while APIM has not confirmed the deletion of the API.
pub const DELETION_BLOCKED: &str = "DeletionBlocked";

/// Reasons of `ApimSynced`.
pub const SYNCED: &str = "Synced";
pub const INGRESS_ADDRESS_PENDING: &str = "IngressAddressPending";
pub const NO_SPECIFICATION: &str = "NoSpecification";
/// The document could not be read, or is neither Swagger 2.0 nor OpenAPI 3.x: nothing is sent.
pub const DOCUMENT_UNUSABLE: &str = "DocumentUnusable";
/// A value APIM's published contract refuses (e.g. longer than its `maxLength`).
pub const NOT_ACCEPTED: &str = "NotAcceptedByApim";
/// Only `openapi` APIs go to APIM (metrics and MCP APIs are not imported).
pub const NOT_IMPORTED: &str = "NotImported";
pub const API_NOT_OWNED: &str = "NotOwned";
pub const REJECTED: &str = "Rejected";
pub const THROTTLED: &str = "Throttled";
pub const RETRYING: &str = "Retrying";
pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
/// Reason of `DeletionBlocked`.
pub const DELETE_FAILED: &str = "DeleteFailed";
/// Reason of `APIKeyVerification` on APIM: APIM's own subscription keys.
pub const APPLIED_AS_SUBSCRIPTION_KEY: &str = "AppliedAsSubscriptionKey";

pub fn synced(reason: &'static str, status: bool, message: impl Into<String>) -> ConditionSpec {
    ConditionSpec { type_: APIM_SYNCED, status, reason, message: message.into() }
}

/// Whether the API policy reached APIM: `None` when it did, else the reason and words.
pub type PolicyFailure<'a> = Option<(&'static str, &'a str)>;

/// The condition of every requested policy, in a stable order; `failure` says why the API policy
/// is not in APIM (then nothing of it is enforced).
pub fn policy_conditions(spec: &ExposedApiSpec, failure: PolicyFailure<'_>) -> Vec<ConditionSpec> {
    let condition = |type_, status, reason, message: String| ConditionSpec { type_, status, reason, message };
    let not_in_apim =
        |type_| failure.map(|(reason, why)| condition(type_, false, reason, format!("{why}: not enforced")));
    let mut conditions = Vec::new();
    match crate::core::cors::requested(spec) {
        None => {}
        Some(Err(errors)) => conditions.push(condition(CORS, false, INVALID_SPEC, invalid(&errors, "CORS"))),
        Some(Ok(cors)) if !super::rules::cors_problems(&cors).is_empty() => {
            let problems = super::rules::cors_problems(&cors).join("; ");
            let message = format!("{problems}; the API is published without the CORS");
            conditions.push(condition(CORS, false, INVALID_SPEC, message));
        }
        Some(Ok(cors)) => conditions.push(not_in_apim(CORS).unwrap_or_else(|| {
            let origins = cors.origins.join(", ");
            if cors.answer_preflights {
                condition(CORS, true, APPLIED, format!("CORS in the APIM API policy for origins {origins}"))
            } else {
                let message = format!(
                    "CORS in the APIM API policy for origins {origins}; handlePreflightRequests.enabled=false cannot \
                     be honoured: APIM answers the preflights of allowed origins itself"
                );
                condition(CORS, true, APPLIED_WITH_DEVIATION, message)
            }
        })),
    }
    match crate::core::rate_limit::requested(spec) {
        None => {}
        Some(Err(errors)) => {
            conditions.push(condition(RATE_LIMIT, false, INVALID_SPEC, invalid(&errors, "rate limit")));
        }
        Some(Ok(limit)) => conditions.push(not_in_apim(RATE_LIMIT).unwrap_or_else(|| {
            let message = format!(
                "{} calls/{} per {}, counted by APIM (rate-limit-by-key)",
                limit.limit,
                limit.interval.unit(),
                limit.client.describe()
            );
            condition(RATE_LIMIT, true, APPLIED, message)
        })),
    }
    if let Some(keys) = spec.api_key_verification.as_ref().filter(|k| k.enabled == Some(true)) {
        let header = keys.location.as_deref().map(str::trim).filter(|l| !matches!(*l, "" | "header" | "query"));
        let message = format!(
            "requests need an APIM subscription key in header {} or the subscription-key query parameter",
            header.unwrap_or("Ocp-Apim-Subscription-Key")
        );
        let fallback = condition(API_KEY_VERIFICATION, true, APPLIED_AS_SUBSCRIPTION_KEY, message);
        conditions.push(not_in_apim(API_KEY_VERIFICATION).unwrap_or(fallback));
    }
    conditions.extend(unsupported(spec));
    conditions
}

fn invalid(errors: &[crate::core::validation::FieldError], what: &str) -> String {
    let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{}; the API is published without the {what}", problems.join("; "))
}

/// The reason of a policy condition when the API policy did not reach APIM.
pub fn policy_failure_reason(synced_reason: &str) -> &'static str {
    if synced_reason == API_NOT_OWNED { NOT_OWNED } else { APPLY_FAILED }
}

/// Policies this backend does not write (yet): reported, never silently dropped.
fn unsupported(spec: &ExposedApiSpec) -> Vec<ConditionSpec> {
    let not_supported =
        |type_: &'static str, message: String| ConditionSpec { type_, status: false, reason: NOT_SUPPORTED, message };
    let set = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    let mut conditions = Vec::new();
    if let Some(quota) = &spec.quota
        && let (Some(identifier), Some(limit)) = (set(&quota.identifier), set(&quota.limit))
    {
        conditions.push(not_supported(
            QUOTA,
            format!(
                "quota requested (identifier {identifier:?}, limit {limit:?}); the operator does not write APIM's \
                 quota-by-key (it needs a renewal period the ExposedAPI does not give, and the v2 tiers lack it): \
                 it is not enforced"
            ),
        ));
    }
    let oas = spec.oas_validation.as_ref();
    if oas.is_some_and(|o| o.request_enabled == Some(true) || o.response_enabled == Some(true)) {
        conditions.push(not_supported(
            OAS_VALIDATION,
            "OpenAPI validation requested; the operator does not write APIM's validate-content policies yet: \
             traffic is not validated"
                .into(),
        ));
    }
    if let Some(template) = set(&spec.template) {
        conditions.push(not_supported(
            TEMPLATE,
            format!("template {template:?} requested; no template catalogue is configured: nothing of it is applied"),
        ));
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposed_api::{ApiKeyVerification, Cors, Quota, RateLimit};

    fn spec() -> ExposedApiSpec {
        ExposedApiSpec {
            cors: Some(Cors { enabled: Some(true), ..Default::default() }),
            rate_limit: Some(RateLimit { enabled: Some(true), limit: Some("10".into()), ..Default::default() }),
            api_key_verification: Some(ApiKeyVerification { enabled: Some(true), ..Default::default() }),
            quota: Some(Quota { identifier: Some("IP".into()), limit: Some("100".into()) }),
            ..Default::default()
        }
    }

    #[test]
    fn every_requested_policy_is_reported() {
        let conditions = policy_conditions(&spec(), None);
        let seen: Vec<(&str, bool, &str)> = conditions.iter().map(|c| (c.type_, c.status, c.reason)).collect();
        assert_eq!(
            seen,
            [
                (CORS, true, APPLIED),
                (RATE_LIMIT, true, APPLIED),
                (API_KEY_VERIFICATION, true, APPLIED_AS_SUBSCRIPTION_KEY),
                (QUOTA, false, NOT_SUPPORTED)
            ]
        );
    }

    #[test]
    fn nothing_counts_as_enforced_while_the_policy_is_not_in_apim() {
        let conditions = policy_conditions(&spec(), Some((APPLY_FAILED, "APIM refused the policy")));
        assert!(conditions.iter().all(|c| !c.status), "{conditions:?}");
        assert!(conditions[0].message.contains("APIM refused the policy"));
    }
}
