//! Entity state through the real server: `becomes`, `changed` and `prev` judged against the last
//! committed event of the same key, on SQLite and PostgreSQL, under concurrency and duplicates.

use serde_json::{Value, json};

use crate::cli::{run, text, write_temp};
use crate::support::{App, Receiver, SECRET, WAIT, assert_quiet, report};
use crate::test_database::TestDatabase;

/// House Check with `key: $.payload.id`; `ready` fires on `becomes`, `status-changed` on `changed`.
pub fn keyed_rules(slack: &str, crm: &str, dedup: bool) -> String {
    let dedup = if dedup { "" } else { "\n    dedup: false" };
    format!(
        r#"
sources:
  house-check:{dedup}
    key: "$.payload.id"
    verify: {{scheme: hmac-sha256, secrets: ["{SECRET}"]}}
destinations:
  ops-slack: {{type: slack, url: "{slack}/services/T0/B0/XXX"}}
  crm: {{type: http, url: "{crm}/crm"}}
rules:
  - name: ready
    events: ["order.updated", "order.update"]
    when: {{path: "$.payload.status", becomes: "to schedule"}}
    actions:
      - to: ops-slack
        text: "Order {{{{ payload.id }}}} is ready to schedule (was {{{{ prev.payload.status if prev else 'new' }}}})"
  - name: status-changed
    events: ["order.*"]
    when: {{path: "$.payload.status", changed: true}}
    actions: [{{to: crm}}]
"#
    )
}

fn order(id: u32, status: &str, note: &str) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": status, "note": note}})
}

fn texts(r: &Receiver) -> Vec<String> {
    r.got().iter().map(|c| c.json()["text"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn lifecycle(store_url: Option<String>) {
    let (slack, crm) = (Receiver::start().await, Receiver::start().await);
    let app = App::start_with_store(&keyed_rules(&slack.url, &crm.url, true), store_url).await;
    let steps = [
        ("new", "a"),
        ("to schedule", "a"),
        ("to schedule", "note changed"),
        ("scheduled", "a"),
        ("to schedule", "b"),
    ];
    for (status, note) in steps {
        assert_eq!(app.post_event(order(1, status, note)).await, 202, "{status}");
    }
    slack.wait_for(2, WAIT).await;
    crm.wait_for(4, WAIT).await;
    assert_quiet(&slack, 2).await;
    assert_quiet(&crm, 4).await;
    // Two deliveries may be sent at once (PostgreSQL workers), so compare them as a set.
    let mut ready = texts(&slack);
    ready.sort();
    assert_eq!(
        ready,
        ["Order 1 is ready to schedule (was new)", "Order 1 is ready to schedule (was scheduled)"],
        "the 2nd and 5th events, each with its previous status"
    );
    let mut changed: Vec<(String, String)> = crm
        .got()
        .iter()
        .map(|c| {
            let p = &c.json()["payload"];
            (
                p["status"].as_str().unwrap_or_default().to_owned(),
                p["note"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    changed.sort();
    let mut expected: Vec<(String, String)> =
        [0, 1, 3, 4].iter().map(|&i| (steps[i].0.into(), steps[i].1.into())).collect();
    expected.sort();
    assert_eq!(changed, expected, "`changed` fires on the 1st, 2nd, 4th and 5th events");
}

#[tokio::test]
async fn an_order_reaching_to_schedule_is_announced_once_per_arrival() {
    lifecycle(None).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn an_order_reaching_to_schedule_is_announced_once_per_arrival_postgres() {
    let db = TestDatabase::create().await;
    lifecycle(Some(db.url().to_owned())).await;
}

/// For each key: "new", then two different "to schedule" updates at once (to `a` and `b`, which
/// may be one app or two instances on one database): exactly one of the two `becomes`.
async fn simultaneous(a: &App, b: &App, slack: &Receiver, keys: u32) {
    for k in 0..keys {
        assert_eq!(a.post_event(order(k, "new", "-")).await, 202);
    }
    let mut posts = tokio::task::JoinSet::new();
    for k in 0..keys {
        for (app, note) in [(a, "from a"), (b, "from b")] {
            let (client, url) = (app.client.clone(), format!("{}/hooks/house-check", app.base));
            let body = order(k, "to schedule", note).to_string();
            posts.spawn(async move {
                let r = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("signature", hookroute::sign_hex(SECRET, body.as_bytes()))
                    .body(body)
                    .send()
                    .await;
                r.map(|r| r.status().as_u16()).unwrap_or(0)
            });
        }
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.ok(), Some(202));
    }
    slack.wait_for(keys as usize, WAIT).await;
    assert_quiet(slack, keys as usize).await;
    let mut ids: Vec<String> = texts(slack);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), keys as usize, "one message per key: {:?}", texts(slack));
    report(format_args!("{keys} keys × 2 simultaneous identical updates: {} `becomes`", slack.got().len()));
}

#[tokio::test]
async fn of_two_simultaneous_identical_updates_exactly_one_becomes() {
    let (slack, crm) = (Receiver::start().await, Receiver::start().await);
    let app = App::start(&keyed_rules(&slack.url, &crm.url, false)).await;
    simultaneous(&app, &app, &slack, 20).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn of_two_simultaneous_updates_on_two_instances_exactly_one_becomes_postgres() {
    let db = TestDatabase::create().await;
    let (slack, crm) = (Receiver::start().await, Receiver::start().await);
    let rules = keyed_rules(&slack.url, &crm.url, false);
    let a = App::start_with_store(&rules, Some(db.url().to_owned())).await;
    let b = App::start_with_store(&rules, Some(db.url().to_owned())).await;
    simultaneous(&a, &b, &slack, 20).await;
}

#[tokio::test]
async fn a_duplicate_does_not_change_the_state() {
    let (slack, crm) = (Receiver::start().await, Receiver::start().await);
    let app = App::start(&keyed_rules(&slack.url, &crm.url, true)).await;
    let first = order(5, "to schedule", "a");
    assert_eq!(app.post_event(first.clone()).await, 202);
    assert_eq!(app.post_event(order(5, "scheduled", "a")).await, 202);
    let (status, reply) = app.post("house-check", first.to_string().as_bytes(), Some(SECRET)).await;
    assert_eq!((status, &reply["duplicate"]), (200, &json!(true)));
    // Were the duplicate the key's last event, this would not `become` "to schedule".
    assert_eq!(app.post_event(order(5, "to schedule", "b")).await, 202);
    slack.wait_for(2, WAIT).await;
    assert_quiet(&slack, 2).await;
    assert_eq!(texts(&slack)[1], "Order 5 is ready to schedule (was scheduled)");
}

#[tokio::test]
async fn an_event_whose_key_selects_nothing_has_no_previous_event() {
    let (slack, crm) = (Receiver::start().await, Receiver::start().await);
    let app = App::start(&keyed_rules(&slack.url, &crm.url, false)).await;
    let keyless = json!({"type": "order.updated", "payload": {"status": "to schedule"}});
    assert_eq!(app.post_event(keyless.clone()).await, 202);
    assert_eq!(app.post_event(keyless).await, 202);
    // Each is judged as a first event: `changed` fires twice (the Slack text needs `payload.id`).
    crm.wait_for(2, WAIT).await;
    assert_quiet(&crm, 2).await;
}

#[test]
fn becomes_on_a_source_without_key_is_a_load_error_with_its_place() {
    let rules = keyed_rules("http://127.0.0.1:9", "http://127.0.0.1:9", false)
        .replace("    key: \"$.payload.id\"\n", "");
    let (_dir, path) = write_temp("rules.yaml", &rules);
    let out = run(&["check", "--rules", &path]);
    let (out_text, err) = text(&out);
    let err = format!("{out_text}{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    for needle in [
        format!("{path}:12:11: rules[0].when: `becomes`, `changed` and `still` compare"),
        format!("{path}:18:11: rules[1].when:"),
        "source `house-check` has no `key`".to_owned(),
    ] {
        assert!(err.contains(&needle), "{needle:?} in:\n{err}");
    }
}

#[test]
fn test_with_prev_judges_becomes_against_the_given_previous_event() {
    let (dir, path) =
        write_temp("rules.yaml", &keyed_rules("http://127.0.0.1:9", "http://127.0.0.1:9", false));
    let write = |name: &str, v: &Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).expect("write");
        p.display().to_string()
    };
    let event = write("event.json", &order(9001, "to schedule", "b"));
    let same = write("same.json", &order(9001, "to schedule", "a"));
    let before = write("before.json", &order(9001, "new", "a"));
    let keyless =
        write("keyless.json", &json!({"type": "order.updated", "payload": {"status": "to schedule"}}));

    let (first, _) = text(&run(&["test", "--rules", &path, &event]));
    assert!(first.contains("key 9001: no previous event"), "{first}");
    assert!(first.contains("MATCH ready"), "{first}");
    assert!(first.contains("(was new)"), "{first}");

    let (again, _) = text(&run(&["test", "--rules", &path, "--prev", &same, &event]));
    assert!(again.contains("no    ready: $.payload.status becomes \"to schedule\": saw \"to schedule\" (previous event: \"to schedule\")"), "{again}");
    assert!(again.contains("no    status-changed"), "{again}");

    let (moved, _) = text(&run(&["test", "--rules", &path, "--prev", &before, &event]));
    assert!(moved.contains("MATCH ready") && moved.contains("(was new)"), "{moved}");

    let (none, _) = text(&run(&["test", "--rules", &path, "--prev", &same, &keyless]));
    assert!(
        none.contains("no previous event: the key path $.payload.id selects no single string or number"),
        "{none}"
    );
    assert!(none.contains("MATCH ready"), "{none}");
}

#[tokio::test]
async fn the_admin_dry_run_takes_an_optional_previous_event() {
    let (slack, crm) = (Receiver::start().await, Receiver::start().await);
    let app = App::start(&keyed_rules(&slack.url, &crm.url, false)).await;
    let dry_run = |body: Value| {
        let req = app.client.post(format!("{}/api/dry-run", app.admin)).json(&body);
        async move {
            let r = req.send().await.expect("POST");
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let event = order(3, "to schedule", "b");
    let (status, first) = dry_run(json!({"event": event})).await;
    assert_eq!((status, &first["rules"][0]["matched"]), (200, &json!(true)), "{first}");
    assert_eq!(first["entity"], json!("key 3: no previous event (the first event of its key)"));
    let (status, again) = dry_run(json!({"event": event, "prev": order(3, "to schedule", "a")})).await;
    assert_eq!((status, &again["rules"][0]["matched"]), (200, &json!(false)), "{again}");
    assert_eq!(again["rules"][0]["condition"]["before"], json!(["to schedule"]));
    let (status, bad) = dry_run(json!({"event": event, "prev": "{not json"})).await;
    assert_eq!(status, 422, "{bad}");
}

/// A form body (`payload=<json>`, GitHub's default content type) is kept as its JSON: the next
/// event of the key sees it as `prev`, exactly as if it had been sent as JSON.
#[tokio::test]
async fn a_form_encoded_event_is_the_previous_event_of_its_key_like_json() {
    let (slack, crm) = (Receiver::start().await, Receiver::start().await);
    let app = App::start(&keyed_rules(&slack.url, &crm.url, true)).await;
    for note in ["first", "second"] {
        let event = order(7, "to schedule", note).to_string();
        let form: String =
            form_urlencoded::Serializer::new(String::new()).append_pair("payload", &event).finish();
        let status = app
            .client
            .post(format!("{}/hooks/house-check", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("signature", hookroute::sign_hex(SECRET, form.as_bytes()))
            .body(form)
            .send()
            .await
            .expect("send")
            .status();
        assert_eq!(status, 202, "{note}");
    }
    slack.wait_for(1, WAIT).await;
    assert_quiet(&slack, 1).await;
    assert_eq!(texts(&slack), ["Order 7 is ready to schedule (was new)"]);
}
