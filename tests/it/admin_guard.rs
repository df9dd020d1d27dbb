//! Issue 12's admin rows, tried from outside: cross-site and DNS-rebinding requests to the admin
//! listener, replays of delivered deliveries (API and CLI), posted rules reading the server's
//! secrets, and the token a reachable listener needs. The secrets rows are in `secrets.rs`.

use crate::support::eventually;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{App, Receiver, WAIT, rules};

pub(crate) fn ready(id: u32) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "to schedule"}})
}

pub(crate) async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Runs the real binary, failing the test (and killing it) if it has not exited within `WAIT`.
pub(crate) fn run_bounded(args: &[&str]) -> (Option<i32>, String, String) {
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
    let server = crate::cli::serve_with_env(&path, &[], &[("HC_SECRET", "hc-secret-value-5e1")]);
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
