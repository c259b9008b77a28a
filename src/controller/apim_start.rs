//! Start-up of the APIM backend: the operator's Azure identity, the APIM instance (from the
//! settings or the reference operator's Key Vault secrets), the public gateway URL, and the OpenID
//! Connect provider, upserted once. Azure being unreachable is retried (the operator is not ready
//! meanwhile); a missing or unsafe setting stops start-up with a message naming it.

use std::sync::Arc;

use serde_json::json;

use super::apim::Apim;
use super::apim_sweep::Sweeper;
use crate::Error;
use crate::azure::token::Credential;
use crate::azure::{
    ArmClient, ArmConfig, AzureError, ClientSecret, Documents, KeyVault, ManagedIdentity, Secret, TokenSource,
};
use crate::backend::apim::ApimBackend;
use crate::config::{ApimConfigSource, AzureConfig, RunConfig};

/// What start-up failed on: a setting (stop) or Azure (retry).
pub(super) enum StartError {
    Setting(Error),
    Azure(AzureError),
}

impl From<AzureError> for StartError {
    fn from(e: AzureError) -> Self {
        match e {
            AzureError::Config(message) => Self::Setting(Error::Config(message)),
            other => Self::Azure(other),
        }
    }
}

fn setting(message: String) -> StartError {
    StartError::Setting(Error::Config(message))
}

pub(super) async fn start(config: &RunConfig) -> Result<Apim, StartError> {
    let azure = &config.azure;
    for (name, url) in [("ARM_ENDPOINT", &azure.arm_endpoint), ("AZURE_AUTHORITY_HOST", &azure.azure_authority_host)] {
        azure.check_endpoint(name, url).map_err(setting)?;
    }
    config.output.apim.check().map_err(setting)?;
    let tokens = token_source(azure)?;
    let mut apim_config = config.output.apim.clone();
    let (service_path, oidc_client, oidc_tenant) = match azure.apim_config_source {
        ApimConfigSource::Env => {
            let path = apim_config.service_path().ok_or_else(|| {
                setting(
                    "ROUTE_BACKEND=AzureAPIM needs APIM_SUBSCRIPTION_ID, APIM_RESOURCE_GROUP and APIM_SERVICE_NAME \
                     (or APIM_CONFIG_SOURCE=keyvault with KEY_VAULT_URL)"
                        .into(),
                )
            })?;
            (path, azure.apim_oidc_client_id.clone(), azure.azure_tenant_id.clone())
        }
        ApimConfigSource::KeyVault => {
            let url = azure.key_vault_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
            let url = url.ok_or_else(|| setting("APIM_CONFIG_SOURCE=keyvault needs KEY_VAULT_URL".into()))?;
            azure.check_endpoint("KEY_VAULT_URL", url).map_err(setting)?;
            let vault = KeyVault::new(url, &azure.key_vault_api_version, tokens.clone())?;
            let found = vault.settings().await?;
            apim_config.apim_subscription_id = Some(found.subscription_id);
            apim_config.apim_resource_group = Some(found.resource_group);
            apim_config.apim_service_name = Some(found.service_name);
            let path = apim_config.service_path().ok_or_else(|| setting("a Key Vault setting is empty".into()))?;
            let tenant = azure.azure_tenant_id.clone().or(Some(found.tenant_id));
            (path, azure.apim_oidc_client_id.clone().or(Some(found.client_id)), tenant)
        }
    };
    let arm = ArmClient::new(
        ArmConfig {
            endpoint: azure.arm_endpoint.clone(),
            scope: azure.arm_scope.clone(),
            service_path,
            api_version: apim_config.apim_api_version.clone(),
            poll_default: azure.lro_poll(),
            lro_timeout: azure.lro_timeout(),
        },
        tokens,
    )?;
    if apim_config.apim_gateway_url.as_deref().is_none_or(|u| u.trim().is_empty()) {
        let found = arm.gateway_url().await?;
        apim_config.apim_gateway_url =
            Some(found.ok_or_else(|| setting("the APIM service shows no gatewayUrl: set APIM_GATEWAY_URL".into()))?);
    }
    if let Some(id) = azure.apim_oidc_provider_id.as_deref().map(str::trim).filter(|id| !id.is_empty()) {
        upsert_openid_provider(&arm, azure, id, (oidc_client, oidc_tenant)).await?;
    }
    // The document is read again at each resync: a new version may change its format.
    let documents = Documents::new(apim_config.apim_import_mode, azure.resync())?;
    let arm = Arc::new(arm);
    let prefix = &apim_config.apim_api_id_prefix;
    let sweeper = Sweeper::new(arm.clone(), prefix, azure.resync(), azure.policy_resync());
    Ok(Apim { backend: ApimBackend::new(&apim_config), arm, documents, resync: azure.resync(), sweeper })
}

/// Workload identity when its token file is there (the AKS default), else a client secret, else
/// the node's managed identity.
fn token_source(azure: &AzureConfig) -> Result<Arc<dyn TokenSource>, StartError> {
    let secret = azure.azure_client_secret.clone().or_else(|| std::env::var("AZURE_CLIENT_SECRET").ok());
    let credential = match (&azure.azure_federated_token_file, secret.filter(|s| !s.is_empty())) {
        (Some(file), _) => Some(Credential::FederatedTokenFile(file.clone())),
        (None, Some(secret)) => Some(Credential::Secret(Secret::new(secret))),
        (None, None) => None,
    };
    let client_id = azure.azure_client_id.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let Some(credential) = credential else {
        azure.check_endpoint("AZURE_IMDS_ENDPOINT", &azure.azure_imds_endpoint).map_err(setting)?;
        return Ok(ManagedIdentity::new(&azure.azure_imds_endpoint, client_id)?);
    };
    let tenant = azure.azure_tenant_id.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let (Some(tenant), Some(client_id)) = (tenant, client_id) else {
        return Err(setting(
            "a federated token file or client secret needs AZURE_TENANT_ID and AZURE_CLIENT_ID".into(),
        ));
    };
    Ok(ClientSecret::new(&azure.azure_authority_host, tenant, client_id, credential)?)
}

async fn upsert_openid_provider(
    arm: &ArmClient,
    azure: &AzureConfig,
    id: &str,
    (client_id, tenant): (Option<String>, Option<String>),
) -> Result<(), StartError> {
    let client_id = client_id.ok_or_else(|| setting("APIM_OIDC_PROVIDER_ID needs APIM_OIDC_CLIENT_ID".into()))?;
    let metadata = match (&azure.apim_oidc_metadata_url, tenant) {
        (Some(url), _) => url.clone(),
        (None, Some(tenant)) => format!(
            "{}/{tenant}/v2.0/.well-known/openid-configuration",
            azure.azure_authority_host.trim_end_matches('/')
        ),
        (None, None) => {
            return Err(setting("APIM_OIDC_PROVIDER_ID needs APIM_OIDC_METADATA_URL or AZURE_TENANT_ID".into()));
        }
    };
    let body = json!({"properties": {
        "displayName": "ODA Canvas (Entra ID)",
        "description": "Upserted by oda-api-operator at start-up",
        "metadataEndpoint": metadata,
        "clientId": client_id,
    }});
    arm.put_openid_provider(id, &body).await?;
    tracing::info!(provider = id, "OpenID Connect provider in place");
    Ok(())
}
