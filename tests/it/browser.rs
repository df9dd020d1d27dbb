//! The dashboard end to end in a real headless Chromium, driven over the W3C WebDriver protocol
//! (chromedriver) with plain HTTP: load the page, see the event the test sent, open it, replay its
//! dead delivery and watch it turn delivered, then replay it again through the confirmation a
//! delivered delivery asks for. Everything runs under the admin listener's CSP and POST guard.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them), so it is
//! `#[ignore]`d: `cargo test -- --include-ignored` runs it, and then a missing browser fails it.
//! `HOOKROUTE_SCREENSHOT=path.png` saves a screenshot of the event view, and
//! `HOOKROUTE_OVERVIEW_SCREENSHOT=path.png` one of the overview (docs/dashboard.png is made so).
//!
//! The overview case sends known events and reads the counts the SVG charts were drawn from (each
//! chart, bar and segment carries its count as a `data-` attribute), the tiles and the highlighted
//! destination rows.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{App, Receiver, Reply, WAIT, rules};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C WebDriver key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Self {
        for path in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(path).exists(),
                "this test needs {path}: `apt-get install chromium chromium-driver`"
            );
        }
        // chromedriver takes the port from its command line: let it choose (`--port=0`) and read the
        // one it bound from its first line, instead of racing other tests for a port freed by us.
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let port = started_on_port(child.stdout.take().expect("chromedriver stdout"));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut driver = Self { child, base, session: String::new(), http };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900"]}
        }}});
        let created = driver.call("POST", "/session", caps).await;
        driver.session = created["sessionId"].as_str().expect("session id").to_owned();
        driver
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}/session", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let r: Value = req.send().await.expect("webdriver call").json().await.expect("webdriver json");
        r["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url})).await;
    }

    /// The element `css` selects, waiting for it to appear (at most `WAIT`).
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(id) = self.find_now(css).await {
                return id;
            }
            assert!(Instant::now() < deadline, "no element matches `{css}` on the page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element `css` selects right now, without waiting.
    async fn find_now(&self, css: &str) -> Option<String> {
        // A found element is `{ELEMENT_KEY: id}`; "no such element" is `{"error": …, "message": …}`.
        let v = self.call("POST", "/element", json!({"using": "css selector", "value": css})).await;
        v.get(ELEMENT_KEY).and_then(Value::as_str).map(str::to_owned)
    }

    /// An attribute of an element (`""` when absent).
    async fn attr(&self, element: &str, name: &str) -> String {
        let v = self.call("GET", &format!("/element/{element}/attribute/{name}"), Value::Null).await;
        v.as_str().unwrap_or("").to_owned()
    }

    /// Waits until attribute `name` of the element `css` selects is `expected`.
    async fn wait_attr(&self, css: &str, name: &str, expected: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let seen = match self.find_now(css).await {
                Some(el) => self.attr(&el, name).await,
                None => String::new(),
            };
            if seen == expected {
                return;
            }
            assert!(Instant::now() < deadline, "`{css}` has {name}={seen:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), Value::Null)
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    async fn click(&self, element: &str) {
        self.call("POST", &format!("/element/{element}/click"), json!({})).await;
    }

    /// Waits until the element `css` selects shows `expected` (it may be re-rendered meanwhile).
    async fn wait_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let el = self.find(css).await;
            let seen = self.text(&el).await;
            if seen == expected {
                return;
            }
            assert!(Instant::now() < deadline, "`{css}` shows {seen:?}, expected {expected:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Accepts the `confirm()` dialog the page opened, waiting for it (at most `WAIT`).
    async fn accept_alert(&self) {
        let deadline = Instant::now() + WAIT;
        while !self.call("GET", "/alert/text", Value::Null).await.is_string() {
            assert!(Instant::now() < deadline, "no dialog opened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.call("POST", "/alert/accept", json!({})).await;
    }

    async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call("GET", "/screenshot", Value::Null).await;
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or("")).expect("PNG")
    }
}

/// Reads chromedriver's "… started successfully on port N." line; the rest of its output is
/// drained on a thread so it never blocks on a full pipe.
fn started_on_port(stdout: std::process::ChildStdout) -> u16 {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .take(20)
        .find_map(|line| {
            line.split("started successfully on port ").nth(1)?.trim_end_matches('.').trim().parse().ok()
        })
        .expect("chromedriver reports the port it listens on");
    std::thread::spawn(move || lines.for_each(drop));
    port
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver"]
async fn the_dashboard_shows_an_event_and_replays_its_dead_delivery_then_with_force() {
    let slack = Receiver::with_script(vec![Reply(400, None, "invalid_payload")]).await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    let browser = Driver::start().await;

    let event = json!({"type": "order.updated", "payload": {"id": 4242, "status": "to schedule"}});
    let (status, accepted) =
        app.post("house-check", event.to_string().as_bytes(), Some(crate::support::SECRET)).await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().expect("id").to_owned();
    slack.wait_for(1, WAIT).await;

    // The events view lists it (live: the page polls), with a link to its detail.
    browser.goto(&format!("{}/#/events", app.admin)).await;
    let row = browser.find(&format!("#events tr[data-event-id=\"{id}\"]")).await;
    assert!(browser.text(&row).await.contains("order.updated"));
    let link = browser.find(&format!("#events tr[data-event-id=\"{id}\"] a[href=\"#/events/{id}\"]")).await;
    browser.click(&link).await;

    // The detail: the explanation and the dead Slack delivery with its Replay button.
    let detail = browser.find(&format!("#event-detail[data-event-id=\"{id}\"]")).await;
    let dead = app
        .store
        .list(hookroute::store::Filter { event_id: Some(id.clone()), ..Default::default() })
        .await
        .expect("list")
        .into_iter()
        .find(|d| d.destination == "ops-slack")
        .expect("slack delivery");
    let status_css = format!("#event-detail [data-delivery-id=\"{}\"] .status", dead.id);
    browser.wait_text(&status_css, "dead").await;
    assert!(browser.text(&detail).await.contains("order-ready-to-schedule"));

    // The dead-letter view lists it: wait for the very row this test created.
    let dead_row = format!("#dead-letters tr[data-delivery-id=\"{}\"]", dead.id);
    browser.goto(&format!("{}/#/dead", app.admin)).await;
    let row = browser.find(&dead_row).await;
    assert!(browser.text(&row).await.contains("ops-slack"));
    browser.goto(&format!("{}/#/events/{id}", app.admin)).await;
    browser.wait_text(&status_css, "dead").await;
    if let Ok(path) = std::env::var("HOOKROUTE_SCREENSHOT") {
        std::fs::write(&path, browser.screenshot().await).expect("write screenshot");
    }
    let replay =
        browser.find(&format!("#event-detail button.replay[data-delivery-id=\"{}\"]", dead.id)).await;
    browser.click(&replay).await;
    browser.wait_text(&status_css, "delivered").await;
    assert_eq!(slack.got().len(), 2, "the replay sent it again");

    // Replaying it now that it was delivered asks first, then sends `force` (the page's POSTs are
    // same-origin JSON, so the admin listener's cross-site guard lets them through).
    let again = browser.find(&format!("#event-detail button.replay[data-delivery-id=\"{}\"]", dead.id)).await;
    browser.click(&again).await;
    browser.accept_alert().await;
    assert_eq!(slack.wait_for(3, WAIT).await.len(), 3, "the forced replay sent it a third time");

    // The dead-letter view, once its data has loaded (the empty-list row is only drawn from an
    // answer), no longer lists it.
    browser.goto(&format!("{}/#/dead", app.admin)).await;
    browser.find("#dead-letters tbody tr.empty").await;
    assert!(browser.find_now(&dead_row).await.is_none(), "the replayed delivery left the dead letters");
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a real screenshot");
}

/// The overview after known traffic: 3 ready orders (Slack refuses the first: dead; mail
/// delivers all) and 1 inspection (CRM delivers): 4 events, 7 attempts (6 delivered, 1 dead).
#[tokio::test]
#[ignore = "needs chromium and chromium-driver"]
async fn the_overview_charts_count_the_events_and_attempts_sent() {
    let slack = Receiver::with_script(vec![Reply(400, None, "invalid_payload")]).await;
    let mail = Receiver::start().await;
    let crm = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &mail.url, &crm.url)).await;
    for id in 1..=3_u32 {
        let event = json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}});
        assert_eq!(app.post_event(event).await, 202);
        slack.wait_for(id as usize, WAIT).await;
    }
    assert_eq!(app.post_event(json!({"type": "inspection.updated", "payload": {"id": 4}})).await, 202);
    mail.wait_for(3, WAIT).await;
    crm.wait_for(1, WAIT).await;
    let browser = Driver::start().await;

    // `/` is the overview; the page polls, so the charts reach the final counts by themselves.
    browser.goto(&format!("{}/", app.admin)).await;
    browser.find("#overview #chart-events").await;
    browser.wait_attr("#chart-events", "data-total", "4").await;
    browser.wait_attr("#chart-outcomes", "data-total", "7").await;
    browser.wait_attr("#chart-outcomes .seg.out-dead", "data-count", "1").await;
    browser.wait_attr("#chart-events .seg[data-series=\"house-check\"]", "data-count", "4").await;
    let delivered = browser.find("#chart-outcomes .seg.out-delivered").await;
    assert_eq!(browser.attr(&delivered, "data-count").await, "6");
    browser.wait_text("#tile-dead .tile-value", "1").await;
    browser.wait_text("#tile-events .tile-value", "4").await;
    // The destination with a dead letter is highlighted and links to its dead letters.
    let slack_row = browser.find("#overview-destinations tr[data-destination=\"ops-slack\"]").await;
    assert_eq!(browser.attr(&slack_row, "class").await, "has-dead");
    browser.find("#overview-destinations tr[data-destination=\"ops-slack\"] a[href=\"#/dead?destination=ops-slack\"]").await;
    let mail_row = browser.find("#overview-destinations tr[data-destination=\"planning-mail\"]").await;
    assert!(browser.text(&mail_row).await.contains("100.0 %"), "{}", browser.text(&mail_row).await);
    browser.find("#overview-dead li[data-delivery-id]").await;
    if let Ok(path) = std::env::var("HOOKROUTE_OVERVIEW_SCREENSHOT") {
        std::fs::write(&path, browser.screenshot().await).expect("write screenshot");
    }

    // The day window counts the same traffic in quarter-hour bars.
    let day = browser.find("#overview button[data-window=\"day\"]").await;
    browser.click(&day).await;
    browser.wait_attr("#overview .overview-body", "data-window", "day").await;
    browser.wait_attr("#chart-events", "data-total", "4").await;

    // The events list counts what its filter selects, with times in UTC by default.
    browser.goto(&format!("{}/#/events?source=house-check", app.admin)).await;
    browser.wait_text("#events-total", "4 events match the filter").await;
    let first = browser.find("#events tbody tr[data-event-id] .time .abs").await;
    assert!(browser.text(&first).await.ends_with(" UTC"), "{}", browser.text(&first).await);
    let toggle = browser.find("#zone-toggle").await;
    browser.click(&toggle).await;
    let first = browser.find("#events tbody tr[data-event-id] .time .abs").await;
    assert!(browser.text(&first).await.contains(" UTC+") || browser.text(&first).await.contains(" UTC−"));
}

/// An 840 KB event whose filter selected 14 000 files: its page names the first 10 values and
/// counts the rest, and stays a few screens tall (it was 304 000 px).
#[tokio::test]
#[ignore = "needs chromium and chromium-driver"]
async fn a_huge_event_page_shows_the_first_values_seen_and_stays_short() {
    let slack = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &slack.url, &slack.url)).await;
    let files: Vec<Value> = (0..14_000)
        .map(
            |i| json!({"size": 2_000_000, "name": format!("inspection-photo-{i:05}.jpg"), "room": "kitchen"}),
        )
        .collect();
    let body = json!({"type": "files.created", "payload": {"order_id": 9001, "files": files}}).to_string();
    let (status, accepted) = app.post("house-check", body.as_bytes(), Some(crate::support::SECRET)).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().expect("id");
    let browser = Driver::start().await;
    browser.goto(&format!("{}/#/events/{id}", app.admin)).await;
    browser.find("#event-detail .explanation").await;
    let more = browser.find("#event-detail .seen .more").await;
    assert_eq!(browser.text(&more).await, "… and 13 990 more");
    let height = browser
        .call(
            "POST",
            "/execute/sync",
            json!({"script": "return document.documentElement.scrollHeight", "args": []}),
        )
        .await;
    assert!(height.as_f64().is_some_and(|h| h < 10_000.0), "the page is {height} px tall");
}

/// A refused reload says which version kept running and which file was refused.
#[tokio::test]
#[ignore = "needs chromium and chromium-driver"]
async fn a_rejected_reload_reads_kept_version_and_rejected_file() {
    let slack = Receiver::start().await;
    let text = rules(&slack.url, &slack.url, &slack.url);
    let app = App::start(&text).await;
    let version = app.reloader.current().load().version.clone();
    std::fs::write(&app.rules_path, text.replace("type: slack", "type: slak")).expect("write");
    let browser = Driver::start().await;
    browser.goto(&format!("{}/#/rules", app.admin)).await;
    let reload = browser.find("#reload-now").await;
    browser.click(&reload).await;
    let result = browser.find("#reload-result .reload").await;
    let shown = browser.text(&result).await;
    let path = app.rules_path.display().to_string();
    assert!(shown.contains(&format!("kept version {version}; rejected file {path}")), "{shown}");
    assert!(!shown.contains('→'), "{shown}");
}

/// A destination kept down longer than `settings.alerts.failing_after` gives one
/// `hookroute.destination.failing` event, and the dashboard lists it under source `hookroute`.
#[tokio::test]
#[ignore = "needs chromium and chromium-driver"]
async fn a_destination_kept_down_shows_its_failing_event_on_the_dashboard() {
    use crate::alerts::{fast, order, own_rules, types};
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    crm.set_default(Reply(500, None, "down"));
    let text =
        own_rules(&crm.url, &ops.url, "{failing_after: 1s}", "{schedule: [200ms], max_attempts: 1000}", "");
    let app = App::start_own_events(&text, None, fast()).await;
    assert_eq!(app.post_event(order(1)).await, 202);
    let got = ops.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["hookroute.destination.failing"]);

    let browser = Driver::start().await;
    browser.goto(&format!("{}/#/events?source=hookroute", app.admin)).await;
    browser.wait_text("#events-total", "1 event matches the filter").await;
    let row = browser.find("#events tbody tr[data-event-id]").await;
    let shown = browser.text(&row).await;
    assert!(shown.contains("hookroute.destination.failing"), "{shown}");
    assert!(shown.contains("hookroute"), "{shown}");
}

/// The event page lists the event's thread (issue 15): its key, the delivery's part in it and
/// Slack's reference to the first message.
#[tokio::test]
#[ignore = "needs chromium and chromium-driver"]
async fn the_event_page_shows_the_thread_of_its_delivery() {
    use crate::threads::{order, rules};
    let slack = crate::slack_web_api::SlackApi::start(vec![]).await;
    let app = App::start(&rules(&slack.api_url, false)).await;
    let browser = Driver::start().await;
    assert_eq!(app.post_event(order(7, "paid")).await, 202);
    slack.wait_for_messages(1).await;
    let (status, accepted) = app
        .post("house-check", order(7, "shipped").to_string().as_bytes(), Some(crate::support::SECRET))
        .await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().expect("id").to_owned();
    slack.wait_for_messages(2).await;
    browser.goto(&format!("{}/#/events/{id}", app.admin)).await;
    let row_css = "#event-detail .threads tr[data-thread-key=\"order-7\"]";
    browser.wait_text(&format!("{row_css} td:nth-child(4)"), "reply").await;
    let shown = browser.text(&browser.find(row_css).await).await;
    assert!(shown.contains("ops-slack-app") && shown.contains("1700000000.000001"), "{shown}");
}
