//! hookroute's own events (issue 16), end to end: the real app with real receivers, a destination
//! kept failing, deliveries going dead, a broken rules file, a stuck queue; each reported once to
//! an ops receiver through an ordinary rule with `source: hookroute`.

use std::time::Duration;

use hookroute::alerts::OwnEventOptions;
use hookroute::store::EventFilter;
use serde_json::{Value, json};

use crate::support::{App, Captured, Receiver, Reply, SECRET, WAIT, assert_quiet};

mod config;
mod fleet;

/// A rules file: `house-check` → `crm`, and every own event forwarded (raw body) to `ops`.
/// `settings` and `crm_extra` are spliced in (YAML, indented for their place).
pub(super) fn own_rules(crm: &str, ops: &str, alerts: &str, delivery: &str, crm_extra: &str) -> String {
    format!(
        r#"
settings:
  delivery: {delivery}
  alerts: {alerts}
sources:
  house-check:
    dedup: false
    verify: {{scheme: hmac-sha256, header: signature, secrets: ["{SECRET}"]}}
destinations:
  crm: {{type: http, url: "{crm}/crm"{crm_extra}}}
  ops: {{type: http, url: "{ops}/ops", retry: {{max_attempts: 1}}}}
rules:
  - name: to-crm
    source: house-check
    events: ["order.*"]
    actions:
      - to: crm
  - name: tell-ops-about-hookroute
    source: hookroute
    events: ["hookroute.*"]
    actions:
      - to: ops
"#
    )
}

pub(super) fn fast() -> OwnEventOptions {
    OwnEventOptions { tick: Duration::from_millis(100), ..OwnEventOptions::default() }
}

pub(super) fn order(id: u32) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}})
}

/// The own events the ops receiver got, as (type, payload).
pub(super) fn own(got: &[Captured]) -> Vec<(String, Value)> {
    got.iter()
        .map(|c| {
            let body = c.json();
            (body["type"].as_str().unwrap_or_default().to_owned(), body["payload"].clone())
        })
        .collect()
}

pub(super) fn types(got: &[Captured]) -> Vec<String> {
    own(got).into_iter().map(|(t, _)| t).collect()
}

/// Stored events of the built-in source.
pub(super) async fn stored_own(app: &App) -> Vec<String> {
    let filter = EventFilter { source: Some("hookroute".into()), limit: 100, ..EventFilter::default() };
    app.store.events(filter).await.expect("events").into_iter().map(|e| e.event_type).collect()
}

pub(super) async fn metrics(app: &App) -> String {
    app.client
        .get(format!("{}/metrics", app.admin))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn a_destination_down_longer_than_failing_after_is_failing_once_then_recovered_once() {
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    crm.set_default(Reply(500, None, "down"));
    let rules =
        own_rules(&crm.url, &ops.url, "{failing_after: 2s}", "{schedule: [300ms], max_attempts: 1000}", "");
    let app = App::start_own_events(&rules, None, fast()).await;
    assert_eq!(app.post_event(order(1)).await, 202);
    let got = ops.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["hookroute.destination.failing"]);
    let failed_before = crm.got().len();
    assert!(failed_before >= 3, "2 s of attempts every 300 ms failed first: {failed_before}");
    let (_, payload) = &own(&got)[0];
    assert_eq!(payload["destination"], "crm");
    assert!(payload["failed_attempts"].as_u64().is_some_and(|n| n >= 3), "{payload}");
    assert_eq!(payload["last_error"], "HTTP 500: down");
    assert!(payload["since"].as_str().is_some_and(|s| s.ends_with('Z')), "{payload}");
    // Attempts keep failing: still one event, not one per attempt.
    assert_quiet(&ops, 1).await;
    assert!(crm.got().len() > failed_before, "attempts went on meanwhile");

    crm.set_default(Reply(200, None, "ok"));
    let got = ops.wait_for(2, WAIT).await;
    assert_eq!(types(&got), ["hookroute.destination.failing", "hookroute.destination.recovered"]);
    let (_, recovered) = &own(&got)[1];
    assert_eq!(recovered["destination"], "crm");
    assert!(recovered["down_for_seconds"].as_f64().is_some_and(|s| s >= 2.0), "{recovered}");
    assert!(recovered["attempts_failed_meanwhile"].as_u64().is_some_and(|n| n > 3), "{recovered}");
    assert_eq!(app.post_event(order(2)).await, 202);
    crm.wait_for(crm.got().len() + 1, WAIT).await;
    assert_quiet(&ops, 2).await;
    // Stored and shown like any other event, under source `hookroute`.
    let mut stored = stored_own(&app).await;
    stored.sort();
    assert_eq!(stored, ["hookroute.destination.failing", "hookroute.destination.recovered"]);
    let m = metrics(&app).await;
    assert!(m.contains("hookroute_own_events_total{type=\"hookroute.destination.failing\"} 1"), "{m}");
}

#[tokio::test]
async fn a_dead_delivery_is_one_delivery_dead_through_the_issue_example_rule() {
    let (crm, mail) = (Receiver::start().await, Receiver::start().await);
    crm.set_default(Reply(500, None, "nope"));
    let rules = format!(
        r#"
settings:
  delivery: {{schedule: [100ms], max_attempts: 2}}
sources:
  house-check:
    dedup: false
    verify: {{scheme: hmac-sha256, header: signature, secrets: ["{SECRET}"]}}
destinations:
  crm: {{type: http, url: "{crm}/crm"}}
  ops-email:
    type: email
    provider: sendgrid
    url: "{mail}/v3/mail/send"
    headers: {{Authorization: "Bearer SG.test-key"}}
    from: "hookroute@example.com"
rules:
  - name: to-crm
    source: house-check
    events: ["order.*"]
    actions: [{{to: crm}}]
  - name: tell-ops-about-hookroute
    source: hookroute
    events: ["hookroute.*"]
    actions:
      - to: ops-email
        recipients: ["ops@example.com"]
        subject: "hookroute: {{{{ type }}}}"
        text: "{{{{ payload | tojson }}}}"
"#,
        crm = crm.url,
        mail = mail.url
    );
    let app = App::start_own_events(&rules, None, fast()).await;
    let (status, answer) = app.post("house-check", order(7).to_string().as_bytes(), Some(SECRET)).await;
    assert_eq!(status, 202);
    let got = mail.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let email = got[0].json();
    assert_eq!(email["subject"], "hookroute: hookroute.delivery.dead");
    let payload: Value =
        serde_json::from_str(email["content"][0]["value"].as_str().expect("text")).expect("payload is JSON");
    let event_id = answer["id"].as_str().expect("id");
    assert_eq!(payload["event_id"], event_id);
    assert_eq!(payload["rule"], "to-crm");
    assert_eq!(payload["destination"], "crm");
    assert_eq!(payload["attempts"], 2);
    assert_eq!(payload["last_error"], "gave up after 2 attempts; last: HTTP 500: nope");
    assert_eq!(payload["count"], 1);
    assert_eq!(payload["link"], format!("/#/events/{event_id}"));
    let dead = app
        .store
        .list(hookroute::store::Filter { event_id: Some(event_id.into()), limit: 10, ..Default::default() })
        .await
        .expect("list");
    assert_eq!(payload["delivery_id"], dead[0].id);
    // Shown like any other event: the dashboard's API lists it and explains it under the rules.
    let listed: Value = app
        .client
        .get(format!("{}/api/events?source=hookroute", app.admin))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let own_id = listed["events"][0]["id"].as_str().expect("an own event listed").to_owned();
    let detail: Value = app
        .client
        .get(format!("{}/api/events/{own_id}", app.admin))
        .send()
        .await
        .expect("detail")
        .json()
        .await
        .expect("json");
    assert_eq!(detail["event"]["source"], "hookroute");
    assert_eq!(detail["event"]["event_type"], "hookroute.delivery.dead");
    assert_eq!(detail["explanation_error"], Value::Null, "{detail}");
    assert_eq!(detail["explanation"]["actions"][0]["rule"], "tell-ops-about-hookroute", "{detail}");
    crate::support::eventually("the own event's delivery recorded as delivered", || async {
        let d: Value = app
            .client
            .get(format!("{}/api/events/{own_id}", app.admin))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (d["deliveries"][0]["status"] == "delivered").then_some(())
    })
    .await;
    // No secret of the rules (the SendGrid key) in what was stored or sent.
    assert!(!got[0].body.windows(7).any(|w| w == b"SG.test"), "the key stays in the header");
    assert_quiet(&mail, 1).await;
}

#[tokio::test]
async fn a_dead_delivery_of_an_own_event_emits_no_new_event() {
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    crm.set_default(Reply(500, None, "crm down"));
    ops.set_default(Reply(500, None, "ops down too"));
    let rules =
        own_rules(&crm.url, &ops.url, "{failing_after: 1h}", "{schedule: [100ms], max_attempts: 1}", "");
    let app = App::start_own_events(&rules, None, fast()).await;
    assert_eq!(app.post_event(order(1)).await, 202);
    // crm's delivery dies → one delivery.dead → its delivery to ops dies → nothing more.
    let got = ops.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["hookroute.delivery.dead"]);
    crate::support::eventually("the own event's delivery to be dead", || async {
        let m = metrics(&app).await;
        m.contains("hookroute_own_events_suppressed_total{reason=\"own_delivery\"} 1").then_some(())
    })
    .await;
    assert_quiet(&ops, 1).await;
    assert_eq!(stored_own(&app).await, ["hookroute.delivery.dead"]);
}

#[tokio::test]
async fn a_burst_of_dead_deliveries_is_summarised_per_destination_and_window() {
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    crm.set_default(Reply(500, None, "down"));
    let rules = own_rules(&crm.url, &ops.url, "{failing_after: 1h}", "{max_attempts: 1}", "");
    let window = OwnEventOptions { summary_window: Duration::from_secs(2), ..fast() };
    let app = App::start_own_events(&rules, None, window).await;
    for i in 0..5 {
        assert_eq!(app.post_event(order(i)).await, 202);
    }
    // Five deaths within a moment: reported in at most three windows, all counted.
    let mut counted = 0;
    let mut reports = Vec::new();
    crate::support::eventually("every death counted", || {
        reports = own(&ops.got());
        counted = reports.iter().map(|(_, p)| p["count"].as_u64().unwrap_or(0)).sum::<u64>();
        std::future::ready((counted == 5).then_some(()))
    })
    .await;
    assert!(reports.iter().all(|(t, p)| t == "hookroute.delivery.dead" && p["destination"] == "crm"));
    assert!(reports.len() <= 3, "at most one report per window: {reports:?}");
    assert!(
        reports.iter().any(|(_, p)| p["count"].as_u64() > Some(1)),
        "a summary says how many: {reports:?}"
    );
    let n = reports.len();
    assert_quiet(&ops, n).await;
}

#[tokio::test]
async fn a_rejected_reload_is_one_reload_rejected() {
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    let rules = own_rules(&crm.url, &ops.url, "{}", "{}", "");
    let app = App::start_own_events(&rules, None, fast()).await;
    let kept = app.reloader.current().load().version.clone();
    let broken = rules.replace("      - to: crm\n", "      - to: crn\n");
    assert_ne!(broken, rules);
    std::fs::write(&app.rules_path, &broken).expect("write");
    let got = ops.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["hookroute.reload.rejected"]);
    let (_, payload) = &own(&got)[0];
    assert_eq!(payload["version_kept"], kept.as_str());
    let diagnostics: Vec<&str> =
        payload["diagnostics"].as_array().expect("list").iter().filter_map(Value::as_str).collect();
    let path = app.rules_path.display().to_string();
    assert!(
        diagnostics
            .iter()
            .any(|d| d.starts_with(&format!("{path}:")) && d.contains("unknown destination `crn`")),
        "{diagnostics:?}"
    );
    // The same broken file looked at again (poll, SIGHUP-like forced reload): still one event.
    app.reloader.reload("test", true).await;
    assert_quiet(&ops, 1).await;
    assert_eq!(app.reloader.current().load().version, kept, "the old rules keep running");
}

#[tokio::test]
async fn a_queue_whose_oldest_due_delivery_waits_past_queue_age_is_stale_once() {
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    let rules = own_rules(&crm.url, &ops.url, "{queue_age: 1s}", "{}", ", rate_limit: 1/m");
    let app = App::start_own_events(&rules, None, fast()).await;
    for i in 0..3 {
        assert_eq!(app.post_event(order(i)).await, 202);
    }
    // One a minute: the first goes, the others wait past their due time.
    let got = ops.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["hookroute.queue.stale"]);
    let (_, payload) = &own(&got)[0];
    assert_eq!(payload["destination"], "crm");
    assert!(payload["age_seconds"].as_f64().is_some_and(|a| a >= 1.0), "{payload}");
    assert!(payload["depth"].as_i64().is_some_and(|d| d >= 2), "{payload}");
    assert_quiet(&ops, 1).await;
    let sent: Vec<(String, String)> =
        crm.got().iter().map(|c| (c.path.clone(), String::from_utf8_lossy(&c.body).into_owned())).collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
}

#[tokio::test]
async fn the_hookroute_source_takes_no_requests() {
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    let app = App::start_own_events(&own_rules(&crm.url, &ops.url, "{}", "{}", ""), None, fast()).await;
    let body = json!({"type": "hookroute.delivery.dead", "payload": {}}).to_string();
    let (status, answer) = app.post("hookroute", body.as_bytes(), Some(SECRET)).await;
    assert_eq!(status, 403);
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("built-in source")), "{answer}");
    assert!(stored_own(&app).await.is_empty());
}

#[tokio::test]
async fn a_secret_a_destination_echoes_back_never_reaches_an_own_event() {
    const TOKEN: &str = "crm-token-5b1e9c77";
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    // A careless API that quotes the credential it refuses.
    crm.set_default(Reply(401, None, "invalid token crm-token-5b1e9c77"));
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("crm-token");
    std::fs::write(&token_file, TOKEN).expect("write token");
    let header = format!(", headers: {{Authorization: \"Bearer ${{file:{}}}\"}}", token_file.display());
    let rules = own_rules(&crm.url, &ops.url, "{}", "{max_attempts: 1}", &header);
    let app = App::start_own_events(&rules, None, fast()).await;
    assert_eq!(app.post_event(order(1)).await, 202);
    let got = ops.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["hookroute.delivery.dead"]);
    assert_eq!(crm.got()[0].headers["authorization"], format!("Bearer {TOKEN}"), "the real token was sent");
    let (_, payload) = &own(&got)[0];
    let error = payload["last_error"].as_str().expect("last_error");
    assert!(error.starts_with("HTTP 401: invalid token "), "{error}");
    assert!(!error.contains(TOKEN), "{error}");
    let body = String::from_utf8_lossy(&got[0].body).into_owned();
    assert!(!body.contains(TOKEN), "{body}");
    let stored = app.store.events(EventFilter {
        source: Some("hookroute".into()),
        limit: 10,
        ..EventFilter::default()
    });
    let stored = stored.await.expect("events");
    let event = app.store.event(&stored[0].id).await.expect("event").expect("stored");
    assert!(!String::from_utf8_lossy(&event.body).contains(TOKEN));
}

#[tokio::test]
async fn a_delivery_stored_dead_because_its_template_failed_is_reported_too() {
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    let rules = own_rules(&crm.url, &ops.url, "{}", "{}", "").replace(
        "      - to: crm\n",
        "      - to: crm\n        body: {note: \"{{ payload.missing.deeper }}\"}\n",
    );
    assert!(rules.contains("payload.missing.deeper"));
    let app = App::start_own_events(&rules, None, fast()).await;
    let (status, answer) = app.post("house-check", order(3).to_string().as_bytes(), Some(SECRET)).await;
    assert_eq!(status, 202);
    let got = ops.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["hookroute.delivery.dead"]);
    let (_, payload) = &own(&got)[0];
    let event_id = answer["id"].as_str().expect("id");
    assert_eq!(payload["event_id"], event_id);
    assert_eq!(payload["attempts"], 0, "never attempted");
    assert!(payload["last_error"].as_str().is_some_and(|e| e.starts_with("template failed")), "{payload}");
    let filter =
        hookroute::store::Filter { event_id: Some(event_id.into()), limit: 10, ..Default::default() };
    let dead = app.store.list(filter).await.expect("list");
    assert_eq!(payload["delivery_id"], dead[0].id);
    assert!(crm.got().is_empty());
    assert_quiet(&ops, 1).await;
}
