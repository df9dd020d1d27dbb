//! `hours:` through the real server: a delivery due outside its hours waits for the next opening
//! (stored with that due time), `hours: always` on an action opts out; bad hours are load errors.

use serde_json::json;

use crate::cli::{run, text, write_temp};
use crate::support::{App, Receiver, SECRET, WAIT, assert_quiet};
use hookroute::store::{Filter, Status};

const DAY_MS: i64 = 86_400_000;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Every day but today (UTC), all day: closed now, open from the next midnight UTC.
fn closed_today_rules(slack: &str, today: usize) -> String {
    let days: Vec<&str> = DAYS.iter().enumerate().filter(|(i, _)| *i != today).map(|(_, d)| *d).collect();
    format!(
        r#"
sources:
  house-check:
    verify: {{scheme: hmac-sha256, secrets: ["{SECRET}"]}}
destinations:
  ops-slack:
    type: slack
    url: "{slack}/services/T0/B0/XXX"
    hours: {{days: [{}], from: "00:00", to: "23:59", timezone: UTC}}
rules:
  - name: ready
    events: ["order.updated"]
    actions:
      - to: ops-slack
        text: "waits for the opening"
      - to: ops-slack
        text: "sent at once"
        hours: always
"#,
        days.join(", ")
    )
}

#[tokio::test]
async fn a_delivery_due_outside_its_hours_waits_for_the_next_opening() {
    let now = hookroute::clock::now_ms();
    // 1970-01-01 was a Thursday (index 3, Monday first).
    let today = usize::try_from((now / DAY_MS + 3) % 7).expect("weekday");
    let slack = Receiver::start().await;
    let app = App::start(&closed_today_rules(&slack.url, today)).await;
    assert_eq!(app.post_event(json!({"type": "order.updated", "payload": {"id": 1}})).await, 202);
    let got = slack.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), json!({"text": "sent at once"}));
    assert_quiet(&slack, 1).await;
    let waiting = app.store.list(Filter { status: Some(Status::Pending), limit: 10, ..Filter::default() });
    let waiting = waiting.await.expect("list");
    assert_eq!(waiting.len(), 1);
    let next_midnight = (now / DAY_MS + 1) * DAY_MS;
    assert_eq!(waiting[0].next_attempt_at, next_midnight, "due at the next opening, 00:00 UTC");
}

#[test]
fn bad_hours_are_load_errors_with_their_place() {
    let rules = closed_today_rules("http://127.0.0.1:9", 0)
        .replace("timezone: UTC", "timezone: Mars/Olympus")
        .replace("from: \"00:00\"", "from: \"8am\"")
        .replace("days: [tue", "days: [tuesday")
        .replace("hours: always", "hours: sometimes");
    let (_dir, path) = write_temp("rules.yaml", &rules);
    let out = run(&["check", "--rules", &path]);
    let (stdout, stderr) = text(&out);
    let all = format!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(1), "{all}");
    for needle in [
        "destinations.ops-slack.hours.days[0]: unknown day `tuesday`",
        "destinations.ops-slack.hours.from: `8am` is not a time like 08:00",
        "destinations.ops-slack.hours.timezone: unknown time zone `Mars/Olympus`",
        "rules[0].actions[1].hours: `hours` is `always` or a mapping",
    ] {
        assert!(all.contains(needle), "{needle} in:\n{all}");
    }
}
