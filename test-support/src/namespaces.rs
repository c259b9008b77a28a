//! Namespaces of their own for a test or a benchmark run, found again by a label.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};

/// Creates namespace `name` labelled `<label>=true` (so that leftovers can be found and deleted).
pub async fn create_labelled_namespace(client: &Client, name: &str, label: &str) -> Result<Namespace, String> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some([(label.to_owned(), "true".to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .map_err(|e| format!("creating namespace {name}: {e}"))
}
