//! Settings of the Azure API Management backend (`ROUTE_BACKEND=AzureAPIM`): which APIM instance,
//! the API id scheme, how the backend URL and the public URL are formed, and the JWT policy.

use clap::{Args, ValueEnum};

/// Whether the APIM policy validates tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApimJwtMode {
    /// No token validation in APIM (the Canvas identity operator or the mesh handles it).
    #[value(name = "off")]
    Off,
    /// `<validate-jwt>` against the OpenID configuration of `APIM_JWT_OPENID_CONFIG_URL`.
    #[value(name = "validate-jwt")]
    ValidateJwt,
}

/// How APIM gets the API's document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApimImportMode {
    /// APIM downloads the document from its URL (it must reach it).
    #[value(name = "link")]
    Link,
    /// The operator sends the document's content (for documents APIM cannot reach).
    #[value(name = "inline")]
    Inline,
}

/// Settings of the APIM backend (flattened into the operator configuration).
#[derive(Args, Clone, Debug)]
pub struct ApimConfig {
    /// Subscription of the APIM instance.
    #[arg(long, env = "APIM_SUBSCRIPTION_ID")]
    pub apim_subscription_id: Option<String>,

    /// Resource group of the APIM instance.
    #[arg(long, env = "APIM_RESOURCE_GROUP")]
    pub apim_resource_group: Option<String>,

    /// Name of the APIM instance.
    #[arg(long, env = "APIM_SERVICE_NAME")]
    pub apim_service_name: Option<String>,

    /// `api-version` of every APIM management call.
    #[arg(long, env = "APIM_API_VERSION", default_value = "2024-05-01")]
    pub apim_api_version: String,

    /// Public base URL of the APIM gateway (`https://<service>.azure-api.net`), the base of
    /// `status.apiStatus.url`.
    #[arg(long, env = "APIM_GATEWAY_URL")]
    pub apim_gateway_url: Option<String>,

    /// Base URL APIM forwards to (`serviceUrl` = base + `spec.path`); unset: the Ingress's
    /// load-balancer address.
    #[arg(long, env = "APIM_BACKEND_BASE_URL")]
    pub apim_backend_base_url: Option<String>,

    /// `ingressClassName` of the Ingress into the mesh.
    #[arg(long, env = "APIM_INGRESS_CLASS", default_value = "istio")]
    pub apim_ingress_class: String,

    /// Prefix of the APIM API ids (`<prefix><namespace>-<name>`).
    #[arg(long, env = "APIM_API_ID_PREFIX", default_value = "oda-")]
    pub apim_api_id_prefix: String,

    /// How the API's document reaches APIM: `link` (APIM downloads it) or `inline` (its content is
    /// sent). Either way the operator reads it first to declare its format.
    #[arg(long, env = "APIM_IMPORT_MODE", default_value = "link", value_enum)]
    pub apim_import_mode: ApimImportMode,

    /// Token validation in the APIM policy.
    #[arg(long, env = "APIM_JWT_MODE", default_value = "off", value_enum)]
    pub apim_jwt_mode: ApimJwtMode,

    /// OpenID configuration document of the token issuer, for `validate-jwt`.
    #[arg(long, env = "APIM_JWT_OPENID_CONFIG_URL")]
    pub apim_jwt_openid_config_url: Option<String>,

    /// Audiences a token must name (comma-separated), for `validate-jwt`.
    #[arg(long, env = "APIM_JWT_AUDIENCES")]
    pub apim_jwt_audiences: Option<String>,

    /// Issuers a token may come from (comma-separated), for `validate-jwt`.
    #[arg(long, env = "APIM_JWT_ISSUERS")]
    pub apim_jwt_issuers: Option<String>,
}

impl ApimConfig {
    /// Settings that cannot work together, named so that start-up stops with what to set.
    pub fn check(&self) -> Result<(), String> {
        if self.apim_jwt_mode != ApimJwtMode::ValidateJwt {
            return Ok(());
        }
        if self.apim_jwt_openid_config_url.as_deref().is_none_or(|u| u.trim().is_empty()) {
            return Err("APIM_JWT_MODE=validate-jwt needs APIM_JWT_OPENID_CONFIG_URL (the issuer's OpenID \
                        configuration document)"
                .into());
        }
        if self.jwt_audiences().is_empty() {
            return Err("APIM_JWT_MODE=validate-jwt needs APIM_JWT_AUDIENCES (comma-separated): APIM's validate-jwt \
                        policy requires at least one audience"
                .into());
        }
        Ok(())
    }

    pub fn jwt_audiences(&self) -> Vec<String> {
        list(self.apim_jwt_audiences.as_deref())
    }

    pub fn jwt_issuers(&self) -> Vec<String> {
        list(self.apim_jwt_issuers.as_deref())
    }

    /// The resource path of the instance (`/subscriptions/…/service/<name>`), once all three are set.
    pub fn service_path(&self) -> Option<String> {
        let set = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
        let (subscription, group, service) =
            (set(&self.apim_subscription_id)?, set(&self.apim_resource_group)?, set(&self.apim_service_name)?);
        Some(format!(
            "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.ApiManagement/service/{service}"
        ))
    }
}

impl Default for ApimConfig {
    fn default() -> Self {
        Self {
            apim_subscription_id: None,
            apim_resource_group: None,
            apim_service_name: None,
            apim_api_version: "2024-05-01".into(),
            apim_gateway_url: None,
            apim_backend_base_url: None,
            apim_ingress_class: "istio".into(),
            apim_api_id_prefix: "oda-".into(),
            apim_import_mode: ApimImportMode::Link,
            apim_jwt_mode: ApimJwtMode::Off,
            apim_jwt_openid_config_url: None,
            apim_jwt_audiences: None,
            apim_jwt_issuers: None,
        }
    }
}

fn list(value: Option<&str>) -> Vec<String> {
    value.unwrap_or_default().split(',').map(str::trim).filter(|v| !v.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_jwt_without_audiences_is_refused_naming_the_setting() {
        let mut config = ApimConfig { apim_jwt_mode: ApimJwtMode::ValidateJwt, ..Default::default() };
        assert!(config.check().unwrap_err().contains("APIM_JWT_OPENID_CONFIG_URL"));
        config.apim_jwt_openid_config_url = Some("https://idp/.well-known/openid-configuration".into());
        config.apim_jwt_audiences = Some(" , ".into());
        assert!(config.check().unwrap_err().contains("APIM_JWT_AUDIENCES"));
        config.apim_jwt_audiences = Some("api://canvas".into());
        assert_eq!(config.check(), Ok(()));
        assert_eq!(ApimConfig::default().check(), Ok(()));
    }
}
