//! Several instances on one PostgreSQL database: shared work, no loss when one is killed, and a
//! database outage answered with 503 and recovered from without loss.

use std::time::{Duration, Instant};

use crate::test_database::TestDatabase;
use serde_json::json;

use crate::cli::{serve, signal, write_temp};
use crate::durable::{delivered_ids, slack_only_rules};
use crate::support::{App, Proxy, Receiver, SECRET, rules};

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn three_instances_share_the_work_and_survive_a_kill_9() {
    const EVENTS: u32 = 3000;
    let db = TestDatabase::create().await;
    // A destination that takes 100 ms, so the killed instance has sends in flight and claims queued.
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(100));
    let rules = slack_only_rules(&receiver.url).replace("type: slack,", "type: slack, concurrency: 32,");
    assert!(rules.contains("concurrency: 32"));
    let (_dir, rules_path) = write_temp("rules.yaml", &rules);
    let store = ["--store", db.url()];
    let mut servers: Vec<_> = (0..3).map(|_| serve(&rules_path, &store)).collect();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();

    let mut acked = crate::support::spread(&bases, 0..EVENTS / 2).await;
    signal(&servers[0].child, "-KILL");
    let _ = servers[0].child.wait();
    let killed_at = Instant::now();
    acked.extend(crate::support::spread(&bases[1..], EVENTS / 2..EVENTS).await);
    assert_eq!(acked.len(), EVENTS as usize, "the live instances acknowledged every event");

    // The killed instance's leases (2 × 2 s timeout + 5 s) expire and the others take its work.
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered_ids(&receiver).len() < acked.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = delivered_ids(&receiver);
    let missing: Vec<_> = acked.iter().filter(|id| !seen.contains_key(id)).collect();
    assert!(missing.is_empty(), "{} acknowledged events never delivered: {missing:?}", missing.len());
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let rate = duplicates as f64 / acked.len() as f64;
    // A duplicate is a send that was in flight at the kill: its first copy reached the receiver
    // shortly before (within the 100 ms answer delay plus the recording of the attempt), never
    // earlier. Fenced claims with renewed leases leave no other kind.
    let first_copies = first_arrivals(&receiver);
    let early: Vec<u64> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .filter(|id| first_copies.get(id).is_some_and(|at| *at + Duration::from_secs(1) < killed_at))
        .collect();
    crate::support::report(format_args!(
        "fleet: {} acknowledged by 3 instances (one killed half-way), {} delivered, {duplicates} duplicate(s) \
         ({:.2} %), all first sent within 1 s before the kill: {}",
        acked.len(),
        seen.len(),
        rate * 100.0,
        early.is_empty()
    ));
    assert!(early.is_empty(), "duplicates of sends that were not in flight at the kill: {early:?}");
    // The fleet's concurrency (32, leases counted across instances) bounds what was in flight.
    assert!(duplicates <= 32, "{duplicates} duplicates out of {}", acked.len());
    drop(servers);
}

/// When each event's message first reached the receiver.
fn first_arrivals(r: &Receiver) -> std::collections::HashMap<u64, Instant> {
    let mut first = std::collections::HashMap::new();
    for c in r.got() {
        let text = c.json()["text"].as_str().unwrap_or_default().to_owned();
        if let Some(n) = text.split_whitespace().nth(1).and_then(|n| n.parse().ok()) {
            first.entry(n).or_insert(c.at);
        }
    }
    first
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn a_database_outage_is_answered_503_and_recovered_from() {
    let db = TestDatabase::create().await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let via_proxy = db.url().replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    assert_ne!(via_proxy, db.url(), "the test database URL goes through the proxy");
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    // A claim whose answer is lost in the cut stays leased until its lease ends (2 × 2 s + 5 s here).
    let text = rules(&slack.url, &other.url, &other.url)
        .replace("    max_attempts: 4\n", "    max_attempts: 4\n    timeout: 2s\n");
    assert!(text.contains("timeout: 2s"));
    let app = App::start_with_store(&text, Some(via_proxy)).await;
    let event = |id: u32| json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}});
    let readyz =
        || async { app.client.get(format!("{}/readyz", app.base)).send().await.expect("readyz").status() };

    assert_eq!(app.post_event(event(1)).await, 202);
    assert_eq!(readyz().await, 200);

    proxy.cut();
    let (status, reply) = app.post("house-check", event(2).to_string().as_bytes(), Some(SECRET)).await;
    assert_eq!(status, 503, "{reply}");
    assert_eq!(readyz().await, 503);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut acked = vec![1];
    let mut id = 3;
    loop {
        if app.post_event(event(id)).await == 202 {
            acked.push(id);
            break;
        }
        assert!(Instant::now() < deadline, "did not recover after the database came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
        id += 1;
    }
    assert_eq!(readyz().await, 200);
    let got = slack.wait_for(acked.len(), Duration::from_secs(30)).await;
    let texts: Vec<String> =
        got.iter().map(|c| c.json()["text"].as_str().unwrap_or_default().to_owned()).collect();
    for id in acked {
        assert!(texts.contains(&format!("Order {id} is ready to schedule")), "event {id} lost: {texts:?}");
    }
}
