//! Issue 12's secrets rows, tried from outside: store passwords in output and 503 bodies, hostile
//! `${file:…}` paths, secret rotation by poll, admin reload and SIGHUP, and rendered email
//! addresses that are not exactly one address.

use serde_json::{Value, json};

use crate::admin_guard::{answer, ready, run_bounded};
use crate::support::eventually;
use crate::support::{App, Receiver, SECRET, WAIT, rules};

#[test]
fn store_passwords_are_never_printed_by_the_binary() {
    let (_dir, path) = crate::cli::write_temp(
        "rules.yaml",
        &rules("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9"),
    );
    for store in [
        "mysql://root:hunter2-pw@127.0.0.1/x",
        "postgres://user:hunter2-pw@127.0.0.1:1/x",
        "postgres://user:hunter2-pw@127.0.0.1:1/x?sslmode=sometimes",
    ] {
        let (code, stdout, stderr) = run_bounded(&[
            "serve",
            "--rules",
            &path,
            "--store",
            store,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "off",
        ]);
        assert_eq!(code, Some(1), "{store}: {stderr}");
        assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"), "{store}: {stderr}");
        assert!(
            stderr.contains("user:***@") || stderr.contains("root:***@"),
            "{store}: the URL is shown redacted: {stderr}"
        );
        let (code, _, stderr) = run_bounded(&["deliveries", "--store", store]);
        assert_eq!(code, Some(1));
        assert!(!stderr.contains("hunter2"), "{store}: {stderr}");
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn store_passwords_are_not_in_the_startup_line_nor_in_503_bodies() {
    use crate::support::Proxy;
    use crate::test_database::TestDatabase;
    let db = TestDatabase::create().await;
    let with_password = |url: &str| {
        let (scheme, rest) = url.split_once("://").expect("url");
        let (user, rest) = rest.split_once('@').expect("user in the test URL");
        format!("{scheme}://{}:hunter2-pw@{rest}", user.split(':').next().unwrap_or(user))
    };
    // The real binary's startup line.
    let slack = Receiver::start().await;
    let text = rules(&slack.url, &slack.url, &slack.url);
    let (_dir, path) = crate::cli::write_temp("rules.yaml", &text);
    let url = with_password(db.url());
    let server = crate::cli::serve(&path, &["--store", &url]);
    let logs = server.logs.lock().expect("logs").clone();
    let serving = logs.iter().find(|l| l.contains("hookroute is serving")).expect("serving line");
    assert!(serving.contains(":***@"), "{serving}");
    assert!(!logs.iter().any(|l| l.contains("hunter2")), "{logs:?}");
    drop(server);

    // A store outage: the 503 a sender gets says nothing about the store.
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let via_proxy = with_password(db.url()).replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let app = App::start_with_store(&text, Some(via_proxy)).await;
    assert_eq!(app.post_event(ready(1)).await, 202);
    proxy.cut();
    let (status, reply) = app.post("house-check", ready(2).to_string().as_bytes(), Some(SECRET)).await;
    assert_eq!(status, 503, "{reply}");
    assert_eq!(reply, json!({"error": "the event could not be stored; retry later"}));
    let readyz = app.client.get(format!("{}/readyz", app.base)).send().await.expect("readyz");
    assert_eq!(readyz.status(), 503);
    let body = readyz.text().await.expect("text");
    assert!(!body.contains("hunter2") && !body.contains("127.0.0.1"), "{body}");
    proxy.restore();
}

#[test]
fn a_device_or_oversized_secret_file_is_an_error_not_a_hang() {
    let text = rules("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9");
    let (dir, path) =
        crate::cli::write_temp("rules.yaml", &text.replace("\"old-secret-1234\"", "\"${file:/dev/zero}\""));
    let (code, stdout, stderr) = run_bounded(&["check", "--rules", &path]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("cannot read secret file `/dev/zero`: not a regular file"),
        "{stdout}{stderr}"
    );
    let big = std::path::Path::new(&path).with_file_name("big");
    std::fs::write(&big, vec![b'x'; 100 * 1024]).expect("write");
    let oversized = text.replace("\"old-secret-1234\"", &format!("\"${{file:{}}}\"", big.display()));
    std::fs::write(&path, oversized).expect("write");
    let (code, stdout, stderr) = run_bounded(&["check", "--rules", &path]);
    assert_eq!(code, Some(1));
    assert!(format!("{stdout}{stderr}").contains("larger than 64 KiB"), "{stdout}{stderr}");
    drop(dir);
}

#[tokio::test]
async fn a_recipient_rendering_two_addresses_makes_the_delivery_dead() {
    let slack = Receiver::start().await;
    let mail = Receiver::start().await;
    let text = rules(&slack.url, &mail.url, &slack.url)
        .replace(
            "recipients: [\"planning@example.com\"]",
            "recipients: [\"{{ payload.contact }}\"]\n        reply_to: \"Desk <{{ payload.contact }}>\"",
        )
        .replace(
            "subject: \"Order {{ payload.id }} is ready to schedule\"",
            "subject: \"Order {{ payload.id }}\\r\\nBcc: x@evil.com\"",
        );
    let app = App::start(&text).await;
    let event = |contact: &str| json!({"type": "order.updated", "payload": {"id": 5, "status": "to schedule", "contact": contact}});
    assert_eq!(app.post_event(event("victim@x.example, attacker@evil.com")).await, 202);
    let dead = eventually("the mail delivery dead", || async {
        let rows = app.store.list(hookroute::store::Filter::default()).await.expect("list");
        rows.into_iter().find(|d| d.destination == "planning-mail" && d.status == "dead")
    })
    .await;
    let reason = dead.last_error.unwrap_or_default();
    assert!(reason.contains("recipients[0]") && reason.contains("not exactly one address"), "{reason}");
    assert!(mail.got().is_empty(), "no mail was sent");

    // One address: sent, with the subject on one line.
    assert_eq!(app.post_event(event("planner@example.com")).await, 202);
    let got = mail.wait_for(1, WAIT).await;
    let sent = got[0].json();
    assert_eq!(sent["personalizations"][0]["to"], json!([{"email": "planner@example.com"}]));
    assert_eq!(sent["subject"], "Order 5  Bcc: x@evil.com");
    assert_eq!(sent["reply_to"], json!({"email": "planner@example.com", "name": "Desk"}));
}

/// Rules whose House Check secret is `${file:…}` of a file in `dir` holding `secret`.
fn rules_with_secret_file(
    dir: &std::path::Path,
    secret: &str,
    receiver: &str,
) -> (std::path::PathBuf, String) {
    let secret_file = dir.join("hc-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).expect("write");
    let text = rules(receiver, receiver, receiver)
        .replace(&format!("\"{SECRET}\""), &format!("\"${{file:{}}}\"", secret_file.display()));
    (secret_file, text)
}

#[tokio::test]
async fn a_rotated_secret_file_is_picked_up_without_a_restart_or_signal() {
    let slack = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (secret_file, text) = rules_with_secret_file(dir.path(), SECRET, &slack.url);
    let app = App::start(&text).await;
    assert_eq!(app.post_event(ready(1)).await, 202);
    let before = app.reloader.current().load().version.clone();

    let rotated = "rotated-secret-9c2d";
    std::fs::write(&secret_file, format!("{rotated}\n")).expect("write");
    let after = eventually("the rotated secret applied", || async {
        let v = app.reloader.current().load().version.clone();
        (v != before).then_some(v)
    })
    .await;
    assert!(!after.contains(rotated));
    let body = ready(2).to_string();
    assert_eq!(app.post("house-check", body.as_bytes(), Some(rotated)).await.0, 202);
    assert_eq!(app.post("house-check", body.as_bytes(), Some(SECRET)).await.0, 401);
}

#[tokio::test]
async fn a_rotated_secret_file_is_read_again_by_the_admin_reload_and_sighup() {
    let slack = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (secret_file, text) = rules_with_secret_file(dir.path(), SECRET, &slack.url);
    let path = dir.path().join("rules.yaml");
    std::fs::write(&path, &text).expect("write");
    let server = crate::cli::serve(path.to_str().expect("utf8"), &["--no-watch"]);
    let client = reqwest::Client::new();
    let version = || async {
        let r: Value = client
            .get(format!("{}/readyz", server.admin))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        r["rules_version"].as_str().expect("version").to_owned()
    };
    let first = version().await;

    std::fs::write(&secret_file, "rotated-once-41\n").expect("write");
    let (status, report) = answer(client.post(format!("{}/api/reload", server.admin)).json(&json!({}))).await;
    assert_eq!((status, report["outcome"].as_str()), (200, Some("applied")), "{report}");
    let second = version().await;
    assert_ne!(second, first, "same text, new secret: a new version");

    std::fs::write(&secret_file, "rotated-twice-42\n").expect("write");
    crate::cli::signal(&server.child, "-HUP");
    eventually("SIGHUP applied the rotated secret", || async { (version().await != second).then_some(()) })
        .await;
    let body = ready(3).to_string();
    let sent = client
        .post(format!("{}/hooks/house-check", server.base))
        .header("signature", hookroute::sign_hex("rotated-twice-42", body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(sent.status(), 202);
    let logs = server.logs.lock().expect("logs").clone();
    assert!(!logs.iter().any(|l| l.contains("rotated-")), "no secret in the log: {logs:?}");
}
