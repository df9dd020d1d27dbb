//! The dashboard at a glance, through the real admin API: `/api/activity` counts the events and
//! attempts the test caused, the event list's total and time range, the cut explanation of a
//! huge event, and bad query parameters answered with the documented JSON error.

use serde_json::{Value, json};

use crate::support::{App, Receiver, Reply, SECRET, WAIT, eventually, rules};

fn ready(id: u32) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}})
}

async fn get(app: &App, path: &str) -> (u16, Value) {
    let r = app.client.get(format!("{}{path}", app.admin)).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn destination<'a>(activity: &'a Value, name: &str) -> &'a Value {
    activity["destinations"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["name"] == name))
        .unwrap_or_else(|| panic!("no destination {name} in {activity}"))
}

/// 3 ready orders (Slack + mail each) and 1 inspection (CRM): Slack refuses the first (dead), the
/// CRM answers 500 (retries, so it is failing), the rest is delivered.
#[tokio::test]
async fn activity_counts_the_events_and_attempts_sent() {
    let slack = Receiver::with_script(vec![Reply(400, None, "invalid_payload")]).await;
    let mail = Receiver::start().await;
    let crm = Receiver::start().await;
    crm.set_default(Reply(500, None, "down"));
    let app = App::start(&rules(&slack.url, &mail.url, &crm.url)).await;
    for id in 1..=3 {
        assert_eq!(app.post_event(ready(id)).await, 202);
        // One at a time, so the refused one is the first.
        slack.wait_for(usize::try_from(id).unwrap_or(0), WAIT).await;
    }
    assert_eq!(app.post_event(json!({"type": "inspection.updated", "payload": {"id": 4}})).await, 202);

    // Read while the CRM is between its first retries (1 s apart; it dies at the 4th attempt).
    let activity = eventually("5 delivered, 1 dead and a CRM retry", || async {
        let (status, a) = get(&app, "/api/activity").await;
        assert_eq!(status, 200, "{a}");
        let t = &a["attempts"]["totals"];
        let retries = t["retry"].as_i64().unwrap_or(0);
        (t["delivered"] == 5 && t["dead"] == 1 && (1..=2).contains(&retries)).then_some(a)
    })
    .await;
    assert_eq!(activity["window"], "hour");
    assert_eq!((activity["buckets"].as_u64(), activity["bucket_seconds"].as_u64()), (Some(60), Some(60)));
    assert_eq!(activity["events"]["totals"], json!({"house-check": 4}));
    let series = activity["events"]["by_source"]["house-check"].as_array().expect("series");
    assert_eq!(series.len(), 60);
    assert_eq!(series.iter().filter_map(Value::as_i64).sum::<i64>(), 4);
    assert_eq!(activity["attempts"]["by_outcome"]["delivered"].as_array().map(Vec::len), Some(60));

    let s = destination(&activity, "ops-slack");
    assert_eq!(
        (s["attempts"].as_i64(), s["delivered"].as_i64(), s["dead"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(s["failing"], false, "it delivered after the refusal: {s}");
    assert!(s["p50_latency_ms"].is_i64() && s["p95_latency_ms"].is_i64(), "{s}");
    let m = destination(&activity, "planning-mail");
    assert_eq!((m["attempts"].as_i64(), m["success_rate"].as_f64()), (Some(3), Some(1.0)));
    let c = destination(&activity, "crm");
    assert_eq!((c["delivered"].as_i64(), c["failing"].as_bool()), (Some(0), Some(true)));
    assert_eq!(activity["failing"], json!(["crm"]));

    assert_eq!(activity["dead"]["total"], 1);
    let recent = activity["dead"]["recent"].as_array().expect("recent dead");
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0]["destination"], "ops-slack");
    assert!(
        activity["queue"]["depth"].as_i64().is_some_and(|d| d >= 1),
        "the CRM delivery waits: {activity}"
    );

    let (status, day) = get(&app, "/api/activity?window=day").await;
    assert_eq!(status, 200);
    assert_eq!((day["buckets"].as_u64(), day["bucket_seconds"].as_u64()), (Some(96), Some(900)));
    assert_eq!(day["events"]["totals"], json!({"house-check": 4}));
}

#[tokio::test]
async fn the_event_list_has_a_total_and_a_time_range() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    for id in 1..=3 {
        assert_eq!(app.post_event(ready(id)).await, 202);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (_, page) = get(&app, "/api/events?limit=1").await;
    assert_eq!((page["events"].as_array().map(Vec::len), page["total"].as_i64()), (Some(1), Some(3)));
    let (_, all) = get(&app, "/api/events").await;
    let times: Vec<i64> =
        all["events"].as_array().expect("events").iter().filter_map(|e| e["received_at"].as_i64()).collect();
    assert_eq!(times.len(), 3);
    let (newest, oldest) = (times[0], times[2]);
    assert!(newest > oldest, "{times:?}");
    let (_, since) = get(&app, &format!("/api/events?since={newest}")).await;
    assert_eq!((since["events"].as_array().map(Vec::len), since["total"].as_i64()), (Some(1), Some(1)));
    let (_, until) = get(&app, &format!("/api/events?until={newest}")).await;
    assert_eq!(until["total"], 2);
    let (_, none) = get(&app, "/api/events?source=other").await;
    assert_eq!(none["total"], 0);
}

/// An 840 KB event whose filter selects 14 000 files: the explanation names the first 10.
#[tokio::test]
async fn a_huge_match_explanation_is_cut() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    let files: Vec<Value> = (0..14_000)
        .map(
            |i| json!({"size": 2_000_000, "name": format!("inspection-photo-{i:05}.jpg"), "room": "kitchen"}),
        )
        .collect();
    let body = json!({"type": "files.created", "payload": {"order_id": 9001, "files": files}}).to_string();
    assert!((800_000..1_000_000).contains(&body.len()), "{} bytes", body.len());
    let (status, accepted) = app.post("house-check", body.as_bytes(), Some(SECRET)).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().expect("id");

    let (status, detail) = get(&app, &format!("/api/events/{id}")).await;
    assert_eq!(status, 200);
    let rules = detail["explanation"]["rules"].as_array().expect("rules");
    let big = rules.iter().find(|r| r["rule"] == "big-files").expect("big-files traced");
    assert_eq!(big["matched"], true);
    let condition = &big["condition"];
    assert_eq!(condition["seen"].as_array().map(Vec::len), Some(10), "{condition}");
    assert_eq!(condition["seen_more"], 13_990);
    // Every reason stays one line, however much the path selected.
    let explanation = detail["explanation"].to_string();
    assert!(explanation.len() < 20_000, "the explanation is {} bytes", explanation.len());
}

#[tokio::test]
async fn bad_query_parameters_are_json_errors() {
    let slack = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &slack.url, &slack.url)).await;
    let check = |path: &'static str, names: &'static str| {
        let app = &app;
        async move {
            let r = app.client.get(format!("{}{path}", app.admin)).send().await.expect("GET");
            assert_eq!(r.status().as_u16(), 400, "{path}");
            assert!(
                r.headers()["content-type"].to_str().unwrap_or("").starts_with("application/json"),
                "{path}"
            );
            let body: Value = r.json().await.expect("a JSON body");
            let message = body["error"].as_str().unwrap_or_else(|| panic!("{path}: no error in {body}"));
            assert!(message.contains(names), "{path}: {message}");
        }
    };
    check("/api/events?limit=-1", "`limit` must be an integer from 1 to 500, not `-1`").await;
    check("/api/events?limit=0", "`limit`").await;
    check("/api/events?limit=100000", "`limit`").await;
    check("/api/events?limit=ten", "`limit`").await;
    check("/api/events?before=zzz", "`before` must be an event id").await;
    check("/api/events?since=yesterday", "`since` must be an integer").await;
    check("/api/events?until=1.5", "`until`").await;
    check("/api/events?since=10&until=5", "`since` (10) must be before `until` (5)").await;
    check("/api/events?status=sideways", "`status`").await;
    check("/api/events?colour=red", "colour").await;
    check("/api/deliveries?before=zzz", "`before` must be an integer").await;
    check("/api/deliveries?limit=-1", "`limit`").await;
    check("/api/deliveries?status=sideways", "`status`").await;
    check("/api/deliveries?since=x", "`since`").await;
    check("/api/deliveries?colour=red", "colour").await;
    check("/api/activity?window=week", "`window` must be `hour` or `day`").await;
    check("/api/activity?colour=red", "colour").await;
    // Empty values are "not given", as forms send them; good values still answer.
    for path in
        ["/api/events?source=&limit=&before=", "/api/events?limit=500", "/api/deliveries?limit=1&before=5"]
    {
        assert_eq!(get(&app, path).await.0, 200, "{path}");
    }
}
