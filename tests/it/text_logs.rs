//! Text logs through the real binary: a sender's newline or escape sequence cannot start a line
//! that looks like ours.

use crate::cli::{serve, write_temp};
use crate::support::eventually;

const RULES: &str = r#"sources: {s: {verify: {scheme: none}}}
destinations:
  console: {type: log}
rules:
  - name: echo
    actions:
      - to: console
        text: "note: {{ payload.note }}"
"#;

#[tokio::test]
async fn a_newline_or_escape_in_a_log_message_is_escaped_not_a_new_line() {
    let (_dir, path) = write_temp("rules.yaml", RULES);
    let server = serve(&path, &[]);
    let forged = "x\n2026-12-03T00:00:00Z  INFO hookroute: FORGED\u{1b}[2J";
    let body = serde_json::json!({"type": "t\nINFO FORGED-TYPE", "payload": {"note": forged}});
    let status = reqwest::Client::new()
        .post(format!("{}/hooks/s", server.base))
        .json(&body)
        .send()
        .await
        .expect("post")
        .status();
    assert_eq!(status, 202);
    let logs = std::sync::Arc::clone(&server.logs);
    eventually("the log destination's line", || {
        let seen = logs.lock().expect("logs").iter().any(|l| l.contains("note: x"));
        std::future::ready(seen.then_some(()))
    })
    .await;
    let (_, logs) = server.stop("-TERM").await;
    let line = logs.lines().find(|l| l.contains("note: x")).expect("message line");
    assert!(line.contains(r"note: x\n2026-12-03T00:00:00Z  INFO hookroute: FORGED\u{1b}[2J"), "{line}");
    assert!(logs.contains(r#"event_type="t\nINFO FORGED-TYPE""#), "{logs}");
    let forged_lines =
        logs.lines().filter(|l| l.starts_with("2026-12-03T00:00:00Z") || l.starts_with("INFO FORGED"));
    assert_eq!(forged_lines.count(), 0, "{logs}");
    assert!(!logs.contains('\u{1b}'), "{logs}");
}
