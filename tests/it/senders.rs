//! Other senders end to end (GitHub, Stripe), header conditions, outbound signing, and hostile
//! input at the edge: content types, duplicate keys, slow bodies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use hookroute::secret::Secret;
use hookroute::verify::{Keys, Verifier};
use serde_json::json;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{App, Receiver, WAIT, assert_quiet};

fn hmac_hex(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

fn rules(hook: &str) -> String {
    format!(
        r#"
sources:
  gh:
    verify: {{scheme: github, secrets: ["gh-secret-1"]}}
  stripe:
    verify: {{scheme: stripe, secrets: ["whsec_stripe_test"]}}
destinations:
  hook:
    type: http
    url: "{hook}/in"
    sign: {{scheme: standard-webhooks, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
rules:
  - name: issues-opened
    source: gh
    events: ["issues.*"]
    when:
      all:
        - header: x-github-event
          equals: issues
        - path: "$.issue.number"
          gt: 10
    actions: [{{to: hook, body: {{event: "{{{{ type }}}}", source: "{{{{ source }}}}"}}}}]
  - name: payments
    source: stripe
    events: ["payment_intent.*"]
    actions: [{{to: hook, body: {{event: "{{{{ type }}}}", source: "{{{{ source }}}}"}}}}]
"#
    )
}

async fn post(app: &App, source: &str, body: &str, headers: &[(&str, String)]) -> u16 {
    let mut req = app.client.post(format!("{}/hooks/{source}", app.base)).body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.expect("send").status().as_u16()
}

#[tokio::test]
async fn github_event_type_header_conditions_delivery_dedup_and_signed_output() {
    let hook = Receiver::start().await;
    let app = App::start(&rules(&hook.url)).await;
    let body = r#"{"action":"opened","issue":{"number":42}}"#;
    let signed = |body: &str, delivery: &str| {
        vec![
            ("x-hub-signature-256", format!("sha256={}", hmac_hex("gh-secret-1", &[body.as_bytes()]))),
            ("x-github-event", "issues".to_owned()),
            ("x-github-delivery", delivery.to_owned()),
            ("content-type", "application/json".to_owned()),
        ]
    };
    assert_eq!(post(&app, "gh", body, &signed(body, "d-1")).await, 202);
    // GitHub redelivers with the same delivery id: a duplicate even if the bytes differ.
    let again = r#"{"action":"opened", "issue":{"number":42}}"#;
    assert_eq!(post(&app, "gh", again, &signed(again, "d-1")).await, 200);
    // Condition on the body fails: accepted, nothing sent.
    let small = r#"{"action":"opened","issue":{"number":3}}"#;
    assert_eq!(post(&app, "gh", small, &signed(small, "d-2")).await, 202);
    // Wrong secret.
    let mut bad = signed(body, "d-3");
    bad[0].1 = format!("sha256={}", hmac_hex("other", &[body.as_bytes()]));
    assert_eq!(post(&app, "gh", body, &bad).await, 401);

    let got = hook.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), json!({"event": "issues.opened", "source": "gh"}));
    // The receiver can verify hookroute's Standard Webhooks signature.
    let keys = Keys::from_whsec(&[Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]).expect("keys");
    let verifier = Verifier::StandardWebhooks { keys, tolerance: Duration::from_secs(300) };
    let verified =
        verifier.verify(&got[0].headers, got[0].body.clone(), SystemTime::now()).expect("signature holds");
    assert!(verified.delivery_id.is_some_and(|id| id.starts_with("msg_")));
    assert_quiet(&hook, 1).await;
}

#[tokio::test]
async fn stripe_timestamps_inside_and_outside_the_window() {
    let hook = Receiver::start().await;
    let app = App::start(&rules(&hook.url)).await;
    let body = r#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let header = |t: u64| {
        let sig = hmac_hex("whsec_stripe_test", &[t.to_string().as_bytes(), b".", body.as_bytes()]);
        vec![("stripe-signature", format!("t={t},v1={sig}")), ("content-type", "application/json".to_owned())]
    };
    assert_eq!(post(&app, "stripe", body, &header(now - 400)).await, 401, "older than 300 s");
    assert_eq!(post(&app, "stripe", body, &header(now)).await, 202);
    assert_eq!(post(&app, "stripe", body, &header(now + 1)).await, 200, "same Stripe event id: duplicate");
    assert_eq!(
        hook.wait_for(1, WAIT).await[0].json(),
        json!({"event": "payment_intent.succeeded", "source": "stripe"})
    );
}

#[tokio::test]
async fn content_types_duplicate_keys_and_missing_event_types_are_4xx() {
    let hook = Receiver::start().await;
    let app = App::start(&rules(&hook.url)).await;
    let gh = |body: &str, ct: &str| {
        vec![
            ("x-hub-signature-256", format!("sha256={}", hmac_hex("gh-secret-1", &[body.as_bytes()]))),
            ("x-github-event", "issues".to_owned()),
            ("content-type", ct.to_owned()),
        ]
    };
    let body = r#"{"action":"opened","issue":{"number":42}}"#;
    // Verified JSON is JSON whatever its label; the same body again is a duplicate (body hash).
    assert_eq!(post(&app, "gh", body, &gh(body, "text/plain")).await, 202);
    assert_eq!(post(&app, "gh", body, &gh(body, "application/vnd.github+json; charset=utf-8")).await, 200);
    let csv = "action,opened";
    assert_eq!(
        post(&app, "gh", csv, &gh(csv, "text/csv")).await,
        415,
        "verified, but neither JSON nor a form"
    );
    let dup = r#"{"action":"opened","action":"closed","issue":{"number":42}}"#;
    assert_eq!(post(&app, "gh", dup, &gh(dup, "application/json")).await, 400);
    let mut no_event = gh(body, "application/json");
    no_event.remove(1);
    assert_eq!(post(&app, "gh", body, &no_event).await, 400, "no X-GitHub-Event");
}

#[tokio::test]
async fn a_slow_body_is_cut_off_with_408() {
    let hook = Receiver::start().await;
    let app = App::start(&format!("settings: {{read_timeout: 1s}}\n{}", rules(&hook.url))).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /hooks/gh HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = std::time::Instant::now();
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() >= Duration::from_millis(900), "cut off before read_timeout (1 s)");
}

/// The whole flow through the real binary with distinctive secrets, debug logging on, a refused
/// request and a failing destination: no secret in the logs, the CLI output or the database.
#[tokio::test]
async fn no_secret_in_logs_output_or_store() {
    const HC: &str = "hc-SECRET-7a1f9e";
    const SLACK_PATH: &str = "/services/TSECRET/BSECRET/slack-SECRET-path";
    const API_KEY: &str = "SG.api-SECRET-4c2d";
    const SIGN: &str = "outbound-SECRET-9b8e";
    let slack = Receiver::start().await;
    slack.set_default(crate::support::Reply(500, None, "rollup_error"));
    let crm = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("house-check-secret");
    std::fs::write(&secret_file, format!("{HC}\n")).expect("write secret");
    let rules = format!(
        r#"
settings: {{delivery: {{schedule: [1s], max_attempts: 2, timeout: 2s}}}}
sources:
  house-check:
    verify: {{scheme: hmac-sha256, secrets: ["${{file:{}}}"]}}
destinations:
  ops-slack: {{type: slack, url: "${{SLACK_URL}}"}}
  crm:
    type: http
    url: "{}/crm"
    headers: {{Authorization: "Bearer ${{API_KEY}}"}}
    sign: {{scheme: hmac-sha256, secret: "{SIGN}"}}
rules:
  - name: all
    actions:
      - {{to: ops-slack, text: "order {{{{ payload.id }}}}"}}
      - {{to: crm}}
"#,
        secret_file.display(),
        crm.url
    );
    let rules_path = dir.path().join("rules.yaml");
    std::fs::write(&rules_path, rules).expect("write rules");
    let db = dir.path().join("hookroute.db");
    let slack_url = format!("{}{SLACK_PATH}", slack.url);
    let server = crate::cli::serve_with_env(
        rules_path.to_str().expect("utf8"),
        &["--store", &format!("sqlite://{}", db.display())],
        &[
            ("SLACK_URL", slack_url.as_str()),
            ("API_KEY", API_KEY),
            ("HOOKROUTE_LOG", "debug"),
            ("HOOKROUTE_ADMIN_LISTEN", "off"),
        ],
    );
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let body = r#"{"type":"order.updated","payload":{"id":7}}"#;
    for (secret, want) in [(HC, 202), ("wrong", 401)] {
        let status = client
            .post(format!("{base}/hooks/house-check"))
            .header("signature", hookroute::sign_hex(secret, body.as_bytes()))
            .body(body)
            .send()
            .await
            .expect("post")
            .status();
        assert_eq!(status, want);
    }
    assert_eq!(crm.wait_for(1, WAIT).await.len(), 1);
    assert_eq!(slack.wait_for(2, WAIT).await.len(), 2, "the failing destination was retried");
    // A graceful stop records the attempts in flight before it exits.
    let (status, logs) = server.stop("-TERM").await;
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(logs.contains("attempt failed, will retry"), "the logs cover the failures");

    let event = dir.path().join("event.json");
    std::fs::write(&event, body).expect("write event");
    let dry = std::process::Command::new(crate::cli::BIN)
        .args(["test", "--rules", rules_path.to_str().expect("utf8"), event.to_str().expect("utf8")])
        .env("SLACK_URL", format!("{}{SLACK_PATH}", slack.url))
        .env("API_KEY", API_KEY)
        .output()
        .expect("dry run");
    let shown = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(shown.contains("POST ${SLACK_URL}") && shown.contains("Bearer ${API_KEY}"), "{shown}");
    let mut everything = logs.into_bytes();
    everything.extend(dry.stdout);
    everything.extend(dry.stderr);
    for suffix in ["", "-wal"] {
        if let Ok(bytes) = std::fs::read(format!("{}{suffix}", db.display())) {
            everything.extend(bytes);
        }
    }
    for secret in [HC, SLACK_PATH, API_KEY, SIGN, "SECRET"] {
        let found = everything.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "`{secret}` leaked into logs, CLI output or the database");
    }
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let hook = Receiver::start().await;
    let app = App::start(&rules(&hook.url)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    for headers in [
        format!("X-Big: {}\r\n", "x".repeat(1024 * 1024)),
        (0..200).map(|i| format!("X-H{i}: v\r\n")).collect(),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        let request =
            format!("POST /hooks/gh HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: 2\r\n\r\n{{}}");
        let _ = stream.write_all(request.as_bytes()).await;
        let mut answer = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
            .await
            .expect("answered")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    }
}

#[tokio::test]
async fn past_the_concurrency_cap_requests_get_503_with_retry_after() {
    let hook = Receiver::start().await;
    let app = App::start(&format!(
        "settings: {{max_concurrent_requests: 1, read_timeout: 5s}}\n{}",
        rules(&hook.url)
    ))
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // One request holds the only slot while its body trickles in.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!("POST /hooks/gh HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n{{");
    slow.write_all(head.as_bytes()).await.expect("write");
    let deadline = std::time::Instant::now() + WAIT;
    while app.in_flight.available_permits() > 0 {
        assert!(std::time::Instant::now() < deadline, "the slow request never took the slot");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = app.client.post(format!("{}/hooks/gh", app.base)).body("{}").send().await.expect("send");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    drop(slow);
}
