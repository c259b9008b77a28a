//! The chart rendered by helm itself (`helm template`), and what its Deployment holds.

use serde_json::Value;

use crate::fixtures::{NAMESPACE, RELEASE, yaml_documents};
use crate::helm::{chart_dir, container, helm, values_file};

/// A rendered chart: every object of every template, as `helm template` prints them.
pub struct Rendered {
    pub objects: Vec<Value>,
    pub text: String,
}

impl Rendered {
    pub fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    pub fn one(&self, kind: &str) -> &Value {
        let found = self.all(kind);
        assert_eq!(found.len(), 1, "exactly one {kind} in the rendered chart");
        found[0]
    }
}

/// `helm template oda-api-operator charts/oda-api-operator -n oda-api-operator -f <values>`: what
/// helm rejects (e.g. values the schema forbids) is the error.
pub fn try_render_chart(values: &Value) -> Result<Rendered, String> {
    let file = values_file(values);
    let chart = chart_dir();
    let text = helm([
        "template".as_ref(),
        RELEASE.as_ref(),
        chart.as_os_str(),
        "--namespace".as_ref(),
        NAMESPACE.as_ref(),
        "--values".as_ref(),
        file.as_ref(),
    ])?;
    Ok(Rendered { objects: yaml_documents(&text, "helm template's output"), text })
}

pub fn render_chart(values: &Value) -> Rendered {
    try_render_chart(values).unwrap_or_else(|e| panic!("helm template failed:\n{e}"))
}

pub fn env_names(deployment: &Value) -> Vec<String> {
    container(deployment)["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().expect("env name").to_owned())
        .collect()
}
