//! The `oda-api-operator` binary: `run` the operator, `render` offline, print the `crd`,
//! `diagnose` an API.
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use oda_api_operator::config::{LogFormat, OperatorConfig, RunConfig, log_level};
use oda_api_operator::render::{RenderOptions, render};
use oda_api_operator::telemetry::Telemetry;
use oda_api_operator::{Error, crd};

#[derive(Parser)]
#[command(version, about = "Exposes TM Forum ODA Canvas ExposedAPIs on the Canvas gateway (Istio or Gateway API)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator against the cluster of the current kubeconfig (or in-cluster config).
    Run(Box<RunConfig>),
    /// Print the ExposedAPI CustomResourceDefinition as YAML.
    Crd,
    /// Print, as multi-document YAML, what the operator would create for the ExposedAPIs in FILE.
    Render {
        /// File with one or more ExposedAPI documents, or `-` for standard input.
        #[arg(short = 'f', long = "filename")]
        file: String,
        /// Address of the ingress gateway to compute URLs with (IP or host name).
        #[arg(long)]
        ingress_address: Option<String>,
        /// Port of the ingress gateway's HTTP listener (a port other than 80/443 appears in URLs).
        #[arg(long, default_value_t = 80)]
        ingress_port: u16,
        /// Namespace for documents that carry none.
        #[arg(long, default_value = "components")]
        namespace: String,
        /// Also print the status the operator would write.
        #[arg(long)]
        status: bool,
        #[command(flatten)]
        config: Box<OperatorConfig>,
    },
    /// Say why an ExposedAPI is or is not ready (exit 0 ready, 1 not ready, 2 bad input). Takes
    /// the operator's settings, so in its pod it sees what the operator sees.
    Diagnose {
        /// The ExposedAPI; `--all` for every one of the namespace.
        name: Option<String>,
        /// Namespace of the ExposedAPI.
        #[arg(short = 'n', long = "namespace", default_value = "components")]
        namespace: String,
        /// Every ExposedAPI of the namespace.
        #[arg(long, conflicts_with = "name")]
        all: bool,
        /// Output format.
        #[arg(short = 'o', long = "output", default_value = "text", value_enum)]
        output: DiagnoseOutput,
        #[command(flatten)]
        config: Box<RunConfig>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DiagnoseOutput {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Diagnose { name, namespace, all, output, config } = cli.command {
        return diagnose(name, &namespace, all, output, &config);
    }
    let result = match cli.command {
        Command::Diagnose { .. } => Ok(()),
        Command::Run(config) => run(*config),
        Command::Crd => crd::exposed_api_crd_yaml().map(|yaml| print!("{yaml}")).map_err(Error::from),
        Command::Render { file, ingress_address, ingress_port, namespace, status, config } => {
            let options = RenderOptions { ingress_address, ingress_port, namespace, with_status: status };
            read_input(&file).and_then(|input| Ok(render(&input, &config, &options)?)).map(|out| print!("{out}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Render(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: RunConfig) -> Result<(), Error> {
    let level = log_level(&config.logging).ok_or_else(|| {
        Error::Config(format!("LOGGING={:?} is neither a number (10, 20, 30, 40) nor a level name", config.logging))
    })?;
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy()
        .add_directive("kube_runtime::controller=warn".parse().map_err(|e| Error::Config(format!("{e}")))?)
        // It warns on every TLS handshake when verification is off; said once at start instead.
        .add_directive("kube_client::client::tls=error".parse().map_err(|e| Error::Config(format!("{e}")))?);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
        LogFormat::Text => builder.init(),
    }
    for (name, value) in [("CICD_BUILD_TIME", &config.build_time), ("GIT_COMMIT_SHA", &config.git_commit)] {
        if let Some(value) = value {
            tracing::info!("{name}={value}");
        }
    }
    let runtime =
        tokio::runtime::Runtime::new().map_err(|source| Error::Start { what: "start the runtime".into(), source })?;
    runtime.block_on(async {
        let kube_config = kube::Config::infer().await.map_err(kube::Error::InferConfig)?;
        if kube_config.accept_invalid_certs {
            tracing::warn!(
                "the kubeconfig turns off TLS verification of the API server (insecure-skip-tls-verify): its \
                 identity is not checked"
            );
        }
        let client = kube::Client::try_from(kube_config)?;
        let telemetry = Telemetry::default();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let address = std::net::SocketAddr::from(([0, 0, 0, 0], config.http_port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| Error::Start { what: format!("listen on {address}"), source })?;
        let mut server_stop = stopped.clone();
        let server = tokio::spawn(oda_api_operator::http::serve(listener, telemetry.clone(), async move {
            let _ = server_stop.wait_for(|s| *s).await;
        }));
        tokio::spawn(async move {
            oda_api_operator::controller::shutdown_signal().await;
            let _ = stop.send(true);
            // In-flight reconciles get a bounded time; the pod must be gone well within its grace period.
            tokio::time::sleep(std::time::Duration::from_secs(4)).await;
            tracing::warn!("shutdown took too long; exiting");
            std::process::exit(0);
        });
        let result = oda_api_operator::controller::run(client, config, telemetry, stopped).await;
        server.abort();
        result
    })
}

/// `diagnose`: 0 when every API is ready, 1 when one is not, 2 on bad input.
fn diagnose(name: Option<String>, namespace: &str, all: bool, output: DiagnoseOutput, config: &RunConfig) -> ExitCode {
    if name.is_none() && !all {
        eprintln!("error: name an ExposedAPI, or give --all");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let reports = runtime.block_on(async {
        let client = kube::Client::try_default().await.map_err(|e| e.to_string())?;
        oda_api_operator::diagnose::diagnose(&client, config, namespace, name.as_deref())
            .await
            .map_err(|e| e.to_string())
    });
    let reports = match reports {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match output {
        DiagnoseOutput::Json => println!("{}", serde_json::to_string_pretty(&reports).unwrap_or_default()),
        DiagnoseOutput::Text => reports.iter().for_each(|r| println!("{}", r.text())),
    }
    if reports.iter().all(|r| r.ready) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn read_input(file: &str) -> Result<String, Error> {
    let mut input = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut input).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|s| input = s)
    };
    read.map(|()| input).map_err(|source| Error::Read { path: file.to_owned(), source })
}
