//! The chart rendered as `helm template` would, and what its Deployment holds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::fixtures::{NAMESPACE, RELEASE, chart_dir, read, yaml_documents};
use crate::render::Templates;

/// A rendered chart: every object of every template, and NOTES.txt.
pub struct Rendered {
    pub objects: Vec<Value>,
    pub notes: String,
    /// Each template's output, as `helm template` prints it.
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

/// `helm template oda-api-operator charts/oda-api-operator -n oda-api-operator` with these values.
pub fn render_chart(values: &Value) -> Rendered {
    let chart = &yaml_documents(&read("charts/oda-api-operator/Chart.yaml"), "Chart.yaml")[0];
    let root = json!({
        "Values": values,
        "Release": { "Name": RELEASE, "Namespace": NAMESPACE, "Service": "Helm" },
        "Chart": { "Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"] },
    });
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(chart_dir().join("templates")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut templates = Templates::default();
    for file in &files {
        templates.add(&file.file_name().unwrap().to_string_lossy(), &std::fs::read_to_string(file).unwrap());
    }
    let (mut objects, mut notes, mut text) = (Vec::new(), String::new(), String::new());
    for name in templates.names() {
        if name.starts_with('_') {
            continue;
        }
        let out = templates.render(&name, &root);
        if name == "NOTES.txt" {
            notes = out;
        } else {
            objects.extend(yaml_documents(&out, &format!("templates/{name} rendered")));
            if !out.trim().is_empty() {
                text.push_str(&format!("---\n# Source: oda-api-operator/templates/{name}\n{}\n", out.trim()));
            }
        }
    }
    Rendered { objects, notes, text }
}

pub fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

pub fn env_names(deployment: &Value) -> Vec<String> {
    container(deployment)["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().expect("env name").to_owned())
        .collect()
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
