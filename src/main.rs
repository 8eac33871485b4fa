//! The one binary of the product. Each subcommand is one role of the same image.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Back up and restore Apache Kafka on Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "strimzi-backup-operator", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions of all kinds as YAML.
    Crdgen {
        /// Write one `<group>_<plural>.yaml` file per CRD into this directory instead.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crdgen { output_dir: None } => {
            strimzi_backup_operator::crdgen::render_all().map(|yaml| print!("{yaml}"))
        }
        Command::Crdgen { output_dir: Some(dir) } => {
            strimzi_backup_operator::crdgen::write_all(&dir).map(|paths| {
                for p in paths {
                    eprintln!("wrote {}", p.display());
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
