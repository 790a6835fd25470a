//! Every dashboard page, rendered with data in it (a job running, dead
//! letters, an error page among them), read the way an HTML5
//! parser reads it: an element left open (an SVG bar without its end tag
//! swallows every bar after it), a block inside a paragraph (the parser
//! closes the paragraph early) or a table row outside a table's rows (the
//! parser moves it out of the table) fails the test, naming the page and
//! the element.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::get;
use hangar::{ManualClock, NewJob, Registry, State, Timer};
use hangar_integration_tests::{EnvOptions, TestEnv};
use serde_json::json;

/// HTML elements that have no end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];
/// Elements an HTML5 parser does not let stay inside an open `<p>`: it
/// closes the paragraph before them.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "div",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "ul",
];

/// Reads `html` as an HTML5 parser would and returns the first place it
/// would not build the tree the markup spells out.
fn check_markup(html: &str) -> Result<(), String> {
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    let where_ = |open: &[String]| format!("inside <{}>", open.join("> <"));
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("a comment is never closed")?;
            rest = &after[end + 3..];
            continue;
        }
        if rest.starts_with("<!") {
            let end = rest.find('>').ok_or("a declaration is never closed")?;
            rest = &rest[end + 1..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or("an end tag is never closed")?;
            let name = after[..end].trim().to_ascii_lowercase();
            match open.pop() {
                Some(top) if top == name => {}
                Some(top) => {
                    return Err(format!(
                        "</{name}> closes <{top}>, which is left open {}",
                        where_(&open)
                    ));
                }
                None => return Err(format!("</{name}> closes nothing")),
            }
            rest = &after[end + 1..];
            continue;
        }
        // A start tag: its name, then attributes, whose quoted values may
        // hold `>`.
        let tag = &rest[1..];
        let name_len = tag
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .ok_or("a start tag is never closed")?;
        let name = tag[..name_len].to_ascii_lowercase();
        let mut quote = None;
        let mut end = None;
        for (j, c) in tag.char_indices().skip(name_len) {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => {
                    end = Some(j);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| format!("<{name}> is never closed"))?;
        let self_closing = tag[..end].trim_end().ends_with('/');
        rest = &tag[end + 1..];
        let in_svg = open.iter().any(|e| e == "svg");
        if !in_svg {
            if CLOSES_P.contains(&name.as_str()) && open.last().is_some_and(|e| e == "p") {
                return Err(format!(
                    "<{name}> inside <p> (a parser closes the paragraph first) {}",
                    where_(&open)
                ));
            }
            let parent = open.last().map(String::as_str);
            let allowed_in_table = ["caption", "colgroup", "thead", "tbody", "tfoot", "tr"];
            if parent == Some("table") && !allowed_in_table.contains(&name.as_str()) {
                return Err(format!(
                    "<{name}> directly inside <table> (a parser moves it out) {}",
                    where_(&open)
                ));
            }
            if matches!(parent, Some("tr" | "thead" | "tbody"))
                && !["tr", "td", "th"].contains(&name.as_str())
            {
                return Err(format!(
                    "<{name}> directly inside <{}> {}",
                    parent.unwrap_or_default(),
                    where_(&open)
                ));
            }
            if VOID.contains(&name.as_str()) {
                continue;
            }
        } else if self_closing {
            continue;
        }
        if name == "script" || name == "style" {
            let close = format!("</{name}>");
            let end = rest
                .find(&close)
                .ok_or_else(|| format!("<{name}> is never closed"))?;
            rest = &rest[end + close.len()..];
            continue;
        }
        open.push(name);
    }
    match open.last() {
        None => Ok(()),
        Some(e) => Err(format!(
            "<{e}> is left open at the end {}",
            where_(&open[..open.len() - 1])
        )),
    }
}

#[test]
fn the_checker_finds_what_a_parser_would_rebuild() {
    let page = |body: &str| format!("<!DOCTYPE html><html><body>{body}</body></html>");
    check_markup(&page(
        r#"<svg><rect x="1" height="2"><title>a > b</title></rect><rect/></svg><p>x<br>y</p>"#,
    ))
    .unwrap();
    check_markup(&page(
        "<table><tr><td>1</td></tr></table><script>if (a<b) {}</script>",
    ))
    .unwrap();
    let open_rect = check_markup(&page(r#"<svg><rect height="2"><rect></rect></svg>"#));
    assert!(
        open_rect.as_ref().unwrap_err().contains("<rect>"),
        "{open_rect:?}"
    );
    assert!(check_markup(&page("<p><div>x</div></p>")).is_err());
    assert!(check_markup(&page("<table><td>x</td></table>")).is_err());
    assert!(check_markup(&page("<table><tr><a>x</a></tr></table>")).is_err());
    assert!(check_markup(&page("<div><span></div>")).is_err());
    assert!(check_markup("<div>").is_err());
}

/// Every page with something on it: finished jobs rolled up into the
/// charts, a Failed job with an error, jobs waiting for a concurrency key,
/// a continuation, a batch, a recurring job, a paused queue.
#[tokio::test]
async fn every_page_is_well_formed_html() {
    let t0 = chrono::Utc::now();
    let clock = ManualClock::new(t0);
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let client = &env.client;
    let poller = env.poller(Registry::new().raw("k", |args, _| async move {
        if args["hold"] == true {
            std::future::pending::<()>().await;
        }
        if args["fail"] == true {
            Err(hangar::JobFailure::msg("refused <b>550</b>"))
        } else {
            Ok(())
        }
    }));
    let short = Duration::from_secs(15);
    let mut ids = Vec::new();
    for n in 0..3 {
        let id = client
            .enqueue(NewJob::new("k", json!({ "n": n })))
            .await
            .unwrap();
        env.drive_to(&poller, &id, State::Succeeded, short).await;
        ids.push(id);
    }
    let failed = client
        .enqueue(NewJob::new("k", json!({ "fail": true })).retries(0))
        .await
        .unwrap();
    env.drive_to(&poller, &failed, State::Failed, short).await;
    let parent = client
        .schedule(NewJob::new("k", json!({})), Duration::from_secs(3600))
        .await
        .unwrap();
    let child = client
        .continue_with(
            &parent,
            NewJob::new("k", json!({})),
            hangar::ContinueOn::Succeeded,
        )
        .await
        .unwrap();
    client
        .take_slot_for_test("db", 1, "01a217de-b193-759a-a22b-8c3fbd75c508", short * 8)
        .await
        .unwrap();
    let waiting = client
        .enqueue(NewJob::new("k", json!({})).concurrency("db", 1))
        .await
        .unwrap();
    env.drive_until(&poller, &waiting, short, |j| j.waiting_for.is_some())
        .await;
    let batch = client
        .start_batch(
            hangar::Batch::new()
                .description("nightly <export>")
                .enqueue(NewJob::new("k", json!({})))
                .unwrap()
                .continue_with(NewJob::new("k", json!({})), hangar::ContinueOn::Succeeded)
                .unwrap(),
        )
        .await
        .unwrap();
    client
        .recurring()
        .add_or_update(
            "nightly",
            NewJob::new("k", json!({})),
            "0 3 * * *",
            hangar::RecurringOptions::default(),
        )
        .await
        .unwrap();
    // A job left running: its handler never returns while the pages are
    // read.
    let running = client
        .enqueue(NewJob::new("k", json!({ "hold": true, "note": "<i>x" })))
        .await
        .unwrap();
    let holder = tokio::spawn({
        let poller = poller.clone();
        async move { poller.poll_once().await }
    });
    let started = std::time::Instant::now();
    while env.job(&running).await.state != State::Processing {
        assert!(started.elapsed() < short, "the job never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Messages SQS gave up on, in the queue's dead-letter queue.
    let dlq = env.dlq_url("default").await;
    for body in ["{\"kind\": \"<b>k\"}", "not json </rect>"] {
        env.sqs
            .send_message()
            .queue_url(&dlq)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    client.pause_queue("default").await.unwrap();
    clock.set(t0 + chrono::Duration::seconds(40));
    Timer::new(client).roll_up().await.unwrap();

    let router =
        hangar_admin::Admin::new(client.clone(), hangar_admin::Options::default()).router();
    let mut pages = vec![
        "/".to_owned(),
        "/recurring".to_owned(),
        "/metrics".to_owned(),
        "/queues".to_owned(),
        "/queues/default".to_owned(),
        "/keys/db".to_owned(),
        "/jobs/scheduled?retries=1".to_owned(),
        "/batches".to_owned(),
        format!("/batches/{batch}"),
        format!("/job/{failed}"),
        format!("/job/{waiting}"),
        format!("/job/{parent}"),
        format!("/job/{child}"),
        format!("/job/{}", ids[0]),
        format!("/job/{running}"),
        "/job/no-such-job".to_owned(),
        "/search?id=%3Cb%3Enot-an-id".to_owned(),
        "/nowhere".to_owned(),
    ];
    for s in State::ALL {
        pages.push(format!("/jobs/{}", s.as_str().to_ascii_lowercase()));
    }
    for uri in &pages {
        let (status, html) = get(&router, uri).await;
        assert!(
            [
                StatusCode::OK,
                StatusCode::NOT_FOUND,
                StatusCode::BAD_REQUEST
            ]
            .contains(&status),
            "{uri}: {status}"
        );
        if let Err(e) = check_markup(&html) {
            panic!("{uri} is not well-formed: {e}\n{html}");
        }
    }
    // The pages showed what they were meant to.
    let (_, processing) = get(&router, "/jobs/processing").await;
    assert!(processing.contains(&running.to_string()), "{processing}");
    let (_, queue) = get(&router, "/queues/default").await;
    assert!(queue.contains("not json &lt;/rect&gt;"), "{queue}");
    holder.abort();
}
