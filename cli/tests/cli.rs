//! The `hangar` binary against the emulator: output, `--json` parsing,
//! exit codes and error messages. Run with `bash tests/run.sh`.

use std::process::Output;
use std::time::Duration;

use hangar::{JobId, Poller, State};
use hangar_integration_tests::{TestEnv, endpoint};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hangar");

fn hangar(env: &TestEnv, args: &[&str]) -> Output {
    hangar_on(&env.config.stack, &endpoint(), args)
}

fn hangar_on(stack: &str, endpoint: &str, args: &[&str]) -> Output {
    hangar_with(stack, &[("AWS_ENDPOINT_URL", endpoint)], args)
}

/// `hangar` on `stack` with these endpoint variables (and no others).
fn hangar_with(stack: &str, endpoints: &[(&str, &str)], args: &[&str]) -> Output {
    std::process::Command::new(BIN)
        .args(args)
        .env("HANGAR_STACK", stack)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env_remove("AWS_ENDPOINT_URL_SQS")
        .envs(endpoints.iter().copied())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("HANGAR_QUEUE_URLS")
        .env_remove("HANGAR_TABLE")
        .output()
        .expect("run hangar")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Asserts a failure with this exit code; returns stderr.
fn fails(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).expect("--json output parses")
}

fn id_of(out: &Output) -> JobId {
    JobId::parse(ok(out).trim()).expect("a job id")
}

/// A file named `name` with `text` in a directory of its own for this
/// test's stack (remove it with `remove_dir_all` of the file's parent).
fn job_file(env: &TestEnv, test: &str, name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hangar-{test}-{}", env.config.stack));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file
}

fn example_poller(env: &TestEnv) -> Poller {
    env.poller(hangar_worker::jobs::registry())
}

#[tokio::test]
async fn enqueue_then_inspect_a_job_through_its_life() {
    let env = TestEnv::new().await;
    let id = id_of(&hangar(
        &env,
        &[
            "enqueue",
            "hello",
            "--args",
            r#"{"name":"cli"}"#,
            "--retention",
            "2h",
        ],
    ));
    let j = json(&hangar(&env, &["job", id.as_str(), "--json"]));
    assert_eq!(j["id"], id.as_str());
    assert_eq!(j["kind"], "hello");
    assert_eq!(j["queue"], "default");
    assert_eq!(j["state"], "Enqueued");
    assert_eq!(j["args"]["name"], "cli");
    assert_eq!(j["history"][0]["state"], "Enqueued");

    let poller = example_poller(&env);
    env.drive_to(&poller, &id, State::Succeeded, Duration::from_secs(15))
        .await;
    let j = json(&hangar(&env, &["job", id.as_str(), "--json"]));
    assert_eq!(j["state"], "Succeeded");
    let states: Vec<&str> = j["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["Enqueued", "Processing", "Succeeded"]);
    // What the handler returned.
    assert_eq!(
        j["result"],
        serde_json::json!({"greeting": "hello, cli"}),
        "{j}"
    );
    let expires = chrono::DateTime::parse_from_rfc3339(j["expires_at"].as_str().unwrap()).unwrap();
    let updated = chrono::DateTime::parse_from_rfc3339(j["updated_at"].as_str().unwrap()).unwrap();
    assert!(((expires - updated).num_seconds() - 7200).abs() <= 1, "{j}");

    // The human view: fields and a history table.
    let text = ok(&hangar(&env, &["job", id.as_str()]));
    assert!(text.contains(&format!("id       {id}")), "{text}");
    assert!(text.contains("state    Succeeded"), "{text}");
    assert!(
        text.contains(r#"result   {"greeting":"hello, cli"}"#),
        "{text}"
    );
    assert!(text.contains("AT") && text.contains("REASON"), "{text}");
}

/// `hangar jobs --grep` finds Failed jobs by their error or arguments, in
/// any case, and says how many jobs it read.
#[tokio::test]
async fn jobs_grep_finds_jobs_by_what_they_carry() {
    let env = TestEnv::new().await;
    let poller = example_poller(&env);
    let mut ids = Vec::new();
    for message in [
        "disk full on /var",
        "card DECLINED",
        "timeout talking to db",
    ] {
        let args = serde_json::json!({ "message": message }).to_string();
        let id = id_of(&hangar(
            &env,
            &["enqueue", "fail", "--args", &args, "--retries", "0"],
        ));
        env.drive_to(&poller, &id, State::Failed, Duration::from_secs(15))
            .await;
        ids.push(id);
    }
    let out = hangar(
        &env,
        &["jobs", "--state", "failed", "--grep", "declined", "--json"],
    );
    let found: Vec<String> = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(found, [ids[1].to_string()]);
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        said.contains("1 of 3 jobs read contain \"declined\""),
        "{said}"
    );
    let text = ok(&hangar(
        &env,
        &["jobs", "--state", "failed", "--grep", "DB", "--since", "1h"],
    ));
    assert!(text.contains(ids[2].as_str()), "{text}");
    assert!(!text.contains(ids[0].as_str()), "{text}");
}

/// `hangar enqueue --tag` then `hangar jobs --tag`: every job with the
/// tag, newest first, in any state or one, page by page with the cursor;
/// `hangar job` shows the tags; a bad tag is a usage error.
#[tokio::test]
async fn jobs_are_found_by_tag() {
    let env = TestEnv::new().await;
    let mut tagged = Vec::new();
    for n in 0..3 {
        let args = serde_json::json!({ "n": n }).to_string();
        tagged.push(id_of(&hangar(
            &env,
            &[
                "enqueue",
                "demo.echo",
                "--args",
                &args,
                "--tag",
                "customer:42",
                "--tag",
                "batch:9",
            ],
        )));
    }
    let other = id_of(&hangar(
        &env,
        &["enqueue", "demo.echo", "--tag", "customer:7"],
    ));
    ok(&hangar(&env, &["delete", tagged[0].as_str()]));
    tagged.reverse();
    let listed = |out: &Output| -> Vec<String> {
        json(out)
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let want: Vec<String> = tagged.iter().map(|id| id.to_string()).collect();
    assert_eq!(
        listed(&hangar(&env, &["jobs", "--tag", "customer:42", "--json"])),
        want
    );
    assert_eq!(
        listed(&hangar(
            &env,
            &["jobs", "--tag", "batch:9", "--state", "deleted", "--json"]
        )),
        [want[2].clone()]
    );
    // Two at a time, going on with the printed cursor.
    let first = hangar(
        &env,
        &["jobs", "--tag", "customer:42", "--limit", "2", "--json"],
    );
    assert_eq!(listed(&first), want[..2]);
    let said = String::from_utf8_lossy(&first.stderr).to_string();
    let cursor = said
        .split("--cursor ")
        .nth(1)
        .expect("a cursor")
        .trim()
        .to_owned();
    let rest = hangar(
        &env,
        &[
            "jobs",
            "--tag",
            "customer:42",
            "--cursor",
            &cursor,
            "--json",
        ],
    );
    assert_eq!(listed(&rest), want[2..]);
    let e = fails(
        &hangar(&env, &["jobs", "--tag", "customer:7", "--cursor", &cursor]),
        1,
    );
    assert!(e.contains("cursor"), "another tag's cursor: {e}");
    let text = ok(&hangar(&env, &["job", other.as_str()]));
    assert!(text.contains("customer:7"), "{text}");
    let e = fails(
        &hangar(&env, &["enqueue", "demo.echo", "--tag", "no spaces"]),
        1,
    );
    assert!(e.contains("tag"), "{e}");
    let e = fails(&hangar(&env, &["jobs", "--tag", "x", "--grep", "y"]), 2);
    assert!(e.contains("--grep"), "{e}");
}

#[tokio::test]
async fn failed_job_shows_its_error_and_requeues() {
    let env = TestEnv::new().await;
    let id = id_of(&hangar(
        &env,
        &[
            "enqueue",
            "fail",
            "--args",
            r#"{"message":"disk full"}"#,
            "--retries",
            "0",
        ],
    ));
    let poller = example_poller(&env);
    env.drive_to(&poller, &id, State::Failed, Duration::from_secs(15))
        .await;
    let j = json(&hangar(&env, &["job", id.as_str(), "--json"]));
    assert_eq!(j["state"], "Failed");
    assert!(
        j["last_error"].as_str().unwrap().contains("disk full"),
        "{j}"
    );
    assert!(j["expires_at"].is_null(), "Failed never expires");
    let text = ok(&hangar(&env, &["job", id.as_str()]));
    assert!(text.contains("disk full"), "{text}");

    let text = ok(&hangar(&env, &["requeue", id.as_str()]));
    assert_eq!(text.trim(), format!("{id} requeued"));
    assert_eq!(env.job(&id).await.state, State::Enqueued);
}

#[tokio::test]
async fn delayed_reschedule_delete_requeue() {
    let env = TestEnv::new().await;
    let before = chrono::Utc::now();
    let id = id_of(&hangar(&env, &["enqueue", "hello", "--delay", "2h"]));
    let job = env.job(&id).await;
    assert_eq!(job.state, State::Scheduled);
    let offset = (job.run_at.unwrap() - before).num_seconds();
    assert!((7199..=7201).contains(&offset), "{offset}");

    let at = "2030-01-01T09:00:00Z";
    let text = ok(&hangar(&env, &["reschedule", id.as_str(), "--at", at]));
    assert!(text.contains("2030-01-01T09:00:00"), "{text}");
    assert_eq!(
        env.job(&id).await.run_at.unwrap().to_rfc3339(),
        "2030-01-01T09:00:00+00:00"
    );

    ok(&hangar(&env, &["delete", id.as_str()]));
    assert_eq!(env.job(&id).await.state, State::Deleted);
    ok(&hangar(&env, &["requeue", id.as_str()]));
    assert_eq!(env.job(&id).await.state, State::Enqueued);

    let at_id = id_of(&hangar(
        &env,
        &["enqueue", "hello", "--at", "2031-05-05T05:05:05+02:00"],
    ));
    assert_eq!(
        env.job(&at_id).await.run_at.unwrap().to_rfc3339(),
        "2031-05-05T03:05:05+00:00"
    );
}

/// Each job action, with `--json`, prints the job as it left it, as `hangar
/// job --json` shows it.
#[tokio::test]
async fn job_actions_print_the_job_as_json() {
    let env = TestEnv::new().await;
    let show = |id: &str| json(&hangar(&env, &["job", id, "--json"]));
    let j = json(&hangar(
        &env,
        &["enqueue", "hello", "--args", r#"{"name":"j"}"#, "--json"],
    ));
    let id = j["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&j["kind"], &j["state"], &j["args"]["name"]),
        (
            &Value::from("hello"),
            &Value::from("Enqueued"),
            &Value::from("j")
        ),
        "{j}"
    );
    assert_eq!(j, show(&id));

    let before = chrono::Utc::now();
    let d = json(&hangar(
        &env,
        &["enqueue", "hello", "--delay", "1h", "--json"],
    ));
    let delayed = d["id"].as_str().unwrap().to_owned();
    assert_eq!(d["state"], "Scheduled", "{d}");
    let run_at = chrono::DateTime::parse_from_rfc3339(d["run_at"].as_str().unwrap()).unwrap();
    assert!(
        (3599..=3601).contains(&(run_at.to_utc() - before).num_seconds()),
        "{d}"
    );

    let c = json(&hangar(
        &env,
        &["enqueue", "hello", "--after", &delayed, "--json"],
    ));
    assert_eq!(
        (&c["state"], &c["parent"]),
        (&"Awaiting".into(), &delayed.clone().into()),
        "{c}"
    );

    let r = json(&hangar(
        &env,
        &[
            "reschedule",
            &delayed,
            "--at",
            "2030-01-01T09:00:00Z",
            "--json",
        ],
    ));
    assert_eq!(r["state"], "Scheduled", "{r}");
    assert_eq!(r["run_at"], "2030-01-01T09:00:00Z", "{r}");
    assert_eq!(r, show(&delayed));

    let del = json(&hangar(&env, &["delete", &delayed, "--json"]));
    assert_eq!(del["state"], "Deleted", "{del}");
    assert_eq!(
        del["history"].as_array().unwrap().last().unwrap()["reason"],
        "Deleted (was Scheduled)"
    );
    assert_eq!(del, show(&delayed));

    let req = json(&hangar(&env, &["requeue", &delayed, "--json"]));
    assert_eq!(
        (&req["state"], &req["run_at"]),
        (&"Enqueued".into(), &Value::Null),
        "{req}"
    );
    assert_eq!(req, show(&delayed));
}

/// `enqueue --count N --json` prints every id created and their state;
/// `requeue --state S --json` the jobs requeued and those that were not.
#[tokio::test]
async fn many_job_actions_print_their_ids_as_json() {
    let env = TestEnv::new().await;
    let ids = |v: &Value, key: &str| -> Vec<JobId> {
        v[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {v}"))
            .iter()
            .map(|i| JobId::parse(i.as_str().unwrap()).unwrap())
            .collect()
    };
    let many = json(&hangar(
        &env,
        &["enqueue", "hello", "--count", "3", "--json"],
    ));
    assert_eq!(many["state"], "Enqueued", "{many}");
    let created = ids(&many, "ids");
    assert_eq!(created.len(), 3, "{many}");
    for id in &created {
        assert_eq!(env.job(id).await.state, State::Enqueued);
    }
    let later = json(&hangar(
        &env,
        &[
            "enqueue", "hello", "--count", "1", "--delay", "1h", "--json",
        ],
    ));
    assert_eq!(later["state"], "Scheduled", "{later}");
    let later = ids(&later, "ids");
    assert_eq!(later.len(), 1);
    assert_eq!(env.job(&later[0]).await.state, State::Scheduled);

    for id in &created[..2] {
        ok(&hangar(&env, &["delete", id.as_str()]));
    }
    let out = json(&hangar(&env, &["requeue", "--state", "deleted", "--json"]));
    let mut requeued = ids(&out, "requeued");
    requeued.sort();
    let mut expected = created[..2].to_vec();
    expected.sort();
    assert_eq!(requeued, expected, "{out}");
    assert_eq!(out["failed"], serde_json::json!([]), "{out}");
    for id in &created {
        assert_eq!(env.job(id).await.state, State::Enqueued);
    }
}

#[tokio::test]
async fn continuation_waits_for_its_parent() {
    let env = TestEnv::new().await;
    let parent = id_of(&hangar(&env, &["enqueue", "hello"]));
    let child = id_of(&hangar(
        &env,
        &["enqueue", "hello", "--after", parent.as_str()],
    ));
    let any = id_of(&hangar(
        &env,
        &[
            "enqueue",
            "hello",
            "--after",
            parent.as_str(),
            "--on-any-finished",
        ],
    ));
    let j = json(&hangar(&env, &["job", child.as_str(), "--json"]));
    assert_eq!(j["state"], "Awaiting");
    assert_eq!(j["parent"], parent.as_str());
    let p = json(&hangar(&env, &["job", parent.as_str(), "--json"]));
    assert_eq!(p["continuations"].as_array().unwrap().len(), 2);

    let poller = example_poller(&env);
    env.drive_to(&poller, &child, State::Succeeded, Duration::from_secs(20))
        .await;
    env.drive_to(&poller, &any, State::Succeeded, Duration::from_secs(20))
        .await;
}

#[tokio::test]
async fn jobs_lists_by_state_and_queue() {
    let env = TestEnv::with(hangar_integration_tests::EnvOptions {
        queues: vec!["default", "mail"],
        ..Default::default()
    })
    .await;
    let out = hangar(&env, &["enqueue", "hello", "--count", "30"]);
    let ids: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert!(out.status.success());
    assert_eq!(ids.len(), 30);
    assert!(ids.iter().all(|i| JobId::parse(*i).is_ok()));
    let mail = id_of(&hangar(&env, &["enqueue", "hello", "--queue", "mail"]));

    let all = json(&hangar(
        &env,
        &["jobs", "--state", "enqueued", "--limit", "100", "--json"],
    ));
    assert_eq!(all.as_array().unwrap().len(), 31);
    let limited = json(&hangar(
        &env,
        &["jobs", "--state", "enqueued", "--limit", "5", "--json"],
    ));
    assert_eq!(limited.as_array().unwrap().len(), 5);
    let only_mail = json(&hangar(
        &env,
        &["jobs", "--state", "Enqueued", "--queue", "mail", "--json"],
    ));
    assert_eq!(only_mail.as_array().unwrap().len(), 1);
    assert_eq!(only_mail[0]["id"], mail.as_str());
    let none = json(&hangar(&env, &["jobs", "--state", "failed", "--json"]));
    assert_eq!(none, serde_json::json!([]));

    let table = ok(&hangar(&env, &["jobs", "--queue", "mail"]));
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("ID") && header.contains("STATE"),
        "{table}"
    );
    let row = lines.next().unwrap();
    assert!(row.starts_with(mail.as_str()), "{table}");
    // Columns line up: STATE starts at the same offset in both lines.
    let col = header.find("STATE").unwrap();
    assert_eq!(&row[col..col + "Enqueued".len()], "Enqueued", "{table}");
}

#[tokio::test]
async fn stats_counts_states_and_queue_depth() {
    let env = TestEnv::new().await;
    ok(&hangar(&env, &["enqueue", "hello", "--count", "3"]));
    ok(&hangar(&env, &["enqueue", "hello", "--delay", "1h"]));
    let s = json(&hangar(&env, &["stats", "--json"]));
    assert_eq!(s["states"]["enqueued"], 3);
    assert_eq!(s["states"]["scheduled"], 1);
    assert_eq!(s["states"]["failed"], 0);
    let queues = s["queues"].as_array().unwrap();
    let default = queues.iter().find(|q| q["name"] == "default").unwrap();
    assert_eq!(default["visible"], 3);
    assert!(queues.iter().any(|q| q["name"] == "default-dlq"), "{s}");
    let text = ok(&hangar(&env, &["stats"]));
    assert!(
        text.contains("Enqueued") && text.contains("QUEUE"),
        "{text}"
    );
}

/// `requeue --state` and `delete --state` act on every job the filter
/// lists, a step at a time with a line a step off a terminal; `--limit`
/// stops early and prints the `--resume` that goes on from there.
#[tokio::test]
async fn bulk_requeue_and_delete_of_what_a_filter_lists() {
    let env = TestEnv::new().await;
    let make = |args: &str, n: &str| {
        let out = hangar(
            &env,
            &[
                "enqueue",
                "fail",
                "--args",
                args,
                "--retries",
                "0",
                "--count",
                n,
            ],
        );
        ok(&out)
            .lines()
            .map(|l| JobId::parse(l).unwrap())
            .collect::<Vec<_>>()
    };
    let acme = make(r#"{"customer":"ACME"}"#, "3");
    let rest = make(r#"{"customer":"other"}"#, "9");
    let poller = example_poller(&env);
    for id in acme.iter().chain(&rest) {
        env.drive_to(&poller, id, State::Failed, Duration::from_secs(30))
            .await;
    }
    let out = hangar(&env, &["requeue", "--state", "failed", "--grep", "acme"]);
    assert_eq!(ok(&out).trim(), "3 requeued, 0 refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("requeued 3, refused 0, read "), "{stderr}");
    for id in &acme {
        assert_eq!(env.job(id).await.state, State::Enqueued);
    }
    for id in &rest {
        assert_eq!(env.job(id).await.state, State::Failed);
    }

    // Delete the others, stopping after 4; then resume.
    let out = hangar(&env, &["delete", "--state", "failed", "--limit", "4"]);
    assert_eq!(ok(&out).trim(), "4 deleted, 0 refused");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let token = stderr
        .split("--resume ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("a resume token: {stderr}"));
    let out = json(&hangar(&env, &["delete", "--resume", token, "--json"]));
    assert_eq!(out["deleted"].as_array().map(Vec::len), Some(5), "{out}");
    for id in &rest {
        assert_eq!(env.job(id).await.state, State::Deleted);
    }
    let stderr = fails(&hangar(&env, &["delete", "--resume", "made-up"]), 2);
    assert!(stderr.contains("--resume: not a token"), "{stderr}");
}

#[tokio::test]
async fn recurring_commands() {
    let env = TestEnv::new().await;
    let text = ok(&hangar(
        &env,
        &[
            "recurring",
            "add",
            "nightly",
            "--cron",
            "0 3 * * *",
            "--tz",
            "Europe/Berlin",
            "--kind",
            "hello",
            "--args",
            r#"{"name":"night"}"#,
        ],
    ));
    assert!(text.starts_with("nightly next run "), "{text}");
    let list = json(&hangar(&env, &["recurring", "list", "--json"]));
    assert_eq!(list[0]["id"], "nightly");
    assert_eq!(list[0]["cron"], "0 3 * * *");
    assert_eq!(list[0]["tz"], "Europe/Berlin");
    assert_eq!(list[0]["misfire"], "relaxed");
    assert_eq!(list[0]["enabled"], true);

    let job = id_of(&hangar(&env, &["recurring", "trigger", "nightly"]));
    let j = env.job(&job).await;
    assert_eq!(
        (j.kind.as_str(), j.args["name"].as_str()),
        ("hello", Some("night"))
    );

    ok(&hangar(&env, &["recurring", "disable", "nightly"]));
    let list = json(&hangar(&env, &["recurring", "list", "--json"]));
    assert_eq!(list[0]["enabled"], false);
    ok(&hangar(&env, &["recurring", "enable", "nightly"]));
    ok(&hangar(&env, &["recurring", "remove", "nightly"]));
    assert_eq!(
        json(&hangar(&env, &["recurring", "list", "--json"])),
        serde_json::json!([])
    );

    // With --json: the recurring job as stored after each change, the job
    // a trigger created, and the removal.
    let before = chrono::Utc::now();
    let rec = json(&hangar(
        &env,
        &[
            "recurring",
            "add",
            "weekly",
            "--cron",
            "0 30 4 * * MON",
            "--kind",
            "hello",
            "--args",
            r#"{"name":"week"}"#,
            "--misfire",
            "strict",
            "--json",
        ],
    ));
    assert_eq!(
        (
            &rec["id"],
            &rec["cron"],
            &rec["tz"],
            &rec["misfire"],
            &rec["enabled"]
        ),
        (
            &"weekly".into(),
            &"0 30 4 * * MON".into(),
            &"UTC".into(),
            &"strict".into(),
            &true.into()
        ),
        "{rec}"
    );
    let next = chrono::DateTime::parse_from_rfc3339(rec["next_run"].as_str().unwrap())
        .unwrap()
        .to_utc();
    assert!(
        next > before && next - before <= chrono::TimeDelta::days(7),
        "{rec}"
    );
    assert_eq!(
        (next.format("%a %H:%M:%S").to_string()),
        "Mon 04:30:00",
        "{rec}"
    );
    assert_eq!(
        json(&hangar(&env, &["recurring", "list", "--json"]))[0],
        rec
    );
    let job = json(&hangar(&env, &["recurring", "trigger", "weekly", "--json"]));
    assert_eq!(
        (&job["kind"], &job["args"]["name"], &job["state"]),
        (&"hello".into(), &"week".into(), &"Enqueued".into()),
        "{job}"
    );
    let off = json(&hangar(&env, &["recurring", "disable", "weekly", "--json"]));
    assert_eq!(
        (&off["id"], &off["enabled"]),
        (&"weekly".into(), &false.into()),
        "{off}"
    );
    assert_eq!(off["last_job_id"], job["id"], "{off}");
    let on = json(&hangar(&env, &["recurring", "enable", "weekly", "--json"]));
    assert_eq!(on["enabled"], true, "{on}");
    assert_eq!(on["next_run"], rec["next_run"], "{on}");
    let gone = json(&hangar(&env, &["recurring", "remove", "weekly", "--json"]));
    assert_eq!(gone, serde_json::json!({"id": "weekly", "removed": true}));
    assert_eq!(
        json(&hangar(&env, &["recurring", "list", "--json"])),
        serde_json::json!([])
    );

    let err = fails(&hangar(&env, &["recurring", "remove", "nightly"]), 1);
    assert!(err.contains("recurring job nightly not found"), "{err}");
    let err = fails(
        &hangar(
            &env,
            &[
                "recurring",
                "add",
                "x",
                "--cron",
                "61 * * * *",
                "--kind",
                "hello",
            ],
        ),
        1,
    );
    assert!(err.contains("cron"), "{err}");
    let err = fails(
        &hangar(
            &env,
            &[
                "recurring",
                "add",
                "x",
                "--cron",
                "@daily",
                "--tz",
                "Mars/Base",
                "--kind",
                "hello",
            ],
        ),
        1,
    );
    assert!(err.contains("Mars/Base"), "{err}");
}

/// `cron next` prints the occurrences of 5- and 6-field expressions, across
/// a daylight-saving change, as pinned times.
#[test]
fn cron_next_prints_pinned_occurrences() {
    let out = hangar_on(
        "unused",
        "http://127.0.0.1:9",
        &[
            "cron",
            "next",
            "30 2 * * *",
            "--tz",
            "Europe/Berlin",
            "--after",
            "2026-03-28T00:00:00Z",
            "--count",
            "3",
        ],
    );
    let text = ok(&out);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-30T02:30:00+02:00"
        ]
    );
    let expected = [
        "2026-01-01T00:00:20+00:00",
        "2026-01-01T00:00:40+00:00",
        "2026-01-01T00:01:00+00:00",
        "2026-01-01T00:01:20+00:00",
    ];
    let j = json(&hangar_on(
        "unused",
        "http://127.0.0.1:9",
        &[
            "cron",
            "next",
            "*/20 * * * * *",
            "--after",
            "2026-01-01T00:00:00Z",
            "--count",
            "4",
            "--json",
        ],
    ));
    assert_eq!(j, serde_json::json!(expected));
    let err = fails(
        &hangar_on("unused", "http://127.0.0.1:9", &["cron", "next", "* * *"]),
        2,
    );
    assert!(err.contains("use 5") || err.contains("fields"), "{err}");
}

/// The CLI's cases of the bad-input catalogue (`docs/bad-input.md`): each
/// fails with the exit code and the message the catalogue gives (2 for a
/// usage error, 1 for the rest) and touches nothing.
#[tokio::test]
async fn bad_input_catalogue() {
    let env = TestEnv::new().await;
    // What the cases need: a continuation waiting for its parent, and
    // batch files.
    let parent = id_of(&hangar(&env, &["enqueue", "hello", "--delay", "1h"]));
    let child = id_of(&hangar(
        &env,
        &["enqueue", "hello", "--after", parent.as_str()],
    ));
    let bad_file = job_file(
        &env,
        "bad-input",
        "jobs.jsonl",
        "{\"kind\": \"hello\"}\n{\"kind\": \"hello\", \"args\": \n",
    );
    let dir = bad_file.parent().unwrap().to_owned();
    let missing_file = dir.join("missing.jsonl");
    let items = env.item_count().await;

    let missing = JobId::generate();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "C01",
            vec![
                "recurring",
                "add",
                "nightly",
                "--cron",
                "61 * * * *",
                "--kind",
                "hello",
            ],
        ),
        (
            "C02",
            vec![
                "recurring",
                "add",
                "nightly",
                "--cron",
                "0 3 * * *",
                "--tz",
                "Mars/Olympus",
                "--kind",
                "hello",
            ],
        ),
        ("C03", vec!["cron", "next", "0 3 * *"]),
        ("C04", vec!["enqueue", "hello", "--delay", "10x"]),
        ("C05", vec!["enqueue", "hello", "--at", "tomorrow"]),
        (
            "C06",
            vec![
                "enqueue",
                "hello",
                "--delay",
                "10s",
                "--at",
                "2030-01-01T00:00:00Z",
            ],
        ),
        ("C07", vec!["job", "not an id!"]),
        ("C08", vec!["jobs", "--state", "done"]),
        ("C09", vec!["job", missing.as_str()]),
        ("C10", vec!["recurring", "remove", "nightly"]),
        ("C11", vec!["batch", "show", "nope"]),
        ("C12", vec!["enqueue", "hello", "--args", "{not json"]),
        ("C13", vec!["enqueue", "hello", "--queue", "Bad Queue"]),
        ("C14", vec!["enqueue", "hello", "--queue", "nosuchqueue"]),
        ("C15", vec!["enqueue", "hello", "--timeout", "0s"]),
        ("C16", vec!["reschedule", child.as_str(), "--delay", "1m"]),
        (
            "C17",
            vec!["batch", "create", "--file", missing_file.to_str().unwrap()],
        ),
        (
            "C18",
            vec!["batch", "create", "--file", bad_file.to_str().unwrap()],
        ),
        ("C19", vec!["enqueue", "hello", "--on-any-finished"]),
        ("C20", vec!["queue", "pause", "nosuchqueue"]),
        ("C21", vec!["enqueue", "send email"]),
        ("C22", vec!["enqueue", "hello", "--retries", "1000"]),
        ("C23", vec!["delete", missing.as_str()]),
        ("C24", vec!["reschedule", parent.as_str()]),
        ("C27", vec!["enqueue", "hello", "--count", "0"]),
    ];
    let mut seen = std::collections::BTreeMap::new();
    for (case, args) in &cases {
        let out = hangar(&env, args);
        assert!(!out.status.success(), "{case}: {args:?} succeeded");
        seen.insert(
            case.to_string(),
            format!(
                "exit {}: {}",
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stderr)
            ),
        );
    }
    // Where the stack is not.
    let out = hangar_on("no-such-stack", &endpoint(), &["jobs"]);
    seen.insert(
        "C25".into(),
        format!(
            "exit {:?}: {}",
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
    let out = hangar_on(&env.config.stack, "http://127.0.0.1:9", &["stats"]);
    seen.insert(
        "C26".into(),
        format!(
            "exit {:?}: {}",
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr)
        ),
    );
    hangar_integration_tests::catalogue::check("C", &seen);
    // Nothing above wrote anything or sent anything.
    assert_eq!(env.item_count().await, items);
    assert_eq!(env.job(&child).await.state, State::Awaiting);
    assert_eq!(env.queue_depth("default").await.0, 0);
    std::fs::remove_dir_all(&dir).ok();
}

/// The SDK's per-service variables apply over `AWS_ENDPOINT_URL`, so
/// DynamoDB and SQS can be in different places; `--endpoint` puts both at
/// one URL whatever the variables say.
#[tokio::test]
async fn per_service_endpoint_variables_override_aws_endpoint_url() {
    let env = TestEnv::new().await;
    let stack = env.config.stack.as_str();
    let (emulator, nowhere) = (endpoint(), "http://127.0.0.1:9".to_owned());
    // Nothing listens at AWS_ENDPOINT_URL: both services at their own.
    let split = [
        ("AWS_ENDPOINT_URL", nowhere.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", emulator.as_str()),
        ("AWS_ENDPOINT_URL_SQS", emulator.as_str()),
    ];
    // `enqueue` writes the job to DynamoDB and sends its wake-up to SQS.
    let id = id_of(&hangar_with(stack, &split, &["enqueue", "hello"]));
    assert_eq!(env.job(&id).await.state, State::Enqueued);
    assert_eq!(env.queue_depth("default").await.0, 1);
    let s = json(&hangar_with(stack, &split, &["stats", "--json"]));
    assert_eq!(s["states"]["enqueued"], 1, "{s}");

    // One service nowhere: the command fails, naming that endpoint and the
    // variable that set it.
    for (var, args) in [
        ("AWS_ENDPOINT_URL_SQS", vec!["stats"]),
        ("AWS_ENDPOINT_URL_DYNAMODB", vec!["job", id.as_str()]),
    ] {
        let vars = [("AWS_ENDPOINT_URL", emulator.as_str()), (var, &nowhere)];
        let err = fails(&hangar_with(stack, &vars, &args), 1);
        assert!(
            err.contains("cannot reach http://127.0.0.1:9")
                && err.contains(&format!("check {var}")),
            "{var}: {err}"
        );
    }

    // --endpoint wins over every variable.
    let all_nowhere = [
        ("AWS_ENDPOINT_URL", nowhere.as_str()),
        ("AWS_ENDPOINT_URL_DYNAMODB", nowhere.as_str()),
        ("AWS_ENDPOINT_URL_SQS", nowhere.as_str()),
    ];
    let s = json(&hangar_with(
        stack,
        &all_nowhere,
        &["--endpoint", &emulator, "stats", "--json"],
    ));
    assert_eq!(s["states"]["enqueued"], 1, "{s}");
}

/// A GET (or a POST without the session token) to 127.0.0.1:`port`, as a
/// browser would send it: the status code and the body.
async fn http(method: &str, port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the dashboard listens");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}

/// A port nothing listens on, on 127.0.0.1.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `hangar dev` against the running emulator: creates the stack, runs the
/// demo set with its own worker command (`hangar worker`), serves the
/// dashboard on 127.0.0.1, and stops.
#[tokio::test]
async fn dev_runs_the_demo_and_stops() {
    let stack = format!("dev-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let worker_cmd = format!("{BIN} worker");
    let port = free_port();
    let dashboard = tokio::spawn(async move {
        // While dev runs: the overview renders, and a POST without the
        // page's session token is refused.
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        (
            http("GET", port, "/").await,
            http("POST", port, "/api/jobs/bulk").await,
        )
    });
    let out = tokio::task::spawn_blocking({
        let stack = stack.clone();
        let port = port.to_string();
        move || {
            hangar_on(
                &stack,
                &endpoint(),
                &[
                    "dev",
                    "--for",
                    "25s",
                    "--tick",
                    "1s",
                    "--worker-cmd",
                    &worker_cmd,
                    "--dashboard-port",
                    &port,
                ],
            )
        }
    })
    .await
    .unwrap();
    let text = ok(&out);
    assert!(text.contains("Hangar dev is running."), "{text}");
    assert!(
        text.contains(&format!("dashboard http://127.0.0.1:{port}/")),
        "{text}"
    );
    let ((get, page), (post, refused)) = dashboard.await.unwrap();
    assert_eq!(get, 200, "{page}");
    assert!(
        page.contains("Overview") && page.contains("succeeded"),
        "{page}"
    );
    assert_eq!(post, 403, "{refused}");
    assert!(text.contains(&format!("table     {stack}-jobs")), "{text}");
    assert!(text.contains("demo-heartbeat"), "{text}");

    // What the demo did, read back through the CLI.
    let s = json(&hangar_on(&stack, &endpoint(), &["stats", "--json"]));
    let states = &s["states"];
    assert!(states["succeeded"].as_u64().unwrap() >= 5, "{s}");
    assert_eq!(states["failed"], 1, "{s}");
    assert_eq!(states["processing"], 0, "{s}");
    let failed = json(&hangar_on(
        &stack,
        &endpoint(),
        &["jobs", "--state", "failed", "--json"],
    ));
    assert_eq!(failed[0]["kind"], "fail");
    let succeeded = json(&hangar_on(
        &stack,
        &endpoint(),
        &["jobs", "--state", "succeeded", "--limit", "100", "--json"],
    ));
    let kinds: Vec<&str> = succeeded
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kind"].as_str().unwrap())
        .collect();
    for kind in ["hello", "sleep", "flaky"] {
        assert!(kinds.contains(&kind), "{kind} did not succeed: {kinds:?}");
    }
    let flaky = succeeded
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "flaky")
        .unwrap();
    assert_eq!(flaky["attempt"], 3, "fails twice, then succeeds");
    // Its runs' lines, shipped from the worker command's output to the
    // emulator's CloudWatch Logs as Lambda would, read back by its id.
    let flaky_id = flaky["id"].as_str().unwrap();
    let text = ok(&hangar_on(&stack, &endpoint(), &["logs", flaky_id]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.contains("job failed")).count(),
        2,
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("#3") && l.contains("flaky job succeeded")),
        "{text}"
    );
    let logs = json(&hangar_on(
        &stack,
        &endpoint(),
        &["logs", flaky_id, "--json"],
    ));
    assert_eq!(
        logs["group"],
        format!("/aws/lambda/{stack}-worker"),
        "{logs}"
    );
    assert_eq!(
        logs["lines"].as_array().unwrap().len(),
        lines.len(),
        "{logs}"
    );
    // The recurring job fired (every 30 s) at least once.
    let rec = json(&hangar_on(
        &stack,
        &endpoint(),
        &["recurring", "list", "--json"],
    ));
    assert!(rec[0]["last_job_id"].is_string(), "{rec}");
}

/// `hangar dev` with its own worker: the runs' lines are shipped from the
/// process to the emulator's CloudWatch Logs, and `hangar logs` reads a
/// demo job's; a job with no run has none.
#[tokio::test]
async fn dev_ships_its_workers_lines() {
    let stack = format!("dev-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let port = free_port().to_string();
    let dashboard = tokio::spawn({
        let port: u16 = port.parse().unwrap();
        async move {
            // While dev runs: a job's lines through its dashboard's API.
            let body = |response: String| -> serde_json::Value {
                let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
                serde_json::from_str(json).unwrap_or_default()
            };
            for _ in 0..60 {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_err()
                {
                    continue;
                }
                let (_, jobs) = http("GET", port, "/api/jobs?state=succeeded").await;
                let jobs = body(jobs);
                let Some(id) = jobs["jobs"][0]["id"].as_str() else {
                    continue;
                };
                let (status, logs) = http("GET", port, &format!("/api/jobs/{id}/logs")).await;
                let logs = body(logs);
                if status == 200 && logs["lines"].as_array().is_some_and(|l| !l.is_empty()) {
                    return logs;
                }
            }
            panic!("the dashboard never showed a job's lines");
        }
    });
    let out = tokio::task::spawn_blocking({
        let stack = stack.clone();
        move || {
            hangar_on(
                &stack,
                &endpoint(),
                &[
                    "dev",
                    "--for",
                    "18s",
                    "--tick",
                    "1s",
                    "--dashboard-port",
                    &port,
                ],
            )
        }
    })
    .await
    .unwrap();
    let shown = dashboard.await.unwrap();
    assert_eq!(
        shown["group"],
        format!("/aws/lambda/{stack}-worker"),
        "{shown}"
    );
    let text = ok(&out);
    assert!(
        text.contains(&format!("logs      /aws/lambda/{stack}-worker")),
        "{text}"
    );
    let id_of_demo = |what: &str| {
        text.lines()
            .find(|l| l.starts_with("demo: ") && l.ends_with(what))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("no demo line ending {what:?}: {text}"))
            .to_owned()
    };
    let hello = id_of_demo("hello, enqueued now");
    let logs = ok(&hangar_on(&stack, &endpoint(), &["logs", &hello]));
    assert!(
        logs.lines()
            .any(|l| l.contains("#1") && l.contains("INFO") && l.contains("hello")),
        "{logs}"
    );
    // The delayed one (in 10 s) ran within the 18 s: its line alone.
    let later = id_of_demo("hello, runs in 10 s");
    let logs = ok(&hangar_on(&stack, &endpoint(), &["logs", &later]));
    assert_eq!(logs.lines().count(), 1, "{logs}");
    assert!(logs.contains("hello, delayed"), "{logs}");
}

#[tokio::test]
async fn queue_pause_list_resume() {
    let env = TestEnv::new().await;
    let text = ok(&hangar(&env, &["queue", "pause", "default"]));
    assert!(text.contains("paused default"), "{text}");
    let list = json(&hangar(&env, &["queue", "list", "--json"]));
    let default = list
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "default")
        .unwrap()
        .clone();
    assert_eq!(default["paused"], true, "{list}");
    let text = ok(&hangar(&env, &["queue", "list"]));
    assert!(
        text.contains("default") && text.contains("paused"),
        "{text}"
    );

    // A job enqueued while paused is parked when its wake-up arrives.
    let id = id_of(&hangar(&env, &["enqueue", "hello"]));
    let poller = env.poller(hangar::Registry::new().raw("hello", |_, _| async { Ok(()) }));
    while poller.poll_once().await.unwrap() > 0 {}
    let text = ok(&hangar(&env, &["job", id.as_str()]));
    assert!(
        text.contains("parked") && text.contains("its queue is paused"),
        "{text}"
    );

    let text = ok(&hangar(&env, &["queue", "resume", "default"]));
    assert!(
        text.contains("resumed default: 1 parked job(s) woken"),
        "{text}"
    );
    let poller = env.poller(hangar::Registry::new().raw("hello", |_, _| async { Ok(()) }));
    while poller.poll_once().await.unwrap() > 0 {}
    assert_eq!(env.job(&id).await.state, hangar::State::Succeeded);

    let err = fails(&hangar(&env, &["queue", "pause", "nosuch"]), 1);
    assert!(err.contains("no SQS queue named"), "{err}");

    // With --json: the queue's control as written, and the jobs woken.
    let paused = json(&hangar(&env, &["queue", "pause", "default", "--json"]));
    assert_eq!(
        (&paused["name"], &paused["paused"]),
        (&"default".into(), &true.into()),
        "{paused}"
    );
    assert!(paused["paused_at"].is_string(), "{paused}");
    let parked = id_of(&hangar(&env, &["enqueue", "hello"]));
    let poller = env.poller(hangar::Registry::new().raw("hello", |_, _| async { Ok(()) }));
    while poller.poll_once().await.unwrap() > 0 {}
    assert!(env.job(&parked).await.parked_at.is_some());
    let resumed = json(&hangar(&env, &["queue", "resume", "default", "--json"]));
    assert_eq!(
        (&resumed["name"], &resumed["paused"], &resumed["woken"]),
        (&"default".into(), &false.into(), &1.into()),
        "{resumed}"
    );
    assert_eq!(resumed["paused_at"], paused["paused_at"], "{resumed}");
    assert!(resumed["resumed_at"].is_string(), "{resumed}");
}

#[tokio::test]
async fn enqueue_with_a_latency_timeout() {
    let env = TestEnv::new().await;
    let id = id_of(&hangar(
        &env,
        &["enqueue", "hello", "--start-within", "90s"],
    ));
    assert_eq!(
        env.job(&id).await.options.start_within,
        Some(std::time::Duration::from_secs(90))
    );
    let text = ok(&hangar(&env, &["job", id.as_str()]));
    assert!(text.contains("start in 90s, else given up"), "{text}");
    let err = fails(
        &hangar(&env, &["enqueue", "hello", "--start-within", "soon"]),
        2,
    );
    assert!(err.contains("--start-within"), "{err}");
}

#[tokio::test]
async fn enqueue_under_a_rate_limit() {
    let env = TestEnv::new().await;
    let id = id_of(&hangar(&env, &["enqueue", "hello", "--rate", "api=5/2s"]));
    let rate = env.job(&id).await.options.rate.unwrap();
    assert_eq!(
        (rate.key.as_str(), rate.limit, rate.per_ms),
        ("api", 5, 2000)
    );
    let text = ok(&hangar(&env, &["job", id.as_str()]));
    assert!(text.contains("5 per 2s (key api)"), "{text}");
    let err = fails(&hangar(&env, &["enqueue", "hello", "--rate", "api=5"]), 2);
    assert!(err.contains("KEY=N/PERIOD"), "{err}");
    let err = fails(
        &hangar(&env, &["enqueue", "hello", "--rate", "api=0/1s"]),
        1,
    );
    assert!(err.contains("at least 1"), "{err}");
}

#[tokio::test]
async fn enqueue_with_parameters() {
    let env = TestEnv::new().await;
    let id = id_of(&hangar(
        &env,
        &[
            "enqueue",
            "hello",
            "--param",
            "tenant=acme",
            "--param",
            "trace=a=b",
        ],
    ));
    let params = env.job(&id).await.params;
    assert_eq!(
        (params["tenant"].as_str(), params["trace"].as_str()),
        ("acme", "a=b")
    );
    let text = ok(&hangar(&env, &["job", id.as_str()]));
    assert!(text.contains("tenant = acme"), "{text}");
    let err = fails(
        &hangar(&env, &["enqueue", "hello", "--param", "novalue"]),
        2,
    );
    assert!(err.contains("NAME=VALUE"), "{err}");
}

#[tokio::test]
async fn enqueue_under_a_concurrency_key_and_show_the_key() {
    let env = TestEnv::new().await;
    let id = id_of(&hangar(
        &env,
        &["enqueue", "hello", "--concurrency", "db=2"],
    ));
    let c = env.job(&id).await.options.concurrency.unwrap();
    assert_eq!((c.key.as_str(), c.limit), ("db", 2));
    let text = ok(&hangar(&env, &["job", id.as_str()]));
    assert!(text.contains("2 at once (key db)"), "{text}");
    // A run holding one of the key's slots.
    env.client
        .take_slot_for_test("db", 2, "run-1", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let k = json(&hangar(&env, &["concurrency", "db", "--json"]));
    assert_eq!(k["limit"], 2);
    assert_eq!(k["running"].as_array().unwrap().len(), 1, "{k}");
    assert_eq!(k["waiting"], 0);
    let text = ok(&hangar(&env, &["concurrency", "db"]));
    assert!(text.contains("running  1 run-1@"), "{text}");
    let err = fails(
        &hangar(&env, &["enqueue", "hello", "--concurrency", "db=0"]),
        1,
    );
    assert!(err.contains("use 1 to 1000"), "{err}");
}

#[tokio::test]
async fn enqueue_ordered_jobs() {
    let env = TestEnv::new().await;
    let first = id_of(&hangar(&env, &["enqueue", "hello", "--ordered", "acct-7"]));
    let second = id_of(&hangar(&env, &["enqueue", "hello", "--ordered", "acct-7"]));
    assert_eq!(env.job(&first).await.sequence, Some(1));
    assert_eq!(env.job(&second).await.sequence, Some(2));
    let text = ok(&hangar(&env, &["job", second.as_str()]));
    assert!(text.contains("number 2 of key acct-7"), "{text}");
    let k = json(&hangar(&env, &["concurrency", "acct-7", "--json"]));
    assert_eq!(k["next"], 1, "{k}");
    fails(
        &hangar(
            &env,
            &["enqueue", "hello", "--ordered", "a", "--concurrency", "a=2"],
        ),
        2,
    );
}

#[tokio::test]
async fn batch_create_show_list_continue() {
    let env = TestEnv::new().await;
    let file = job_file(
        &env,
        "batch",
        "jobs.jsonl",
        "{\"kind\": \"hello\", \"args\": {\"name\": \"a\"}}\n\n{\"kind\": \"hello\", \"params\": {\"tenant\": \"acme\"}}\n",
    );
    let dir = file.parent().unwrap().to_owned();
    let id = id_of(&hangar(
        &env,
        &[
            "batch",
            "create",
            "--file",
            file.to_str().unwrap(),
            "--description",
            "two hellos",
            "--then",
            r#"{"kind": "hello", "args": {"name": "after"}}"#,
            "--then-any",
            "hello",
        ],
    ));
    let b = json(&hangar(
        &env,
        &["batch", "show", id.as_str(), "--jobs", "5", "--json"],
    ));
    assert_eq!(b["status"], "Started");
    assert_eq!(
        (b["total"].as_u64(), b["pending"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(b["description"], "two hellos");
    assert_eq!(b["continuations"][1]["on"], "any_finished");
    assert_eq!(b["jobs"][1]["params"]["tenant"], "acme");
    assert_eq!(b["jobs"][0]["batch"], id.as_str());

    let then = JobId::parse(b["continuations"][0]["id"].as_str().unwrap()).unwrap();
    env.drive_to(
        &example_poller(&env),
        &then,
        State::Succeeded,
        Duration::from_secs(20),
    )
    .await;
    let text = ok(&hangar(&env, &["batch", "show", id.as_str()]));
    assert!(text.contains("Completed"), "{text}");
    assert!(text.contains("2 total: 0 pending, 2 succeeded"), "{text}");
    assert!(text.contains("every job Succeeded"), "{text}");
    let list = json(&hangar(&env, &["batch", "list", "--json"]));
    assert_eq!(list[0]["id"], id.as_str());
    let late = id_of(&hangar(&env, &["batch", "continue", id.as_str(), "hello"]));
    assert_eq!(env.job(&late).await.state, State::Enqueued);

    // With --json: the batch as stored and its jobs' ids; a continuation
    // as stored.
    let b = json(&hangar(
        &env,
        &[
            "batch",
            "create",
            "--file",
            file.to_str().unwrap(),
            "--then-any",
            "hello",
            "--json",
        ],
    ));
    let second = b["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&b["status"], &b["total"]),
        (&"Started".into(), &2.into()),
        "{b}"
    );
    assert_eq!(b["continuations"][0]["on"], "any_finished", "{b}");
    let job_ids: Vec<&str> = b["job_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(
        job_ids,
        [format!("{second}.1"), format!("{second}.2")],
        "{b}"
    );
    let mut names = Vec::new();
    for jid in &job_ids {
        let j = env.job(&JobId::parse(*jid).unwrap()).await;
        assert_eq!(j.batch.as_ref().map(JobId::as_str), Some(second.as_str()));
        names.push(j.args["name"].as_str().map(str::to_owned));
    }
    assert_eq!(names, [Some("a".to_owned()), None]);
    let cont = json(&hangar(
        &env,
        &[
            "batch",
            "continue",
            &second,
            "hello",
            "--on-any-finished",
            "--json",
        ],
    ));
    assert_eq!(
        (&cont["state"], &cont["parent"]),
        (&"Awaiting".into(), &second.clone().into()),
        "{cont}"
    );
    assert_eq!(cont["parent_is_batch"], true, "{cont}");

    std::fs::write(&file, "{\"kind\": \"hello\"}\n{not json\n").unwrap();
    let err = fails(
        &hangar(&env, &["batch", "create", "--file", file.to_str().unwrap()]),
        2,
    );
    assert!(err.contains("line 2: not JSON"), "{err}");
    std::fs::write(&file, "{\"kind\": \"hello\", \"retries\": -1}\n").unwrap();
    let err = fails(
        &hangar(&env, &["batch", "create", "--file", file.to_str().unwrap()]),
        2,
    );
    assert!(err.contains("job 1: retries"), "{err}");
    let err = fails(&hangar(&env, &["batch", "show", "nope"]), 1);
    assert!(err.contains("batch nope not found"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn enqueue_with_a_run_timeout() {
    let env = TestEnv::new().await;
    let id = id_of(&hangar(&env, &["enqueue", "hello", "--timeout", "90s"]));
    let j = json(&hangar(&env, &["job", id.as_str(), "--json"]));
    assert_eq!(j["timeout_seconds"], 90);
    let err = fails(&hangar(&env, &["enqueue", "hello", "--timeout", "8d"]), 1);
    assert!(
        err.contains("invalid timeout: 691200s; give 1 s to 7 days"),
        "{err}"
    );
}

/// Four jobs under `db=1` with its slot held: `hangar jobs` lists them as
/// Enqueued waiting for `db`, `hangar stats` counts them, and `hangar
/// concurrency db` lists them, oldest first, as many as `--limit` asks.
#[tokio::test]
async fn jobs_waiting_for_a_key_are_listed_and_counted() {
    let env = TestEnv::new().await;
    let ids: Vec<String> = env
        .jobs_waiting_on("db", 4)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    let listed = json(&hangar(&env, &["jobs", "--state", "enqueued", "--json"]));
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(
        listed.iter().all(|j| j["waiting_for"] == "db"),
        "{listed:?}"
    );
    let text = ok(&hangar(&env, &["jobs", "--state", "enqueued"]));
    assert_eq!(
        text.matches("Enqueued (waiting for db)").count(),
        4,
        "{text}"
    );
    let stats = json(&hangar(&env, &["stats", "--json"]));
    assert_eq!(stats["states"]["enqueued"], 4, "{stats}");
    let key = json(&hangar(
        &env,
        &["concurrency", "db", "--limit", "3", "--json"],
    ));
    let waiting: Vec<&str> = key["waiting_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(waiting, ids[..3], "{key}");
    assert_eq!(key["more_waiting"], true);
    // The next page goes on from the cursor the first one printed.
    let cursor = key["next_cursor"].as_str().unwrap();
    let rest = json(&hangar(
        &env,
        &[
            "concurrency",
            "db",
            "--limit",
            "3",
            "--cursor",
            cursor,
            "--json",
        ],
    ));
    assert_eq!(rest["waiting_jobs"][0]["id"], ids[3].as_str(), "{rest}");
    assert_eq!(rest["waiting_jobs"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null, "{rest}");
    let text = ok(&hangar(&env, &["concurrency", "db"]));
    for id in &ids {
        assert!(text.contains(id.as_str()), "{id}: {text}");
    }
    let text = ok(&hangar(&env, &["concurrency", "db", "--limit", "2"]));
    assert!(text.contains("… more: --cursor "), "{text}");

    // `hangar jobs` pages the same way: what it left out is said on
    // standard error, with the cursor that goes on.
    let first = hangar(&env, &["jobs", "--state", "enqueued", "--limit", "3"]);
    let shown = ok(&first);
    let said = String::from_utf8_lossy(&first.stderr).to_string();
    let cursor = said
        .lines()
        .find_map(|l| l.strip_prefix("more: --cursor "))
        .unwrap_or_else(|| panic!("no cursor said: {said}"));
    let rest = json(&hangar(
        &env,
        &["jobs", "--state", "enqueued", "--cursor", cursor, "--json"],
    ));
    let rest: Vec<&str> = rest
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(rest.len(), 1, "{rest:?}");
    for id in &ids {
        assert_eq!(
            shown.contains(id.as_str()) as usize + rest.contains(&id.as_str()) as usize,
            1,
            "{id} listed once over the two pages: {shown} / {rest:?}"
        );
    }
    // A cursor of another listing, or an edited one, is refused.
    let err = fails(
        &hangar(&env, &["jobs", "--state", "failed", "--cursor", cursor]),
        2,
    );
    assert!(err.contains("another listing"), "{err}");
    let err = fails(
        &hangar(
            &env,
            &["jobs", "--state", "enqueued", "--cursor", &cursor[1..]],
        ),
        2,
    );
    assert!(err.contains("--cursor"), "{err}");
}

/// `--unique KEY` prints the pending job of the key instead of creating
/// another; `--debounce KEY=WAIT/MAX_WAIT` joins the pending job of the
/// key, whose arguments become the latest; bad values are refused.
#[tokio::test]
async fn enqueue_unique_and_debounced_jobs() {
    let env = TestEnv::new().await;
    let first = id_of(&hangar(
        &env,
        &["enqueue", "hello", "--unique", "report-7", "--delay", "1h"],
    ));
    let again = id_of(&hangar(
        &env,
        &[
            "enqueue",
            "hello",
            "--unique",
            "report-7",
            "--unique-until",
            "finished",
        ],
    ));
    assert_eq!(first, again);
    let debounced = |name: &str| {
        let args = format!(r#"{{"name":"{name}"}}"#);
        id_of(&hangar(
            &env,
            &[
                "enqueue",
                "hello",
                "--debounce",
                "sync-1=1m/10m",
                "--args",
                &args,
            ],
        ))
    };
    let d1 = debounced("a");
    assert_eq!(debounced("b"), d1);
    let job = env.job(&d1).await;
    assert_eq!(
        (job.state, job.args),
        (State::Scheduled, serde_json::json!({"name": "b"}))
    );
    let text = ok(&hangar(&env, &["job", d1.as_str()]));
    assert!(text.contains("Debounced"), "{text}");
    let err = fails(
        &hangar(&env, &["enqueue", "hello", "--debounce", "sync-1=1m"]),
        2,
    );
    assert!(err.contains("KEY=WAIT/MAX_WAIT"), "{err}");
    let err = fails(
        &hangar(&env, &["enqueue", "hello", "--debounce", "s=10m/1m"]),
        1,
    );
    assert!(err.contains("max_wait"), "{err}");
    let err = fails(
        &hangar(&env, &["enqueue", "hello", "--unique-until", "finished"]),
        2,
    );
    assert!(err.contains("--unique"), "{err}");
}

/// `hangar workers` lists the worker that ran the jobs, with its runs by
/// how they ended; `--json` gives the same as the API; a bad `--since` is
/// a usage error.
#[tokio::test]
async fn workers_lists_who_ran_what() {
    let env = TestEnv::new().await;
    let worker =
        hangar::Worker::new(&env.client, hangar_worker::jobs::registry()).with_name("cli-w1");
    let poller = Poller::new(worker, "default").wait(Duration::from_secs(1));
    for _ in 0..2 {
        let id = id_of(&hangar(&env, &["enqueue", "hello"]));
        env.drive_to(&poller, &id, State::Succeeded, Duration::from_secs(15))
            .await;
    }
    let text = ok(&hangar(&env, &["workers"]));
    let row = text
        .lines()
        .find(|l| l.starts_with("cli-w1"))
        .unwrap_or_else(|| panic!("no row for the worker: {text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[1..5], ["2", "2", "0", "0"], "{text}");
    assert!(row.contains("hello×2"), "{text}");
    let json: Value =
        serde_json::from_str(&ok(&hangar(&env, &["workers", "--json", "--since", "1h"]))).unwrap();
    assert_eq!(json["workers"][0]["name"], "cli-w1", "{json}");
    assert_eq!(json["workers"][0]["succeeded"], 2, "{json}");
    let err = fails(&hangar(&env, &["workers", "--since", "2d"]), 2);
    assert!(err.contains("1s to 1d"), "{err}");
}
