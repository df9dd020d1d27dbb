//! The dashboard end to end in a real headless Chromium, driven over the W3C WebDriver protocol
//! (chromedriver) with plain HTTP: load the page, see the event the test sent, open it, replay its
//! dead delivery and watch it turn delivered, then replay it again through the confirmation a
//! delivered delivery asks for. Everything runs under the admin listener's CSP and POST guard.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Without them the test
//! says so and passes, unless `HOOKROUTE_REQUIRE_BROWSER=1` (set by CI), where it fails.
//! `HOOKROUTE_SCREENSHOT=path.png` saves a screenshot of the event view.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{App, Receiver, Reply, WAIT, rules};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

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
    async fn start() -> Option<Self> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            let required = std::env::var("HOOKROUTE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(!required, "HOOKROUTE_REQUIRE_BROWSER=1 but {CHROMEDRIVER} or {CHROMIUM} is missing");
            eprintln!("SKIPPED: the browser test needs `apt-get install chromium chromium-driver`");
            return None;
        }
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
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
        Some(driver)
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
            let v = self.call("POST", "/element", json!({"using": "css selector", "value": css})).await;
            if let Some(id) = v.as_object().and_then(|o| o.values().next()).and_then(Value::as_str) {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element matches `{css}` on the page");
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

#[tokio::test]
async fn the_dashboard_shows_an_event_and_replays_its_dead_delivery_then_with_force() {
    let slack = Receiver::with_script(vec![Reply(400, None, "invalid_payload")]).await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    let Some(browser) = Driver::start().await else { return };

    let event = json!({"type": "order.updated", "payload": {"id": 4242, "status": "to schedule"}});
    let (status, accepted) =
        app.post("house-check", event.to_string().as_bytes(), Some(crate::support::SECRET)).await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().expect("id").to_owned();
    slack.wait_for(1, WAIT).await;

    // The events view lists it (live: the page polls), with a link to its detail.
    browser.goto(&format!("{}/", app.admin)).await;
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
    slack.wait_for(3, WAIT).await;

    // The dead-letter view is empty now.
    browser.goto(&format!("{}/#/dead", app.admin)).await;
    let dead_view = browser.find("#dead-letters").await;
    assert!(!browser.text(&dead_view).await.contains("invalid_payload"));
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a real screenshot");
}
