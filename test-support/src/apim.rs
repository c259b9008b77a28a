//! The Azure stand-in's identity as the tests and the benchmark start it, and the operator's
//! settings for it in direct mode (the instance named by settings, a client secret).

pub const TENANT: &str = "00000000-0000-0000-0000-00000000aaaa";
pub const SUBSCRIPTION: &str = "sub-1";
pub const RESOURCE_GROUP: &str = "canvas";
pub const SERVICE: &str = "canvas-apim";
pub const CLIENT: &str = "operator";
pub const CLIENT_SECRET: &str = "s3cret";

/// The stand-in's `--tenant` and `--client` arguments.
pub fn standin_identity_args() -> [String; 4] {
    ["--tenant".into(), TENANT.into(), "--client".into(), format!("{CLIENT}:{CLIENT_SECRET}")]
}

/// The operator's settings for a stand-in whose Entra ID and ARM answer at these base URLs, in
/// namespace `ns`; the caller adds what its run tunes (periods, backend URL).
pub fn direct_mode_env(ns: &str, entra: &str, arm: &str) -> Vec<(String, String)> {
    let pairs = [
        ("COMPONENT_NAMESPACE", ns),
        ("ROUTE_BACKEND", "AzureAPIM"),
        ("OPENMETRICS_IMPLEMENTATION", "ServiceMonitor"),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
        ("AZURE_AUTHORITY_HOST", entra),
        ("ARM_ENDPOINT", arm),
        ("AZURE_ALLOW_INSECURE_ENDPOINTS", "true"),
        ("APIM_SUBSCRIPTION_ID", SUBSCRIPTION),
        ("APIM_RESOURCE_GROUP", RESOURCE_GROUP),
        ("APIM_SERVICE_NAME", SERVICE),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
