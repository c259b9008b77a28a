//! `oda-api-operator diagnose`, the binary, with the operator's identity: a ready, an unready, a
//! conflicting and an invalid API each get their answer and exit code; bad input exits 2.

use std::process::Command;

use serde_json::Value;

use crate::operator::{Operator, wait_for_reason};
use crate::support::*;

/// Runs `diagnose` with the operator's identity and settings for `ns`: exit code and output.
fn diagnose(ns: &str, args: &[&str]) -> (i32, String) {
    let kubeconfig = oda_test_support::clients::operator_kubeconfig().map(|(paths, _)| paths).expect("KUBECONFIG");
    diagnose_as(&kubeconfig, ns, args)
}

/// The same with the admin identity (which may also read Events).
fn diagnose_as_admin(ns: &str, args: &[&str]) -> (i32, String) {
    diagnose_as(&std::env::var("KUBECONFIG").expect("KUBECONFIG"), ns, args)
}

fn diagnose_as(kubeconfig: &str, ns: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oda-api-operator"))
        .arg("diagnose")
        .args(["-n", ns])
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("APIOPERATORISTIO_INGRESS_NAMESPACE", ns)
        .env_remove("ROUTE_BACKEND")
        .output()
        .expect("running diagnose");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn json(ns: &str, name: &str) -> (i32, Value) {
    let (code, out) = diagnose(ns, &[name, "-o", "json"]);
    (code, serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))[0].clone())
}

#[tokio::test]
async fn diagnose_says_why_an_api_is_or_is_not_ready() {
    let ns = TestNamespace::new("diagnose").await;
    gateway_and_service(&ns).await;
    implementation(&ns, "down", &[], false).await;
    create_exposed_api(ns.client(), ns.name(), "ready", &[], exposed_api_spec("impl", "/ready", 8080)).await;
    create_exposed_api(ns.client(), ns.name(), "unready", &[], exposed_api_spec("down", "/unready", 8080)).await;
    create_exposed_api(ns.client(), ns.name(), "invalid", &[], exposed_api_spec("impl", "/a/../b", 8080)).await;
    let _operator = Operator::start(ns.name(), &[]).await;
    wait_for_reason(ns.name(), "ready", "Exposed").await;
    create_exposed_api(ns.client(), ns.name(), "conflict", &[], exposed_api_spec("impl", "/ready", 8080)).await;
    wait_for_reason(ns.name(), "unready", "ImplementationNotReady").await;
    wait_for_reason(ns.name(), "invalid", "InvalidSpec").await;
    wait_for_reason(ns.name(), "conflict", "RouteConflict").await;

    let (code, text) = diagnose(ns.name(), &["ready"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with(&format!("ExposedAPI {}/ready: READY", ns.name())), "{text}");
    assert!(text.contains("route: VirtualService ready: controlled by ExposedAPI ready"), "{text}");
    assert!(text.contains("20.1.2.3") && text.contains("1/1 ready"), "{text}");
    // The operator's own plan, each object looked up.
    let planned = format!("the operator's plan:\n  VirtualService {}/ready: present", ns.name());
    assert!(text.contains(&planned), "{text}");
    let (_, report) = json(ns.name(), "ready");
    assert!(report["access"].as_array().unwrap().iter().all(|a| a["allowed"] == true), "{report}");
    let (_, text) = diagnose_as_admin(ns.name(), &["ready"]);
    assert!(text.contains("recent events:\n  Normal Exposed: Created VirtualService ready"), "{text}");

    let (code, text) = diagnose(ns.name(), &["unready"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no ready endpoint of Service down (0/1 ready"), "{text}");

    let (code, report) = json(ns.name(), "conflict");
    assert_eq!(code, 1);
    assert_eq!(report["conflicts"][0], format!("VirtualService {}/ready", ns.name()), "{report}");
    assert_eq!(report["route"]["exists"], false);
    assert_eq!(report["planned"][0], format!("VirtualService {}/conflict: MISSING", ns.name()), "{report}");

    let (code, text) = diagnose(ns.name(), &["invalid"]);
    assert_eq!(code, 1);
    assert!(text.contains("invalid spec: spec.path: \"/a/../b\" must not contain '.' or '..' segments"), "{text}");

    let (code, text) = diagnose(ns.name(), &["--all"]);
    assert_eq!(code, 1, "one is not ready");
    assert_eq!(text.lines().filter(|l| l.starts_with("ExposedAPI ")).count(), 4, "{text}");
    assert_eq!(diagnose(ns.name(), &["missing"]).0, 2);
    assert_eq!(diagnose(ns.name(), &[]).0, 2);
}
