//! The gateway policies an ExposedAPI asks for (`CORS`, `rateLimit`, `apiKeyVerification`, `quota`,
//! `OASValidation`, `template`, copied from its Component's `gatewayConfiguration`), and the
//! condition each requested one gets. A policy condition exists only while the policy is requested.
//!
//! `quota`, `OASValidation` and `template` have no mechanism on Istio or the Gateway API (design:
//! shared/reference istio-policies §2.4–2.6): each is reported `False` with reason `NotSupported`,
//! and the API is still published.

use crate::core::status::ConditionSpec;
use crate::exposed_api::ExposedApiSpec;

/// Condition types, one per policy.
pub const QUOTA: &str = "Quota";
pub const OAS_VALIDATION: &str = "OASValidation";
pub const TEMPLATE: &str = "Template";

/// Reason of a requested policy that the platform has no way to enforce.
pub const NOT_SUPPORTED: &str = "NotSupported";

/// Reason of the Warning Event published when a requested policy is not enforced.
pub const NOT_SUPPORTED_EVENT: &str = "PolicyNotSupported";

/// The conditions of the requested policies that no backend can enforce, in a stable order.
pub fn unsupported(spec: &ExposedApiSpec) -> Vec<ConditionSpec> {
    let not_supported =
        |type_: &'static str, message: String| ConditionSpec { type_, status: false, reason: NOT_SUPPORTED, message };
    let mut conditions = Vec::new();
    let non_empty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
    // Canvas test packages send `identifier: ""` and `limit: ""` for "off".
    if let Some(quota) = &spec.quota
        && let (Some(identifier), Some(limit)) = (non_empty(&quota.identifier), non_empty(&quota.limit))
    {
        conditions.push(not_supported(
            QUOTA,
            format!(
                "quota requested (identifier {identifier:?}, limit {limit:?}), but neither Istio nor the Gateway API \
                 has a quota mechanism: it is not enforced"
            ),
        ));
    }
    if let Some(oas) = &spec.oas_validation {
        let directions: Vec<&str> = [(oas.request_enabled, "request"), (oas.response_enabled, "response")]
            .into_iter()
            .filter(|(on, _)| *on == Some(true))
            .map(|(_, direction)| direction)
            .collect();
        if !directions.is_empty() {
            conditions.push(not_supported(
                OAS_VALIDATION,
                format!(
                    "{} validation against the OpenAPI document requested; it needs an ext_proc or Wasm validator \
                     the gateway does not run: traffic is not validated",
                    directions.join(" and ")
                ),
            ));
        }
    }
    if let Some(template) = non_empty(&spec.template) {
        let why = if template.contains("://") {
            "templates given as URLs are never fetched (they could inject any gateway configuration)"
        } else {
            "no template catalogue is configured"
        };
        conditions
            .push(not_supported(TEMPLATE, format!("template {template:?} requested; {why}: nothing of it is applied")));
    }
    conditions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposed_api::{OasValidation, Quota};

    fn types(spec: &ExposedApiSpec) -> Vec<&'static str> {
        unsupported(spec).iter().map(|c| c.type_).collect()
    }

    #[test]
    fn only_requested_policies_get_a_condition() {
        assert!(types(&ExposedApiSpec::default()).is_empty());
        let off = ExposedApiSpec {
            quota: Some(Quota { identifier: Some(String::new()), limit: Some(String::new()) }),
            oas_validation: Some(OasValidation { request_enabled: Some(false), ..Default::default() }),
            template: Some(" ".into()),
            ..Default::default()
        };
        assert!(types(&off).is_empty(), "the Canvas' empty values mean off");
    }

    #[test]
    fn unenforceable_policies_are_reported_not_supported() {
        let spec = ExposedApiSpec {
            quota: Some(Quota { identifier: Some("IP".into()), limit: Some("1000".into()) }),
            oas_validation: Some(OasValidation {
                request_enabled: Some(true),
                response_enabled: Some(true),
                ..Default::default()
            }),
            template: Some("https://example.org/plugins.yaml".into()),
            ..Default::default()
        };
        let conditions = unsupported(&spec);
        assert_eq!(conditions.iter().map(|c| c.type_).collect::<Vec<_>>(), [QUOTA, OAS_VALIDATION, TEMPLATE]);
        assert!(conditions.iter().all(|c| !c.status && c.reason == NOT_SUPPORTED));
        assert!(conditions[0].message.contains("\"1000\"") && conditions[0].message.contains("not enforced"));
        assert!(conditions[1].message.starts_with("request and response validation"));
        assert!(conditions[2].message.contains("never fetched"));
    }
}
