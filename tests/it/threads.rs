//! One conversation per entity (`thread:`) through the real app and a local stand-in for Slack's
//! Web API on 127.0.0.1 that checks each call (method, path, bearer token, JSON) and answers
//! `{"ok":true,"channel":"C1","ts":…}` like Slack: the first message of a key opens a thread, the
//! later ones reply with its `ts`; a restart keeps threads; `update_parent` calls `chat.update`;
//! racing first messages open one thread; a reply waits for a failing parent. SQLite and
//! PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::slack_web_api::{Call, SlackApi, TOKEN};
use crate::support::{App, SECRET, WAIT};
use crate::test_database::TestDatabase;

pub fn rules(api_url: &str, update_parent: bool) -> String {
    format!(
        r##"
settings:
  delivery:
    schedule: [1s]
    max_attempts: 5
sources:
  house-check:
    dedup: false
    verify: {{scheme: hmac-sha256, header: signature, secrets: ["{SECRET}"]}}
destinations:
  ops-slack-app:
    type: slack
    token: "{TOKEN}"
    channel: "#ops"
    api_url: "{api_url}"
rules:
  - name: order-updates
    events: ["order.*"]
    actions:
      - to: ops-slack-app
        thread: "order-{{{{ payload.id }}}}"
        text: "Order {{{{ payload.id }}}}: {{{{ payload.status }}}}"
        update_parent: {update_parent}
"##
    )
}

pub fn order(id: u32, status: &str) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": status}})
}

/// The messages (`chat.postMessage` answered with a `ts`) in arrival order.
fn messages(calls: &[Call]) -> Vec<&Call> {
    calls.iter().filter(|c| c.method == "chat.postMessage" && c.ts.is_some()).collect()
}

fn text(c: &Call) -> &str {
    c.body["text"].as_str().unwrap_or_default()
}

/// Per order id in the text: the parent (no `thread_ts`) and the replies, each checked to carry
/// the parent's `ts` and channel, and to come after it.
fn threads_by_order(calls: &[Call]) -> HashMap<String, (String, Vec<String>)> {
    let mut out: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for m in messages(calls) {
        let order = text(m).split(':').next().unwrap_or_default().to_owned();
        match m.body.get("thread_ts").and_then(Value::as_str) {
            None => {
                assert!(!out.contains_key(&order), "a second parent for {order}: {calls:#?}");
                assert_eq!(m.body["channel"], "#ops", "a first message goes to the configured channel");
                out.insert(order, (m.ts.clone().expect("ts"), Vec::new()));
            }
            Some(parent) => {
                let entry =
                    out.get_mut(&order).unwrap_or_else(|| panic!("a reply before its parent: {calls:#?}"));
                assert_eq!(parent, entry.0, "a reply carries its parent's ts");
                assert_eq!(m.body["channel"], "C1", "a reply goes to the parent's channel");
                entry.1.push(text(m).to_owned());
            }
        }
    }
    out
}

/// Three events of one order, sent together: one parent and two replies; another order: another
/// thread. The replies race their parent (all three are claimed at once), so this is also "two
/// first messages racing open one thread" and "a reply waits for its parent".
async fn one_thread_per_order(store_url: Option<String>) {
    let slack = SlackApi::start(vec![]).await;
    let app = App::start_with_store(&rules(&slack.api_url, false), store_url).await;
    for status in ["paid", "packed", "shipped"] {
        assert_eq!(app.post_event(order(7, status)).await, 202);
    }
    assert_eq!(app.post_event(order(8, "paid")).await, 202);
    let calls = slack.wait_for_messages(4).await;
    slack.assert_well_formed();
    assert_eq!(messages(&calls).len(), 4, "{calls:#?}");
    let threads = threads_by_order(&calls);
    assert_eq!(threads.len(), 2, "one thread per order: {threads:?}");
    assert_eq!(threads["Order 7"].1.len(), 2, "two replies in order 7's thread: {threads:?}");
    assert!(threads["Order 8"].1.is_empty(), "{threads:?}");
    assert_ne!(threads["Order 7"].0, threads["Order 8"].0);
    // The dashboard's event page shows each event's thread (a reply's part is recorded just after
    // Slack answered it: look again until it is, within WAIT).
    let expected: Vec<(String, String, bool)> =
        [("order-7", "opener"), ("order-7", "reply"), ("order-7", "reply"), ("order-8", "opener")]
            .iter()
            .map(|(k, r)| ((*k).to_owned(), (*r).to_owned(), true))
            .collect();
    let deadline = Instant::now() + WAIT;
    loop {
        let roles = thread_roles(&app, &slack).await;
        if roles == expected || Instant::now() > deadline {
            assert_eq!(roles, expected);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (thread key, role, whether the thread has Slack's reference to its first message, in channel C1)
/// of every threaded delivery, from the admin API's event pages, sorted; each page checked to mask
/// the token and to show the Web API call.
async fn thread_roles(app: &App, slack: &SlackApi) -> Vec<(String, String, bool)> {
    let events = app.store.events(hookroute::store::EventFilter { limit: 10, ..Default::default() }).await;
    let events = events.expect("events");
    let mut roles = Vec::new();
    for e in &events {
        let detail: Value = app
            .client
            .get(format!("{}/api/events/{}", app.admin, e.id))
            .send()
            .await
            .expect("event page")
            .json()
            .await
            .expect("json");
        assert!(!detail.to_string().contains(TOKEN), "the token is masked on the event page: {detail}");
        let shown = &detail["explanation"]["actions"][0];
        assert_eq!(shown["url"], format!("{}/chat.postMessage", slack.api_url), "{detail}");
        assert_eq!(shown["headers"], json!([["authorization", "Bearer [destinations.ops-slack-app.token]"]]));
        for t in detail["threads"].as_array().expect("threads listed") {
            assert_eq!(t["destination"], "ops-slack-app");
            roles.push((
                t["thread_key"].as_str().unwrap_or_default().to_owned(),
                t["role"].as_str().unwrap_or_default().to_owned(),
                t["reference"].as_str().is_some_and(|r| r.contains("\"C1\"")),
            ));
        }
    }
    roles.sort();
    roles
}

#[tokio::test]
async fn three_events_of_one_order_are_one_parent_and_two_replies() {
    one_thread_per_order(None).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn three_events_of_one_order_are_one_parent_and_two_replies_on_postgres() {
    let db = TestDatabase::create().await;
    one_thread_per_order(Some(db.url().to_owned())).await;
}

#[tokio::test]
async fn a_restart_between_the_messages_keeps_the_thread() {
    let slack = SlackApi::start(vec![]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store_url = format!("sqlite://{}", dir.path().join("hookroute.db").display());
    let first = App::start_with_store(&rules(&slack.api_url, false), Some(store_url.clone())).await;
    assert_eq!(first.post_event(order(7, "paid")).await, 202);
    slack.wait_for_messages(1).await;
    first.stop_worker();
    let second = App::start_with_store(&rules(&slack.api_url, false), Some(store_url)).await;
    assert_eq!(second.post_event(order(7, "shipped")).await, 202);
    let calls = slack.wait_for_messages(2).await;
    slack.assert_well_formed();
    let threads = threads_by_order(&calls);
    assert_eq!(threads["Order 7"].1, ["Order 7: shipped"], "the reply went into the thread: {calls:#?}");
}

#[tokio::test]
async fn update_parent_re_renders_the_first_message() {
    let slack = SlackApi::start(vec![]).await;
    let app = App::start_with_store(&rules(&slack.api_url, true), None).await;
    assert_eq!(app.post_event(order(7, "paid")).await, 202);
    slack.wait_for_messages(1).await;
    assert_eq!(app.post_event(order(7, "shipped")).await, 202);
    let calls = slack.wait_for_messages(3).await;
    slack.assert_well_formed();
    let parent_ts = messages(&calls)[0].ts.clone().expect("ts");
    let update = calls
        .iter()
        .find(|c| c.method == "chat.update")
        .unwrap_or_else(|| panic!("no chat.update: {calls:#?}"));
    assert_eq!(update.body, json!({"channel": "C1", "ts": parent_ts, "text": "Order 7: shipped"}));
    assert_eq!(threads_by_order(&calls)["Order 7"].1, ["Order 7: shipped"]);
}

#[tokio::test]
async fn a_reply_waits_for_a_failing_parent() {
    // The first message is refused twice (rate limited, then a 500), so it is retried for ~2 s
    // while its reply is due.
    let slack = SlackApi::start(vec![
        (200, r#"{"ok":false,"error":"ratelimited"}"#),
        (500, r#"{"ok":false,"error":"internal_error"}"#),
    ])
    .await;
    let app = App::start_with_store(&rules(&slack.api_url, false), None).await;
    assert_eq!(app.post_event(order(7, "paid")).await, 202);
    let deadline = Instant::now() + WAIT;
    while slack.calls().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.post_event(order(7, "shipped")).await, 202);
    let calls = slack.wait_for_messages(2).await;
    slack.assert_well_formed();
    let refused: Vec<_> = calls.iter().filter(|c| c.ts.is_none()).collect();
    assert_eq!(refused.len(), 2, "{calls:#?}");
    assert!(
        refused.iter().all(|c| c.body.get("thread_ts").is_none() && text(c) == "Order 7: paid"),
        "only the parent was tried while it failed: {calls:#?}"
    );
    let threads = threads_by_order(&calls);
    assert_eq!(threads["Order 7"].1, ["Order 7: shipped"], "{calls:#?}");
}

#[tokio::test]
async fn a_reply_waits_for_a_slow_parent() {
    // The first message is answered only after 1.5 s; the second event arrives meanwhile.
    let slack = SlackApi::start_with(vec![], Some(Duration::from_millis(1500))).await;
    let app = App::start_with_store(&rules(&slack.api_url, false), None).await;
    assert_eq!(app.post_event(order(7, "paid")).await, 202);
    slack.wait_for_received(1).await;
    assert_eq!(app.post_event(order(7, "shipped")).await, 202);
    let calls = slack.wait_for_messages(2).await;
    slack.assert_well_formed();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    // In answer order: the parent first, then the reply with its ts (checked by threads_by_order).
    assert_eq!(threads_by_order(&calls)["Order 7"].1, ["Order 7: shipped"], "{calls:#?}");
}

#[tokio::test]
async fn when_the_first_message_goes_dead_the_next_one_opens_the_thread() {
    let slack = SlackApi::start(vec![(200, r#"{"ok":false,"error":"channel_not_found"}"#)]).await;
    let app = App::start_with_store(&rules(&slack.api_url, false), None).await;
    assert_eq!(app.post_event(order(7, "paid")).await, 202);
    let deadline = Instant::now() + WAIT;
    while app.store.counts().await.expect("counts").dead == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.store.counts().await.expect("counts").dead, 1, "channel_not_found is dead at once");
    for status in ["packed", "shipped"] {
        assert_eq!(app.post_event(order(7, status)).await, 202);
        slack.wait_for_messages(usize::from(status == "shipped") + 1).await;
    }
    let calls = slack.calls();
    slack.assert_well_formed();
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert_eq!(threads_by_order(&calls)["Order 7"].1, ["Order 7: shipped"], "{calls:#?}");
    assert_eq!(text(messages(&calls)[0]), "Order 7: packed", "the next message opened the thread");
}

/// Two instances on one PostgreSQL database each receive first messages of the same orders at
/// the same time: each order still gets one thread.
#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn racing_first_messages_on_a_postgres_fleet_open_one_thread() {
    let db = TestDatabase::create().await;
    let slack = SlackApi::start(vec![]).await;
    let a = Arc::new(App::start_with_store(&rules(&slack.api_url, false), Some(db.url().to_owned())).await);
    let b = Arc::new(App::start_with_store(&rules(&slack.api_url, false), Some(db.url().to_owned())).await);
    let mut posts = tokio::task::JoinSet::new();
    for id in 1..=6u32 {
        for (app, status) in [(Arc::clone(&a), "paid"), (Arc::clone(&b), "packed")] {
            posts.spawn(async move { app.post_event(order(id, status)).await });
        }
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.expect("posted"), 202);
    }
    let calls = slack.wait_for_messages(12).await;
    slack.assert_well_formed();
    let threads = threads_by_order(&calls);
    assert_eq!(threads.len(), 6, "{calls:#?}");
    assert!(threads.values().all(|(_, replies)| replies.len() == 1), "{threads:?}");
}
