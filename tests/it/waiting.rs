//! `after:` + `still:` through the real server: deliveries wait durably and a later event of the
//! same key that breaks `still` cancels them, also across a `kill -9` and restart of the binary.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{run, serve, signal, text, write_temp};
use crate::support::{App, Receiver, SECRET, WAIT, assert_quiet};
use hookroute::store::{Filter, ReplaySelector, Status};

fn stuck_rules(slack: &str) -> String {
    format!(
        r#"
sources:
  house-check:
    dedup: false
    key: "$.payload.id"
    verify: {{scheme: hmac-sha256, secrets: ["{SECRET}"]}}
destinations:
  ops-slack: {{type: slack, url: "{slack}/services/T0/B0/XXX"}}
rules:
  - name: order-stuck
    events: ["order.updated"]
    when: {{path: "$.payload.status", becomes: "to schedule"}}
    after: 2s
    still: {{path: "$.payload.status", equals: "to schedule"}}
    actions:
      - to: ops-slack
        text: "Order {{{{ payload.id }}}} has waited 2 s to be scheduled"
"#
    )
}

fn order(id: u32, status: &str) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": status}})
}

async fn post(client: &reqwest::Client, base: &str, body: &Value) -> u16 {
    let body = body.to_string();
    let r = client
        .post(format!("{base}/hooks/house-check"))
        .header("content-type", "application/json")
        .header("signature", hookroute::sign_hex(SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("post");
    r.status().as_u16()
}

#[tokio::test]
async fn a_waiting_delivery_is_cancelled_by_a_later_event_that_breaks_still() {
    cancelled_or_delivered(None).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn a_waiting_delivery_is_cancelled_by_a_later_event_that_breaks_still_postgres() {
    let db = crate::test_database::TestDatabase::create().await;
    cancelled_or_delivered(Some(db.url().to_owned())).await;
}

async fn cancelled_or_delivered(store_url: Option<String>) {
    let slack = Receiver::start().await;
    let app = App::start_with_store(&stuck_rules(&slack.url), store_url).await;
    let started = Instant::now();
    assert_eq!(app.post_event(order(10, "to schedule")).await, 202);
    assert_eq!(app.post_event(order(11, "to schedule")).await, 202);
    assert_eq!(app.post_event(order(11, "to schedule")).await, 202, "still holds: the wait goes on");
    assert_eq!(app.post_event(order(10, "scheduled")).await, 202, "breaks `still` for order 10");
    let got = slack.wait_for(1, WAIT).await;
    assert!(got[0].at.duration_since(started) >= Duration::from_secs(2), "sent after the 2 s wait");
    assert_eq!(got[0].json(), json!({"text": "Order 11 has waited 2 s to be scheduled"}));
    assert_quiet(&slack, 1).await;

    let cancelled =
        app.store.list(Filter { status: Some(Status::Cancelled), limit: 10, ..Filter::default() });
    let cancelled = cancelled.await.expect("list");
    assert_eq!(cancelled.len(), 1);
    let reason = cancelled[0].last_error.clone().unwrap_or_default();
    assert!(reason.contains("no longer meets `still` of rule order-stuck"), "{reason}");
    assert_eq!(cancelled[0].attempts, 0, "never sent");

    // A cancelled delivery is replayed like a dead one.
    let replayed =
        app.store.replay(ReplaySelector::Ids(vec![cancelled[0].id]), false, hookroute::clock::now_ms());
    assert_eq!(replayed.await.expect("replay"), 1);
    assert_eq!(
        slack.wait_for(2, WAIT).await[1].json(),
        json!({"text": "Order 10 has waited 2 s to be scheduled"})
    );
}

#[tokio::test]
async fn waiting_and_cancelling_survive_a_kill_9_and_restart() {
    let slack = Receiver::start().await;
    let (dir, rules) = write_temp("rules.yaml", &stuck_rules(&slack.url));
    let store = format!("sqlite://{}", dir.path().join("hookroute.db").display());
    let client = reqwest::Client::new();
    let started = Instant::now();
    let first = serve(&rules, &["--store", &store]);
    assert_eq!(post(&client, &first.base, &order(20, "to schedule")).await, 202);
    assert_eq!(post(&client, &first.base, &order(21, "to schedule")).await, 202);
    signal(&first.child, "-KILL");
    drop(first);

    let second = serve(&rules, &["--store", &store]);
    assert!(started.elapsed() < Duration::from_secs(2), "restarted within the wait");
    assert_eq!(post(&client, &second.base, &order(20, "scheduled")).await, 202);
    let got = slack.wait_for(1, WAIT).await;
    assert!(got[0].at.duration_since(started) >= Duration::from_secs(2));
    assert_eq!(got[0].json(), json!({"text": "Order 21 has waited 2 s to be scheduled"}));
    assert_quiet(&slack, 1).await;

    let out = run(&["deliveries", "--store", &store, "--status", "cancelled", "--json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let listed: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{stdout}");
    assert_eq!(listed[0]["status"], "cancelled");
    drop(second);
}

#[test]
fn still_needs_after_and_a_key() {
    let rules = stuck_rules("http://127.0.0.1:9")
        .replace("    after: 2s\n", "")
        .replace("    key: \"$.payload.id\"\n", "");
    let (_dir, path) = write_temp("rules.yaml", &rules);
    let out = run(&["check", "--rules", &path]);
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("rules[0].still: `still` needs `after`"), "{all}");
    assert!(all.contains("rules[0].when: `becomes`, `changed` and `still` compare"), "{all}");
    let keyless = stuck_rules("http://127.0.0.1:9").replace("    key: \"$.payload.id\"\n", "");
    let (_dir, path) = write_temp("rules.yaml", &keyless);
    let (stdout, _) = text(&run(&["check", "--rules", &path]));
    assert!(stdout.contains("rules[0].still: `becomes`, `changed` and `still` compare"), "{stdout}");
}
