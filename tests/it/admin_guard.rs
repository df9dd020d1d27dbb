//! Issue 12's admin and secrets rows, tried from outside: cross-site and DNS-rebinding requests
//! to the admin listener, replays of delivered deliveries, posted rules reading the server's
//! secrets, store passwords in output, hostile `${file:…}` paths, multi-address recipients, and
//! secret rotation by reload.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{App, Receiver, SECRET, WAIT, rules};

fn ready(id: u32) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}})
}

/// Polls `f` until it returns `Some` (at most `WAIT`).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Runs the real binary, failing the test (and killing it) if it has not exited within `WAIT`.
fn run_bounded(args: &[&str]) -> (Option<i32>, String, String) {
    let child = Command::new(crate::cli::BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(out) = rx.recv_timeout(WAIT) else {
        let _ = Command::new("kill").args(["-9", &pid]).status();
        panic!("hookroute {args:?} did not finish within {WAIT:?}");
    };
    let out = out.expect("output");
    let (stdout, stderr) = crate::cli::text(&out);
    (out.status.code(), stdout, stderr)
}

#[tokio::test]
async fn a_cross_site_replay_is_refused_and_a_delivered_one_needs_force() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &other.url, &other.url)).await;
    assert_eq!(app.post_event(ready(1)).await, 202);
    slack.wait_for(1, WAIT).await;
    let id = eventually("the slack delivery delivered", || async {
        let rows = app.store.list(hookroute::store::Filter::default()).await.expect("list");
        rows.iter().find(|d| d.destination == "ops-slack" && d.status == "delivered").map(|d| d.id)
    })
    .await;
    let replay = format!("{}/api/deliveries/{id}/replay", app.admin);

    // What a web page's `fetch(url, {method: 'POST', body: 'x'})` sends.
    let (status, body) = answer(
        app.client
            .post(&replay)
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "text/plain;charset=UTF-8")
            .body("x"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // Not JSON, even without browser headers: refused.
    let (status, _) = answer(app.client.post(&replay).body("x")).await;
    assert_eq!(status, 415);
    // Same-origin JSON, but the delivery was delivered: only with force.
    let (status, body) = answer(app.client.post(&replay).json(&json!({}))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("force")), "{body}");
    let (status, body) =
        answer(app.client.post(format!("{}/api/replay", app.admin)).json(&json!({"status": "delivered"})))
            .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(slack.got().len(), 1, "nothing was sent again");

    let (status, body) = answer(
        app.client
            .post(&replay)
            .header("origin", app.admin.as_str())
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"force": true})),
    )
    .await;
    assert_eq!((status, body), (200, json!({"replayed": 1})));
    slack.wait_for(2, WAIT).await;
}

#[tokio::test]
async fn a_foreign_host_is_refused_and_every_answer_is_hardened() {
    let slack = Receiver::start().await;
    let text = rules(&slack.url, &slack.url, &slack.url)
        .replace("settings:\n", "settings:\n  admin_allowed_hosts: [hookroute.internal]\n");
    let app = App::start(&text).await;
    for path in ["/api/events", "/api/overview", "/", "/assets/app.js", "/metrics", "/nope"] {
        let url = format!("{}{path}", app.admin);
        let r = app.client.get(&url).header("host", "attacker.example").send().await.expect("GET");
        assert_eq!(r.status(), 421, "{path} with a foreign Host");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        let r = app.client.get(&url).header("host", "hookroute.internal:9090").send().await.expect("GET");
        assert_ne!(r.status(), 421, "{path} with an allowed Host");
        let r = app.client.get(&url).send().await.expect("GET");
        let csp = r.headers()["content-security-policy"].to_str().expect("csp");
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    let r = app
        .client
        .post(format!("{}/api/reload", app.admin))
        .header("host", "attacker.example")
        .json(&json!({}));
    assert_eq!(answer(r).await.0, 421);
    // The dashboard has no inline script or style for the CSP to block.
    let page = app.client.get(&app.admin).send().await.expect("GET /").text().await.expect("text");
    assert!(!page.contains("<script>") && !page.contains("style=") && !page.contains("<style"), "{page}");
}

#[tokio::test]
async fn posted_rules_cannot_read_the_servers_environment_or_files() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let text = rules(&slack.url, &other.url, &other.url);
    let (_dir, path) = crate::cli::write_temp("rules.yaml", &text);
    let server = crate::cli::serve_env(&path, &[], &[("HC_SECRET", "hc-secret-value-5e1")]);
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_owned();
    let draft = text.replace(
        "text: \"Order {{ payload.id }} is ready to schedule\"",
        "text: \"{{ '${HC_SECRET}' | upper }} and ${file:/etc/hostname}\"",
    );
    assert_ne!(draft, text);
    let client = reqwest::Client::new();
    let (status, report) = answer(
        client
            .post(format!("{}/api/dry-run", server.admin))
            .json(&json!({"event": ready(3), "rules": draft})),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let shown = report.to_string();
    assert!(shown.contains("PLACEHOLDER-HC_SECRET"), "the draft compiled with a placeholder: {shown}");
    assert!(!shown.to_lowercase().contains("hc-secret-value-5e1"), "{shown}");
    if hostname.len() > 3 {
        assert!(!shown.contains(&hostname), "the file was read: {shown}");
    }
    // Diagnostics of a broken draft do not echo values either.
    let broken = text.replace("max_attempts: 4", "max_attempts: 4\n  retention: \"${HC_SECRET}\"");
    assert_ne!(broken, text);
    let (status, report) = answer(
        client
            .post(format!("{}/api/dry-run", server.admin))
            .json(&json!({"event": ready(3), "rules": broken})),
    )
    .await;
    assert_eq!(status, 422, "{report}");
    assert!(!report.to_string().contains("hc-secret-value-5e1"), "{report}");
}

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
    use hookroute::store::testing::TestDatabase;
    let db = TestDatabase::create().await.expect("PostgreSQL on 127.0.0.1:5432");
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

#[tokio::test]
async fn a_reachable_admin_listener_needs_a_token_which_can_come_from_a_file() {
    let (dir, path) = crate::cli::write_temp(
        "rules.yaml",
        &rules("http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9"),
    );
    let (code, _, stderr) =
        run_bounded(&["serve", "--rules", &path, "--listen", "127.0.0.1:0", "--admin-listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("refusing to start") && stderr.contains("--admin-allow-no-token"), "{stderr}");

    let token_file = std::path::Path::new(&path).with_file_name("admin-token");
    std::fs::write(&token_file, "tok-from-file-81\n").expect("write");
    let server = crate::cli::serve(&path, &["--admin-token-file", token_file.to_str().expect("utf8")]);
    let client = reqwest::Client::new();
    let events = format!("{}/api/events", server.admin);
    assert_eq!(client.get(&events).send().await.expect("GET").status(), 401);
    assert_eq!(client.get(&events).bearer_auth("tok-from-file-81").send().await.expect("GET").status(), 200);
    let ps = std::fs::read_to_string(format!("/proc/{}/cmdline", server.child.id())).expect("cmdline");
    assert!(!ps.contains("tok-from-file-81"), "the token is not on the command line");
    drop(server);
    drop(dir);
}

#[tokio::test]
async fn the_replay_command_needs_force_for_delivered_and_is_content_with_nothing_to_do() {
    let slack = Receiver::start().await;
    let app = App::start(&rules(&slack.url, &slack.url, &slack.url)).await;
    let url = app.store_url.clone();
    let replay = |args: &[&str]| {
        let mut all = vec!["replay", "--store", url.as_str()];
        all.extend_from_slice(args);
        let owned: Vec<String> = all.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            run_bounded(&owned.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let (code, stdout, stderr) = replay(&["--status", "dead"]).await.expect("join");
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "nothing to replay: no dead deliveries");

    assert_eq!(app.post_event(ready(8)).await, 202);
    slack.wait_for(2, WAIT).await;
    let id = eventually("a delivered delivery", || async {
        let rows = app.store.list(hookroute::store::Filter::default()).await.expect("list");
        rows.iter()
            .find(|d| d.destination == "ops-slack" && d.status == "delivered")
            .map(|d| d.id.to_string())
    })
    .await;
    let (code, _, stderr) = replay(&[&id]).await.expect("join");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("delivered already") && stderr.contains("--force"), "{stderr}");
    let (code, _, stderr) = replay(&["--status", "delivered"]).await.expect("join");
    assert_eq!(code, Some(1), "{stderr}");
    let (code, stdout, stderr) = replay(&[&id, "--force"]).await.expect("join");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "1 delivery queued for a new attempt series");
    slack.wait_for(3, WAIT).await;
}

#[tokio::test]
async fn a_reload_that_drops_the_token_of_a_reachable_listener_closes_the_api() {
    let slack = Receiver::start().await;
    let text = rules(&slack.url, &slack.url, &slack.url)
        .replace("settings:\n", "settings:\n  admin_token: \"tok-77aa\"\n");
    let app = App::start(&text).await;
    // The admin listener as `serve --admin-listen 0.0.0.0:9090` builds it (bound to loopback here).
    let state = hookroute::admin::AdminState {
        reloader: std::sync::Arc::clone(&app.reloader),
        store: std::sync::Arc::clone(&app.store),
        metrics: std::sync::Arc::new(hookroute::metrics::Metrics::new()),
        token: None,
        token_required: true,
        started_at: 0.0,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let admin = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(hookroute::admin::run(listener, state, std::future::pending()));
    let events = format!("{admin}/api/events");
    assert_eq!(app.client.get(&events).bearer_auth("tok-77aa").send().await.expect("GET").status(), 200);

    std::fs::write(&app.rules_path, text.replace("  admin_token: \"tok-77aa\"\n", "")).expect("write");
    // The watcher applies the file; from then on the API is closed, not open.
    let body = eventually("the reload without a token applied", || async {
        let (status, body) = answer(app.client.get(&events).bearer_auth("tok-77aa")).await;
        (status != 200).then_some((status, body))
    })
    .await;
    assert_eq!(body.0, 503, "{}", body.1);
    assert!(body.1["error"].as_str().is_some_and(|e| e.contains("no admin token")), "{}", body.1);
    assert!(app.reloader.current().load().settings.admin_token.is_none());
}
