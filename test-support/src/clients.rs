//! Clients from the kubeconfig variables `scripts/testenv` exports:
//!
//! - `KUBECONFIG`: the admin identity (required; may be a `:`-separated list),
//! - `ODA_OPERATOR_KUBECONFIG`: the operator identity, bound only to the `oda-api-operator`
//!   ClusterRole (optional; falls back to `KUBECONFIG`).
//!
//! `~/.kube/config` is deliberately NOT used as a fallback, so that nothing touches a cluster by
//! accident.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// The admin identity's kubeconfig path(s).
pub const ADMIN_KUBECONFIG: &str = "KUBECONFIG";
/// The operator identity's kubeconfig path(s).
pub const OPERATOR_KUBECONFIG: &str = "ODA_OPERATOR_KUBECONFIG";

/// The value of `var`, unless it is unset or blank.
fn non_blank(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The admin kubeconfig path(s), from [`ADMIN_KUBECONFIG`].
pub fn admin_kubeconfig() -> Option<String> {
    non_blank(ADMIN_KUBECONFIG)
}

/// The operator kubeconfig path(s), from [`OPERATOR_KUBECONFIG`], else [`admin_kubeconfig`]. The
/// second value names the variable the paths came from.
pub fn operator_kubeconfig() -> Option<(String, &'static str)> {
    match non_blank(OPERATOR_KUBECONFIG) {
        Some(paths) => Some((paths, OPERATOR_KUBECONFIG)),
        None => admin_kubeconfig().map(|paths| (paths, ADMIN_KUBECONFIG)),
    }
}

/// True when the operator identity is a separate, least-privilege one (false when
/// `ODA_OPERATOR_KUBECONFIG` is unset or equal to `KUBECONFIG`, e.g. with `TESTENV_KUBECONFIG`).
pub fn operator_identity_is_separate() -> bool {
    match (non_blank(OPERATOR_KUBECONFIG), std::env::var(ADMIN_KUBECONFIG)) {
        (Some(op), Ok(admin)) => op != admin,
        _ => false,
    }
}

/// A client from the `:`-separated kubeconfig files `paths` (merged as kubectl does), read from the
/// variable `var` (named in the errors).
pub async fn client_from_kubeconfig_list(var: &str, paths: &str) -> Result<Client, String> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths.split(':').filter(|p| !p.is_empty()) {
        let kc = Kubeconfig::read_from(path).map_err(|e| format!("cannot read {var} file {path}: {e}"))?;
        merged = Some(match merged {
            None => kc,
            Some(m) => m.merge(kc).map_err(|e| format!("cannot merge {var}: {e}"))?,
        });
    }
    let kc = merged.ok_or_else(|| format!("{var} is empty"))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("bad kubeconfig in {var}={paths}: {e}"))?;
    Client::try_from(config).map_err(|e| format!("cannot build a client from {var}={paths}: {e}"))
}

/// The admin client, from [`ADMIN_KUBECONFIG`].
pub async fn admin_client() -> Result<Client, String> {
    let paths = admin_kubeconfig().ok_or_else(|| format!("{ADMIN_KUBECONFIG} is not set"))?;
    client_from_kubeconfig_list(ADMIN_KUBECONFIG, &paths).await
}

/// The operator identity's client, from [`operator_kubeconfig`].
pub async fn operator_client() -> Result<Client, String> {
    let (paths, var) = operator_kubeconfig().ok_or_else(|| format!("{ADMIN_KUBECONFIG} is not set"))?;
    client_from_kubeconfig_list(var, &paths).await
}
