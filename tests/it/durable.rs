//! Durability: dedup, dead letters and replay, re-rendering after a fix, and the real binary killed
//! with SIGKILL or stopped with SIGTERM while a destination is down.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hookroute::store::{Filter, Status};
use serde_json::json;

use crate::cli::{self, serve, signal, text, write_temp};
use crate::support::{App, Receiver, Reply, SECRET, WAIT, assert_quiet, rules};

fn ready(id: u32) -> serde_json::Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}})
}

async fn wait_status(app: &App, status: Status, n: usize) -> Vec<hookroute::store::DeliveryRow> {
    let deadline = Instant::now() + WAIT;
    loop {
        let rows = app.store.list(Filter { status: Some(status), ..Filter::default() }).await.expect("list");
        if rows.len() >= n || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_same_signed_body_twice_makes_one_set_of_deliveries() {
    let (slack, other) = (Receiver::start().await, Receiver::start().await);
    // The shared test rules turn dedup off; this source uses the default (body hash, 24 h).
    let text = rules(&slack.url, &other.url, &other.url).replace("    dedup: false\n", "");
    let app = App::start(&text).await;
    let body = ready(42).to_string();
    let (first, a) = app.post("house-check", body.as_bytes(), Some(SECRET)).await;
    let (second, b) = app.post("house-check", body.as_bytes(), Some(SECRET)).await;
    assert_eq!((first, second), (202, 200));
    assert_eq!(a["id"], b["id"], "the duplicate is answered with the original id");
    assert_eq!(b["duplicate"], json!(true));
    // A different body is a new event.
    assert_eq!(app.post_event(ready(43)).await, 202);
    assert_eq!(slack.wait_for(2, WAIT).await.len(), 2);
    assert_quiet(&slack, 2).await;
    assert_eq!(other.got().len(), 2, "one email per distinct event");
}

#[tokio::test]
async fn dedup_by_header_and_by_path() {
    let (slack, other) = (Receiver::start().await, Receiver::start().await);
    let by_path = rules(&slack.url, &other.url, &other.url)
        .replace("    dedup: false\n", "    dedup: {path: \"$.payload.id\", window: 1h}\n");
    let app = App::start(&by_path).await;
    assert_eq!(app.post_event(ready(1)).await, 202);
    let changed = json!({"type": "order.updated", "payload": {"id": 1, "status": "to schedule", "x": 1}});
    assert_eq!(app.post_event(changed).await, 200, "same payload.id");
    assert_eq!(app.post_event(ready(2)).await, 202);

    let by_header = rules(&slack.url, &other.url, &other.url)
        .replace("    dedup: false\n", "    dedup: {header: X-Delivery}\n");
    let app = App::start(&by_header).await;
    let post = |id: &'static str, n: u32| {
        let body = ready(n).to_string();
        app.client
            .post(format!("{}/hooks/house-check", app.base))
            .header("signature", hookroute::sign_hex(SECRET, body.as_bytes()))
            .header("x-delivery", id)
            .body(body)
            .send()
    };
    assert_eq!(post("d-1", 10).await.expect("send").status(), 202);
    assert_eq!(post("d-1", 11).await.expect("send").status(), 200);
    assert_eq!(post("d-2", 10).await.expect("send").status(), 202);
}

#[tokio::test]
async fn a_400_is_dead_at_once_and_replay_delivers_it() {
    let slack = Receiver::with_script(vec![Reply(400, None, "invalid_payload")]).await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(5)).await, 202);
    let dead = wait_status(&app, Status::Dead, 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].destination, "ops-slack");
    assert_eq!(dead[0].attempts, 1, "a 400 is not retried");
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 400: invalid_payload"));
    assert_eq!(dead[0].history[0].response_excerpt.as_deref(), Some("invalid_payload"));

    // `hookroute deliveries` shows it; `hookroute replay --status dead` sends it again.
    let url = app.store_url.clone();
    let listing = tokio::task::spawn_blocking(move || {
        cli::run(&["deliveries", "--store", &url, "--status", "dead", "--json"])
    })
    .await
    .expect("run");
    let rows: serde_json::Value = serde_json::from_slice(&listing.stdout).expect("json");
    assert_eq!(rows[0]["id"], json!(dead[0].id));
    assert_eq!(rows[0]["history"][0]["status_code"], json!(400));
    let url = app.store_url.clone();
    let out = tokio::task::spawn_blocking(move || cli::run(&["replay", "--store", &url, "--status", "dead"]))
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).0.starts_with("1 delivery queued"));
    let delivered = slack.wait_for(2, WAIT).await;
    assert_eq!(delivered.len(), 2);
    assert_eq!(delivered[1].json(), json!({"text": "Order 5 is ready to schedule"}));
    let rows = wait_status(&app, Status::Delivered, 2).await;
    let replayed = rows.iter().find(|r| r.id == dead[0].id).expect("replayed row");
    assert_eq!((replayed.series, replayed.history.len()), (2, 2), "history is kept across series");

    // `prune --dead` with a zero age deletes the finished event (delivered now); nothing is left.
    let url = app.store_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        cli::run(&["prune", "--store", &url, "--older-than", "0s", "--dead"])
    })
    .await
    .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).0.starts_with("1 event(s) deleted"), "{:?}", text(&out));
    let url = app.store_url.clone();
    let out =
        tokio::task::spawn_blocking(move || cli::run(&["prune", "--store", &url, "--older-than", "a while"]))
            .await
            .expect("run");
    assert_eq!(out.status.code(), Some(1), "a bad age is an error");

    // Replaying ids that do not exist is an error.
    let url = app.store_url.clone();
    let out = tokio::task::spawn_blocking(move || cli::run(&["replay", "--store", &url, "999999"]))
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn a_failed_template_is_stored_dead_and_replay_renders_the_fixed_rules() {
    let (slack, other) = (Receiver::start().await, Receiver::start().await);
    let text = rules(&slack.url, &other.url, &other.url);
    let app = App::start(&text).await;
    // No payload.id: both actions of the rule fail to render.
    assert_eq!(
        app.post_event(json!({"type": "order.updated", "payload": {"status": "to schedule"}})).await,
        202
    );
    let dead = wait_status(&app, Status::Dead, 2).await;
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|d| d.last_error.as_deref().is_some_and(|e| e.starts_with("template failed"))));

    let old = app.reloader.current().load().version.clone();
    let fixed =
        text.replace("Order {{ payload.id }} is ready to schedule\"", "An order is ready to schedule\"");
    std::fs::write(&app.rules_path, fixed).expect("write");
    while app.reloader.current().load().version == old {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let slack_delivery = dead.iter().find(|d| d.destination == "ops-slack").expect("slack");
    app.store
        .replay(
            hookroute::store::ReplaySelector::Ids(vec![slack_delivery.id]),
            false,
            hookroute::clock::now_ms(),
        )
        .await
        .expect("replay");
    assert_eq!(slack.wait_for(1, WAIT).await[0].json(), json!({"text": "An order is ready to schedule"}));
}

/// Slack stand-in texts are "Order N …": the set of N delivered, with how often each arrived.
pub fn delivered_ids(r: &Receiver) -> HashMap<u64, usize> {
    let mut seen = HashMap::new();
    for c in r.got().into_iter().filter(|c| c.headers.get("content-type").is_some()) {
        let text = c.json()["text"].as_str().unwrap_or_default().to_owned();
        if let Some(n) = text.split_whitespace().nth(1).and_then(|n| n.parse().ok()) {
            *seen.entry(n).or_default() += 1;
        }
    }
    seen
}

/// Sends `count` events to a real server; returns the ids it acknowledged.
pub async fn send_events(base: &str, count: u32) -> Vec<u64> {
    crate::support::spread(&[base.to_owned()], 0..count).await
}

pub fn slack_only_rules(slack: &str) -> String {
    format!(
        r#"
settings:
  delivery:
    schedule: [1s]
    timeout: 2s
sources:
  house-check:
    verify: {{scheme: hmac-sha256, secrets: ["{SECRET}"]}}
destinations:
  ops-slack: {{type: slack, url: "{slack}/services/T/B/X"}}
rules:
  - name: ready
    events: ["order.updated"]
    actions:
      - to: ops-slack
        text: "Order {{{{ payload.id }}}} is ready"
"#
    )
}

async fn outage_then_restart(stop_signal: &str) -> (usize, usize, usize) {
    const EVENTS: u32 = 300;
    let down = Receiver::start().await;
    down.set_default(Reply(503, None, "down"));
    let (dir, rules_path) = write_temp("rules.yaml", &slack_only_rules(&down.url));
    let server = serve(&rules_path, &[]);
    let acked = send_events(&server.base, EVENTS).await;
    assert_eq!(acked.len(), EVENTS as usize, "every event was acknowledged");
    // Let the outage bite: attempts are made and fail.
    down.wait_for(50, WAIT).await;
    signal(&server.child, stop_signal);
    let mut server = server;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if stop_signal == "-TERM" {
        assert_eq!(status.code(), Some(0), "a graceful stop exits 0");
    }

    // Restart on the same store with the destination back (at a new address: URLs are read from the
    // running rules when sending, never stored).
    let up = Receiver::start().await;
    std::fs::write(&rules_path, slack_only_rules(&up.url)).expect("write");
    let _server = serve(&rules_path, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered_ids(&up).len() < acked.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = delivered_ids(&up);
    let missing: Vec<_> = acked.iter().filter(|id| !seen.contains_key(id)).collect();
    assert!(missing.is_empty(), "acknowledged but never delivered: {missing:?}");
    let duplicates = seen.values().map(|n| n - 1).sum::<usize>();
    drop(dir);
    (acked.len(), seen.len(), duplicates)
}

#[tokio::test]
async fn kill_9_during_an_outage_loses_nothing() {
    let (acked, delivered, duplicates) = outage_then_restart("-KILL").await;
    crate::support::report(format_args!(
        "kill -9: {acked} acknowledged, {delivered} delivered after restart, {duplicates} duplicate(s)"
    ));
    assert_eq!(delivered, acked, "every acknowledged event was delivered");
    // The sends the kill cut short went to the failing destination, so none had succeeded unrecorded:
    // the destination that answers after the restart must see each event exactly once.
    assert_eq!(duplicates, 0, "{duplicates} of {acked} events were delivered twice after the restart");
}

#[tokio::test]
async fn sigterm_during_an_outage_loses_nothing() {
    let (acked, delivered, duplicates) = outage_then_restart("-TERM").await;
    crate::support::report(format_args!(
        "SIGTERM: {acked} acknowledged, {delivered} delivered after restart, {duplicates} duplicate(s)"
    ));
    assert_eq!(delivered, acked, "every acknowledged event was delivered");
    assert_eq!(duplicates, 0, "a graceful stop records every attempt it made");
}

#[tokio::test]
async fn sends_in_flight_finish_during_a_graceful_stop() {
    // The destination answers after 1.5 s; SIGTERM arrives while the send is in flight.
    let slow = Receiver::start().await;
    let app_rules = slack_only_rules(&slow.url);
    let (_dir, rules_path) = write_temp("rules.yaml", &app_rules);
    slow.set_delay(Duration::from_millis(1500));
    let mut server = serve(&rules_path, &[]);
    assert_eq!(send_events(&server.base, 1).await.len(), 1);
    slow.wait_for(1, WAIT).await;
    signal(&server.child, "-TERM");
    let status = tokio::task::spawn_blocking(move || server.child.wait().expect("wait")).await.expect("join");
    assert_eq!(status.code(), Some(0));
    let db =
        format!("sqlite://{}", std::path::Path::new(&rules_path).with_file_name("hookroute.db").display());
    let out = cli::run(&["deliveries", "--store", &db, "--status", "delivered", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "the in-flight send finished and was recorded");
}

#[tokio::test]
async fn no_secret_reaches_the_database() {
    let (slack, other) = (Receiver::start().await, Receiver::start().await);
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(7)).await, 202);
    slack.wait_for(1, WAIT).await;
    wait_status(&app, Status::Delivered, 2).await;
    let db = app.store_url.trim_start_matches("sqlite://").to_owned();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        if let Ok(b) = std::fs::read(format!("{db}{suffix}")) {
            bytes.extend(b);
        }
    }
    assert!(bytes.windows(13).any(|w| w == b"order.updated"), "the event is in the files read");
    for secret in ["SG.test-key", "/services/T0/B0/XXX", SECRET, "old-secret-1234"] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} is stored");
    }
}
