//! The admin listener: metrics, the JSON API (lists, detail with explanation, replay, reload,
//! dry run), the token, and the JSON log format of the real binary.

use crate::support::eventually;

use serde_json::{Value, json};

use crate::support::{App, Receiver, Reply, SECRET, WAIT, rules};

fn ready(id: u32) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}})
}

async fn get(app: &App, path: &str) -> (u16, Value) {
    let r = app.client.get(format!("{}{path}", app.admin)).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(app: &App, path: &str, body: Value) -> (u16, Value) {
    let r = app.client.post(format!("{}{path}", app.admin)).json(&body).send().await.expect("POST");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn metrics(app: &App) -> String {
    let r = app.client.get(format!("{}/metrics", app.admin)).send().await.expect("GET /metrics");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().expect("ct").starts_with("text/plain; version=0.0.4"));
    r.text().await.expect("text")
}

/// The value of the sample whose line starts with `prefix` (labels included).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_matches_deliveries_and_reloads() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let text = rules(&slack.url, &other.url, &other.url);
    let app = App::start(&text).await;
    assert_eq!(app.post_event(ready(1)).await, 202);
    assert_eq!(app.post_event(ready(2)).await, 202);
    let (bad, _) = app.post("house-check", br#"{"type":"order.updated"}"#, Some("wrong-secret")).await;
    assert_eq!(bad, 401);
    assert_eq!(app.post("nope", b"{}", Some(SECRET)).await.0, 404);
    slack.wait_for(2, WAIT).await;
    other.wait_for(2, WAIT).await;

    let m = eventually("4 deliveries counted and the queue empty", || async {
        let m = metrics(&app).await;
        let delivered =
            sample(&m, r#"hookroute_deliveries_total{destination="ops-slack",outcome="delivered"}"#);
        let depth = sample(&m, "hookroute_delivery_queue_depth ");
        (delivered == Some(2.0) && depth == Some(0.0)).then_some(m)
    })
    .await;
    let accepted = r#"hookroute_events_received_total{source="house-check",type="order.updated",outcome="accepted",reason=""}"#;
    assert_eq!(sample(&m, accepted), Some(2.0), "{m}");
    let refused = r#"hookroute_events_received_total{source="house-check",type="",outcome="rejected",reason="signature"}"#;
    assert_eq!(sample(&m, refused), Some(1.0), "{m}");
    let unknown =
        r#"hookroute_events_received_total{source="",type="",outcome="rejected",reason="unknown_source"}"#;
    assert_eq!(sample(&m, unknown), Some(1.0), "{m}");
    assert_eq!(sample(&m, r#"hookroute_rule_matches_total{rule="order-ready-to-schedule"}"#), Some(2.0));
    assert_eq!(
        sample(&m, r#"hookroute_delivery_attempt_duration_seconds_count{destination="planning-mail"}"#),
        Some(2.0)
    );
    assert_eq!(sample(&m, r#"hookroute_deliveries_stored{status="delivered"}"#), Some(4.0));
    let version = app.reloader.current().load().version.clone();
    assert_eq!(sample(&m, &format!("hookroute_rules_info{{version=\"{version}\"}}")), Some(1.0));
    assert_eq!(sample(&m, "hookroute_config_last_reload_successful "), Some(1.0));
    assert!(sample(&m, "process_resident_memory_bytes ").is_some_and(|b| b > 1e6), "{m}");

    // A broken rules file: counted as rejected, the flag drops to 0, the old version keeps running.
    std::fs::write(&app.rules_path, text.replace("type: slack", "type: slak")).expect("write");
    let m = eventually("the rejected reload counted", || async {
        let m = metrics(&app).await;
        (sample(&m, r#"hookroute_config_reloads_total{outcome="rejected"}"#) == Some(1.0)).then_some(m)
    })
    .await;
    assert_eq!(sample(&m, "hookroute_config_last_reload_successful "), Some(0.0), "{m}");
    assert_eq!(sample(&m, &format!("hookroute_rules_info{{version=\"{version}\"}}")), Some(1.0));
    assert!(sample(&m, "hookroute_config_reload_duration_seconds ").is_some(), "{m}");
}

#[tokio::test]
async fn events_are_listed_filtered_paged_and_explained() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(1)).await, 202);
    assert_eq!(
        app.post_event(json!({"type": "order.updated", "payload": {"id": 2, "status": "new"}})).await,
        202
    );
    assert_eq!(app.post_event(json!({"type": "inspection.updated", "payload": {"id": 3}})).await, 202);

    let (status, all) = get(&app, "/api/events").await;
    assert_eq!(status, 200);
    let types: Vec<&str> = all["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(types, ["inspection.updated", "order.updated", "order.updated"], "newest first");
    assert_eq!(all["next"], Value::Null);

    let (_, orders) = get(&app, "/api/events?type=order.updated").await;
    assert_eq!(orders["events"].as_array().map(Vec::len), Some(2));
    let (_, by_rule) = get(&app, "/api/events?rule=order-ready-to-schedule").await;
    let by_rule = by_rule["events"].as_array().expect("events").clone();
    assert_eq!(by_rule.len(), 1);
    assert_eq!(by_rule[0]["matched_rules"], json!(["order-ready-to-schedule"]));
    let (_, none) = get(&app, "/api/events?source=other").await;
    assert_eq!(none["events"], json!([]));

    let (_, first) = get(&app, "/api/events?limit=2").await;
    assert_eq!(first["events"].as_array().map(Vec::len), Some(2));
    let next = first["next"].as_str().expect("a next page").to_owned();
    let (_, second) = get(&app, &format!("/api/events?limit=2&before={next}")).await;
    assert_eq!(second["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["events"][0]["payload"], Value::Null);

    // Detail: the body, the explanation under the current rules, and every delivery's attempts.
    let id = by_rule[0]["id"].as_str().expect("id").to_owned();
    slack.wait_for(1, WAIT).await;
    let detail = eventually("both deliveries delivered", || async {
        let (_, d) = get(&app, &format!("/api/events/{id}")).await;
        let done = d["deliveries"]
            .as_array()
            .is_some_and(|ds| ds.len() == 2 && ds.iter().all(|x| x["status"] == "delivered"));
        done.then_some(d)
    })
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(detail["event"]["body"].as_str().expect("body")).expect("json"),
        ready(1)
    );
    let rules = detail["explanation"]["rules"].as_array().expect("explanation");
    assert_eq!(rules[0]["rule"], "order-ready-to-schedule");
    assert_eq!(rules[0]["matched"], true);
    assert_eq!(rules[1]["matched"], false);
    assert!(rules[1]["reason"].as_str().is_some_and(|r| r.contains("not in its events")), "{rules:?}");
    let actions = detail["explanation"]["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 2);
    assert!(!actions[1].to_string().contains("SG.test-key"), "secrets masked: {}", actions[1]);
    let history = detail["deliveries"][0]["history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["status_code"], 200);

    assert_eq!(get(&app, "/api/events/no-such-event").await.0, 404);
    assert_eq!(get(&app, "/api/no-such-endpoint").await.0, 404);
}

#[tokio::test]
async fn a_dead_delivery_is_replayed_from_the_api_and_destinations_show_health() {
    let slack = Receiver::with_script(vec![Reply(400, None, "invalid_payload")]).await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(5)).await, 202);
    let dead = eventually("a dead delivery", || async {
        let (_, d) = get(&app, "/api/deliveries?status=dead").await;
        d["deliveries"].as_array().filter(|ds| ds.len() == 1).map(|ds| ds[0].clone())
    })
    .await;
    assert_eq!(dead["destination"], "ops-slack");
    assert!(dead["last_error"].as_str().is_some_and(|e| e.contains("400")), "{dead}");
    let (_, by_destination) = get(&app, "/api/deliveries?destination=planning-mail").await;
    assert_eq!(by_destination["deliveries"].as_array().map(Vec::len), Some(1));

    let id = dead["id"].as_i64().expect("id");
    assert_eq!(
        post(&app, &format!("/api/deliveries/{id}/replay"), json!({})).await,
        (200, json!({"replayed": 1}))
    );
    let delivered = eventually("the replayed delivery delivered", || async {
        let (_, d) = get(&app, &format!("/api/events/{}", dead["event_id"].as_str().unwrap_or(""))).await;
        d["deliveries"].as_array()?.iter().find(|x| x["id"] == id && x["status"] == "delivered").cloned()
    })
    .await;
    assert_eq!(delivered["series"], 2);
    assert_eq!(delivered["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(slack.got().len(), 2);

    let (_, health) = get(&app, "/api/destinations").await;
    let slack_health = health["destinations"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["name"] == "ops-slack")
        .cloned()
        .expect("ops-slack");
    assert_eq!(slack_health["attempts"], 2);
    assert_eq!(slack_health["delivered"], 1);
    assert_eq!(slack_health["success_rate"], 0.5);
    assert_eq!(slack_health["kind"], "slack");
    assert!(slack_health["last_error"].as_str().is_some_and(|e| e.contains("400")), "{slack_health}");
    assert_eq!(slack_health["dead"], 0);

    assert_eq!(post(&app, "/api/deliveries/999999/replay", json!({})).await.0, 404);
    assert_eq!(post(&app, "/api/replay", json!({"status": "dead"})).await, (200, json!({"replayed": 0})));
    assert_eq!(get(&app, "/api/deliveries?status=sideways").await.0, 400);
}

#[tokio::test]
async fn reload_and_dry_run_report_diagnostics() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let text = rules(&slack.url, &other.url, &other.url);
    let app = App::start(&text).await;

    let (status, report) = post(&app, "/api/dry-run", json!({"event": ready(9)})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rules"][0]["matched"], true);
    assert_eq!(report["actions"][0]["body"], r#"{"text":"Order 9 is ready to schedule"}"#);
    // A draft rules file, posted: the same explanation, against the draft.
    let draft = text.replace("equals: \"to schedule\"", "equals: \"scheduled\"");
    let (_, report) = post(&app, "/api/dry-run", json!({"event": ready(9), "rules": draft})).await;
    assert_eq!(report["rules"][0]["matched"], false, "{report}");
    let (status, broken) =
        post(&app, "/api/dry-run", json!({"event": ready(9), "rules": "rules: [{name: x}]\nbogus: 1\n"}))
            .await;
    assert_eq!(status, 422);
    let diagnostics = broken["diagnostics"].as_array().expect("diagnostics");
    assert!(
        diagnostics.iter().any(|d| d.as_str().is_some_and(|d| d.starts_with("(posted rules):2:1: "))),
        "{broken}"
    );
    let (status, bad_event) = post(&app, "/api/dry-run", json!({"event": "{not json"})).await;
    assert_eq!(status, 422);
    assert!(bad_event["error"].as_str().is_some_and(|e| e.contains("not valid JSON")), "{bad_event}");

    // An explicit reload of a broken file: rejected with file:line:col diagnostics, old rules kept.
    let version = app.reloader.current().load().version.clone();
    std::fs::write(&app.rules_path, text.replace("type: slack", "type: slak")).expect("write");
    let (status, reload) = post(&app, "/api/reload", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(reload["outcome"], "rejected", "{reload}");
    assert_eq!(reload["version"], version.as_str());
    assert!(
        reload["diagnostics"][0]
            .as_str()
            .is_some_and(|d| d.contains("rules.yaml:15:11: destinations.ops-slack.type")),
        "{reload}"
    );
    let (_, overview) = get(&app, "/api/overview").await;
    assert_eq!(overview["rules"]["version"], version.as_str());
    assert_eq!(overview["rules"]["last_reload"]["outcome"], "rejected");
    assert_eq!(overview["rules"]["rule_count"], 3);
    assert_eq!(overview["queue"]["depth"], 0);

    std::fs::write(&app.rules_path, text.replace("is ready", "can be scheduled")).expect("write");
    let (_, reload) = post(&app, "/api/reload", json!({})).await;
    assert_eq!(reload["outcome"], "applied", "{reload}");
    assert_ne!(reload["version"], version.as_str());
}

#[tokio::test]
async fn the_api_needs_the_token_from_the_rules_and_probes_do_not() {
    let slack = Receiver::start().await;
    let text = rules(&slack.url, &slack.url, &slack.url)
        .replace("settings:\n", "settings:\n  admin_token: \"tok-3d1e\"\n");
    let app = App::start(&text).await;
    let (status, body) = get(&app, "/api/events").await;
    assert_eq!(status, 401);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("bearer token")));
    let with = |token: &str| app.client.get(format!("{}/api/events", app.admin)).bearer_auth(token).send();
    assert_eq!(with("tok-3d1e").await.expect("GET").status(), 200);
    assert_eq!(with("tok-3d1").await.expect("GET").status(), 401);
    for open in ["/", "/assets/app.js", "/assets/app.css", "/metrics", "/healthz", "/readyz"] {
        let r = app.client.get(format!("{}{open}", app.admin)).send().await.expect("GET");
        assert_eq!(r.status(), 200, "{open} is open");
    }
    let page = app.client.get(&app.admin).send().await.expect("GET /").text().await.expect("text");
    assert!(page.contains("/assets/app.js"), "the dashboard page links its script");
}

#[tokio::test]
async fn the_real_binary_logs_json_with_event_ids_and_serves_admin() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let (_dir, path) = crate::cli::write_temp("rules.yaml", &rules(&slack.url, &other.url, &other.url));
    let server = crate::cli::serve(&path, &["--log-format", "json"]);
    let client = reqwest::Client::new();
    let body = ready(31).to_string();
    let r = client
        .post(format!("{}/hooks/house-check", server.base))
        .header("content-type", "application/json")
        .header("signature", hookroute::sign_hex(SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    slack.wait_for(1, WAIT).await;
    let m = client
        .get(format!("{}/metrics", server.admin))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(m.contains(r#"outcome="accepted",reason=""} 1"#), "{m}");
    let lines = eventually("the delivered log line", || async {
        let lines = server.logs.lock().expect("logs").clone();
        lines.iter().any(|l| l.contains("\"delivered\"")).then_some(lines)
    })
    .await;
    let about_event: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .filter(|v| v["event_id"] == id.as_str())
        .collect();
    let messages: Vec<&str> = about_event.iter().filter_map(|v| v["message"].as_str()).collect();
    assert!(messages.contains(&"event accepted") && messages.contains(&"delivered"), "{messages:?}");
    let delivered = about_event.iter().find(|v| v["message"] == "delivered").expect("delivered line");
    assert_eq!(delivered["rule"], "order-ready-to-schedule");
    assert!(delivered["destination"].is_string());
    assert!(
        !lines.iter().any(|l| l.contains(SECRET) || l.contains("to schedule")),
        "no secrets or payloads in logs"
    );
}
