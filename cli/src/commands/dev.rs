//! `hangar dev`: the whole system on one machine. Starts the emulator
//! (unless AWS_ENDPOINT_URL names one), creates the stack's table and
//! queues, runs a worker and the timer, enqueues a demo set, and stops what
//! it started on Ctrl-C.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use hangar::logs::Shipper;
use hangar::{Client, ContinueOn, NewJob, RecurringOptions, run};
use hangar_worker::jobs::{Fail as FailJob, Flaky, Hello, Sleep};

use super::common::bind_local;
use crate::Ctx;
use crate::output::Fail;

#[derive(Args)]
pub struct DevArgs {
    /// Do not enqueue the demo jobs.
    #[arg(long)]
    no_demo: bool,
    /// Run this command (through `sh -c`) as the worker instead of the
    /// example worker; it gets AWS_ENDPOINT_URL, HANGAR_STACK and
    /// HANGAR_QUEUE_URLS in its environment.
    #[arg(long)]
    worker_cmd: Option<String>,
    /// Emulator port when starting one (default 4566, or a free port if taken).
    #[arg(long)]
    port: Option<u16>,
    /// How often the timer ticks.
    #[arg(long, default_value = "2s", value_parser = crate::parse::duration)]
    tick: Duration,
    /// Serve the dashboard on this 127.0.0.1 port (default 8080, or a free
    /// port if taken).
    #[arg(long)]
    dashboard_port: Option<u16>,
    /// Serve the dashboard read-only: reads, no actions.
    #[arg(long)]
    read_only: bool,
    /// Stop by itself after this long (default: run until Ctrl-C).
    #[arg(long = "for", value_parser = crate::parse::duration)]
    run_for: Option<Duration>,
}

/// An emulator this command started, stopped on drop.
struct Emulator {
    script: PathBuf,
    port: u16,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.port.to_string())
            .status();
    }
}

/// `localstack/emulator.sh` of the checkout this command runs in: found
/// from the working directory upwards, or next to the binary's
/// `target/` directory.
fn emulator_script() -> Option<PathBuf> {
    let from_cwd = std::env::current_dir().ok();
    let from_exe = std::env::current_exe().ok();
    [from_cwd, from_exe]
        .into_iter()
        .flatten()
        .flat_map(|p| p.ancestors().map(PathBuf::from).collect::<Vec<_>>())
        .map(|dir| dir.join("localstack/emulator.sh"))
        .find(|p| p.is_file())
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn free_port() -> Result<u16, Fail> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| Fail::new(format!("no free port on 127.0.0.1: {e}")))?;
    Ok(l.local_addr().map_err(|e| Fail::new(e.to_string()))?.port())
}

/// The process's lines, readable on standard error; and the worker's (its
/// own lines, and those of the runs it makes) as JSON lines into
/// `shipper`, as Lambda has them.
fn init_tracing(shipper: &Shipper) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, filter};
    let worker_only = filter::dynamic_filter_fn(|meta, cx| {
        meta.is_span()
            || meta.target().starts_with("hangar::worker")
            || (cx.lookup_current()).is_some_and(|s| s.scope().any(|s| s.name() == "hangar.run"))
    });
    let _ = tracing_subscriber::registry()
        .with(run::log_filter())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(run::lambda_lines(shipper.writer()).with_filter(worker_only))
        .try_init();
}

pub async fn run(ctx: &Ctx, args: DevArgs) -> Result<(), Fail> {
    let mut shipper = Shipper::new(std::sync::Arc::new(hangar::SystemClock));
    init_tracing(&shipper);
    // 1. The emulator.
    let mut _emulator = None;
    let endpoint = match ctx.shared_endpoint() {
        Some(e) => e,
        None => {
            let script = emulator_script().ok_or_else(|| {
                Fail::new(
                    "cannot find localstack/emulator.sh — run `hangar dev` inside a Hangar checkout, or set AWS_ENDPOINT_URL to a running emulator (e.g. LocalStack)",
                )
            })?;
            let port = match args.port {
                Some(p) => p,
                None if port_free(4566) => 4566,
                None => free_port()?,
            };
            eprintln!(
                "starting the emulator on 127.0.0.1:{port} (first run installs it into localstack/.venv)"
            );
            let status = tokio::process::Command::new("bash")
                .arg(&script)
                .arg("start")
                .arg(port.to_string())
                .status()
                .await
                .map_err(|e| Fail::new(format!("cannot run {}: {e}", script.display())))?;
            if !status.success() {
                return Err(Fail::new(format!(
                    "the emulator did not start ({status}); see localstack/emulator-{port}.log"
                )));
            }
            _emulator = Some(Emulator { script, port });
            format!("http://127.0.0.1:{port}")
        }
    };

    // Everything goes to that one endpoint, whatever per-service variables
    // say, and errors name it.
    let ctx = &Ctx {
        stack: ctx.stack.clone(),
        endpoint: Some(endpoint.clone()),
    };

    // 2. The resources. An emulator takes any credentials; use test ones
    // when none are configured.
    let local_creds = std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
        && std::env::var_os("AWS_PROFILE").is_none();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new(region.clone()));
    if local_creds {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "test",
            "test",
            None,
            None,
            "hangar-dev",
        ));
    }
    let sdk = loader.load().await;
    let mut config = ctx.config()?;
    let urls = hangar::setup::ensure_with(
        &sdk,
        &config,
        &["default"],
        &hangar::setup::QueueSettings::default(),
    )
    .await
    .map_err(|e| ctx.fail(&config.table, e))?;
    config.queue_urls.extend(urls.iter().cloned());
    let queue_urls: Vec<String> = urls.iter().map(|(n, u)| format!("{n}={u}")).collect();
    let client = Client::new(&sdk, config.clone());
    // The worker's lines go to its log group on the emulator, as Lambda
    // would send them: `hangar logs` and the job page read them there.
    let log_group = config.worker_log_group();
    let logs = hangar::logs::LogsClient::new(&sdk);
    let shipping = shipper.start(logs.clone(), &log_group).await;
    if let Err(e) = &shipping {
        eprintln!(
            "the worker's lines are not shipped to {log_group}: {}",
            hangar::error::error_chain(e)
        );
    }

    // 3. The worker and the timer.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut child = None;
    let mut outputs = Vec::new();
    let worker_desc = match &args.worker_cmd {
        Some(cmd) => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c")
                .arg(cmd)
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
                .env_remove("AWS_ENDPOINT_URL_SQS")
                .env("AWS_REGION", &region)
                .env("HANGAR_STACK", &config.stack)
                .env("HANGAR_TABLE", &config.table)
                .env("HANGAR_QUEUE_URLS", queue_urls.join(","))
                // JSON lines, shipped as Lambda ships a function's output.
                .env("HANGAR_LOG_FORMAT", "json")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                // Its own process group, so stopping reaches the command
                // and not only the shell around it.
                .process_group(0)
                .kill_on_drop(true);
            if local_creds {
                c.env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test");
            }
            let mut spawned = c
                .spawn()
                .map_err(|e| Fail::new(format!("cannot start worker command {cmd:?}: {e}")))?;
            let (out, err) = (spawned.stdout.take(), spawned.stderr.take());
            outputs.extend(out.map(|o| tokio::spawn(shipper.writer().ship_output(o, true))));
            outputs.extend(err.map(|e| tokio::spawn(shipper.writer().ship_output(e, true))));
            child = Some(spawned);
            format!("your worker: sh -c {cmd:?}")
        }
        None => {
            let worker = hangar::Worker::new(&client, hangar_worker::jobs::registry());
            let stop = stopped();
            tasks.spawn(async move {
                run::poll(&worker, &["default".to_owned()], 4, stop).await;
            });
            "example worker (kinds: hello, sleep, flaky, fail), 4 pollers on queue default"
                .to_owned()
        }
    };
    let timer = hangar::Timer::new(&client);
    let (tick, stop) = (args.tick, stopped());
    tasks.spawn(async move { run::tick_every(&timer, tick, stop).await });

    // The dashboard, on 127.0.0.1 only, with a session token.
    let listener = bind_local(args.dashboard_port, "the dashboard").await?;
    let dashboard_port = listener
        .local_addr()
        .map_err(|e| Fail::new(format!("cannot serve the dashboard: {e}")))?
        .port();
    let mut options = hangar_admin::local_options(dashboard_port);
    options.read_only |= args.read_only;
    let router = hangar_admin::Admin::new(client.clone(), options)
        .with_logs(hangar::logs::RunLogs::from_client(logs, &log_group))
        .router();
    let stop = stopped();
    tasks.spawn(async move {
        if let Err(e) = hangar_admin::serve(router, listener, stop).await {
            eprintln!("dashboard stopped: {e}");
        }
    });

    // 4. What is running.
    println!("Hangar dev is running.");
    println!("  endpoint  {endpoint}");
    println!("  stack     {}", config.stack);
    println!("  table     {}", config.table);
    for (name, url) in &urls {
        println!("  queue     {name}  {url}");
    }
    println!("  worker    {worker_desc}");
    println!("  timer     every {:?}", args.tick);
    if shipping.is_ok() {
        println!("  logs      {log_group} (the worker's lines: hangar logs <job id>)");
    }
    println!("  dashboard http://127.0.0.1:{dashboard_port}/");
    println!();
    println!("In another terminal:");
    let creds = if local_creds {
        " AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"
    } else {
        ""
    };
    println!(
        "  export AWS_ENDPOINT_URL={endpoint} AWS_REGION={region}{creds} HANGAR_STACK={}",
        config.stack
    );
    println!("  hangar stats");
    println!("  hangar jobs --state succeeded");
    println!("  hangar enqueue hello --args '{{\"name\":\"you\"}}'");
    println!();

    // 5. The demo set.
    if !args.no_demo {
        demo(&client)
            .await
            .map_err(|e| ctx.fail(&config.table, e))?;
    }
    println!("Ctrl-C stops everything started here.");

    // 6. Until Ctrl-C (or --for).
    match args.run_for {
        Some(d) => {
            tokio::select! {
                _ = tokio::time::sleep(d) => {},
                _ = run::shutdown() => {},
            }
        }
        None => run::shutdown().await,
    }
    eprintln!("stopping");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    if let Some(mut c) = child {
        let group = c.id().map(|pid| format!("-{pid}"));
        let signal = |sig: &'static str| {
            let group = group.clone();
            async move {
                if let Some(g) = group {
                    let _ = tokio::process::Command::new("kill")
                        .args([sig, "--", &g])
                        .status()
                        .await;
                }
            }
        };
        signal("-TERM").await;
        if tokio::time::timeout(Duration::from_secs(10), c.wait())
            .await
            .is_err()
        {
            signal("-KILL").await;
            let _ = c.kill().await;
        }
    }
    for output in outputs {
        let _ = output.await;
    }
    shipper.stop().await;
    // The emulator (if started here) stops when `_emulator` drops.
    Ok(())
}

/// Fire-and-forget, delayed, a continuation, a job that fails twice then
/// succeeds, a job that always fails, and a recurring job.
async fn demo(client: &Client) -> hangar::Result<()> {
    let now = client
        .enqueue(&Hello {
            name: "fire-and-forget".into(),
        })
        .await?;
    println!("demo: {now}  hello, enqueued now");
    let later = client
        .schedule(
            &Hello {
                name: "delayed".into(),
            },
            Duration::from_secs(10),
        )
        .await?;
    println!("demo: {later}  hello, runs in 10 s");
    let slow = client.enqueue(&Sleep { ms: 3000 }).await?;
    println!("demo: {slow}  sleep 3 s");
    let next = client
        .continue_with(
            &slow,
            &Hello {
                name: "continuation".into(),
            },
            ContinueOn::Succeeded,
        )
        .await?;
    println!("demo: {next}  hello, after the sleep succeeds");
    let flaky = client
        .enqueue(
            NewJob::of(&Flaky { fail_times: 2 })?.retry(hangar::RetryPolicy {
                attempts: 3,
                delays_secs: vec![5],
                ..hangar::RetryPolicy::default()
            }),
        )
        .await?;
    println!("demo: {flaky}  flaky, fails twice (retries every 5 s) then succeeds");
    let failing = client
        .enqueue(NewJob::of(&FailJob::default())?.retries(0))
        .await?;
    println!("demo: {failing}  fail, ends Failed (requeue it with `hangar requeue`)");
    client
        .recurring()
        .add_or_update(
            "demo-heartbeat",
            &Hello {
                name: "recurring".into(),
            },
            "*/30 * * * * *",
            RecurringOptions::default(),
        )
        .await?;
    println!("demo: recurring job demo-heartbeat, hello every 30 s");
    Ok(())
}
