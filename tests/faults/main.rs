//! The fault suite: the operator (the binary) under faults of its control plane, on a
//! `scripts/testenv` plane of the suite's own (`ODA_FAULTS_TESTENV_DIR`; scripts/test starts it on
//! ports apart from the e2e plane's). The scenarios break that plane in turn, so they run one at a
//! time (`--test-threads=1`); each prints what it measured. Without such a plane (e.g. against a
//! cluster given by KUBECONFIG) they are skipped with the reason.

mod plane;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{DeleteParams, Patch, PatchParams};
use oda_test_support::clients::admin_client;
use oda_test_support::namespaces::create_labelled_namespace;
use oda_test_support::resources::{dynamic_api, exposed_api_resource, virtual_service_resource};
use serde_json::json;

use plane::{Operator, census, create_until_done, exposed_api, fixture, wait_converged};

const CONVERGE: Duration = Duration::from_secs(240);

async fn namespace(client: &Client, test: &str) -> String {
    let name = format!("faults-{test}-{}", std::process::id());
    create_labelled_namespace(client, &name, "oda-faults").await.expect("a namespace");
    fixture(client, &name).await;
    name
}

async fn drop_namespace(client: &Client, ns: &str) {
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let _ = namespaces.delete(ns, &DeleteParams::default()).await;
}

/// Creates `n` APIs `a0…` (8 at a time), calling `midway` once `at` of them exist.
async fn burst(client: &Client, ns: &str, n: usize, at: usize, midway: impl std::future::Future<Output = ()>) {
    let created = Arc::new(AtomicUsize::new(0));
    let creator = {
        let (client, ns, created) = (client.clone(), ns.to_owned(), created.clone());
        tokio::spawn(async move {
            for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
                let calls = chunk.iter().map(|i| {
                    let (client, ns) = (client.clone(), ns.clone());
                    async move { create_until_done(&client, &ns, &exposed_api(&ns, &format!("a{i}"))).await }
                });
                futures::future::join_all(calls).await;
                created.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        })
    };
    while created.load(Ordering::SeqCst) < at {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    midway.await;
    creator.await.expect("the creator");
}

#[tokio::test]
async fn the_api_server_killed_mid_burst_loses_nothing() {
    let Some(dir) = plane::run_dir() else { return };
    let client = admin_client().await.expect("a client");
    let ns = namespace(&client, "apiserver").await;
    let operator = Operator::start(&ns, &[]);
    operator.wait_ready().await;
    let n = 120;
    let mut down = Duration::ZERO;
    burst(&client, &ns, n, 40, async {
        plane::kill(&dir, "kube-apiserver");
        tokio::time::sleep(Duration::from_secs(2)).await;
        down = plane::restart_plane().await + Duration::from_secs(2);
    })
    .await;
    let took = wait_converged(&client, &ns, n, CONVERGE).await;
    println!(
        "api server killed after 40 of {n} creates, down {down:.1?}: converged {took:.1?} after the burst; {n} APIs, {n} routes, 0 orphans"
    );
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn the_operator_killed_mid_burst_converges_and_a_converged_restart_writes_nothing() {
    if plane::run_dir().is_none() {
        return;
    }
    let client = admin_client().await.expect("a client");
    let ns = namespace(&client, "sigkill").await;
    let mut first = Operator::start(&ns, &[]);
    let n = 120;
    let mut second = None;
    burst(&client, &ns, n, 40, async {
        first.kill();
        second = Some(Operator::start(&ns, &[]));
    })
    .await;
    let took = wait_converged(&client, &ns, n, CONVERGE).await;
    drop(second);
    let third = Operator::start(&ns, &[]);
    let started = Instant::now();
    loop {
        let reconciles = third.metric("oda_api_operator_reconciles_total").await.unwrap_or(0.0);
        if reconciles >= n as f64 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = third.writes().await.unwrap_or(-1.0);
    println!(
        "operator SIGKILLed after 40 of {n} creates: converged {took:.1?} after the burst; converged restart: {writes} writes"
    );
    assert_eq!(writes, 0.0, "a converged restart writes nothing");
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn expired_watches_relist_and_changes_after_the_gap_converge() {
    let Some(dir) = plane::run_dir() else { return };
    let client = admin_client().await.expect("a client");
    let ns = namespace(&client, "compaction").await;
    let _operator = Operator::start(&ns, &[]);
    let n = 20;
    burst(&client, &ns, n, 0, async {}).await;
    wait_converged(&client, &ns, n, CONVERGE).await;

    // The API server goes, etcd is compacted past every watch's resourceVersion, and the API
    // server comes back with a watch cache that starts after it: resumed watches get 410 Gone.
    plane::kill(&dir, "kube-apiserver");
    let revision = plane::compact_etcd().await;
    plane::restart_plane().await;
    let apis = dynamic_api(client.clone(), &ns, &exposed_api_resource());
    for i in 0..5 {
        let patch = json!({"spec": {"path": format!("/moved{i}")}});
        apis.patch(&format!("a{i}"), &PatchParams::default(), &Patch::Merge(&patch)).await.expect("a path change");
    }
    burst(&client, &ns, n + 10, 0, async {}).await;
    let took = wait_converged(&client, &ns, n + 10, CONVERGE).await;
    let routes = dynamic_api(client.clone(), &ns, &virtual_service_resource());
    for i in 0..5 {
        let started = Instant::now();
        loop {
            let route = routes.get(&format!("a{i}")).await.expect("the route");
            if route.data["spec"]["http"][0]["match"][0]["uri"]["prefix"] == format!("/moved{i}") {
                break;
            }
            assert!(started.elapsed() < CONVERGE, "the path change of a{i} is not followed");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    println!(
        "etcd compacted at revision {revision} behind the watches: 10 new APIs and 5 path changes converged in {took:.1?}"
    );
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn the_standby_takes_over_under_load_and_only_one_replica_writes() {
    if plane::run_dir().is_none() {
        return;
    }
    let client = admin_client().await.expect("a client");
    let ns = namespace(&client, "failover").await;
    let start = |pod: &str| {
        let env = [("LEADER_ELECTION", "true"), ("LEADER_ELECTION_NAMESPACE", ns.as_str()), ("POD_NAME", pod)];
        Operator::start(&ns, &env)
    };
    let mut replicas = [start("replica-a"), start("replica-b")];
    // The leader answers /readyz with "ok"; the standby, ready too, with "standby: …".
    let leads = |port: u16| async move {
        let (code, body) = plane::http(&format!("127.0.0.1:{port}"), "GET", "/readyz", &json!(null)).await;
        code == 200 && body.trim() == "ok"
    };
    let leader = loop {
        let (a, b) = (leads(replicas[0].port).await, leads(replicas[1].port).await);
        match (a, b) {
            (true, false) => break 0,
            (false, true) => break 1,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let standby = 1 - leader;
    let n = 60;
    let mut before_kill = (0.0, 0.0);
    let mut takeover = Duration::ZERO;
    burst(&client, &ns, n, 20, async {
        before_kill = (replicas[leader].writes().await.unwrap_or(0.0), replicas[standby].writes().await.unwrap_or(0.0));
        replicas[leader].kill();
        let killed = Instant::now();
        while !leads(replicas[standby].port).await {
            assert!(killed.elapsed() < Duration::from_secs(60), "the standby did not take over");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        takeover = killed.elapsed();
    })
    .await;
    let took = wait_converged(&client, &ns, n, CONVERGE).await;
    let after = replicas[standby].writes().await.unwrap_or(0.0);
    let total = before_kill.0 + after;
    println!(
        "leader SIGKILLed after 20 of {n} creates: the standby led after {takeover:.1?} (lease 15 s); converged {took:.1?} \
         after the burst; writes: {} by the old leader (until the kill), {after} by the new one, {total} for {n} APIs \
         (2 per API at least)",
        before_kill.0
    );
    assert_eq!(before_kill.1, 0.0, "the standby wrote nothing while it was the standby");
    assert!(total <= (2 * n + 16) as f64, "no change written by both replicas: {total} writes");
    let census = census(&client, &ns).await.expect("the census");
    assert_eq!(census.orphans, 0);
    drop_namespace(&client, &ns).await;
}

#[tokio::test]
async fn latency_resets_and_a_black_hole_to_the_api_server_cause_no_hot_loop_and_heal() {
    let Some(dir) = plane::run_dir() else { return };
    let client = admin_client().await.expect("a client");
    let ns = namespace(&client, "toxiproxy").await;
    let proxy = plane::Toxiproxy::start(&dir).await;
    let kubeconfig = proxy.kubeconfig.display().to_string();
    let operator = Operator::start(&ns, &[("KUBECONFIG", &kubeconfig)]);
    operator.wait_ready().await;
    let mut n = 20;
    burst(&client, &ns, n, 0, async {}).await;
    wait_converged(&client, &ns, n, CONVERGE).await;

    // Latency: slower, still right.
    proxy.add("latency", "latency", json!({"latency": 300, "jitter": 100})).await;
    more(&client, &ns, &mut n, 10).await;
    let slow = wait_converged(&client, &ns, n, CONVERGE).await;
    proxy.remove("latency").await;

    // Connections reset while APIs are created: converged once the path heals.
    proxy.add("reset", "reset_peer", json!({"timeout": 100})).await;
    more(&client, &ns, &mut n, 10).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.remove("reset").await;
    let after_resets = wait_converged(&client, &ns, n, CONVERGE).await;

    // A black hole (data held, connections open): no hot loop meanwhile, recovery after.
    let reconciles = operator.metric("oda_api_operator_reconciles_total").await.unwrap_or(0.0);
    proxy.add("blackhole", "timeout", json!({"timeout": 0})).await;
    more(&client, &ns, &mut n, 10).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = operator.metric("oda_api_operator_reconciles_total").await.unwrap_or(0.0) - reconciles;
    proxy.remove("blackhole").await;
    let healed = wait_converged(&client, &ns, n, CONVERGE).await;
    println!(
        "through toxiproxy: 10 APIs at 300±100 ms latency converged in {slow:.1?}; 10 created under connection resets \
         converged {after_resets:.1?} after the resets stopped; a 10 s black hole: {during} reconciles meanwhile, \
         converged {healed:.1?} after it healed"
    );
    assert!(during <= 40.0, "no hot loop while the API server cannot be reached: {during} reconciles in 10 s");
    drop_namespace(&client, &ns).await;
}

/// Creates `k` more APIs after the `n` that exist.
async fn more(client: &Client, ns: &str, n: &mut usize, k: usize) {
    for i in *n..*n + k {
        create_until_done(client, ns, &exposed_api(ns, &format!("a{i}"))).await;
    }
    *n += k;
}
