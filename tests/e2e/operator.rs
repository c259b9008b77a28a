//! Runs the operator in-process for one test: scoped to the test's namespace (ExposedAPIs and the
//! ingress gateway Service), with the restricted operator identity.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use kube::api::Api;
use kube::core::DynamicObject;
use oda_api_operator::config::RunConfig;
use oda_api_operator::telemetry::Telemetry;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::support::{self, exposed_api_resource, operator_client, wait_for};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: RunConfig,
}

/// A running operator; stopped (gracefully) by [`Operator::stop`] or aborted when dropped.
pub struct Operator {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<oda_api_operator::Result<()>>>,
    pub telemetry: Telemetry,
}

impl Operator {
    /// Starts an operator watching `ns`, with extra flags (e.g. `--public-hostname=x`).
    pub async fn start(ns: &str, extra: &[&str]) -> Self {
        Self::start_as(operator_client().await, ns, extra, Telemetry::default())
    }

    /// Starts an operator with a given client (e.g. another identity) and telemetry.
    pub fn start_as(client: kube::Client, ns: &str, extra: &[&str], telemetry: Telemetry) -> Self {
        let mut args = vec![
            "oda-api-operator".to_owned(),
            format!("--component-namespace={ns}"),
            format!("--ingress-namespace={ns}"),
        ];
        if !extra.iter().any(|a| a.starts_with("--openmetrics-implementation")) {
            // Independent of the environment the tests run in.
            args.push("--openmetrics-implementation=ServiceMonitor".to_owned());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_with_args(client, args, telemetry)
    }

    /// Starts an operator configured by the environment variables a Deployment gives it (e.g. the
    /// chart's), each turned into the flag that reads it; variables that are no flag are skipped.
    pub fn start_with_env(client: kube::Client, env: &BTreeMap<String, String>) -> Self {
        let command = Cli::command();
        let mut args = vec!["oda-api-operator".to_owned()];
        for (name, value) in env {
            let flag = command.get_arguments().find(|a| a.get_env().is_some_and(|e| e == name.as_str()));
            if let Some(long) = flag.and_then(|f| f.get_long()) {
                args.push(format!("--{long}={value}"));
            }
        }
        Self::start_with_args(client, args, Telemetry::default())
    }

    fn start_with_args(client: kube::Client, args: Vec<String>, telemetry: Telemetry) -> Self {
        // `E2E_LOG=oda_api_operator=debug` shows the operator's log with the test's output.
        if let Ok(filter) = std::env::var("E2E_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
        let config = Cli::try_parse_from(args).expect("valid operator flags").config;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(oda_api_operator::controller::run(client, config, telemetry.clone(), stopped));
        Operator { stop, task: Some(task), telemetry }
    }

    /// Asks the operator to stop and waits until it has.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(30), task).await;
            let result = result.expect("operator stops within 30 s").expect("operator task did not panic");
            result.expect("operator exits cleanly");
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The ExposedAPI API in `ns` (admin identity).
pub async fn exposed_apis(ns: &str) -> Api<DynamicObject> {
    support::dynamic_api(support::admin_client().await, ns, &exposed_api_resource())
}

/// The `(status, reason, message)` of an ExposedAPI's condition of type `type_`.
pub fn condition(api: &DynamicObject, type_: &str) -> Option<(String, String, String)> {
    let conditions = api.data.pointer("/status/conditions")?.as_array()?;
    let found = conditions.iter().find(|c| c["type"] == type_)?;
    let text = |k: &str| found[k].as_str().unwrap_or_default().to_owned();
    Some((text("status"), text("reason"), text("message")))
}

/// The `Ready` condition's `(status, reason, message)` of an ExposedAPI.
pub fn ready_condition(api: &DynamicObject) -> Option<(String, String, String)> {
    condition(api, "Ready")
}

/// Waits until the ExposedAPI's `Ready` reason is `reason`, and returns the object.
pub async fn wait_for_reason(ns: &str, name: &str, reason: &str) -> DynamicObject {
    let api = exposed_apis(ns).await;
    wait_for(Duration::from_secs(60), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        match ready_condition(&obj) {
            Some((_, r, _)) if r == reason => Ok(obj),
            other => Err(format!("Ready is {other:?}, waiting for {reason}")),
        }
    })
    .await
}

/// Waits until `pointer` in the ExposedAPI equals `expected`.
pub async fn wait_for_field(ns: &str, name: &str, pointer: &str, expected: Value) -> DynamicObject {
    let api = exposed_apis(ns).await;
    wait_for(Duration::from_secs(60), || async {
        let obj = api.get(name).await.map_err(|e| e.to_string())?;
        let value = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
        match value.pointer(pointer) {
            Some(v) if *v == expected => Ok(obj),
            other => Err(format!("{pointer} is {other:?}, waiting for {expected}")),
        }
    })
    .await
}
