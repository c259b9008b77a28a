//! The Helm chart (`charts/oda-api-operator`) agrees with the rest of the repository: its RBAC with
//! `deploy/rbac.yaml`, its CRD with `deploy/crds/`, its Deployment with the operator's configuration
//! (`RunConfig`) and with `deploy/operator.yaml`, its values with `values.schema.json`.
//!
//! There is no helm binary on the build machines, so the templates are rendered by [`tpl`], a small
//! substituter for exactly the constructs the chart uses (`{{ .Values.x }}`, `include`, `toYaml`,
//! `nindent`, `quote`, `default`, `if`/`with`/`end`, trim markers). It panics on anything else, and
//! on a field the values do not have (where helm would silently print nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser};
use oda_api_operator::config::RunConfig;
use serde_json::{Value, json};

const RELEASE: &str = "oda-api-operator";
const NAMESPACE: &str = "oda-api-operator";

/// `RunConfig` variables the chart deliberately does not set, and why.
const NOT_IN_CHART: &[(&str, &str)] = &[
    ("COMPONENT_NAMESPACES_CLI", "the reference chart's `-n a -n b` form; config.componentNamespace takes lists"),
    ("INGRESS_CLASS", "accepted and ignored, as in the reference"),
    ("CICD_BUILD_TIME", "build metadata: a build argument of the Dockerfile, baked into the image"),
    ("GIT_COMMIT_SHA", "build metadata: a build argument of the Dockerfile, baked into the image"),
];

/// Variables the chart sets that are not flags: read by the operator from its environment.
const EXTRA_ENV: &[&str] = &["POD_NAMESPACE"];

/// Variables rendered only when their value is set: `run` would take an empty
/// APIOPERATORISTIO_INGRESS_NAMESPACE for the namespace `""`.
const OPTIONAL_ENV: &[&str] = &["APIOPERATORISTIO_PUBLICHOSTNAME", "APIOPERATORISTIO_INGRESS_NAMESPACE"];

/// Chart defaults that differ from the binary's, on purpose.
const CHART_DEFAULTS: &[(&str, &str)] = &[
    // The gateway the Canvas chart installs (the binary keeps the reference's bare name).
    ("APIOPERATORISTIO_COMPONENTGATEWAY", "canvas/component-gateway"),
    // Two replicas, one leader.
    ("LEADER_ELECTION", "true"),
];

/// `oda-api-operator run`'s configuration, as its binary parses it.
#[derive(Parser, Debug)]
struct Run {
    #[command(flatten)]
    config: RunConfig,
}

// ---------------------------------------------------------------------------------------------
// files

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart_dir() -> PathBuf {
    repo().join("charts/oda-api-operator")
}

fn read(path: impl AsRef<Path>) -> String {
    let path = repo().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}\n{text}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn default_values() -> Value {
    let docs = yaml_documents(&read("charts/oda-api-operator/values.yaml"), "values.yaml");
    assert_eq!(docs.len(), 1, "values.yaml is one document");
    docs.into_iter().next().unwrap()
}

fn schema() -> Value {
    serde_json::from_str(&read("charts/oda-api-operator/values.schema.json")).expect("values.schema.json is JSON")
}

/// `helm --set`-like overlay: maps merge, anything else replaces.
fn merged(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged_v = match b.get(k) {
                    Some(bv) => merged(bv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged_v);
            }
            Value::Object(out)
        }
        _ => overlay.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// rendering

/// A rendered chart: every object of every template, and NOTES.txt.
struct Rendered {
    objects: Vec<Value>,
    notes: String,
    /// Each template's output, as `helm template` prints it.
    text: String,
}

impl Rendered {
    fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    fn one(&self, kind: &str) -> &Value {
        let found = self.all(kind);
        assert_eq!(found.len(), 1, "exactly one {kind} in the rendered chart");
        found[0]
    }
}

/// `helm template oda-api-operator charts/oda-api-operator -n oda-api-operator` with these values.
fn render_chart(values: &Value) -> Rendered {
    let chart = &yaml_documents(&read("charts/oda-api-operator/Chart.yaml"), "Chart.yaml")[0];
    let root = json!({
        "Values": values,
        "Release": { "Name": RELEASE, "Namespace": NAMESPACE, "Service": "Helm" },
        "Chart": { "Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"] },
    });
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(chart_dir().join("templates")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut templates = tpl::Templates::default();
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

fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn env_names(deployment: &Value) -> Vec<String> {
    container(deployment)["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().expect("env name").to_owned())
        .collect()
}

/// Literal env values (not `valueFrom`).
fn env_values(deployment: &Value) -> BTreeMap<String, String> {
    container(deployment)["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            Some((e["name"].as_str()?.to_owned(), e.get("value")?.as_str().expect("env values are strings").to_owned()))
        })
        .collect()
}

/// Every environment variable `oda-api-operator run` reads through its flags.
fn run_config_env() -> BTreeSet<String> {
    Run::command().get_arguments().filter_map(|a| a.get_env()).map(|e| e.to_string_lossy().into_owned()).collect()
}

fn set(items: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

/// The env variables the chart renders when every optional value is set.
fn all_set_values() -> Value {
    merged(
        &default_values(),
        &json!({ "config": { "publicHostname": "apis.example.com", "ingressNamespace": "istio-ingress" } }),
    )
}

/// `cargo test --test chart -- --ignored --nocapture print_chart` prints the chart rendered with
/// its defaults, as `helm template oda-api-operator charts/oda-api-operator -n oda-api-operator` would.
#[test]
#[ignore = "prints the rendered chart"]
fn print_chart() {
    print!("{}", render_chart(&default_values()).text);
}

// ---------------------------------------------------------------------------------------------
// RBAC and CRD

#[test]
fn cluster_role_rules_are_deploy_rbac_rules() {
    let chart = render_chart(&default_values());
    let plain = yaml_documents(&read("deploy/rbac.yaml"), "deploy/rbac.yaml");
    let of_kind =
        |kind: &str| plain.iter().find(|o| o["kind"] == kind).unwrap_or_else(|| panic!("{kind} in deploy/rbac.yaml"));

    let role = chart.one("ClusterRole");
    assert_eq!(role["rules"], of_kind("ClusterRole")["rules"], "the chart's ClusterRole rules are deploy/rbac.yaml's");
    assert_eq!(role["metadata"]["name"], of_kind("ClusterRole")["metadata"]["name"]);

    let binding = chart.one("ClusterRoleBinding");
    assert_eq!(binding["roleRef"], of_kind("ClusterRoleBinding")["roleRef"]);
    assert_eq!(binding["subjects"], of_kind("ClusterRoleBinding")["subjects"]);
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);

    let account = chart.one("ServiceAccount");
    assert_eq!(account["metadata"]["name"], of_kind("ServiceAccount")["metadata"]["name"]);
    assert_eq!(account["metadata"]["namespace"], of_kind("ServiceAccount")["metadata"]["namespace"]);
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["namespace"], account["metadata"]["namespace"]);

    // Nothing else grants permissions.
    assert!(chart.all("Role").is_empty() && chart.all("RoleBinding").is_empty());
}

#[test]
fn chart_crd_is_the_deploy_crd() {
    let copies: Vec<String> = std::fs::read_dir(chart_dir().join("crds"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(copies, ["exposedapis.oda.tmforum.org.yaml"]);
    assert!(
        read("charts/oda-api-operator/crds/exposedapis.oda.tmforum.org.yaml")
            == read("deploy/crds/exposedapis.oda.tmforum.org.yaml"),
        "charts/oda-api-operator/crds/ is stale: cp deploy/crds/exposedapis.oda.tmforum.org.yaml \
         charts/oda-api-operator/crds/"
    );
}

// ---------------------------------------------------------------------------------------------
// configuration

#[test]
fn deployment_env_covers_every_run_config_variable() {
    let run_env = run_config_env();
    for (name, why) in NOT_IN_CHART {
        assert!(run_env.contains(*name), "{name} is no longer a RunConfig variable ({why}): drop it from NOT_IN_CHART");
    }
    let expected: BTreeSet<String> = run_env
        .iter()
        .filter(|e| !NOT_IN_CHART.iter().any(|(n, _)| n == e))
        .cloned()
        .chain(set(EXTRA_ENV.iter().copied()))
        .collect();

    let all_set = render_chart(&all_set_values());
    let names = env_names(all_set.one("Deployment"));
    assert_eq!(names.len(), set(names.clone()).len(), "no env variable twice: {names:?}");
    assert_eq!(set(names), expected, "env of the chart's Deployment with every value set vs RunConfig's variables");

    let defaults = render_chart(&default_values());
    let expected_by_default: BTreeSet<String> =
        expected.iter().filter(|e| !OPTIONAL_ENV.contains(&e.as_str())).cloned().collect();
    assert_eq!(set(env_names(defaults.one("Deployment"))), expected_by_default);

    // The downward API gives the identity; the Lease lives in the release namespace.
    let env = container(defaults.one("Deployment"))["env"].as_array().unwrap().clone();
    let field =
        |name: &str| env.iter().find(|e| e["name"] == name).unwrap()["valueFrom"]["fieldRef"]["fieldPath"].clone();
    assert_eq!(field("POD_NAME"), "metadata.name");
    assert_eq!(field("POD_NAMESPACE"), "metadata.namespace");
    assert_eq!(env_values(defaults.one("Deployment"))["LEADER_ELECTION_NAMESPACE"], NAMESPACE);
}

/// Feeds the rendered env to the binary's own parser: every value is accepted, and the chart's
/// defaults are the binary's except where [`CHART_DEFAULTS`] says otherwise.
#[test]
fn deployment_env_is_accepted_by_the_operator() {
    let command = Run::command();
    let flag_of =
        |env: &str| -> Option<&clap::Arg> { command.get_arguments().find(|a| a.get_env().is_some_and(|e| e == env)) };

    for values in [default_values(), all_set_values()] {
        let rendered = render_chart(&values);
        let env = env_values(rendered.one("Deployment"));
        let mut args = vec!["run".to_owned()];
        for (name, value) in &env {
            let arg = flag_of(name).unwrap_or_else(|| panic!("{name} is no flag of `run`"));
            args.push(format!("--{}={value}", arg.get_long().expect("long flag")));
        }
        let run = Run::try_parse_from(&args).unwrap_or_else(|e| panic!("`run` rejects the chart's env {args:?}:\n{e}"));
        assert!(run.config.leader_election);
        assert_eq!(run.config.http_port, 8080);
        assert_eq!(run.config.concurrency, 16);
        assert_eq!(run.config.component_namespace, "components");
        assert_eq!(run.config.output.component_gateway, "canvas/component-gateway");
        assert_eq!(run.config.leader_election_namespace.as_deref(), Some(NAMESPACE));
        assert_eq!(run.config.lease_name, "oda-api-operator");
        let all_set = values["config"]["publicHostname"] != "";
        assert_eq!(run.config.output.public_hostname().is_some(), all_set);
        assert_eq!(run.config.ingress_namespace.is_some(), all_set);
    }

    let defaults = env_values(render_chart(&default_values()).one("Deployment"));
    for (name, value) in &defaults {
        let arg = flag_of(name).unwrap();
        let Some(binary_default) = arg.get_default_values().first() else { continue };
        let expected = CHART_DEFAULTS
            .iter()
            .find(|(n, _)| n == name)
            .map_or(binary_default.to_string_lossy(), |(_, v)| (*v).into());
        assert_eq!(value.as_str(), expected, "chart default of {name}");
    }
    for (name, value) in CHART_DEFAULTS {
        assert_eq!(defaults.get(*name).map(String::as_str), Some(*value), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// values and schema

#[test]
fn values_validate_against_the_schema() {
    let schema = schema();
    let values = default_values();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema::errors(&schema, &values), Vec::<String>::new(), "values.yaml against values.schema.json");

    // Every key of values.yaml is declared, and every config setting has a default in values.yaml.
    let declared = |s: &Value| -> BTreeSet<String> { s["properties"].as_object().unwrap().keys().cloned().collect() };
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert!(keys(&values).is_subset(&declared(&schema)), "top-level values missing from the schema");
    assert_eq!(keys(&values["config"]), declared(&schema["properties"]["config"]), "config: values.yaml vs schema");

    let valid = |overlay: Value| schema::errors(&schema, &merged(&values, &overlay)).is_empty();
    assert!(valid(json!({"config": {"openmetricsImplementation": "DataDogAnnotations"}})));
    assert!(valid(
        json!({"config": {"openmetricsImplementation": "PrometheusAnnotation", "virtualServiceVersion": "v1"}})
    ));
    assert!(valid(json!({"config": {"logging": 10, "logFormat": "json"}})));
    assert!(valid(json!({"replicaCount": 1, "config": {"leaderElection": false}})));
    assert!(valid(json!({"imagePullSecrets": [{"name": "registry"}], "serviceMonitor": {"enabled": true}})));
    for invalid in [
        json!({"config": {"openmetricsImplementation": "Bogus"}}),
        json!({"config": {"virtualServiceVersion": "v2"}}),
        json!({"config": {"logFormat": "yaml"}}),
        json!({"config": {"httpPort": 0}}),
        json!({"config": {"httpPort": 70000}}),
        json!({"config": {"httpPort": "8080"}}),
        json!({"config": {"reconcileConcurrency": 0}}),
        json!({"config": {"reconcileConcurrency": 65536}}),
        json!({"config": {"leaderElection": "yes"}}),
        json!({"config": {"componentNamespace": ""}}),
        json!({"config": {"componentNamespaces": "typo"}}),
        json!({"replicaCount": 2, "config": {"leaderElection": false}}),
        json!({"image": {"pullPolicy": "Sometimes"}}),
        json!({"serviceMonitor": {"enabled": "true"}}),
        json!({"unknownTopLevel": 1}),
    ] {
        assert!(!valid(invalid.clone()), "the schema accepts {invalid}");
    }
}

/// The schema's enums are exactly the values (and aliases) `run` accepts.
#[test]
fn schema_enums_are_the_values_the_operator_accepts() {
    let schema = schema();
    let command = Run::command();
    for (key, property) in schema["properties"]["config"]["properties"].as_object().unwrap() {
        let description = property["description"].as_str().unwrap();
        let env: String = description.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
        let arg = command
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == env.as_str()))
            .unwrap_or_else(|| panic!("config.{key}: its description names {env:?}, which is no variable of `run`"));
        let accepted: BTreeSet<String> =
            arg.get_possible_values().iter().flat_map(|v| v.get_name_and_aliases().map(str::to_owned)).collect();
        if property["type"] == "boolean" {
            assert_eq!(accepted, set(["true", "false"]), "config.{key}");
            continue;
        }
        let listed: BTreeSet<String> = property
            .get("enum")
            .map(|e| e.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(listed, accepted, "config.{key}: the schema's enum vs what --{} accepts", arg.get_long().unwrap());
    }
}

/// Each config key feeds the env variable its schema description names.
#[test]
fn config_keys_map_to_the_variables_their_description_names() {
    let template = read("charts/oda-api-operator/templates/deployment.yaml");
    let lines: Vec<&str> = template.lines().map(str::trim).collect();
    let schema = schema();
    let properties = schema["properties"]["config"]["properties"].as_object().unwrap();
    let config_key = |line: &str| -> Option<String> {
        let rest = &line[line.find(".Values.config.")? + ".Values.config.".len()..];
        Some(rest.chars().take_while(char::is_ascii_alphanumeric).collect())
    };
    let env_name = |line: &str| line.strip_prefix("- name: ").map(str::to_owned);
    // `- name: X` / `value: {{ .Values.config.k ... }}`, or `{{- with .Values.config.k }}` / `- name: X`.
    let mut mapping = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(key) = config_key(line) else { continue };
        let env = if line.starts_with("value: ") {
            env_name(lines[i - 1])
        } else if line.starts_with("{{- with ") {
            env_name(lines[i + 1])
        } else {
            continue; // e.g. containerPort
        };
        let env = env.unwrap_or_else(|| panic!("deployment.yaml: cannot tell which variable `{line}` sets"));
        let description =
            properties[&key]["description"].as_str().unwrap_or_else(|| panic!("config.{key}: no description"));
        assert!(description.starts_with(&env), "config.{key} sets {env}, its description says {description:?}");
        assert!(mapping.insert(key.clone(), env).is_none(), "config.{key} sets two variables");
    }
    assert_eq!(
        mapping.keys().cloned().collect::<BTreeSet<_>>(),
        properties.keys().cloned().collect::<BTreeSet<_>>(),
        "every config key sets a variable of the Deployment"
    );
}

#[test]
fn chart_version_is_the_crate_version() {
    let chart = &yaml_documents(&read("charts/oda-api-operator/Chart.yaml"), "Chart.yaml")[0];
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "oda-api-operator");
    assert_eq!(chart["appVersion"], env!("CARGO_PKG_VERSION"), "Chart.yaml appVersion vs Cargo.toml version");
}

// ---------------------------------------------------------------------------------------------
// the Deployment

#[test]
fn deployment_is_restricted_probed_and_bounded() {
    let rendered = render_chart(&default_values());
    let deployment = rendered.one("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let c = container(deployment);

    assert_eq!(deployment["metadata"]["namespace"], NAMESPACE);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["serviceAccountName"], rendered.one("ServiceAccount")["metadata"]["name"]);
    assert_eq!(c["image"], "oda-api-operator:0.1.0");
    assert!(pod.get("imagePullSecrets").is_none());

    // Restricted Pod Security Standard.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["runAsUser"], 65532);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");

    assert_eq!(c["ports"], json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}]));
    assert_eq!(c["readinessProbe"]["httpGet"], json!({"path": "/readyz", "port": "http"}));
    assert_eq!(c["livenessProbe"]["httpGet"], json!({"path": "/healthz", "port": "http"}));
    assert_eq!(c["resources"], json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}));

    // The selector selects the pods, and the Service and PDB select the same.
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    for (k, v) in selector.as_object().unwrap() {
        assert_eq!(&deployment["spec"]["template"]["metadata"]["labels"][k], v);
    }
    let service = rendered.one("Service");
    assert_eq!(&service["spec"]["selector"], selector);
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}])
    );
    assert_eq!(&rendered.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], selector);
    assert!(rendered.all("ServiceMonitor").is_empty(), "no ServiceMonitor by default");

    assert!(rendered.notes.contains("kubectl -n oda-api-operator logs deploy/oda-api-operator"), "{}", rendered.notes);
}

#[test]
fn optional_objects_follow_the_values() {
    let one_replica =
        render_chart(&merged(&default_values(), &json!({"replicaCount": 1, "config": {"leaderElection": false}})));
    assert!(one_replica.all("PodDisruptionBudget").is_empty(), "no PDB for one replica");
    assert_eq!(env_values(one_replica.one("Deployment"))["LEADER_ELECTION"], "false");

    let no_pdb = render_chart(&merged(&default_values(), &json!({"podDisruptionBudget": {"enabled": false}})));
    assert!(no_pdb.all("PodDisruptionBudget").is_empty());

    let rendered = render_chart(&merged(
        &default_values(),
        &json!({
            "serviceMonitor": {"enabled": true, "labels": {"release": "prometheus"}},
            "imagePullSecrets": [{"name": "registry"}],
            "image": {"repository": "registry.example.com/oda-api-operator", "tag": "dev"},
            "extraEnv": [{"name": "RUST_LOG", "value": "oda_api_operator=debug"}],
            "podAnnotations": {"example.com/a": "b"},
            "podLabels": {"team": "canvas"},
            "serviceAccount": {"annotations": {"example.com/identity": "x"}},
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "fullnameOverride": "api-operator",
        }),
    ));
    let monitor = rendered.one("ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"], json!([{"port": "http", "path": "/metrics", "interval": "30s"}]));
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(&monitor["spec"]["selector"]["matchLabels"], &rendered.one("Service")["spec"]["selector"]);

    let deployment = rendered.one("Deployment");
    let pod = &deployment["spec"]["template"];
    assert_eq!(pod["spec"]["imagePullSecrets"], json!([{"name": "registry"}]));
    assert_eq!(container(deployment)["image"], "registry.example.com/oda-api-operator:dev");
    assert_eq!(env_names(deployment).last().map(String::as_str), Some("RUST_LOG"));
    assert_eq!(pod["metadata"]["annotations"], json!({"example.com/a": "b"}));
    assert_eq!(pod["metadata"]["labels"]["team"], "canvas");
    assert_eq!(pod["spec"]["tolerations"], json!([{"key": "k", "operator": "Exists"}]));
    assert_eq!(pod["spec"]["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(pod["spec"]["serviceAccountName"], "api-operator");
    assert_eq!(rendered.one("ServiceAccount")["metadata"]["annotations"], json!({"example.com/identity": "x"}));
    assert_eq!(rendered.one("ClusterRoleBinding")["subjects"][0]["name"], "api-operator");
    for object in &rendered.objects {
        assert_eq!(object["metadata"]["name"], "api-operator", "{}", object["kind"]);
    }
}

// ---------------------------------------------------------------------------------------------
// deploy/operator.yaml

/// The plain manifests are the chart rendered with its defaults, less Helm's own labels.
#[test]
fn plain_manifests_are_the_chart_defaults() {
    let plain = yaml_documents(&read("deploy/operator.yaml"), "deploy/operator.yaml");
    let rbac = yaml_documents(&read("deploy/rbac.yaml"), "deploy/rbac.yaml");
    let chart = render_chart(&default_values());

    let plain_deployment =
        plain.iter().find(|o| o["kind"] == "Deployment").expect("a Deployment in deploy/operator.yaml");
    let chart_deployment = chart.one("Deployment");
    assert_eq!(env_names(plain_deployment), env_names(chart_deployment), "env of deploy/operator.yaml vs the chart");
    let account = rbac.iter().find(|o| o["kind"] == "ServiceAccount").unwrap();
    assert_eq!(plain_deployment["spec"]["template"]["spec"]["serviceAccountName"], account["metadata"]["name"]);
    assert_eq!(
        plain_deployment["spec"]["template"]["spec"]["serviceAccountName"],
        chart_deployment["spec"]["template"]["spec"]["serviceAccountName"]
    );
    assert_eq!(plain_deployment["metadata"]["namespace"], account["metadata"]["namespace"]);

    let without_helm_labels = |object: &Value| {
        let mut object = object.clone();
        if let Some(labels) = object["metadata"]["labels"].as_object_mut() {
            labels.remove("helm.sh/chart");
            labels.remove("app.kubernetes.io/managed-by");
        }
        object
    };
    let chart_kinds: Vec<&str> = ["Deployment", "Service", "PodDisruptionBudget"].into();
    let plain_kinds: Vec<&str> = plain.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(plain_kinds, chart_kinds, "deploy/operator.yaml holds the chart's workload objects");
    for object in &plain {
        let kind = object["kind"].as_str().unwrap();
        assert_eq!(object, &without_helm_labels(chart.one(kind)), "deploy/operator.yaml's {kind} vs the chart's");
    }
}

// ---------------------------------------------------------------------------------------------

/// Just enough Go template to render this chart, strictly.
mod tpl {
    use std::collections::BTreeMap;

    use serde_json::Value;

    #[derive(Debug, Clone)]
    enum Node {
        Text(String),
        Action(String),
        If(String, Vec<Node>, Vec<Node>),
        With(String, Vec<Node>, Vec<Node>),
    }

    #[derive(Default)]
    pub struct Templates {
        files: BTreeMap<String, Vec<Node>>,
        defines: BTreeMap<String, Vec<Node>>,
    }

    impl Templates {
        pub fn add(&mut self, name: &str, source: &str) {
            let tokens = lex(source, name);
            let mut at = 0;
            let mut nodes = Vec::new();
            while at < tokens.len() {
                match &tokens[at] {
                    Token::Action(a) if a.starts_with("define ") => {
                        let define = literal(a.trim_start_matches("define ").trim(), name);
                        at += 1;
                        let (body, end) = parse(&tokens, &mut at, name);
                        assert_eq!(end.as_deref(), Some("end"), "{name}: define {define} has no end");
                        self.defines.insert(define, body);
                    }
                    _ => {
                        let (mut list, end) = parse(&tokens, &mut at, name);
                        nodes.append(&mut list);
                        if let Some(end) = end {
                            panic!("{name}: unexpected {{{{ {end} }}}}")
                        }
                    }
                }
            }
            self.files.insert(name.to_owned(), nodes);
        }

        pub fn names(&self) -> Vec<String> {
            self.files.keys().cloned().collect()
        }

        pub fn render(&self, name: &str, root: &Value) -> String {
            let mut out = String::new();
            self.render_nodes(&self.files[name], root, &mut out, name);
            out
        }

        fn render_nodes(&self, nodes: &[Node], dot: &Value, out: &mut String, file: &str) {
            for node in nodes {
                match node {
                    Node::Text(t) => out.push_str(t),
                    Node::Action(expr) => out.push_str(&print(&self.eval(expr, dot, file), expr, file)),
                    Node::If(cond, then, otherwise) => {
                        let branch = if truthy(&self.eval(cond, dot, file)) { then } else { otherwise };
                        self.render_nodes(branch, dot, out, file);
                    }
                    Node::With(expr, body, otherwise) => {
                        let value = self.eval(expr, dot, file);
                        if truthy(&value) {
                            self.render_nodes(body, &value, out, file);
                        } else {
                            self.render_nodes(otherwise, dot, out, file);
                        }
                    }
                }
            }
        }

        /// A pipeline: `cmd | cmd ...`, each command's result the last argument of the next.
        fn eval(&self, expr: &str, dot: &Value, file: &str) -> Value {
            let mut piped: Option<Value> = None;
            for command in split_top(expr, '|') {
                let words = words(command.trim(), file);
                let first = &words[0];
                let is_function = first.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && !matches!(first.as_str(), "true" | "false");
                let value = if is_function {
                    let mut args: Vec<Value> = words[1..].iter().map(|w| self.term(w, dot, file)).collect();
                    args.extend(piped.take());
                    self.call(first, args, file)
                } else {
                    assert!(words.len() == 1 && piped.is_none(), "{file}: cannot evaluate `{expr}`");
                    self.term(first, dot, file)
                };
                piped = Some(value);
            }
            piped.unwrap_or_else(|| panic!("{file}: empty action"))
        }

        fn term(&self, word: &str, dot: &Value, file: &str) -> Value {
            if let Some(inner) = word.strip_prefix('(').and_then(|w| w.strip_suffix(')')) {
                return self.eval(inner, dot, file);
            }
            if word.starts_with('"') {
                return Value::String(literal(word, file));
            }
            if let Ok(n) = word.parse::<i64>() {
                return n.into();
            }
            match word {
                "true" => return true.into(),
                "false" => return false.into(),
                "." => return dot.clone(),
                _ => {}
            }
            let path = word.strip_prefix('.').unwrap_or_else(|| panic!("{file}: unsupported term `{word}`"));
            let mut value = dot;
            for field in path.split('.') {
                value = value
                    .get(field)
                    .unwrap_or_else(|| panic!("{file}: `{word}`: there is no `{field}` (helm would print nothing)"));
            }
            value.clone()
        }

        fn call(&self, function: &str, args: Vec<Value>, file: &str) -> Value {
            let arity = |n: usize| assert_eq!(args.len(), n, "{file}: {function} takes {n} arguments: {args:?}");
            match function {
                "include" => {
                    arity(2);
                    let name = args[0].as_str().unwrap();
                    let body = self.defines.get(name).unwrap_or_else(|| panic!("{file}: no template {name:?}"));
                    let mut out = String::new();
                    self.render_nodes(body, &args[1], &mut out, name);
                    Value::String(out)
                }
                "toYaml" => {
                    arity(1);
                    let yaml = serde_saphyr::to_string(&args[0]).unwrap();
                    Value::String(yaml.trim_end().to_owned())
                }
                "nindent" => {
                    arity(2);
                    let pad = " ".repeat(args[0].as_u64().unwrap() as usize);
                    let text = args[1].as_str().unwrap_or_else(|| panic!("{file}: nindent of a non-string"));
                    Value::String(format!("\n{pad}{}", text.replace('\n', &format!("\n{pad}"))))
                }
                "quote" => {
                    arity(1);
                    Value::String(serde_json::to_string(&string_of(&args[0], file)).unwrap())
                }
                "default" => {
                    arity(2);
                    if truthy(&args[1]) { args[1].clone() } else { args[0].clone() }
                }
                "int" => {
                    arity(1);
                    match &args[0] {
                        Value::Number(n) => (n.as_f64().unwrap() as i64).into(),
                        Value::String(s) => s.parse::<i64>().unwrap_or(0).into(),
                        other => panic!("{file}: int of {other}"),
                    }
                }
                "gt" => {
                    arity(2);
                    (args[0].as_f64().unwrap() > args[1].as_f64().unwrap()).into()
                }
                "and" => args.iter().find(|a| !truthy(a)).or(args.last()).cloned().unwrap(),
                "not" => {
                    arity(1);
                    (!truthy(&args[0])).into()
                }
                _ => panic!("{file}: the test's template substituter does not know `{function}`"),
            }
        }
    }

    #[derive(Debug)]
    enum Token {
        Text(String),
        Action(String),
    }

    /// Splits into text and actions, applying `{{-` / `-}}` whitespace trimming and dropping comments.
    fn lex(source: &str, file: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        let mut rest = source;
        let mut trim_next = false;
        loop {
            let Some(open) = rest.find("{{") else {
                let text = if trim_next { rest.trim_start() } else { rest };
                tokens.push(Token::Text(text.to_owned()));
                return tokens;
            };
            let mut text = &rest[..open];
            if trim_next {
                text = text.trim_start();
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").unwrap_or_else(|| panic!("{file}: unclosed {{{{"));
            let mut inner = &after[..close];
            if inner.starts_with("- ") || inner.starts_with("-\n") {
                inner = &inner[1..];
                text = text.trim_end();
            }
            trim_next = inner.ends_with(" -") || inner.ends_with("\n-");
            if trim_next {
                inner = &inner[..inner.len() - 1];
            }
            tokens.push(Token::Text(text.to_owned()));
            let inner = inner.trim();
            if !(inner.starts_with("/*") && inner.ends_with("*/")) {
                tokens.push(Token::Action(inner.to_owned()));
            }
            rest = &after[close + 2..];
        }
    }

    /// Nodes up to an `else` or `end` (returned) or the end of input (None).
    fn parse(tokens: &[Token], at: &mut usize, file: &str) -> (Vec<Node>, Option<String>) {
        let mut nodes = Vec::new();
        while *at < tokens.len() {
            let token = &tokens[*at];
            *at += 1;
            match token {
                Token::Text(t) => nodes.push(Node::Text(t.clone())),
                Token::Action(a) if a == "end" || a == "else" => return (nodes, Some(a.clone())),
                Token::Action(a) => {
                    let (keyword, rest) = a.split_once(' ').unwrap_or((a, ""));
                    match keyword {
                        "if" | "with" => {
                            let (body, end) = parse(tokens, at, file);
                            let otherwise = match end.as_deref() {
                                Some("else") => {
                                    let (otherwise, end) = parse(tokens, at, file);
                                    assert_eq!(end.as_deref(), Some("end"), "{file}: {a}: no end");
                                    otherwise
                                }
                                Some("end") => Vec::new(),
                                _ => panic!("{file}: {a}: no end"),
                            };
                            let rest = rest.trim().to_owned();
                            nodes.push(if keyword == "if" {
                                Node::If(rest, body, otherwise)
                            } else {
                                Node::With(rest, body, otherwise)
                            });
                        }
                        "define" => {
                            *at -= 1;
                            return (nodes, None);
                        }
                        "range" | "template" | "block" | "tpl" | "printf" | "required" | "fail" | "lookup" => {
                            panic!("{file}: `{a}`: the test's template substituter does not know `{keyword}`")
                        }
                        _ => nodes.push(Node::Action(a.clone())),
                    }
                }
            }
        }
        (nodes, None)
    }

    /// Splits on `sep` outside parentheses and string literals.
    fn split_top(expr: &str, sep: char) -> Vec<&str> {
        let (mut parts, mut depth, mut quoted, mut start) = (Vec::new(), 0, false, 0);
        for (i, c) in expr.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                c if c == sep && !quoted && depth == 0 => {
                    parts.push(&expr[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&expr[start..]);
        parts
    }

    /// The words of a command: terms, string literals and parenthesized pipelines.
    fn words(command: &str, file: &str) -> Vec<String> {
        let (mut words, mut current, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
        for c in command.chars() {
            match c {
                '"' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth -= 1,
                c if c.is_whitespace() && !quoted && depth == 0 => {
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        assert!(depth == 0 && !quoted, "{file}: unbalanced `{command}`");
        if !current.is_empty() {
            words.push(current);
        }
        assert!(!words.is_empty(), "{file}: empty command");
        words
    }

    fn literal(word: &str, file: &str) -> String {
        serde_json::from_str(word).unwrap_or_else(|_| panic!("{file}: not a string literal: {word}"))
    }

    /// Go template truth: false, 0, nil and empty strings and collections are false.
    fn truthy(value: &Value) -> bool {
        match value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        }
    }

    fn string_of(value: &Value, file: &str) -> String {
        match value {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => panic!("{file}: {other} is not a scalar: use toYaml"),
        }
    }

    fn print(value: &Value, expr: &str, file: &str) -> String {
        assert!(!value.is_object() && !value.is_array(), "{file}: `{{{{ {expr} }}}}` prints a collection: use toYaml");
        string_of(value, file)
    }
}

/// Just enough JSON Schema (draft-07) to check values.schema.json does what it says. `pattern` is
/// not checked; any other keyword it does not know is an error, so the schema cannot quietly rely on one.
mod schema {
    use serde_json::Value;

    const ANNOTATIONS: &[&str] = &["$schema", "title", "description", "default", "examples", "pattern"];

    pub fn errors(schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        check(schema, value, "values", &mut errors);
        errors
    }

    fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let schema = schema.as_object().expect("a schema is an object");
        for (keyword, arg) in schema {
            let mut fail = |e: String| errors.push(format!("{path}: {e}"));
            match keyword.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                        _ => panic!("type: {arg}"),
                    };
                    if !types.iter().any(|t| is_type(value, t)) {
                        fail(format!("{value} is not of type {types:?}"));
                    }
                }
                "enum" => {
                    if !arg.as_array().unwrap().contains(value) {
                        fail(format!("{value} is not one of {arg}"));
                    }
                }
                "const" => {
                    if arg != value {
                        fail(format!("{value} is not {arg}"));
                    }
                }
                "minimum" => {
                    if value.as_f64().is_some_and(|v| v < arg.as_f64().unwrap()) {
                        fail(format!("{value} < {arg}"));
                    }
                }
                "maximum" => {
                    if value.as_f64().is_some_and(|v| v > arg.as_f64().unwrap()) {
                        fail(format!("{value} > {arg}"));
                    }
                }
                "minLength" => {
                    if value.as_str().is_some_and(|v| (v.chars().count() as u64) < arg.as_u64().unwrap()) {
                        fail(format!("{value} is shorter than {arg}"));
                    }
                }
                "maxLength" => {
                    if value.as_str().is_some_and(|v| (v.chars().count() as u64) > arg.as_u64().unwrap()) {
                        fail(format!("{value} is longer than {arg}"));
                    }
                }
                "required" => {
                    if let Some(object) = value.as_object() {
                        for key in arg.as_array().unwrap() {
                            if !object.contains_key(key.as_str().unwrap()) {
                                fail(format!("{key} is required"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let Some(object) = value.as_object() {
                        for (key, sub) in arg.as_object().unwrap() {
                            if let Some(v) = object.get(key) {
                                check(sub, v, &format!("{path}.{key}"), errors);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(object) = value.as_object() {
                        let declared = schema.get("properties").and_then(Value::as_object);
                        for (key, v) in object {
                            if declared.is_some_and(|d| d.contains_key(key)) {
                                continue;
                            }
                            match arg {
                                Value::Bool(false) => errors.push(format!("{path}: {key} is not allowed")),
                                Value::Bool(true) => {}
                                sub => check(sub, v, &format!("{path}.{key}"), errors),
                            }
                        }
                    }
                }
                "items" => {
                    if let Some(items) = value.as_array() {
                        for (i, item) in items.iter().enumerate() {
                            check(arg, item, &format!("{path}[{i}]"), errors);
                        }
                    }
                }
                "if" => {
                    let mut probe = Vec::new();
                    check(arg, value, path, &mut probe);
                    let branch = if probe.is_empty() { "then" } else { "else" };
                    if let Some(sub) = schema.get(branch) {
                        check(sub, value, path, errors);
                    }
                }
                "then" | "else" => {}
                other => panic!("values.schema.json uses `{other}`, which tests/chart.rs does not check"),
            }
        }
    }

    fn is_type(value: &Value, t: &str) -> bool {
        match t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "number" => value.is_number(),
            "integer" => value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0),
            _ => panic!("type {t}"),
        }
    }
}
