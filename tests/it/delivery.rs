//! Sending: retries on 5xx and 429 (honouring Retry-After), no retry on other 4xx.

use std::time::Duration;

use serde_json::json;

use crate::support::{App, Receiver, Reply, WAIT, assert_quiet, rules};

fn ready(id: u32) -> serde_json::Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}})
}

#[tokio::test]
async fn retries_5xx_then_delivers() {
    let slack = Receiver::with_script(vec![Reply(503, None, "busy"), Reply(500, None, "rollup_error")]).await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(1)).await, 202);
    let got = slack.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3, "two failures then a success");
    assert!(got.iter().all(|c| c.json() == json!({"text": "Order 1 is ready to schedule"})));
    assert_quiet(&slack, 3).await;
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let slack = Receiver::with_script(vec![Reply(429, Some("3"), "rate_limited")]).await;
    let other = Receiver::start().await;
    // Retry-After is clamped to the schedule's longest step, so give the schedule room.
    let text =
        rules(&slack.url, &other.url, &other.url).replace("schedule: [1s, 1s, 2s]", "schedule: [1s, 10s]");
    let app = App::start(&text).await;
    assert_eq!(app.post_event(ready(2)).await, 202);
    let got = slack.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2);
    // The schedule's first step is 1 s: waiting at least 3 s shows Retry-After set the wait.
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_secs(3), "retried after {gap:?}, Retry-After said 3 s");
}

#[tokio::test]
async fn retry_after_is_clamped_to_the_longest_scheduled_wait() {
    // The test schedule's longest step is 2 s: a Retry-After of an hour waits 2 s, not an hour.
    let slack = Receiver::with_script(vec![Reply(429, Some("3600"), "rate_limited")]).await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(6)).await, 202);
    let got = slack.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2, "retried within {WAIT:?}, not after the hour Retry-After asked for");
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}: sooner than the clamp (2 s)");
}

#[tokio::test]
async fn other_4xx_is_final() {
    let slack = Receiver::with_script(vec![Reply(400, None, "invalid_payload")]).await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(3)).await, 202);
    assert_eq!(slack.wait_for(1, WAIT).await.len(), 1);
    let dead = wait_for_status(&app, "ops-slack", "dead").await;
    assert_eq!(dead.attempts, 1, "a 400 is final: no retry");
    // A retry would have come 1 s (± jitter) later: stay quiet past the whole schedule.
    assert_quiet(&slack, 1).await;
}

#[tokio::test]
async fn connection_errors_are_retried_until_attempts_run_out() {
    // A socket bound but not listening keeps its port ours (no other test can take it) and refuses
    // every connection: each attempt fails to connect; 4 attempts in all (`max_attempts: 4`).
    let refusing = tokio::net::TcpSocket::new_v4().expect("socket");
    refusing.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let closed = format!("http://{}", refusing.local_addr().expect("addr"));
    let other = Receiver::start().await;
    let app = App::start(&rules(&closed, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(4)).await, 202);
    // The email action of the same rule is unaffected by the broken Slack URL.
    assert_eq!(other.wait_for(1, WAIT).await.len(), 1);

    let dead = wait_for_status(&app, "ops-slack", "dead").await;
    assert_eq!(dead.attempts, 4, "every attempt was made: {dead:?}");
    assert_eq!(dead.history.len(), 4, "every attempt was recorded: {dead:?}");
    for attempt in &dead.history {
        assert_eq!(attempt.status_code, None, "no HTTP answer, a connection error: {attempt:?}");
        assert!(
            attempt.error.as_deref().is_some_and(|e| !e.is_empty()),
            "the error is recorded: {attempt:?}"
        );
    }
    drop(refusing);
}

/// Polls the store until the delivery to `destination` has `status` (at most `WAIT` + the test
/// schedule's 4 s), and returns it with its attempts.
async fn wait_for_status(app: &App, destination: &str, status: &str) -> hookroute::store::DeliveryRow {
    let deadline = std::time::Instant::now() + WAIT + Duration::from_secs(4);
    loop {
        let rows = app.store.list(hookroute::store::Filter::default()).await.expect("list");
        let found = rows.into_iter().find(|d| d.destination == destination);
        if let Some(row) = found.filter(|d| d.status == status) {
            return row;
        }
        assert!(std::time::Instant::now() < deadline, "the {destination} delivery never became {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn rate_limit_spaces_requests_to_one_destination() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let text = rules(&slack.url, &other.url, &other.url).replace(
        &format!("    url: \"{}", slack.url),
        &format!("    rate_limit: 2/s\n    url: \"{}", slack.url),
    );
    let app = App::start(&text).await;
    for i in 0..4 {
        assert_eq!(app.post_event(ready(10 + i)).await, 202);
    }
    let got = slack.wait_for(4, WAIT).await;
    assert_eq!(got.len(), 4);
    // A full bucket lets 2 through at once; the next ones come 0.5 s apart.
    let span = got[3].at - got[0].at;
    assert!(span >= Duration::from_millis(900), "4 requests at 2/s took only {span:?}");
    assert_eq!(other.wait_for(4, WAIT).await.len(), 4, "the email destination is not limited");
}

#[tokio::test]
async fn a_slow_destination_does_not_hold_up_the_others() {
    let slack = Receiver::start().await;
    slack.set_delay(Duration::from_secs(2));
    let other = Receiver::start().await;
    let text = rules(&slack.url, &other.url, &other.url).replace(
        &format!("    url: \"{}", slack.url),
        &format!("    concurrency: 1\n    url: \"{}", slack.url),
    );
    let app = App::start(&text).await;
    for i in 0..5 {
        assert_eq!(app.post_event(ready(20 + i)).await, 202);
    }
    let emails = other.wait_for(5, WAIT).await;
    assert_eq!(emails.len(), 5);
    // Order, not speed: with one Slack send at a time, each answered after 2 s, Slack's second
    // request cannot start before the first is answered; every email must have gone out before it.
    let slack_got = slack.wait_for(2, WAIT).await;
    assert!(slack_got.len() >= 2, "Slack got its second request");
    assert!(emails[4].at < slack_got[1].at, "the emails waited behind the slow Slack destination");
}

/// `X-Hookroute-Delivery: <delivery id>.<series>` on every HTTP-based request: the same on each
/// retry of a series, the next series after a replay.
#[tokio::test]
async fn the_delivery_header_is_stable_across_retries_and_new_per_replay() {
    let crm = Receiver::with_script(vec![Reply(503, None, "busy")]).await;
    let slack = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &slack.url, &crm.url)).await;
    assert_eq!(app.post_event(json!({"type": "inspection.updated", "payload": {"id": 7}})).await, 202);
    let got = crm.wait_for(2, WAIT).await;
    let header = |c: &crate::support::Captured| {
        c.headers.get("x-hookroute-delivery").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    assert_eq!(got.len(), 2, "a failure, then the retry");
    let first = header(&got[0]);
    let (id, series) = first.split_once('.').expect("<id>.<series>");
    assert!(id.parse::<i64>().is_ok() && series == "1", "{first}");
    assert_eq!(header(&got[1]), first, "the retry carries the same id");

    // Awaited, not blocking: the app under test runs on this test's runtime and must be able to
    // finish a transaction while the replay waits for SQLite's write lock.
    let out = tokio::process::Command::new(crate::cli::BIN)
        .args(["replay", "--store", &app.store_url, id, "--force"])
        .output()
        .await
        .expect("replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = crm.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert_eq!(header(&got[2]), format!("{id}.2"), "a replay is a new series");
    // Slack and the email API get it too.
    assert_eq!(app.post_event(ready(8)).await, 202);
    for c in slack.wait_for(2, WAIT).await {
        assert!(header(&c).ends_with(".1"), "{:?}", c.headers);
    }
}
