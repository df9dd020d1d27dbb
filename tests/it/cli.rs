//! The command line against the real binary: check, test, sign, send, serve (refusal, SIGHUP, SIGTERM).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Receiver, SECRET, WAIT, rules};

pub const BIN: &str = env!("CARGO_BIN_EXE_hookroute");

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("NO_COLOR", "1").output().expect("run hookroute")
}

pub fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

pub fn write_temp(name: &str, content: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write");
    let p = path.to_str().expect("utf8").to_owned();
    (dir, p)
}

const BROKEN: &str = r#"sources:
  house-check:
    verify:
      scheme: hmac-sha257
      secrets: ["s"]
destinations:
  ops-slack:
    type: slack
    url: "https://hooks.slack.com/services/T0/B0/XXX"
rules:
  - name: one
    events: ["order.updated"]
    when:
      all:
        - path: "$.payload.status"
          eqals: "to schedule"
    actions:
      - to: ops-slack
        text: "ok"
  - name: two
    source: github
    when: "$.payload[?("
    actions:
      - to: nowhere
        text: "{{ payload.id "
  - name: one
    events: ["files.created"]
    when:
      path: "$.payload.name"
      matches: "([a-z"
    actions:
      - to: ops-slack
        text: "x"
        subject: "not for slack"
"#;

#[test]
fn check_reports_every_problem_with_file_line_col_and_field() {
    let (_dir, path) = write_temp("broken.yaml", BROKEN);
    let out = run(&["check", "--rules", &path]);
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = text(&out);
    let expected = [
        format!(
            "{path}:4:15: sources.house-check.verify.scheme: unknown value `hmac-sha257`, expected one of: hmac-sha256, github, stripe, shopify, slack, standard-webhooks, svix, none"
        ),
        format!(
            "{path}:16:11: rules[0].when.all[0].eqals: unknown condition key `eqals`, expected one of: all, any, not, path, header, equals, not_equals, in, not_in, exists, matches, contains, starts_with, ends_with, gt, gte, lt, lte"
        ),
        format!("{path}:21:13: rules[1].source: unknown source `github`, expected one of: "),
        format!("{path}:22:11: rules[1].when: invalid JSONPath at character"),
        format!(
            "{path}:24:13: rules[1].actions[0].to: unknown destination `nowhere`, expected one of: ops-slack"
        ),
        format!("{path}:26:11: rules[2].name: duplicate rule name `one` (first used at line 11)"),
        format!("{path}:30:16: rules[2].when.matches: invalid regex:"),
        format!("{path}:34:18: rules[2].actions[0].subject: `subject` does not apply to a slack destination"),
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), expected.len(), "stdout:\n{stdout}");
    for (line, want) in lines.iter().zip(&expected) {
        assert!(line.starts_with(want.as_str()), "\n got: {line}\nwant: {want}…");
    }
    assert!(stderr.contains("8 error(s)"), "{stderr}");
}

#[test]
fn check_accepts_the_shipped_local_rules() {
    let out = run(&["check", "--rules", "rules/local.yaml"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("ok: 1 source(s), 2 destination(s), 3 rule(s)"), "{stdout}");
    let missing = run(&["check", "--rules", "rules/does-not-exist.yaml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).1.contains("cannot read rules file"));
}

#[test]
fn serve_refuses_an_invalid_rules_file() {
    let (_dir, path) = write_temp("broken.yaml", BROKEN);
    let out = run(&["serve", "--rules", &path, "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("refusing to start: 8 error(s)"), "{stderr}");
    assert!(stderr.contains(":24:13: rules[1].actions[0].to: unknown destination"), "{stderr}");
}

#[test]
fn test_command_explains_and_masks_secrets() {
    let slack_url = "https://hooks.slack.com/services/T0/B0/very-secret-path";
    let out = Command::new(BIN)
        .args(["test", "--rules", "rules/house-check.yaml", "examples/order-updated.json"])
        .env("HOUSE_CHECK_SECRET", "hc-secret-value")
        .env("SLACK_WEBHOOK_URL", slack_url)
        .env("SENDGRID_API_KEY", "SG.super-secret-key")
        .env("CRM_URL", "https://crm.example.com")
        .env("SLACK_BOT_TOKEN", "xoxb-bot-token-secret")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("MATCH order-ready-to-schedule"), "{stdout}");
    assert!(stdout.contains("POST https://slack.com/api/chat.postMessage"), "{stdout}");
    assert!(stdout.contains("authorization: Bearer ${SLACK_BOT_TOKEN}"), "{stdout}");
    assert!(
        !stdout.contains("xoxb-bot-token-secret") && !stderr.contains("xoxb-bot-token-secret"),
        "{stdout}"
    );
    assert!(stdout.contains("no    big-files: event type `order.updated` is not in its events"), "{stdout}");
    assert!(stdout.contains("POST ${SLACK_WEBHOOK_URL}"), "{stdout}");
    assert!(stdout.contains("authorization: Bearer ${SENDGRID_API_KEY}"), "{stdout}");
    assert!(stdout.contains(r#"{"text":"Order 9001 is ready to schedule (was new)"}"#), "{stdout}");
    for secret in [slack_url, "SG.super-secret-key", "hc-secret-value", "very-secret-path"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} leaked:\n{stdout}");
    }

    let (_dir, event) = write_temp("e.json", r#"{"type":"order.updated","payload":{"id":1,"status":"new"}}"#);
    let out = Command::new(BIN)
        .args(["test", "--rules", "rules/local.yaml", "--json", &event])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    assert_eq!(report["rules"][0]["matched"], json!(false));
    assert_eq!(
        report["rules"][0]["reason"],
        json!("$.payload.status becomes \"to schedule\": saw \"new\" (no previous event of this key)")
    );
    assert_eq!(report["rules"][0]["condition"]["seen"], json!(["new"]));
    assert_eq!(report["actions"], json!([]));

    let (_dir2, bad) = write_temp("bad.json", "{not json");
    let out = run(&["test", "--rules", "rules/local.yaml", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("not valid JSON"));
}

#[test]
fn sign_matches_the_library_for_files_and_stdin() {
    let body = r#"{"type":"order.updated","payload":{"id":9001,"status":"to schedule"}}"#;
    let (_dir, path) = write_temp("e.json", body);
    let out = run(&["sign", "--secret", SECRET, &path]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hookroute::sign_hex(SECRET, body.as_bytes()));
    let mut child = Command::new(BIN)
        .args(["sign", "--secret", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(body.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), hookroute::sign_hex(SECRET, body.as_bytes()));
}

/// A running `hookroute serve` child, killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// The admin listener (an ephemeral port), from its log line; empty when it is off.
    pub admin: String,
    /// Every log line so far.
    pub logs: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Sends `sig`, waits for the exit and for the last log line; returns the status and the logs.
    pub async fn stop(mut self, sig: &str) -> (std::process::ExitStatus, String) {
        signal(&self.child, sig);
        let mut child = std::mem::replace(&mut self.child, Command::new("true").spawn().expect("spawn true"));
        let reader = self.reader.take();
        let status = tokio::task::spawn_blocking(move || {
            let status = child.wait().expect("wait");
            if let Some(reader) = reader {
                let _ = reader.join();
            }
            status
        })
        .await
        .expect("join");
        let logs = self.logs.lock().expect("logs").join("\n");
        (status, logs)
    }
}

/// The value of a log field in a text (`name=value`) or JSON (`"name":"value"`) line.
fn log_field(line: &str, name: &str) -> Option<String> {
    let text = format!("{name}=");
    let json = format!("\"{name}\":\"");
    let at = line.find(&json).map(|i| i + json.len()).or_else(|| line.find(&text).map(|i| i + text.len()))?;
    Some(line[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c)).collect())
}

/// Starts `hookroute serve` with its store beside the rules file, unless `extra` names one.
pub fn serve(rules_path: &str, extra: &[&str]) -> Server {
    serve_with_env(rules_path, extra, &[])
}

/// Like [`serve`], with environment variables. The server binds port 0 and the test reads the
/// address it got from its "serving" log line, so no two tests can race for a port.
pub fn serve_with_env(rules_path: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    serve_command(Command::new(BIN), rules_path, extra, env)
}

/// Like [`serve`], with the process's open-file limit lowered to `n` (by the shell that execs it).
pub fn serve_with_fd_limit(rules_path: &str, n: u32) -> Server {
    let mut sh = Command::new("sh");
    sh.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), BIN]);
    serve_command(sh, rules_path, &[], &[])
}

/// `command` (the binary, or a wrapper that execs it) with `serve`'s arguments, once serving.
fn serve_command(mut command: Command, rules_path: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let store =
        format!("sqlite://{}", std::path::Path::new(rules_path).with_file_name("hookroute.db").display());
    let mut args = vec!["serve", "--rules", rules_path, "--listen", "127.0.0.1:0"];
    if !extra.contains(&"--store") {
        args.extend(["--store", store.as_str()]);
    }
    args.extend_from_slice(extra);
    let mut child = command
        .args(&args)
        .env("HOOKROUTE_LOG", "info")
        .env("HOOKROUTE_ADMIN_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    // Wait for the "serving" log line; the admin address comes in the line before it.
    let stderr = child.stderr.take().expect("stderr");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = Arc::clone(&logs);
    let reader = std::thread::spawn(move || {
        let mut admin = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("/metrics at http://") {
                let rest = &line[at + "/metrics at http://".len()..];
                let addr: String =
                    rest.chars().take_while(|c| c.is_ascii_alphanumeric() || ".:[]".contains(*c)).collect();
                admin = format!("http://{addr}");
            }
            // Kept before it is announced, so a test that read the address also sees the line.
            let serving = line.contains("hookroute is serving").then(|| log_field(&line, "listen"));
            kept.lock().expect("logs").push(line);
            if let Some(listen) = serving {
                let _ = tx.send((listen.unwrap_or_default(), admin.clone()));
            }
        }
    });
    let (listen, admin) = rx.recv_timeout(Duration::from_secs(20)).expect("server started");
    assert!(
        listen.starts_with("127.0.0.1:") && !listen.ends_with(":0"),
        "listen address in the log: {listen:?}"
    );
    let admin_off = env.iter().any(|(k, v)| *k == "HOOKROUTE_ADMIN_LISTEN" && *v == "off");
    assert!(admin_off || admin.starts_with("http://127.0.0.1:"), "admin address in the log: {admin:?}");
    Server { child, base: format!("http://{listen}"), admin, logs, reader: Some(reader) }
}

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().expect("kill");
    assert!(ok.success());
}

#[tokio::test]
async fn send_then_sighup_reload_then_sigterm_exit_zero() {
    let slack = Receiver::start().await;
    let other = Receiver::start().await;
    let rules_text = rules(&slack.url, &other.url, &other.url);
    let (dir, path) = write_temp("rules.yaml", &rules_text);
    let mut server = serve(&path, &["--no-watch"]);
    let (_edir, event) =
        write_temp("e.json", r#"{"type":"order.updated","payload":{"id":77,"status":"to schedule"}}"#);

    let send = |url: String, event: String| {
        tokio::task::spawn_blocking(move || run(&["send", "--url", &url, "--secret", SECRET, &event]))
    };
    let url = format!("{}/hooks/house-check", server.base);
    let out = send(url.clone(), event.clone()).await.expect("send");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("202 "), "{stdout}");
    assert_eq!(slack.wait_for(1, WAIT).await[0].json(), json!({"text": "Order 77 is ready to schedule"}));

    // With --no-watch a write alone changes nothing; SIGHUP applies it.
    std::fs::write(
        dir.path().join("rules.yaml"),
        rules_text.replace("is ready to schedule\"", "after SIGHUP\""),
    )
    .expect("write");
    // "Nothing happens": watch past the 1 s poll that would have picked the write up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(send(url.clone(), event.clone()).await.expect("send").status.code(), Some(0));
    assert_eq!(slack.wait_for(2, WAIT).await[1].json(), json!({"text": "Order 77 is ready to schedule"}));
    signal(&server.child, "-HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = slack.got().len();
        assert_eq!(send(url.clone(), event.clone()).await.expect("send").status.code(), Some(0));
        let got = slack.wait_for(n + 1, WAIT).await;
        if got[n].json() == json!({"text": "Order 77 after SIGHUP"}) {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload the rules");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A wrong secret is refused and `send` exits non-zero.
    let out = tokio::task::spawn_blocking({
        let (url, event) = (url.clone(), event.clone());
        move || run(&["send", "--url", &url, "--secret", "wrong", &event])
    })
    .await
    .expect("send");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).0.starts_with("401 "));

    signal(&server.child, "-TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn output_into_a_closed_pipe_exits_quietly() {
    // `hookroute schema | head -c0`: the reader is gone before the first write.
    let mut child =
        Command::new(BIN).arg("schema").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// One process per SQLite file: a second `serve` on the file the first one serves refuses to
/// start (a flock on `PATH.serve-lock`, not a check that can race) and exits 1; once the first
/// one stopped, the file can be served again.
#[tokio::test]
async fn a_second_serve_on_the_same_sqlite_file_is_refused() {
    let slack = Receiver::start().await;
    let (_dir, path) = write_temp("rules.yaml", &rules(&slack.url, &slack.url, &slack.url));
    let db = std::path::Path::new(&path).with_file_name("hookroute.db");
    let store = format!("sqlite://{}", db.display());
    let mut first = serve(&path, &["--store", &store]);
    let mut second = Command::new(BIN)
        .args(["serve", "--rules", &path, "--listen", "127.0.0.1:0", "--store", &store])
        .env("HOOKROUTE_ADMIN_LISTEN", "off")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn second serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second serve did not refuse to start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().expect("stderr"), &mut stderr).expect("read");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refusing to start"), "{stderr}");
    assert!(stderr.contains("in use by another `hookroute serve`"), "{stderr}");
    assert!(stderr.contains("hookroute.db.serve-lock"), "{stderr}");
    crate::support::report(format_args!(
        "second serve refused: {}",
        stderr.trim().lines().last().unwrap_or("")
    ));
    signal(&first.child, "-TERM");
    assert!(first.child.wait().expect("wait").success());
    let mut again = serve(&path, &["--store", &store]);
    signal(&again.child, "-TERM");
    assert!(again.child.wait().expect("wait").success(), "served again after the first one stopped");
}
