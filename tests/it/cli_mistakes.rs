//! The command line against a newcomer's mistakes, through the real binary: a template that cannot
//! render, credentials written into a URL, a mistyped store, a bad `--since`.

use crate::cli::{run, text, write_temp};

const RULES: &str = r#"sources: {s: {verify: {scheme: none}}}
destinations:
  api: {type: http, url: "http://user:pw-in-url@127.0.0.1:9/x?token=tok-in-url&b=2"}
  console: {type: log}
rules:
  - name: r
    actions:
      - to: api
      - to: console
        text: "x {{ payload.nope }} y"
"#;

const EVENT: &str = r#"{"type":"t","payload":{"id":1}}"#;

fn dry_run(rules: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let (dir, rules_path) = write_temp("rules.yaml", rules);
    let event = dir.path().join("e.json");
    std::fs::write(&event, EVENT).expect("write");
    let mut args = vec!["test", "--rules", &rules_path];
    args.extend_from_slice(extra);
    let event = event.to_str().expect("utf8").to_owned();
    args.push(&event);
    let out = run(&args);
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn test_command_exits_1_and_names_the_undefined_variable_when_a_template_fails() {
    for extra in [&[][..], &["--json"][..]] {
        let (code, stdout, stderr) = dry_run(RULES, extra);
        assert_eq!(code, Some(1), "{extra:?}\n{stdout}{stderr}");
        assert!(stdout.contains("`payload.nope` is undefined"), "{extra:?}\n{stdout}");
        assert!(stderr.contains("1 action(s) failed to render"), "{stderr}");
    }
    let fine = RULES.replace("payload.nope", "payload.id");
    let (code, stdout, stderr) = dry_run(&fine, &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("x 1 y"), "{stdout}");
}

#[test]
fn test_command_masks_userinfo_and_query_values_of_a_literal_url() {
    let (_, stdout, stderr) = dry_run(RULES, &[]);
    assert!(stdout.contains("POST http://***@127.0.0.1:9/x?token=***&b=***"), "{stdout}");
    for secret in ["pw-in-url", "tok-in-url", "user:"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} shown:\n{stdout}{stderr}");
    }
}

#[test]
fn inspecting_commands_refuse_a_missing_store_and_create_nothing() {
    let (dir, rules) = write_temp("rules.yaml", RULES);
    let path = dir.path().join("typo.db");
    let url = format!("sqlite://{}", path.display());
    let shown = format!("`{}` does not exist; only `hookroute serve` creates a store", path.display());
    for (args, code) in [
        (vec!["deliveries", "--store", &url], 1),
        (vec!["replay", "--store", &url, "1"], 1),
        (vec!["prune", "--store", &url], 1),
        // `diff` keeps its documented codes: 1 means "changes", 2 "could not compare".
        (vec!["diff", "--rules", &rules, "--store", &url], 2),
    ] {
        let out = run(&args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}\n{stdout}{stderr}");
        assert!(stderr.contains(&shown), "{args:?}: {stderr}");
        assert!(!stdout.contains("no deliveries"), "{args:?}: {stdout}");
        assert!(!path.exists(), "{args:?} created {}", path.display());
    }
}

#[test]
fn errors_say_each_thing_once() {
    let (dir, rules) = write_temp("rules.yaml", RULES);
    let once = |args: &[&str], phrase: &str| {
        let out = run(args);
        let (_, stderr) = text(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(stderr.matches(phrase).count(), 1, "{args:?}: `{phrase}` in\n{stderr}");
    };
    let store = format!("sqlite://{}", dir.path().join("none.db").display());
    once(&["diff", "--rules", &rules, "--store", &store, "--since", "1y"], "--since 1y");
    once(&["replay", "--store", &store, "--status", "dead", "--since", "1y"], "--since 1y");
    // A directory exists but is no database: SQLite's own message, said once.
    let not_a_file = format!("sqlite://{}", dir.path().display());
    once(&["deliveries", "--store", &not_a_file], "unable to open database file");
    once(&["deliveries", "--store", "mysql://127.0.0.1/x"], "mysql://127.0.0.1/x");
}

/// The README's rotation example, outside a rotation: `HOUSE_CHECK_OLD_SECRET` is unset.
const ROTATION: &str = r#"sources:
  house-check:
    verify:
      scheme: hmac-sha256
      secrets: ["${HOUSE_CHECK_SECRET}", "${HOUSE_CHECK_OLD_SECRET:-}"]
destinations:
  console: {type: log}
rules:
  - name: r
    actions: [{to: console, text: "{{ type }}"}]
"#;

fn rotation_command(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(crate::cli::BIN);
    c.args(args).env("HOUSE_CHECK_SECRET", "current-secret").env_remove("HOUSE_CHECK_OLD_SECRET");
    c
}

#[test]
fn an_empty_rotation_secret_is_a_warning_in_check_and_in_the_serve_log() {
    let (dir, rules) = write_temp("rules.yaml", ROTATION);
    let warning = format!("{rules}:5:42: warning: sources.house-check.verify.secrets[1]: is empty");

    let out = rotation_command(&["check", "--rules", &rules]).output().expect("check");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&warning), "{stdout}");

    let store = format!("sqlite://{}", dir.path().join("h.db").display());
    let lines = serve_until_serving(&rules, &store);
    assert!(lines.last().is_some_and(|l| l.contains("hookroute is serving")), "serve started:\n{lines:#?}");
    assert!(lines.iter().any(|l| l.contains(&warning)), "the warning in the serve log:\n{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("current-secret")), "no secret in the log");
}

#[test]
fn check_names_tab_indentation_at_the_tab() {
    let (_dir, rules) = write_temp("rules.yaml", "sources:\n  s:\n    verify:\n\t  scheme: none\n");
    let out = run(&["check", "--rules", &rules]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stdout, format!("{rules}:4:1: tabs are not allowed for indentation; use spaces\n"));
}

#[test]
fn check_reports_an_unknown_key_a_bad_jsonpath_and_a_duplicate_name_in_one_rule() {
    let yaml = "sources: {s: {verify: {scheme: none}}}\ndestinations: {d: {type: log}}\nrules:\n  - {name: r, actions: [{to: d, text: t}]}\n  - name: r\n    evnts: [a]\n    when: \"$.payload[?(\"\n    actions: [{to: d, text: t}]\n";
    let (_dir, rules) = write_temp("rules.yaml", yaml);
    let out = run(&["check", "--rules", &rules]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let errors: Vec<&str> = stdout.lines().filter(|l| !l.contains(": warning: ")).collect();
    assert_eq!(
        errors,
        [
            format!("{rules}:5:11: rules[1].name: duplicate rule name `r` (first used at line 4)"),
            format!(
                "{rules}:6:5: rules[1].evnts: unknown field `evnts`, expected one of: name, source, events, when, actions, stop, after, still"
            ),
            format!(
                "{rules}:7:11: rules[1].when: invalid JSONPath at character 13: in long-hand segment, parser error"
            ),
        ],
        "{stdout}"
    );
    assert!(stderr.contains("3 error(s)"), "{stderr}");
}

#[test]
fn a_store_password_is_not_shown_in_errors() {
    // Nothing listens on port 1: the connection fails at once.
    let url = "postgres://hookroute:store-pw-123@127.0.0.1:1/x";
    let out = run(&["deliveries", "--store", url]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("cannot open the store postgres://hookroute:***@127.0.0.1:1/x"), "{stderr}");
    assert!(!stdout.contains("store-pw-123") && !stderr.contains("store-pw-123"), "{stderr}");
}

/// Runs `serve` on port 0 until it logs "hookroute is serving" (or 20 s pass), then stops it;
/// returns its log lines.
fn serve_until_serving(rules: &str, store: &str) -> Vec<String> {
    use std::io::BufRead;
    let args =
        ["serve", "--rules", rules, "--listen", "127.0.0.1:0", "--admin-listen", "off", "--store", store];
    let mut child = rotation_command(&args)
        .env("HOOKROUTE_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let serving = line.contains("hookroute is serving");
            seen.push(line);
            if serving {
                break;
            }
        }
        let _ = tx.send(seen);
    });
    let lines = rx.recv_timeout(std::time::Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    lines.expect("serve wrote its log")
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn the_serve_log_shows_a_store_url_without_its_password() {
    let db = crate::test_database::TestDatabase::create().await;
    // Trust authentication ignores the password; the log must not show it.
    let url = db.url().replacen("@", ":store-pw-456@", 1);
    assert!(url.contains(":store-pw-456@"), "{url}");
    let (_dir, rules) = write_temp("rules.yaml", ROTATION);
    let lines = tokio::task::spawn_blocking(move || serve_until_serving(&rules, &url)).await.expect("serve");
    let serving = lines.iter().find(|l| l.contains("hookroute is serving")).expect("serving line");
    assert!(serving.contains(":***@"), "{serving}");
    assert!(!lines.iter().any(|l| l.contains("store-pw-456")), "{lines:#?}");
}
