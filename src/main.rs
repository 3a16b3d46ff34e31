//! The `vpce-proxy` command line: a thin layer over [`vpce_proxy::commands`].
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vpce_proxy::commands;

/// A forward proxy that acts as an AWS VPC endpoint for Amazon ECR.
#[derive(Parser)]
#[command(name = "vpce-proxy", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (embedded defaults without --config).
    Run {
        /// The vpce-proxy.toml to use.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Decide one request against policies given as JSON (`-` reads stdin).
    Simulate {
        /// The case file: endpoint/identity/resource policies and the request.
        #[arg(long)]
        input: PathBuf,
    },
    /// Lint policy files: `FILE:LINE:COL severity code message`.
    Validate {
        /// Policy files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Which rules apply; `auto` guesses per file (Principal present: endpoint/resource).
        #[arg(long, value_enum, default_value = "auto")]
        kind: commands::validate::KindChoice,
    },
    /// Show how the proxy would classify and decide an HTTP request, without sending it.
    Explain {
        /// The vpce-proxy.toml to use.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The request: `{"host","method","path","headers","body","source_ip"}`.
        #[arg(long)]
        request: PathBuf,
    },
    /// Decide recorded requests again under candidate endpoint policies: what would change.
    Replay {
        /// Audit log files (plain or gzip), in order: a rotated set is several.
        #[arg(long = "audit", required = true, num_args = 1..)]
        audit: Vec<PathBuf>,
        /// `SERVICE=FILE`: the endpoint policy to decide that service with (repeatable).
        #[arg(long = "policy", num_args = 1..)]
        policy: Vec<String>,
        /// The vpce-proxy.toml whose principals, identity and repository policies and facts apply.
        #[arg(long)]
        config: Option<PathBuf>,
        /// One JSON object per changed request instead of the grouped report.
        #[arg(long)]
        json: bool,
    },
    /// Write an endpoint policy allowing what an audit log shows succeeding, and nothing else.
    Generate {
        /// Audit files, oldest first; plain or gzip (`audit.log.2.gz audit.log.1 audit.log`).
        #[arg(long, required = true, num_args = 1..)]
        audit: Vec<PathBuf>,
        /// The endpoint the policy is for: ecr.api, ecr.dkr or s3.
        #[arg(long)]
        service: String,
        /// Drop (principal, action, resource) triples seen fewer times than this.
        #[arg(long, default_value_t = 1)]
        min_count: u64,
        /// Widen the policy until it has at most this many characters (AWS's endpoint policy limit).
        #[arg(long, default_value_t = 20480)]
        max_chars: usize,
        /// A vpce-proxy.toml whose [[account]] org_id tells which organization an account is in.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Manage the local certificate authority.
    Ca {
        #[command(subcommand)]
        action: CaAction,
        /// The vpce-proxy.toml naming the CA directory.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CaAction {
    /// Create the CA if it does not exist.
    Init,
    /// Print the CA certificate and how to trust it.
    Export,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => commands::run::main(config.as_deref()),
        Command::Simulate { input } => commands::simulate::main(&input),
        Command::Validate { files, kind } => commands::validate::main_with_kind(&files, kind),
        Command::Explain { config, request } => commands::explain::main(config.as_deref(), &request),
        Command::Replay { audit, policy, config, json } => {
            commands::replay::main(&audit, &policy, config.as_deref(), json)
        }
        Command::Generate { audit, service, min_count, max_chars, config } => {
            commands::generate::main(&commands::generate::Args {
                audit,
                service,
                min_count,
                max_chars,
                config,
            })
        }
        Command::Ca { action: CaAction::Init, config } => commands::ca::init(config.as_deref()),
        Command::Ca { action: CaAction::Export, config } => commands::ca::export(config.as_deref()),
    }
}
