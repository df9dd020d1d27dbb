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
}
