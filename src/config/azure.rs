//! How `run` reaches Azure for the APIM backend: the identity (the standard `AZURE_*` names the
//! workload identity webhook injects), every base URL (so tests and sovereign clouds can point them
//! elsewhere; `https` unless `AZURE_ALLOW_INSECURE_ENDPOINTS`), where the APIM instance's
//! settings come from (these settings, or Key Vault), the OpenID Connect provider and the timings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Where the APIM instance's subscription, resource group and name come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApimConfigSource {
    /// `APIM_SUBSCRIPTION_ID`, `APIM_RESOURCE_GROUP`, `APIM_SERVICE_NAME`.
    #[value(name = "env")]
    Env,
    /// The reference operator's Key Vault secrets (`apim-service-name`, `resource-group`,
    /// `subscription-id`, `aad-tenant-id`, `aad-client-id`) in `KEY_VAULT_URL`.
    #[value(name = "keyvault")]
    KeyVault,
}

/// Azure settings of `run` (the APIM backend only).
#[derive(Args, Clone, Debug)]
pub struct AzureConfig {
    /// Entra ID tenant of the operator's identity.
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub azure_tenant_id: Option<String>,

    /// Client id of the operator's identity (an app registration, or a user-assigned managed identity).
    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub azure_client_id: Option<String>,

    /// Federated token file of workload identity (set by its webhook); preferred when set.
    #[arg(long, env = "AZURE_FEDERATED_TOKEN_FILE")]
    pub azure_federated_token_file: Option<PathBuf>,

    /// Client secret of the app registration (environment only: never a flag, never logged).
    #[arg(skip)]
    pub azure_client_secret: Option<String>,

    /// Entra ID's authority host.
    #[arg(long, env = "AZURE_AUTHORITY_HOST", default_value = "https://login.microsoftonline.com")]
    pub azure_authority_host: String,

    /// The instance metadata service, for a managed identity.
    #[arg(long, env = "AZURE_IMDS_ENDPOINT", default_value = "http://169.254.169.254")]
    pub azure_imds_endpoint: String,

    /// Azure Resource Manager.
    #[arg(long, env = "ARM_ENDPOINT", default_value = "https://management.azure.com")]
    pub arm_endpoint: String,

    /// Token scope of ARM.
    #[arg(long, env = "ARM_SCOPE", default_value = "https://management.azure.com/.default")]
    pub arm_scope: String,

    /// Where the APIM instance's settings come from.
    #[arg(long, env = "APIM_CONFIG_SOURCE", default_value = "env", value_enum)]
    pub apim_config_source: ApimConfigSource,

    /// Key Vault of `APIM_CONFIG_SOURCE=keyvault` (`https://<vault>.vault.azure.net`).
    #[arg(long, env = "KEY_VAULT_URL")]
    pub key_vault_url: Option<String>,

    /// `api-version` of the Key Vault calls.
    #[arg(long, env = "KEY_VAULT_API_VERSION", default_value = "7.4")]
    pub key_vault_api_version: String,

    /// Id of the OpenID Connect provider upserted at start-up (none when unset).
    #[arg(long, env = "APIM_OIDC_PROVIDER_ID")]
    pub apim_oidc_provider_id: Option<String>,

    /// Metadata endpoint of the provider; default: Entra ID's v2.0 document of the tenant.
    #[arg(long, env = "APIM_OIDC_METADATA_URL")]
    pub apim_oidc_metadata_url: Option<String>,

    /// Client id of the provider (the developer portal's app); default: Key Vault's `aad-client-id`.
    #[arg(long, env = "APIM_OIDC_CLIENT_ID")]
    pub apim_oidc_client_id: Option<String>,

    /// Deadline of one long-running operation, in seconds.
    #[arg(long, env = "APIM_LRO_TIMEOUT_SECS", default_value_t = 300)]
    pub apim_lro_timeout_secs: u64,

    /// Poll interval of a long-running operation when Azure names none, in seconds.
    #[arg(long, env = "APIM_LRO_POLL_SECS", default_value_t = 5)]
    pub apim_lro_poll_secs: u64,

    /// How often the drift sweep lists the operator's APIs in APIM (one request per page of 100),
    /// in seconds; also how long an API's document is kept before it is read again.
    #[arg(long, env = "APIM_RESYNC_SECS", default_value_t = 1800)]
    pub apim_resync_secs: u64,

    /// The period in which each API's policy ETag is checked once (one HEAD, spread evenly over the
    /// period), in seconds: a policy edited in the portal is found within it.
    #[arg(long, env = "APIM_POLICY_RESYNC_SECS", default_value_t = 172_800)]
    pub apim_policy_resync_secs: u64,

    /// Allow `http://` Azure endpoints (tests and the local stand-in only).
    #[arg(long, env = "AZURE_ALLOW_INSECURE_ENDPOINTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub azure_allow_insecure_endpoints: bool,
}

impl AzureConfig {
    pub fn lro_timeout(&self) -> Duration {
        Duration::from_secs(self.apim_lro_timeout_secs.max(1))
    }

    pub fn lro_poll(&self) -> Duration {
        Duration::from_millis((self.apim_lro_poll_secs * 1000).max(100))
    }

    pub fn resync(&self) -> Duration {
        Duration::from_secs(self.apim_resync_secs.max(10))
    }

    /// At least the sweep's period: a policy is checked at a sweep.
    pub fn policy_resync(&self) -> Duration {
        Duration::from_secs(self.apim_policy_resync_secs).max(self.resync())
    }

    /// `Err` naming the setting when an endpoint is not `https` and insecure ones are not allowed.
    pub fn check_endpoint(&self, setting: &str, url: &str) -> Result<(), String> {
        let url = url.trim();
        if url.starts_with("https://") || (self.azure_allow_insecure_endpoints && url.starts_with("http://")) {
            return Ok(());
        }
        // IMDS is plain http by design, on a link-local address.
        if setting == "AZURE_IMDS_ENDPOINT" && url.starts_with("http://") {
            return Ok(());
        }
        Err(format!("{setting}={url}: an https:// URL is required (AZURE_ALLOW_INSECURE_ENDPOINTS is for tests)"))
    }
}
