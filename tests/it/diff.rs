//! `hookroute diff` on a real store filled by the real server: what a rules change would do to the
//! events actually received, and its exit codes.

use serde_json::json;

use crate::cli::{BIN, text};
use crate::support::{App, Receiver, WAIT, rules};

fn diff(app: &App, new_rules: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.yaml");
    std::fs::write(&path, new_rules).expect("write");
    let out = std::process::Command::new(BIN)
        .args(["diff", "--rules", path.to_str().expect("utf8"), "--store", &app.store_url])
        .args(extra)
        .output()
        .expect("run diff");
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[tokio::test]
async fn diff_reports_added_and_removed_deliveries_and_exits_1() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let current = rules(&slack.url, &other.url, &other.url);
    let app = App::start(&current).await;
    assert_eq!(
        app.post_event(json!({"type": "order.updated", "payload": {"id": 1, "status": "to schedule"}})).await,
        202
    );
    assert_eq!(
        app.post_event(json!({"type": "order.updated", "payload": {"id": 2, "status": "new"}})).await,
        202
    );
    assert_eq!(app.post_event(json!({"type": "inspection.updated", "payload": {"id": 3}})).await, 202);
    slack.wait_for(1, WAIT).await;

    // The same rules: nothing would change.
    let (code, stdout, stderr) = diff(&app, &current, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("no change: 3 event(s) since"), "{stdout}");

    // Status "new" now also notifies; inspections no longer reach the CRM.
    let changed = current
        .replace("equals: \"to schedule\"", "in: [\"to schedule\", \"new\"]")
        .replace("events: [\"inspection.*\"]", "events: [\"inspection.created\"]");
    let (code, stdout, stderr) = diff(&app, &changed, &["--since", "1h"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("  + order-ready-to-schedule action 0 -> ops-slack"), "{stdout}");
    assert!(stdout.contains("  + order-ready-to-schedule action 1 -> planning-mail"), "{stdout}");
    assert!(stdout.contains("  - inspections-to-crm action 0 -> crm"), "{stdout}");
    assert!(stdout.contains("2 of 3 event(s) since"), "{stdout}");
    // Event 2 ("new") gains the Slack message and the email; event 3 loses the CRM call; event 1
    // already had both deliveries.
    assert!(stdout.contains("2 delivery(ies) added, 1 removed"), "{stdout}");

    let (code, stdout, _) = diff(&app, &changed, &["--json"]);
    assert_eq!(code, Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["events"], 3);
    let changed_events = report["changed"].as_array().expect("changed");
    assert_eq!(changed_events.len(), 2);
    assert_eq!(changed_events[0]["event_type"], "order.updated", "oldest first");
    assert_eq!(changed_events[0]["added"].as_array().map(Vec::len), Some(2));

    // A template that fails on a stored event counts as a change.
    let failing =
        current.replace("Order {{ payload.id }} is ready", "Order {{ payload.missing.deeper }} is ready");
    let (code, stdout, _) = diff(&app, &failing, &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("! template fails: rule order-ready-to-schedule action 0"), "{stdout}");

    // Errors are exit 2, told apart from "changes".
    let (code, _, stderr) = diff(&app, "rules: [{name: x}]\n", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("new.yaml:1:"), "{stderr}");
    let (code, _, stderr) = diff(&app, &current, &["--since", "yesterday"]);
    assert_eq!(code, Some(2), "{stderr}");
    // A window with nothing in it.
    let future = "2099-01-01T00:00:00Z";
    let (code, stdout, _) = diff(&app, &changed, &["--since", future]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("no change: 0 event(s)"), "{stdout}");
}

#[tokio::test]
async fn diff_replays_a_keys_events_in_order_carrying_state() {
    let (slack, crm) = (Receiver::start().await, Receiver::start().await);
    let current = crate::entity::keyed_rules(&slack.url, &crm.url, false);
    let app = App::start(&current).await;
    for note in ["a", "b", "c"] {
        let event =
            json!({"type": "order.updated", "payload": {"id": 7, "status": "to schedule", "note": note}});
        assert_eq!(app.post_event(event).await, 202);
    }
    slack.wait_for(1, WAIT).await;
    // Judged with state, the same rules change nothing: only the first event `becomes`.
    let (code, stdout, stderr) = diff(&app, &current, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("no change: 3 event(s) since"), "{stdout}");
    // `equals` instead of `becomes`: the 2nd and 3rd events would notify too.
    let (code, stdout, stderr) = diff(&app, &current.replace("becomes:", "equals:"), &[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("2 of 3 event(s) since"), "{stdout}");
    assert!(stdout.contains("  + ready action 0 -> ops-slack"), "{stdout}");
}
