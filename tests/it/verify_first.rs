//! Authentication before any other look at the request: a signature is checked on the raw bytes
//! whatever they are labelled; only then is the body decoded (JSON whatever its label, forms into
//! objects, anything else 415). Text the stores cannot hold (NUL) is a clear 400, and one event the
//! store refuses never fails the others committed with it.

use std::sync::Arc;

use bytes::Bytes;
use hookroute::deliver::{Ingest, IngestError};
use hookroute::store::{self, NewEvent};
use serde_json::json;

use crate::support::{App, Receiver, SECRET, WAIT, rules};
use crate::test_database::TestDatabase;

async fn house_check() -> (App, Receiver) {
    let r = Receiver::start().await;
    (App::start(&rules(&r.url, &r.url, &r.url)).await, r)
}

/// POSTs `body` to `source` with `headers`; the status and body text.
async fn post(app: &App, source: &str, body: &[u8], headers: &[(&str, String)]) -> (u16, String) {
    let mut req = app.client.post(format!("{}/hooks/{source}", app.base)).body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.expect("send");
    (r.status().as_u16(), r.text().await.expect("text"))
}

/// House Check headers: the signature of `body` under `secret`, and a content type when given.
fn signed(secret: &str, body: &[u8], content_type: Option<&str>) -> Vec<(&'static str, String)> {
    let mut h = vec![("signature", hookroute::sign_hex(secret, body))];
    h.extend(content_type.map(|ct| ("content-type", ct.to_owned())));
    h
}

#[tokio::test]
async fn json_is_accepted_whatever_its_label_once_verified() {
    let (app, _r) = house_check().await;
    for (i, label) in [Some("text/plain"), None, Some("application/octet-stream")].into_iter().enumerate() {
        let body = json!({"type": "order.updated", "payload": {"id": i}}).to_string();
        let (status, text) =
            post(&app, "house-check", body.as_bytes(), &signed(SECRET, body.as_bytes(), label)).await;
        assert_eq!(status, 202, "{label:?}: {text}");
    }
}

#[tokio::test]
async fn the_signature_comes_before_the_content_type() {
    let (app, _r) = house_check().await;
    let form = b"type=order.updated&payload=x";
    let tampered = signed(SECRET, b"type=order.updated&payload=y", Some("application/x-www-form-urlencoded"));
    assert_eq!(post(&app, "house-check", form, &tampered).await.0, 401, "a tampered form");
    let csv = b"type,order.updated";
    assert_eq!(post(&app, "house-check", csv, &signed("wrong", csv, Some("text/csv"))).await.0, 401);
    let (status, text) = post(&app, "house-check", csv, &signed(SECRET, csv, Some("text/csv"))).await;
    assert_eq!(status, 415, "verified, then neither JSON nor a form: {text}");
}

fn github_rules(hook: &str) -> String {
    format!(
        r#"
sources:
  gh: {{verify: {{scheme: github, secrets: ["gh-secret-1"]}}}}
  slack:
    verify: {{scheme: slack, secrets: ["slack-secret-1"]}}
    event_type: {{path: "$.command"}}
destinations:
  hook: {{type: http, url: "{hook}/in"}}
rules:
  - name: issues
    source: gh
    events: ["issues.opened"]
    actions: [{{to: hook, body: {{type: "{{{{ type }}}}", number: "{{{{ event.issue.number }}}}"}}}}]
  - name: deploys
    source: slack
    events: ["/deploy"]
    actions: [{{to: hook, body: {{command: "{{{{ event.command }}}}", text: "{{{{ event.text }}}}"}}}}]
"#
    )
}

fn github(body: &[u8], delivery: &str, content_type: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-hub-signature-256", format!("sha256={}", hookroute::sign_hex("gh-secret-1", body))),
        ("x-github-event", "issues".to_owned()),
        ("x-github-delivery", delivery.to_owned()),
        ("content-type", content_type.to_owned()),
    ]
}

#[tokio::test]
async fn a_github_form_payload_routes_exactly_like_its_json() {
    let hook = Receiver::start().await;
    let app = App::start(&github_rules(&hook.url)).await;
    let json = r#"{"action":"opened","issue":{"number":42}}"#;
    let form: String = form_urlencoded::Serializer::new(String::new()).append_pair("payload", json).finish();
    let (status, text) =
        post(&app, "gh", json.as_bytes(), &github(json.as_bytes(), "d-1", "application/json")).await;
    assert_eq!(status, 202, "{text}");
    let headers = github(form.as_bytes(), "d-2", "application/x-www-form-urlencoded");
    let (status, text) = post(&app, "gh", form.as_bytes(), &headers).await;
    assert_eq!(status, 202, "{text}");
    let got = hook.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].json(), json!({"type": "issues.opened", "number": 42}));
    assert_eq!(got[1].json(), got[0].json(), "the form routed and rendered like the JSON");
}

#[tokio::test]
async fn a_slack_slash_command_form_becomes_an_object_of_its_fields() {
    let hook = Receiver::start().await;
    let app = App::start(&github_rules(&hook.url)).await;
    let body = b"command=%2Fdeploy&text=api+now&user_id=U1";
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let base = [format!("v0:{ts}:").as_bytes(), body].concat();
    let headers = vec![
        ("x-slack-signature", format!("v0={}", hookroute::sign_hex("slack-secret-1", &base))),
        ("x-slack-request-timestamp", ts.to_string()),
        ("content-type", "application/x-www-form-urlencoded".to_owned()),
    ];
    let (status, text) = post(&app, "slack", body, &headers).await;
    assert_eq!(status, 202, "{text}");
    assert_eq!(hook.wait_for(1, WAIT).await[0].json(), json!({"command": "/deploy", "text": "api now"}));
}

async fn nul_in_the_type_is_a_clear_400(app: &App) {
    let body = json!({"type": "order\u{0}updated", "payload": {"id": 1}}).to_string();
    let (status, text) =
        post(app, "house-check", body.as_bytes(), &signed(SECRET, body.as_bytes(), None)).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("NUL"), "{text}");
    assert_eq!(app.post_event(json!({"type": "order.updated", "payload": {"id": 2}})).await, 202);
}

#[tokio::test]
async fn nul_in_the_type_is_a_clear_400_on_sqlite() {
    let (app, _r) = house_check().await;
    nul_in_the_type_is_a_clear_400(&app).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn nul_in_the_type_is_a_clear_400_on_postgres() {
    let db = TestDatabase::create().await;
    let r = Receiver::start().await;
    let app = App::start_with_store(&rules(&r.url, &r.url, &r.url), Some(db.url().to_owned())).await;
    nul_in_the_type_is_a_clear_400(&app).await;
}

fn new_event(id: &str) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        source: "house-check".into(),
        event_type: "order.updated".into(),
        received_at: 1,
        body: Bytes::from_static(b"{}"),
        content_type: None,
        matched_rules: vec![],
        rules_version: "v".into(),
        dedup: None,
        deliveries: vec![],
        state: None,
    }
}

#[tokio::test]
async fn one_event_the_store_refuses_does_not_fail_the_others_in_its_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.expect("store");
    let (ingest, _committer) = Ingest::start(Arc::clone(&store), Arc::default());
    ingest.submit(new_event("taken")).await.expect("first");
    // Submitted together (one current-thread scheduler pass): they share a group commit, and one
    // reuses a stored id, which the store refuses.
    let mut batch = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (ingest, id) = (ingest.clone(), if i == 7 { "taken".to_owned() } else { format!("e{i}") });
        batch.spawn(async move { (i, ingest.submit(new_event(&id)).await) });
    }
    let mut failed = Vec::new();
    while let Some(done) = batch.join_next().await {
        let (i, result) = done.expect("task");
        if let Err(e) = result {
            assert!(matches!(e, IngestError::Store(_)), "{e}");
            failed.push(i);
        }
    }
    assert_eq!(failed, vec![7], "only the poison event fails");
}
