//! Runs the pinned helm (`scripts/testenv` builds it from `helm.sh/helm/v3`; `up` exports its path
//! as `ODA_TESTENV_HELM`), and reads the chart's Deployment. Shared by the chart tests and the e2e
//! suite.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    repo().join("charts/oda-api-operator")
}

/// `ODA_TESTENV_HELM`, else the path `scripts/testenv tool helm` prints (building helm once).
pub fn helm_binary() -> &'static PathBuf {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        if let Some(path) = std::env::var_os("ODA_TESTENV_HELM").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let out = Command::new(repo().join("scripts/testenv"))
            .args(["tool", "helm"])
            .output()
            .unwrap_or_else(|e| panic!("running scripts/testenv tool helm: {e}"));
        assert!(out.status.success(), "scripts/testenv tool helm failed:\n{}", String::from_utf8_lossy(&out.stderr));
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// Runs helm with `args`: its stdout, or its stderr as the error. helm sees no cluster unless the
/// arguments name one (`--kubeconfig`): even `install --dry-run=client` looks at the cluster of
/// `KUBECONFIG`, and rendering must not depend on what a cluster holds.
pub fn helm<I, S>(args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(helm_binary())
        .env("KUBECONFIG", "/dev/null")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", helm_binary().display()));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Writes `values` (JSON is YAML) to a file of its own, for `helm -f`.
pub fn values_file(values: &serde_json::Value) -> tempfile_path::Path {
    tempfile_path::Path::with_contents(&serde_json::to_string(values).expect("values serialise"))
}

// --- the chart's Deployment, as JSON (rendered by helm or read from a cluster) -----------------

/// The Deployment's one container.
pub fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

/// Literal env values (not `valueFrom`).
pub fn env_values(deployment: &Value) -> BTreeMap<String, String> {
    container(deployment)["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((e["name"].as_str()?.to_owned(), e.get("value")?.as_str().expect("env values are strings").to_owned()))
        })
        .collect()
}

/// A file removed when dropped (no crate needed for one temporary file).
pub mod tempfile_path {
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct Path(std::path::PathBuf);

    impl Path {
        pub fn with_contents(contents: &str) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!("oda-helm-values-{}-{}.json", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Path(path)
        }
    }

    impl AsRef<std::ffi::OsStr> for Path {
        fn as_ref(&self) -> &std::ffi::OsStr {
            self.0.as_os_str()
        }
    }

    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
