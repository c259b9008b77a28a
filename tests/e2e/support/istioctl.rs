//! `istioctl validate` of every Istio object a test leaves in its namespace: Istio's webhook checks
//! more than its CRD schema (e.g. route and match semantics), and a cluster with Istio runs it.
//! Enabled where `scripts/testenv up` exported `ODA_TESTENV_ISTIOCTL`.

use std::process::Command;

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{Discovery, Scope};

/// The Istio API groups whose objects are validated.
const ISTIO_GROUPS: &[&str] = &["networking.istio.io", "security.istio.io", "telemetry.istio.io"];

/// Validates every Istio object in `ns` with istioctl (a no-op without `ODA_TESTENV_ISTIOCTL`).
pub async fn validate_istio_objects(client: Client, ns: &str) -> Result<(), String> {
    let Some(istioctl) = std::env::var_os("ODA_TESTENV_ISTIOCTL").filter(|v| !v.is_empty()) else { return Ok(()) };
    let discovery = Discovery::new(client.clone())
        .filter(ISTIO_GROUPS)
        .run()
        .await
        .map_err(|e| format!("discovering the Istio APIs: {e}"))?;
    let mut documents = Vec::new();
    for group in discovery.groups() {
        // Each kind once, at the group's preferred version (every version shows the same object).
        for (resource, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced || resource.plural.contains('/') {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
            let list =
                api.list(&ListParams::default()).await.map_err(|e| format!("listing {}: {e}", resource.plural))?;
            for mut object in list.items {
                object.types = Some(kube::core::TypeMeta {
                    api_version: resource.api_version.clone(),
                    kind: resource.kind.clone(),
                });
                object.metadata.managed_fields = None;
                documents.push(serde_json::to_string(&object).map_err(|e| e.to_string())?);
            }
        }
    }
    if documents.is_empty() {
        return Ok(());
    }
    let documents = documents.join("\n---\n");
    let file = std::env::temp_dir().join(format!("oda-istio-{ns}.yaml"));
    std::fs::write(&file, &documents).map_err(|e| format!("{}: {e}", file.display()))?;
    let out = Command::new(&istioctl).arg("validate").arg("-f").arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let out = out.map_err(|e| format!("running istioctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "istioctl validate rejects the Istio objects of namespace {ns}:\n{}{}\n{documents}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        ))
    }
}
