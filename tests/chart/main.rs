//! The Helm chart (`charts/oda-api-operator`) agrees with the rest of the repository: its RBAC with
//! `deploy/rbac.yaml`, its CRD with `deploy/crds/`, its Deployment with the operator's configuration
//! (`RunConfig`) and with `deploy/operator.yaml`, its values with `values.schema.json`.
//!
//! The chart is linted and rendered by helm itself (the pinned helm of `scripts/testenv`); the e2e
//! suite installs it onto the test plane.

mod fixtures;
#[path = "../common/helm.rs"]
mod helm;
mod rendered;

use std::collections::{BTreeMap, BTreeSet};

use clap::{CommandFactory, Parser};
use serde_json::{Value, json};

use fixtures::{CHART_DEFAULTS, EXTRA_ENV, NAMESPACE, NOT_IN_CHART, OPTIONAL_ENV, Run};
use fixtures::{all_set_values, default_values, merged, read, run_config_env, schema, set, yaml_documents};
use helm::{chart_dir, container, env_values, helm};
use rendered::{env_names, render_chart, try_render_chart};

/// `cargo test --test chart -- --ignored --nocapture print_chart` prints the chart rendered with
/// its defaults, as `helm template oda-api-operator charts/oda-api-operator -n oda-api-operator` would.
#[test]
#[ignore = "prints the rendered chart"]
fn print_chart() {
    print!("{}", render_chart(&default_values()).text);
}

#[test]
fn helm_lints_the_chart() {
    let chart = chart_dir();
    let out = helm(["lint".as_ref(), "--strict".as_ref(), chart.as_os_str()]).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

// --- RBAC and CRD ----------------------------------------------------------------------------

#[test]
fn cluster_role_rules_are_deploy_rbac_rules() {
    let chart = render_chart(&default_values());
    let plain = yaml_documents(&read("deploy/rbac.yaml"), "deploy/rbac.yaml");
    let named = |objects: Vec<&Value>, kind: &str, name: &str| -> Value {
        let found = objects.into_iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name);
        found.unwrap_or_else(|| panic!("{kind} {name}")).clone()
    };
    let plain_objects = || plain.iter().collect::<Vec<_>>();
    let chart_objects = || chart.objects.iter().collect::<Vec<_>>();
    let (main, gateway) = ("oda-api-operator", "oda-api-operator-gateway-policies");

    for role in [main, gateway] {
        let (ours, theirs) = (named(chart_objects(), "ClusterRole", role), named(plain_objects(), "ClusterRole", role));
        assert_eq!(ours["rules"], theirs["rules"], "the chart's ClusterRole {role} rules are deploy/rbac.yaml's");
    }
    let binding = named(chart_objects(), "ClusterRoleBinding", main);
    let plain_binding = named(plain_objects(), "ClusterRoleBinding", main);
    assert_eq!(binding["roleRef"], plain_binding["roleRef"]);
    assert_eq!(binding["subjects"], plain_binding["subjects"]);
    // The gateway-policy rules are granted in the gateway namespace only.
    let local = named(chart_objects(), "RoleBinding", gateway);
    let plain_local = named(plain_objects(), "RoleBinding", gateway);
    assert_eq!(local["roleRef"], plain_local["roleRef"]);
    assert_eq!(local["subjects"], plain_local["subjects"]);
    assert_eq!(local["metadata"]["namespace"], plain_local["metadata"]["namespace"]);
    assert_eq!(local["metadata"]["namespace"], "istio-ingress");

    let account = chart.one("ServiceAccount");
    let plain_account = named(plain_objects(), "ServiceAccount", main);
    assert_eq!(account["metadata"]["name"], plain_account["metadata"]["name"]);
    assert_eq!(account["metadata"]["namespace"], plain_account["metadata"]["namespace"]);
    assert_eq!(binding["subjects"][0]["name"], account["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["namespace"], account["metadata"]["namespace"]);

    // Nothing else grants permissions.
    assert_eq!(chart.all("ClusterRole").len() + chart.all("ClusterRoleBinding").len(), 3);
    assert!(chart.all("Role").is_empty() && chart.all("RoleBinding").len() == 1);
}

#[test]
fn gateway_policy_rights_follow_the_gateway_namespace() {
    let rendered = render_chart(&merged(
        &default_values(),
        &json!({"config": {"routeBackend": "HTTPRoute", "componentGateway": "gateways/canvas"}}),
    ));
    assert_eq!(rendered.one("RoleBinding")["metadata"]["namespace"], "gateways");
    let rendered = render_chart(&merged(&default_values(), &json!({"config": {"gatewayNamespace": "gw"}})));
    assert_eq!(rendered.one("RoleBinding")["metadata"]["namespace"], "gw");
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

// --- configuration ---------------------------------------------------------------------------

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

// --- values and schema -----------------------------------------------------------------------

#[test]
fn values_validate_against_the_schema() {
    let schema = schema();
    let values = default_values();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    // helm validates the values against values.schema.json on every render.
    try_render_chart(&values).unwrap_or_else(|e| panic!("values.yaml against values.schema.json: {e}"));

    // Every key of values.yaml is declared, and every config setting has a default in values.yaml.
    let declared = |s: &Value| -> BTreeSet<String> { s["properties"].as_object().unwrap().keys().cloned().collect() };
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert!(keys(&values).is_subset(&declared(&schema)), "top-level values missing from the schema");
    assert_eq!(keys(&values["config"]), declared(&schema["properties"]["config"]), "config: values.yaml vs schema");

    let valid = |overlay: Value| try_render_chart(&merged(&values, &overlay)).is_ok();
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
            // Hidden values are previews `run` does not take yet (ROUTE_BACKEND=AzureAPIM).
            arg.get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .flat_map(|v| v.get_name_and_aliases().map(str::to_owned))
                .collect();
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

// --- the Deployment --------------------------------------------------------------------------

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

    // NOTES.txt is rendered by the installation in the e2e suite (tests/e2e/chart.rs).
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
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        assert!(name == "api-operator" || name == "api-operator-gateway-policies", "{}: {name}", object["kind"]);
    }
}

// --- deploy/operator.yaml --------------------------------------------------------------------

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
