//! `hangar`: inspect and act on Hangar jobs in a deployed stack or a local
//! emulator, and run the whole system locally with `hangar dev`.
//!
//! Each command lives in its own file under `commands/`; this file reads
//! the global arguments, says where the commands talk to ([`Ctx`]) and
//! turns the outcome into the exit code.

mod commands;
mod output;
mod parse;
mod proxy;

use std::process::ExitCode;

use clap::Parser;
use hangar::Client;

use crate::output::Fail;

/// Hangfire-style background jobs on AWS: inspect and act on jobs.
///
/// Talks to the AWS endpoint in AWS_ENDPOINT_URL (AWS_ENDPOINT_URL_DYNAMODB
/// and AWS_ENDPOINT_URL_SQS per service), or --endpoint, with the usual AWS
/// credentials and region; resources are named after --stack.
#[derive(Parser)]
#[command(name = "hangar", version, propagate_version = true)]
struct Cli {
    /// Stack name: the table is <stack>-jobs, queues are <stack>-<queue>.
    #[arg(long, env = "HANGAR_STACK", default_value = "hangar", global = true)]
    stack: String,
    /// AWS endpoint of every service, e.g. http://127.0.0.1:4566 for an
    /// emulator. Without it the SDK's variables apply: AWS_ENDPOINT_URL, and
    /// AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS over it per service.
    #[arg(long, global = true)]
    endpoint: Option<String>,
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ctx = Ctx {
        stack: cli.stack,
        endpoint: cli.endpoint,
    };
    match runtime.block_on(commands::run(&ctx, cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            eprintln!("error: {fail}");
            ExitCode::from(fail.code)
        }
    }
}

/// Where the command talks to.
pub(crate) struct Ctx {
    pub(crate) stack: String,
    /// `--endpoint`: every service at this URL. Without it the SDK reads
    /// the standard variables itself.
    pub(crate) endpoint: Option<String>,
}

/// An environment variable, unless unset or empty.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Ctx {
    /// The SDK configuration. An endpoint set here would override the
    /// per-service variables (`AWS_ENDPOINT_URL_DYNAMODB`,
    /// `AWS_ENDPOINT_URL_SQS`), so only `--endpoint` is: `AWS_ENDPOINT_URL`
    /// is left to the SDK, which lets those override it.
    pub(crate) async fn sdk(&self) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(e) = &self.endpoint {
            loader = loader.endpoint_url(e);
        }
        loader.load().await
    }

    /// One endpoint for everything (`hangar dev`): `--endpoint`, else
    /// `AWS_ENDPOINT_URL`.
    pub(crate) fn shared_endpoint(&self) -> Option<String> {
        self.endpoint
            .clone()
            .or_else(|| env_var("AWS_ENDPOINT_URL"))
    }

    pub(crate) fn config(&self) -> Result<hangar::Config, Fail> {
        let mut config = hangar::Config::from_env().map_err(Fail::usage)?;
        if config.stack != self.stack {
            let table = std::env::var("HANGAR_TABLE").ok();
            config = hangar::Config {
                table: table.unwrap_or_else(|| format!("{}-jobs", self.stack)),
                stack: self.stack.clone(),
                ..config
            };
        }
        Ok(config)
    }

    pub(crate) async fn client(&self) -> Result<Client, Fail> {
        Ok(Client::new(&self.sdk().await, self.config()?))
    }

    /// Where requests to `service` (`DynamoDB`, `SQS`) go, and what set
    /// it (`--endpoint` or the variable), as the SDK resolves it.
    pub(crate) fn endpoint_of(&self, service: Option<&str>) -> (String, String) {
        if let Some(e) = &self.endpoint {
            return (e.clone(), "--endpoint".to_owned());
        }
        let own = service.map(|s| format!("AWS_ENDPOINT_URL_{}", s.to_ascii_uppercase()));
        own.into_iter()
            .chain(["AWS_ENDPOINT_URL".to_owned()])
            .find_map(|var| env_var(&var).map(|url| (url, var)))
            .unwrap_or_else(|| {
                (
                    "AWS (no AWS_ENDPOINT_URL set)".to_owned(),
                    "AWS_ENDPOINT_URL".to_owned(),
                )
            })
    }

    /// Turns a library error into what to tell the user.
    pub(crate) fn fail(&self, table: &str, e: hangar::Error) -> Fail {
        let chain = hangar::error::error_chain(&e);
        let service = match &e {
            hangar::Error::Aws { service, .. } => Some(*service),
            _ => None,
        };
        if chain.contains("ResourceNotFoundException") || chain.contains("non-existent table") {
            let (url, var) = self.endpoint_of(Some("DynamoDB"));
            Fail::new(format!(
                "no table {table} at {url} — run `hangar dev`, or `hangar setup`, or set {var} / --stack to the right place"
            ))
        } else if chain.contains("QueueDoesNotExist") || chain.contains("NonExistentQueue") {
            let (url, _) = self.endpoint_of(Some("SQS"));
            Fail::new(format!(
                "{e}: the queue does not exist at {url} — create it with `hangar setup --queues NAME`"
            ))
        } else if chain.contains("dispatch failure") || chain.contains("Connection refused") {
            let (url, var) = self.endpoint_of(service);
            Fail::new(format!(
                "cannot reach {url} ({chain}) — start the emulator with `hangar dev` or check {var}"
            ))
        } else if matches!(
            e,
            hangar::Error::NotFound { .. }
                | hangar::Error::RecurringNotFound { .. }
                | hangar::Error::BatchNotFound { .. }
                | hangar::Error::Invalid { .. }
                | hangar::Error::InvalidTransition { .. }
                | hangar::Error::PayloadTooLarge { .. }
                | hangar::Error::AlreadyExists { .. }
        ) {
            Fail::new(e.to_string())
        } else {
            Fail::new(chain)
        }
    }
}
