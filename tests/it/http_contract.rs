//! The HTTP contract: status codes, verification (with rotation), routing of both event spellings,
//! and what Slack, the email API and a plain endpoint receive.

use serde_json::json;

use crate::support::{App, Receiver, SECRET, WAIT, assert_quiet, rules};

async fn setup() -> (App, Receiver, Receiver, Receiver) {
    let (slack, email, crm) = (Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let app = App::start(&rules(&slack.url, &email.url, &crm.url)).await;
    (app, slack, email, crm)
}

#[tokio::test]
async fn order_ready_to_schedule_reaches_slack_and_email() {
    let (app, slack, email, crm) = setup().await;
    let body = json!({"type": "order.updated", "payload": {"id": 9001, "status": "to schedule"}});
    let (status, reply) = app.post("house-check", body.to_string().as_bytes(), Some(SECRET)).await;
    assert_eq!(status, 202, "{reply}");
    assert!(reply["id"].as_str().is_some_and(|id| id.len() == 36), "{reply}");

    let got = slack.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/services/T0/B0/XXX");
    assert_eq!(got[0].json(), json!({"text": "Order 9001 is ready to schedule"}));
    assert_eq!(got[0].headers["content-type"], "application/json");

    let mail = email.wait_for(1, WAIT).await;
    assert_eq!(mail[0].path, "/v3/mail/send");
    assert_eq!(mail[0].headers["authorization"], "Bearer SG.test-key");
    assert_eq!(
        mail[0].json(),
        json!({"personalizations": [{"to": [{"email": "planning@example.com"}]}],
               "from": {"email": "planning-bot@example.com"},
               "subject": "Order 9001 is ready to schedule",
               "content": [{"type": "text/plain", "value": "Order 9001 moved to to schedule."}]})
    );
    assert_quiet(&crm, 0).await;
}

#[tokio::test]
async fn both_spellings_match_and_other_statuses_do_not() {
    let (app, slack, _email, _crm) = setup().await;
    assert_eq!(
        app.post_event(json!({"type": "order.update", "payload": {"id": 1, "status": "to schedule"}})).await,
        202
    );
    assert_eq!(
        app.post_event(json!({"type": "order.updated", "payload": {"id": 2, "status": "scheduled"}})).await,
        202
    );
    assert_eq!(app.post_event(json!({"type": "order.updated", "payload": {"id": 3}})).await, 202);
    let got = slack.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), json!({"text": "Order 1 is ready to schedule"}));
    assert_quiet(&slack, 1).await;
}

#[tokio::test]
async fn inspection_body_is_forwarded_byte_for_byte() {
    let (app, _slack, _email, crm) = setup().await;
    // Odd spacing and key order must survive: the CRM gets the exact bytes House Check signed.
    let raw = br#"{ "payload" : {"id":5512 , "status":"completed"},"type":"inspection.updated" }"#;
    let (status, _) = app.post("house-check", raw, Some(SECRET)).await;
    assert_eq!(status, 202);
    let got = crm.wait_for(1, WAIT).await;
    assert_eq!(&got[0].body[..], &raw[..]);
    assert_eq!(got[0].path, "/house-check");
    assert_eq!(got[0].headers["x-team"], "ops");
    assert_eq!(got[0].headers["content-type"], "application/json");
}

#[tokio::test]
async fn jsonpath_query_condition_on_files() {
    let (app, slack, _email, _crm) = setup().await;
    let small = json!({"type": "files.created", "payload": {"order_id": 7, "files": [{"size": 10}]}});
    let big = json!({"type": "files.created", "payload": {"order_id": 8, "files": [{"size": 10}, {"size": 2000000}]}});
    assert_eq!(app.post_event(small).await, 202);
    assert_eq!(app.post_event(big).await, 202);
    let got = slack.wait_for(1, WAIT).await;
    assert_eq!(got[0].json(), json!({"text": "Large file uploaded for order 8"}));
    assert_quiet(&slack, 1).await;
}

#[tokio::test]
async fn secret_rotation_accepts_every_configured_secret() {
    let (app, _s, _e, _c) = setup().await;
    let body = br#"{"type":"order.updated","payload":{}}"#;
    assert_eq!(app.post("house-check", body, Some(SECRET)).await.0, 202);
    assert_eq!(app.post("house-check", body, Some("old-secret-1234")).await.0, 202);
    assert_eq!(app.post("house-check", body, Some("not-a-secret")).await.0, 401);
}

#[tokio::test]
async fn status_codes() {
    let (app, slack, _e, _c) = setup().await;
    let body = br#"{"type":"order.updated","payload":{"id":1,"status":"to schedule"}}"#;
    // 401: missing or wrong signature, with no detail in the body.
    let (status, reply) = app.post("house-check", body, None).await;
    assert_eq!((status, reply), (401, json!({"error": "unauthorized"})));
    assert_eq!(app.post("house-check", body, Some("wrong")).await.0, 401);
    let bad_hex = app
        .client
        .post(format!("{}/hooks/house-check", app.base))
        .header("signature", "not-hex")
        .body(body.to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(bad_hex.status(), 401);
    // Signature of a different body.
    let forged = app
        .client
        .post(format!("{}/hooks/house-check", app.base))
        .header("signature", hookroute::sign_hex(SECRET, b"{}"))
        .body(body.to_vec())
        .send()
        .await
        .expect("send");
    assert_eq!(forged.status(), 401);
    // 404: unknown source, even when signed.
    assert_eq!(app.post("nope", body, Some(SECRET)).await.0, 404);
    // 400: not JSON, no type, type not a string (all correctly signed).
    for bad in [&b"not json"[..], b"{}", br#"{"type": 5}"#, b"[]", b"", br#"{"type": null}"#] {
        let (status, reply) = app.post("house-check", bad, Some(SECRET)).await;
        assert_eq!(status, 400, "{:?} -> {reply}", String::from_utf8_lossy(bad));
    }
    // 413: over the 1 MiB default.
    let huge = format!(r#"{{"type":"order.updated","pad":"{}"}}"#, "x".repeat(1024 * 1024));
    assert_eq!(app.post("house-check", huge.as_bytes(), Some(SECRET)).await.0, 413);
    // GET /healthz
    let health = app.client.get(format!("{}/healthz", app.base)).send().await.expect("health");
    assert_eq!(health.status(), 200);
    // Nothing above reached a destination.
    assert_quiet(&slack, 0).await;
}

#[tokio::test]
async fn hostile_bodies_never_get_a_5xx() {
    let (app, _s, _e, _c) = setup().await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<Vec<u8>> = vec![
        deep.into_bytes(),
        vec![0xff, 0xfe, 0x00, 0x80],
        br#"{"type":"order.updated","payload":{"id":1e400}}"#.to_vec(),
        br#"{"type":"order.updated","type":"order.update"}"#.to_vec(),
        br#"{"type":"order.updated","payload":{"status":"to schedule","id":"\u0000\ud800"}}"#.to_vec(),
        br#"{"type":"\u00e9v\u00e9nement","payload":[]}"#.to_vec(),
        br#"{"type":"order.updated","payload":"to schedule"}"#.to_vec(),
    ];
    for body in cases {
        for secret in [Some(SECRET), None] {
            let (status, reply) = app.post("house-check", &body, secret).await;
            assert!(
                status < 500,
                "{status} {reply} for {:?}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
        }
    }
}

#[tokio::test]
async fn a_template_error_skips_the_action_but_accepts_the_event() {
    // Both actions render `payload.id`; without it (strict undefined) neither is sent, and the event
    // is still acknowledged: the sender did nothing wrong.
    let (app, slack, email, _crm) = setup().await;
    assert_eq!(
        app.post_event(json!({"type": "order.updated", "payload": {"status": "to schedule"}})).await,
        202
    );
    assert_quiet(&slack, 0).await;
    assert_quiet(&email, 0).await;
}

#[tokio::test]
async fn readyz_reports_the_store_and_rules_version() {
    let (app, _s, _e, _c) = setup().await;
    let r = app.client.get(format!("{}/readyz", app.base)).send().await.expect("readyz");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["ready"], json!(true));
    assert_eq!(body["rules_version"], json!(app.reloader.current().load().version.clone()));
}
