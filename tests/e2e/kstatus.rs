//! What kstatus-based tools (Flux, Argo CD health, cli-utils) make of the ExposedAPI status, by
//! the cli-utils library itself (`ODA_TESTENV_KSTATUS`, built by scripts/testenv), on whichever
//! CRD shape the cluster has: a converged API is `Current`, one waiting is `InProgress`, one that
//! needs someone to act is `Failed`, also after its spec changed.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::operator::{Operator, exposed_apis, wait_for_reason};
use crate::support::*;

/// `name → status` of the ExposedAPIs of `ns` by kstatus.
async fn kstatus(ns: &str) -> Vec<(String, String)> {
    let Some(binary) = std::env::var_os("ODA_TESTENV_KSTATUS").filter(|v| !v.is_empty()) else {
        panic!("ODA_TESTENV_KSTATUS is not set: eval \"$(scripts/testenv env)\" (see docs/testenv.md)");
    };
    let list = exposed_apis(ns).await.list(&Default::default()).await.expect("listing ExposedAPIs");
    let objects: Vec<Value> = list
        .items
        .iter()
        .map(|o| {
            let mut value = serde_json::to_value(o).unwrap_or_default();
            value["apiVersion"] = json!("oda.tmforum.org/v1");
            value["kind"] = json!("ExposedAPI");
            value
        })
        .collect();
    let mut child = Command::new(binary).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("running kstatus");
    child.stdin.take().unwrap().write_all(serde_json::to_string(&objects).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().expect("kstatus output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut statuses: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect();
    statuses.sort();
    statuses
}

async fn wait_for_kstatus(ns: &str, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected.iter().map(|(n, s)| ((*n).to_owned(), (*s).to_owned())).collect();
    wait_for(Duration::from_secs(60), || async {
        let seen = kstatus(ns).await;
        if seen == expected { Ok(()) } else { Err(format!("kstatus says {seen:?}")) }
    })
    .await;
}

#[tokio::test]
async fn kstatus_tools_read_the_status_right_on_this_crd_shape() {
    let ns = TestNamespace::new("kstatus").await;
    gateway_and_service(&ns).await;
    create_exposed_api(ns.client(), ns.name(), "ready", &[], exposed_api_spec("impl", "/ready", 8080)).await;
    create_exposed_api(ns.client(), ns.name(), "waiting", &[], exposed_api_spec("absent", "/waiting", 8080)).await;
    create_exposed_api(ns.client(), ns.name(), "invalid", &[], exposed_api_spec("impl", "/a?b", 8080)).await;
    let _operator = Operator::start(ns.name(), &[]).await;
    wait_for_reason(ns.name(), "ready", "Exposed").await;
    wait_for_reason(ns.name(), "waiting", "ImplementationNotReady").await;
    wait_for_reason(ns.name(), "invalid", "InvalidSpec").await;
    wait_for_kstatus(ns.name(), &[("invalid", "Failed"), ("ready", "Current"), ("waiting", "InProgress")]).await;

    // A spec change that leaves the status as it was, and one that fixes the invalid API.
    let apis = exposed_apis(ns.name()).await;
    let segment = json!({"spec": {"segment": "coreFunction"}});
    apis.patch("ready", &PatchParams::default(), &Patch::Merge(&segment)).await.unwrap();
    let fixed = json!({"spec": {"path": "/fixed"}});
    apis.patch("invalid", &PatchParams::default(), &Patch::Merge(&fixed)).await.unwrap();
    wait_for_reason(ns.name(), "invalid", "Exposed").await;
    wait_for_kstatus(ns.name(), &[("invalid", "Current"), ("ready", "Current"), ("waiting", "InProgress")]).await;
}
