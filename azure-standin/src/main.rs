//! `oda-azure-standin`: the stand-in as its own process, for the e2e suite and `scripts/demo`.
//! Prints one line per listener (`entra=127.0.0.1:port` …) and runs until interrupted.

use clap::Parser;
use oda_azure_standin::{Options, ServiceKey, StandIn};

#[derive(Parser)]
struct Cli {
    #[arg(long, default_value = "00000000-0000-0000-0000-00000000aaaa")]
    tenant: String,
    /// `id:secret`, or `id` for a workload identity client; repeatable.
    #[arg(long = "client")]
    clients: Vec<String>,
    /// The federated token workload identity assertions must carry.
    #[arg(long)]
    federated_token: Option<String>,
    /// `subscription/resourceGroup/name`; repeatable.
    #[arg(long = "service")]
    services: Vec<String>,
    /// `name=value`; repeatable.
    #[arg(long = "secret")]
    secrets: Vec<String>,
    /// Ports of entra, imds, arm, vault and control (0: any free one).
    #[arg(long, num_args = 5, default_values_t = [0, 0, 0, 0, 0])]
    ports: Vec<u16>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let services = cli.services.iter().filter_map(|s| {
        let mut parts = s.splitn(3, '/');
        Some(ServiceKey {
            subscription: parts.next()?.into(),
            resource_group: parts.next()?.into(),
            name: parts.next()?.into(),
        })
    });
    let clients = cli.clients.iter().map(|c| match c.split_once(':') {
        Some((id, secret)) => (id.to_owned(), Some(secret.to_owned())),
        None => (c.clone(), None),
    });
    let secrets = cli.secrets.iter().filter_map(|s| s.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mut ports = [0u16; 5];
    ports.iter_mut().zip(&cli.ports).for_each(|(slot, port)| *slot = *port);
    let options = Options {
        tenant: cli.tenant,
        clients: clients.collect(),
        federated_token: cli.federated_token,
        services: services.collect(),
        secrets: secrets.collect(),
        ports,
    };
    let standin = match StandIn::start(options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("oda-azure-standin: cannot listen: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    println!(
        "entra={}\nimds={}\narm={}\nvault={}\ncontrol={}",
        standin.entra, standin.imds, standin.arm, standin.vault, standin.control
    );
    let _ = tokio::signal::ctrl_c().await;
    std::process::ExitCode::SUCCESS
}
