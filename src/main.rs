//! The `oda-api-operator` binary: `run` the operator, `render` offline, print the `crd`.

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use oda_api_operator::config::OperatorConfig;
use oda_api_operator::render::{RenderOptions, render};
use oda_api_operator::{Error, crd};

#[derive(Parser)]
#[command(version, about = "Exposes TM Forum ODA Canvas ExposedAPIs through the Istio service mesh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        config: OperatorConfig,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crd => crd::exposed_api_crd_yaml().map(|yaml| print!("{yaml}")),
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

fn read_input(file: &str) -> Result<String, Error> {
    let mut input = String::new();
    let read = if file == "-" {
        std::io::stdin().read_to_string(&mut input).map(|_| ())
    } else {
        std::fs::read_to_string(file).map(|s| input = s)
    };
    read.map(|()| input).map_err(|source| Error::Read { path: file.to_owned(), source })
}
