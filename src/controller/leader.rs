//! Leader election with a coordination.k8s.io Lease: only the leader runs the controller (and so
//! writes); a standby waits, ready, and takes over when the leader's lease expires or is released.

use std::time::Duration;

use std::future::Future;
use std::pin::Pin;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::RunConfig;
use crate::telemetry::Telemetry;
use crate::{Error, Result};

/// Lease validity after a renewal, and how early the holder renews. A crashed leader is replaced
/// within `LEASE_SECONDS`; a gracefully stopped one at once (it releases the lease).
const LEASE_SECONDS: u64 = 15;
const GRACE_SECONDS: u64 = 5;

/// Resolves when the controller must stop: the lease is lost, or the operator stops.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// Runs `lead` whenever this replica holds the lease, until `stop` turns true; `lead` runs until
/// the shutdown it is given resolves.
pub async fn run_with_lease<F, Fut>(
    client: Client,
    config: &RunConfig,
    telemetry: Telemetry,
    mut stop: watch::Receiver<bool>,
    mut lead: F,
) -> Result<()>
where
    F: FnMut(Shutdown) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let namespace = config
        .leader_election_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".into());
    let identity = config.pod_name.clone().unwrap_or_else(default_identity);
    // Built (the Lease read or created) once the API server answers: an outage at start is waited out.
    let mut wait = Duration::from_millis(500);
    let manager = loop {
        let built = LeaseManagerBuilder::new(client.clone(), &config.lease_name)
            .with_namespace(&namespace)
            .with_identity(&identity)
            .with_duration(LEASE_SECONDS)
            .with_grace(GRACE_SECONDS)
            .build()
            .await;
        match built {
            Ok(manager) => break manager,
            Err(e) if wait < Duration::from_secs(60) => {
                warn!(error = %e, retry_in = ?wait, "cannot use the Lease yet");
            }
            Err(e) => return Err(Error::Lease(format!("cannot use Lease {namespace}/{}: {e}", config.lease_name))),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        wait *= 2;
    };
    let (mut leading, lease_task) = manager.watch().await;
    telemetry.health.set_leading(Some(false));
    info!(lease = %config.lease_name, %namespace, %identity, "standing by for the leader lease");

    let result = loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break Ok(()),
            changed = leading.wait_for(|l| *l) => if changed.is_err() { break Err(Error::Lease("the lease manager stopped".into())) },
        }
        info!(%identity, "acquired the leader lease; reconciling");
        telemetry.health.set_leading(Some(true));
        let mut lost = leading.clone();
        let mut stopping = stop.clone();
        let shutdown: Shutdown = Box::pin(async move {
            tokio::select! {
                _ = lost.wait_for(|l| !*l) => warn!("lost the leader lease; stopping the controller"),
                _ = stopping.wait_for(|s| *s) => {}
            }
        });
        let run = lead(shutdown).await;
        telemetry.health.set_leading(Some(false));
        telemetry.health.set_synced(false);
        if let Err(e) = run {
            break Err(e);
        }
        if *stop.borrow() {
            break Ok(());
        }
    };
    // Closing the channel makes the lease task release the lease, so a standby takes over at once.
    drop(leading);
    match tokio::time::timeout(Duration::from_secs(3), lease_task).await {
        Ok(Ok(Ok(_))) => info!("released the leader lease"),
        Ok(Ok(Err(e))) => warn!(error = %e, "could not release the leader lease"),
        _ => warn!("the lease task did not stop in time"),
    }
    result
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}
