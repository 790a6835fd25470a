//! The dashboard in a real browser: Debian's headless Chromium driven
//! through ChromeDriver's WebDriver API (plain HTTP on 127.0.0.1). Loads the
//! overview and finds a drawn bar for every finished job in its charts;
//! opens a Failed job whose arguments hold markup, sees it shown as text
//! with nothing run, requeues it from its page (confirming the dialog) and
//! sees it succeed; finds a job with the search box; follows a running
//! job's progress without a reload; reads a job's log lines, page by
//! page; opens the Retries view from the navigation. Screenshots go to target/screenshots (and to docs/ with
//! HANGAR_UPDATE_SCREENSHOTS=1).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hangar::{ManualClock, NewJob, Registry, State, Timer};
use hangar_integration_tests::{EnvOptions, TestEnv, workspace_root};
use serde_json::{Value, json};

/// One WebDriver request: method, path, JSON body; the response's `value`.
async fn wd(port: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    // Read the head, then exactly Content-Length bytes (ChromeDriver keeps
    // the connection open).
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_end, length) = loop {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "chromedriver closed the connection");
        out.extend_from_slice(&buf[..n]);
        if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..i]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, length);
        }
    };
    while out.len() < head_end + length {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "chromedriver closed the connection early");
        out.extend_from_slice(&buf[..n]);
    }
    let v: Value = serde_json::from_slice(&out[head_end..head_end + length]).unwrap_or(Value::Null);
    v["value"].clone()
}

struct Browser {
    port: u16,
    session: String,
    _driver: tokio::process::Child,
}

impl Browser {
    async fn start() -> Browser {
        let driver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            std::path::Path::new(&driver).exists() && std::path::Path::new(&chromium).exists(),
            "this test needs Chromium and ChromeDriver: apt-get install chromium chromium-driver \
             (.ci/run installs them when missing)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("hangar-chromium-{port}"));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = wd(port, "POST", "/session", Some(caps)).await;
        let session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_owned();
        Browser {
            port,
            session,
            _driver: child,
        }
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        wd(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
        .await
    }

    async fn go(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    async fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Types `text` into the element `css`, as a person would.
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn element(&self, css: &str) -> String {
        let el = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        el.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    /// The open dialog's text, if one is open.
    async fn alert_text(&self) -> Option<String> {
        self.cmd("GET", "/alert/text", None)
            .await
            .as_str()
            .map(str::to_owned)
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let png = self.cmd("GET", "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a screenshot"))
            .unwrap();
        let dir = workspace_root().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), &bytes).unwrap();
        if std::env::var_os("HANGAR_UPDATE_SCREENSHOTS").is_some() {
            std::fs::write(workspace_root().join("docs").join(name), &bytes).unwrap();
        }
    }

    async fn quit(&self) {
        self.cmd("DELETE", "", None).await;
    }
}

/// Serves the dashboard of `env` on a free 127.0.0.1 port; its base URL.
async fn serve(env: &TestEnv) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = hangar_admin::Admin::new(env.client.clone(), hangar_admin::local_options(port))
        .with_logs(env.run_logs())
        .router();
    tokio::spawn(hangar_admin::serve(
        router,
        listener,
        std::future::pending(),
    ));
    format!("http://127.0.0.1:{port}")
}

/// What a person sees in a chart: the bars drawn (direct children of the
/// chart with a height on screen) and the number each one's title gives.
async fn drawn_bars(browser: &Browser, label: &str) -> Vec<(String, u64)> {
    let script = format!(
        "const svg = document.querySelector('svg[aria-label=\"{label}\"]');
         if (!svg) return null;
         return [...svg.children]
           .filter(e => e.tagName === 'rect' && e.getBoundingClientRect().height > 0)
           .map(e => (e.querySelector('title') || {{textContent: ''}}).textContent);"
    );
    let titles = browser.js(&script).await;
    let titles = titles
        .as_array()
        .unwrap_or_else(|| panic!("no chart {label:?} on the page: {titles}"));
    titles
        .iter()
        .map(|t| {
            let t = t.as_str().unwrap_or_default().to_owned();
            // "10:15 UTC: 5 succeeded"
            let n = t
                .rsplit(": ")
                .next()
                .and_then(|s| s.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a bar without a count in its title: {t:?}"));
            (t, n)
        })
        .collect()
}

/// `k` succeeds, or fails (no retries) when its arguments say `fail`.
fn pass_or_fail() -> Registry {
    Registry::new().raw("k", |args, _| async move {
        if args["fail"] == true {
            Err(hangar::JobFailure::msg("no"))
        } else {
            Ok(())
        }
    })
}

/// Enqueues a `k` job and runs it to Succeeded, or Failed with `fail`.
async fn finish_one(env: &TestEnv, poller: &hangar::Poller, n: u32, fail: bool) {
    let id = env
        .client
        .enqueue(NewJob::new("k", json!({ "n": n, "fail": fail })).retries(0))
        .await
        .unwrap();
    let state = if fail {
        State::Failed
    } else {
        State::Succeeded
    };
    env.drive_to(poller, &id, state, Duration::from_secs(15))
        .await;
}

/// After jobs finish over two minutes, both throughput charts draw bars
/// whose titles add up to the jobs that finished, succeeded and failed.
#[tokio::test]
async fn the_throughput_charts_draw_the_finished_jobs() {
    let t0 = chrono::Utc::now();
    let clock = ManualClock::new(t0);
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let poller = env.poller(pass_or_fail());
    let timer = Timer::new(&env.client);
    let mut finished = 0;
    for (minute, ok, failing) in [(0, 5, 2), (1, 3, 0)] {
        clock.set(t0 + chrono::Duration::minutes(minute));
        for (n, fail) in (0..ok)
            .map(|n| (n, false))
            .chain((0..failing).map(|n| (n, true)))
        {
            finish_one(&env, &poller, n, fail).await;
            finished += 1;
        }
        clock.set(t0 + chrono::Duration::minutes(minute) + chrono::Duration::seconds(40));
        timer.roll_up().await.unwrap();
    }
    let base = serve(&env).await;
    let browser = Browser::start().await;
    browser.go(&format!("{base}/")).await;
    for label in [
        "Succeeded and failed per minute",
        "Succeeded and failed per hour",
    ] {
        let bars = drawn_bars(&browser, label).await;
        let total: u64 = bars.iter().map(|(_, n)| n).sum();
        assert_eq!(total, finished, "{label}: {bars:?}");
        assert!(
            bars.iter().any(|(t, _)| t.ends_with("failed")),
            "{label}: a failed bar is drawn: {bars:?}"
        );
    }
    let per_minute = drawn_bars(&browser, "Succeeded and failed per minute").await;
    assert_eq!(
        per_minute.len(),
        3,
        "two minutes' green bars and one red: {per_minute:?}"
    );
    browser.screenshot("dashboard-overview.png").await;
    browser.quit().await;
}

#[tokio::test]
async fn dashboard_in_a_real_browser() {
    let env = TestEnv::new().await;
    // The job fails on its first run and succeeds after that.
    let runs = Arc::new(AtomicU32::new(0));
    let counted = runs.clone();
    // Its result (markup in it, too) is shown on its page.
    let poller = env.poller(
        Registry::new().raw_with_result("send_invoice", move |_, _| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(hangar::JobFailure::msg(
                        "the mail server refused <b>550</b>",
                    ))
                } else {
                    Ok(json!({ "invoice": "<b>INV-7</b>" }))
                }
            }
        }),
    );
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    let id = env
        .client
        .enqueue(
            NewJob::new("send_invoice", json!({"to": "a@example.com", "note": evil}))
                .retries(0)
                .tag("customer:42"),
        )
        .await
        .unwrap();
    env.drive_to(&poller, &id, State::Failed, Duration::from_secs(15))
        .await;
    let mut oks = Vec::new();
    for n in 0..3 {
        let job = NewJob::new("send_invoice", json!({ "n": n }));
        let job = if n == 1 { job.tag("customer:42") } else { job };
        let ok = env.client.enqueue(job).await.unwrap();
        env.drive_to(&poller, &ok, State::Succeeded, Duration::from_secs(15))
            .await;
        oks.push(ok);
    }

    let base = serve(&env).await;

    let browser = Browser::start().await;
    browser.go(&format!("{base}/")).await;
    let h1 = browser
        .js("return document.querySelector('h1').textContent")
        .await;
    assert_eq!(h1, "Overview");

    // The Failed page's search box finds the job by its arguments, in
    // any case, and finds nothing for a text no job carries.
    browser.go(&format!("{base}/jobs/failed")).await;
    browser.type_into("input[name=q]", "A@EXAMPLE.COM").await;
    browser.click("form button[type=submit]").await;
    let listed = browser
        .js("return [...document.querySelectorAll('main table a[href^=\"/job/\"]')].map(a => a.textContent)")
        .await;
    assert_eq!(listed, json!([id.to_string()]));
    let said = browser
        .js("return document.querySelector('p.searched').textContent")
        .await;
    assert!(
        said.as_str()
            .unwrap()
            .starts_with("1 of 1 jobs read contain"),
        "{said}"
    );
    browser
        .go(&format!("{base}/jobs/failed?q=no-job-carries-this"))
        .await;
    let text = browser.js("return document.body.innerText").await;
    assert!(
        text.as_str().unwrap().contains("No jobs on this page."),
        "{text}"
    );

    // The Failed list links to the job.
    browser.go(&format!("{base}/jobs/failed")).await;
    browser.click(&format!("a[href='/job/{id}']")).await;
    let url = browser.js("return location.pathname").await;
    assert_eq!(url, format!("/job/{id}").as_str());
    // Markup in the arguments and the error is text: nothing ran.
    assert_eq!(browser.alert_text().await, None, "no script ran");
    let text = browser.js("return document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(text.contains(evil), "{text}");
    assert!(
        text.contains("the mail server refused <b>550</b>"),
        "{text}"
    );
    let injected = browser
        .js("return document.querySelectorAll('main img, main script, main b').length")
        .await;
    assert_eq!(injected, 0);
    browser.screenshot("dashboard-job.png").await;

    // Its tag links to the tag's page: the jobs with the tag, newest
    // first, with their states; the search box finds the tag too.
    async fn tagged(b: &Browser) -> Value {
        b.js("return [...document.querySelectorAll('main table.tagged tr')].slice(1).map(r => [r.querySelector('a').textContent, r.querySelector('.state').textContent])")
            .await
    }
    browser.click("a.tag[href='/tags/customer%3A42']").await;
    let want = json!([
        [oks[1].to_string(), "Succeeded"],
        [id.to_string(), "Failed"]
    ]);
    assert_eq!(tagged(&browser).await, want);
    browser.go(&format!("{base}/")).await;
    // Typed, then Enter.
    browser
        .type_into("form[action='/search'] input", "customer:42\u{E007}")
        .await;
    wait_for_text(&browser, "return location.pathname", |p| {
        p == "/tags/customer%3A42"
    })
    .await;
    assert_eq!(tagged(&browser).await, want);
    browser.go(&format!("{base}/job/{id}")).await;

    // Requeue from the page: confirm, and the page reloads Enqueued.
    browser.click("button[data-post$='/requeue']").await;
    let dialog = browser.alert_text().await.expect("a confirmation");
    assert!(dialog.contains("again"), "{dialog}");
    browser.cmd("POST", "/alert/accept", Some(json!({}))).await;
    let job = env
        .drive_to(&poller, &id, State::Succeeded, Duration::from_secs(15))
        .await;
    assert_eq!(job.attempt, 1);
    browser.go(&format!("{base}/job/{id}")).await;
    let state = browser
        .js("return document.querySelector('h1 .state').textContent")
        .await;
    assert_eq!(state, "Succeeded");
    let result = browser
        .js("const r = [...document.querySelectorAll('h2')].find(h => h.textContent === 'Result'); return r ? r.nextElementSibling.textContent : null")
        .await;
    let result = result.as_str().expect("a Result section after the run");
    assert!(result.contains(r#""invoice": "<b>INV-7</b>""#), "{result}");
    let injected = browser
        .js("return document.querySelectorAll('main b').length")
        .await;
    assert_eq!(injected, 0, "the result's markup is text");
    browser.quit().await;
}

/// A running job's page follows its progress without a reload, and loads
/// again when the run ends.
#[tokio::test]
async fn a_running_job_s_page_shows_its_progress_live() {
    let env = TestEnv::new().await;
    let go = Arc::new(tokio::sync::Notify::new());
    // The run reports once the page shows it running (a loaded machine
    // can take longer than a report's wait to open the page).
    let shown = Arc::new(tokio::sync::Notify::new());
    let poller = env.poller(Registry::new().raw("export", {
        let (go, shown) = (go.clone(), shown.clone());
        move |_, ctx| {
            let (go, shown) = (go.clone(), shown.clone());
            async move {
                shown.notified().await;
                tokio::time::sleep(hangar::handler::PROGRESS_EVERY).await;
                ctx.progress(0.4, "exported 400 of 1000 rows").await?;
                go.notified().await;
                Ok::<_, hangar::JobFailure>(())
            }
        }
    }));
    let id = env
        .client
        .enqueue(NewJob::new("export", json!({})))
        .await
        .unwrap();
    let run = tokio::spawn({
        let poller = poller.clone();
        async move { poller.poll_once().await }
    });
    while env.job(&id).await.state != State::Processing {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let base = serve(&env).await;
    let browser = Browser::start().await;
    browser.go(&format!("{base}/job/{id}")).await;
    let said = || async {
        let v = browser
            .js("const s = document.querySelector('td.progress .said'); return s ? s.textContent : null")
            .await;
        v.as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(said().await, "not reported");
    // Marks this page: a reload would lose the mark.
    browser.js("window.hangarMark = 1; return null").await;
    shown.notify_one();
    let started = std::time::Instant::now();
    while said().await != "40% exported 400 of 1000 rows" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the page never showed the progress: {:?}",
            said().await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let bar = browser
        .js("return document.querySelector('td.progress progress').value")
        .await;
    assert_eq!(bar, json!(0.4));
    assert_eq!(
        browser.js("return window.hangarMark || null").await,
        json!(1)
    );
    go.notify_one();
    tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let state = browser
            .js("const s = document.querySelector('h1 .state'); return s ? s.textContent : null")
            .await;
        if state == json!("Succeeded") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the page never showed the end: {state}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        browser.js("return window.hangarMark || null").await,
        Value::Null
    );
    browser.quit().await;
}

/// A job's page lists the lines its runs logged, shipped to the worker's
/// log group as Lambda would: as text (a line's markup shown, not run),
/// oldest first, and the next page through "Later lines…".
#[tokio::test]
async fn a_jobs_page_shows_its_runs_lines() {
    let env = TestEnv::new().await;
    let (shipper, _guard) = env.ship_logs().await;
    let poller = env.poller(Registry::new().raw("import", |args, _| async move {
        tracing::warn!(
            file = "a.csv",
            "row 1: <img src=x onerror=\"window.hacked=1\">"
        );
        for i in 0..args["rows"].as_u64().unwrap() {
            tracing::info!(i, "imported");
        }
        Ok::<_, hangar::JobFailure>(())
    }));
    let id = env
        .client
        .enqueue(NewJob::new("import", json!({"rows": 104})))
        .await
        .unwrap();
    env.drive_to(&poller, &id, State::Succeeded, Duration::from_secs(15))
        .await;
    shipper.flush().await;
    let base = serve(&env).await;
    let browser = Browser::start().await;
    browser.go(&format!("{base}/job/{id}")).await;
    let rows = || async {
        let v = browser
            .js("return [...document.querySelectorAll('table.logs tr')].slice(1).map(r => [...r.cells].slice(1).map(c => c.textContent))")
            .await;
        serde_json::from_value::<Vec<Vec<String>>>(v).unwrap()
    };
    let first = rows().await;
    assert_eq!(first.len(), hangar::logs::MAX_LINES, "{first:?}");
    assert_eq!(
        first[0],
        [
            "1",
            "WARN",
            "row 1: <img src=x onerror=\"window.hacked=1\"> file=a.csv"
        ]
    );
    assert_eq!(first[1], ["1", "INFO", "imported i=0"]);
    assert_eq!(
        browser
            .js("return document.querySelectorAll('table.logs img').length")
            .await,
        json!(0)
    );
    assert_eq!(
        browser.js("return window.hacked || null").await,
        Value::Null
    );
    browser
        .js("document.getElementById('logs').scrollIntoView(); return null")
        .await;
    browser.screenshot("dashboard-logs.png").await;
    browser.click("a.more").await;
    let started = std::time::Instant::now();
    let second = loop {
        let rows = rows().await;
        if rows.len() < hangar::logs::MAX_LINES {
            break rows;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no next page");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let second: Vec<&str> = second.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(
        second,
        [
            "imported i=99",
            "imported i=100",
            "imported i=101",
            "imported i=102",
            "imported i=103"
        ]
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('a.more').length")
            .await,
        json!(0)
    );
    browser.quit().await;
}

/// The navigation's Retries link shows the job waiting for its retry, with
/// its last error as text, and not a job merely scheduled for later.
#[tokio::test]
async fn the_retries_view_lists_jobs_waiting_for_a_retry() {
    let env = TestEnv::new().await;
    let poller = env.poller(Registry::new().raw("sync", |_, _| async {
        Err(hangar::JobFailure::msg("the upstream said <b>503</b>"))
    }));
    let retry = env
        .client
        .enqueue(NewJob::new("sync", json!({})))
        .await
        .unwrap();
    env.drive_until(&poller, &retry, Duration::from_secs(15), |j| {
        j.state == State::Scheduled
    })
    .await;
    let later = env
        .client
        .schedule(NewJob::new("sync", json!({})), Duration::from_secs(3600))
        .await
        .unwrap();
    let base = serve(&env).await;
    let browser = Browser::start().await;
    browser.go(&format!("{base}/")).await;
    browser
        .click("header a[href='/jobs/scheduled?retries=1']")
        .await;
    let h1 = browser
        .js("return document.querySelector('h1').textContent")
        .await;
    assert_eq!(h1, "Retries");
    let rows = browser
        .js("return [...document.querySelectorAll('main table tr')].slice(1).map(r => [r.querySelector('a').textContent, r.querySelector('td.err').textContent])")
        .await;
    assert_eq!(
        rows,
        json!([[retry.to_string(), "the upstream said <b>503</b>"]])
    );
    let text = browser.js("return document.body.innerText").await;
    assert!(!text.as_str().unwrap().contains(later.as_str()), "{text}");
    browser.quit().await;
}

/// The navigation counts the jobs in each state on every page, and the
/// overview's chart and counts follow jobs as they finish, every few
/// seconds and without a reload (a mark set on the page survives).
#[tokio::test]
async fn the_overview_and_the_navigation_follow_jobs_live() {
    let clock = hangar::OffsetClock::new();
    let env = TestEnv::with(EnvOptions::clock(clock.clone())).await;
    let poller = env.poller(pass_or_fail());
    let base = serve(&env).await;
    let browser = Browser::start().await;
    browser.go(&format!("{base}/")).await;
    let count = |state: &'static str| {
        let browser = &browser;
        async move {
            let v = browser
                .js(&format!(
                    "const c = document.querySelector('header [data-count={state}]'); return c ? c.textContent : null"
                ))
                .await;
            v.as_str().unwrap_or_default().to_owned()
        }
    };
    let started = std::time::Instant::now();
    while count("succeeded").await != "0" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no counts in the navigation"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let minute = "Succeeded and failed per minute";
    assert!(drawn_bars(&browser, minute).await.is_empty());
    // Red only when something failed.
    let failed_badge = "return getComputedStyle(document.querySelector('header [data-count=failed]')).backgroundColor";
    assert_eq!(browser.js(failed_badge).await, json!("rgb(57, 66, 90)"));
    browser.js("window.hangarMark = 1; return null").await;

    for (n, fail) in [(1, false), (2, false), (3, false), (4, true)] {
        finish_one(&env, &poller, n, fail).await;
    }
    // The roll-up counts what finished more than its settling time ago.
    clock.advance(
        (hangar::store::metrics::SETTLE + chrono::TimeDelta::seconds(1))
            .to_std()
            .unwrap(),
    );
    Timer::new(&env.client).roll_up().await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let bars = drawn_bars(&browser, minute).await;
        let total: u64 = bars.iter().map(|(_, n)| n).sum();
        let (ok, failed) = (count("succeeded").await, count("failed").await);
        if total == 4 && ok == "3" && failed == "1" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the page did not follow: bars {bars:?}, Succeeded {ok:?}, Failed {failed:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let table = browser
        .js("return document.querySelector('td[data-count=succeeded]').textContent")
        .await;
    assert_eq!(table, json!("3"));
    assert_eq!(
        browser.js("return window.hangarMark || null").await,
        json!(1)
    );
    assert_eq!(browser.js(failed_badge).await, json!("rgb(164, 38, 44)"));
    browser.screenshot("dashboard-live.png").await;

    browser.go(&format!("{base}/jobs/failed")).await;
    let started = std::time::Instant::now();
    while count("failed").await != "1" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no Failed count on the Failed page"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    browser.quit().await;
}

/// The text `script` returns once `done` holds for it (within 30 s).
async fn wait_for_text(browser: &Browser, script: &str, done: impl Fn(&str) -> bool) -> String {
    let started = std::time::Instant::now();
    loop {
        let v = browser.js(script).await;
        let text = v.as_str().unwrap_or_default().to_owned();
        if done(&text) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "still {text:?} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// "Requeue all matching" on a search of the Failed jobs requeues every
/// job it matches, past the page the dashboard lists, the bar's text
/// counting them; "Delete all matching" on the whole state fills a bar
/// whose length is the state's count.
#[tokio::test]
async fn bulk_actions_reach_every_job_a_filter_matches() {
    let env = TestEnv::new().await;
    let now = chrono::Utc::now();
    let mut jobs: Vec<hangar::JobRecord> = (0..180)
        .map(|i| hangar_integration_tests::finished(i, State::Failed, now))
        .collect();
    for (i, job) in jobs.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
        job.last_error = Some(format!("gateway timeout <b>{i}</b>"));
    }
    env.client.seed(&jobs).await.unwrap();
    let base = serve(&env).await;
    let browser = Browser::start().await;
    let said = "return document.querySelector('.bulk-progress .said').textContent";

    browser.go(&format!("{base}/jobs/failed?q=TIMEOUT")).await;
    browser.click("button[data-bulk-action=requeue]").await;
    let dialog = browser.alert_text().await.expect("a confirmation");
    assert!(
        dialog.contains("every Failed job this filter matches"),
        "{dialog}"
    );
    browser.cmd("POST", "/alert/accept", Some(json!({}))).await;
    let text = wait_for_text(&browser, said, |t| t.ends_with("done.")).await;
    assert!(text.starts_with("Requeued 60, 0 refused"), "{text}");
    for (i, job) in jobs.iter().enumerate() {
        let want = if i % 3 == 0 {
            State::Enqueued
        } else {
            State::Failed
        };
        assert_eq!(env.job(&job.id).await.state, want, "job {i}");
    }

    browser.go(&format!("{base}/jobs/failed")).await;
    browser.click("button[data-bulk-action=delete]").await;
    browser.cmd("POST", "/alert/accept", Some(json!({}))).await;
    let text = wait_for_text(&browser, said, |t| t.ends_with("done.")).await;
    assert!(text.starts_with("Deleted 120 of 120, 0 refused"), "{text}");
    let bar = browser
        .js("const p = document.querySelector('.bulk-progress progress'); return [p.value, p.max]")
        .await;
    assert_eq!(bar, json!([120, 120]), "the bar is full");
    browser.screenshot("dashboard-bulk.png").await;
    let failed = env.client.list(State::Failed, None, 10).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    browser.quit().await;
}
