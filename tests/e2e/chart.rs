//! The Helm chart installed by helm onto the cluster: its objects are created, the cluster's
//! deployment and replicaset controllers act on them, and the operator, configured by the
//! Deployment's env and authenticated as the chart's own ServiceAccount (a TokenRequest token), does
//! its work: the chart's RBAC is what is tested.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, Config};
use serde_json::json;

use crate::helm::{chart_dir, env_values, helm};
use crate::operator::{Operator, wait_for_reason};
use crate::support::*;

/// `helm uninstall` when dropped, so the release's cluster-wide RBAC does not outlive the test.
struct Release {
    name: String,
    namespace: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Err(e) = helm(["uninstall", &self.name, "--namespace", &self.namespace, "--wait=false"]) {
            eprintln!("warning: helm uninstall {}: {e}", self.name);
        }
    }
}

/// A client that authenticates with a token of `account` (TokenRequest API) and nothing else.
async fn client_as_service_account(ns: &TestNamespace, account: &str) -> Client {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec { expiration_seconds: Some(3600), ..Default::default() }),
        ..Default::default()
    };
    let token = Api::<ServiceAccount>::namespaced(ns.client(), ns.name())
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .expect("TokenRequest for the chart's ServiceAccount");
    let token = token.status.and_then(|s| s.token).expect("a token was issued");
    let mut config = Config::infer().await.expect("KUBECONFIG");
    config.auth_info = kube::config::AuthInfo { token: Some(token.into()), ..Default::default() };
    Client::try_from(config).expect("client with the ServiceAccount's token")
}

#[tokio::test]
async fn the_chart_installs_and_its_service_account_runs_the_operator() {
    let ns = TestNamespace::new("helm").await;
    // Cluster-wide names (ClusterRole, binding) must not clash with another installation.
    let name = ns.name().to_owned();
    let values = json!({
        "fullnameOverride": name,
        "config": { "componentNamespace": name, "ingressNamespace": name },
    });
    let values = crate::helm::values_file(&values);
    let chart = chart_dir();
    let kubeconfig = std::env::var("KUBECONFIG").expect("KUBECONFIG");
    let installed = helm([
        "install".as_ref(),
        name.as_ref(),
        chart.as_os_str(),
        "--namespace".as_ref(),
        name.as_ref(),
        "--kubeconfig".as_ref(),
        kubeconfig.as_ref(),
        "--skip-crds".as_ref(),
        "--values".as_ref(),
        values.as_ref(),
    ])
    .unwrap_or_else(|e| panic!("helm install: {e}"));
    let _release = Release { name: name.clone(), namespace: name.clone() };
    assert!(installed.contains(&format!("kubectl -n {name} logs deploy/{name}")), "NOTES: {installed}");

    // The objects exist, and the cluster's controllers act on the Deployment.
    let client = ns.client();
    Api::<ClusterRole>::all(client.clone()).get(&name).await.expect("ClusterRole");
    Api::<ClusterRoleBinding>::all(client.clone()).get(&name).await.expect("ClusterRoleBinding");
    ns.api::<PodDisruptionBudget>().get(&name).await.expect("PodDisruptionBudget");
    let deployment = ns.api::<Deployment>().get(&name).await.expect("Deployment");
    wait_for(GC_TIMEOUT, || async {
        let sets = ns.api::<ReplicaSet>().list(&ListParams::default()).await.ok()?;
        let pods = ns.api::<Pod>().list(&ListParams::default()).await.ok()?;
        (sets.items.len() == 1 && pods.items.len() == 2).then_some(())
    })
    .await;

    // The operator with the Deployment's env and the ServiceAccount's token.
    let env = env_values(&serde_json::to_value(&deployment).expect("Deployment as JSON"));
    assert_eq!(env.get("COMPONENT_NAMESPACE"), Some(&name));
    let operator = Operator::start_with_env(client_as_service_account(&ns, &name).await, &env);

    gateway_and_service(&ns).await;
    create_exposed_api(ns.client(), ns.name(), "c1-api", &[], exposed_api_spec("impl", "/c1/api", 8080)).await;
    let mut metrics = exposed_api_spec("impl", "/c1/metrics", 8080);
    metrics["apiType"] = json!("prometheus");
    create_exposed_api(ns.client(), ns.name(), "c1-metrics", &[], metrics).await;
    let api = wait_for_reason(ns.name(), "c1-api", "Exposed").await;
    assert_eq!(api.data["status"]["apiStatus"]["url"], "https://20.1.2.3/c1/api");
    wait_for_reason(ns.name(), "c1-metrics", "Exposed").await;
    let monitors = dynamic_api(ns.client(), ns.name(), &service_monitor_resource());
    wait_for(GC_TIMEOUT, || async { monitors.get_opt("c1-metrics").await.ok().flatten() }).await;
    operator.stop().await;
}
