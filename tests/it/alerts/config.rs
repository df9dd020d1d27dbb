//! hookroute's own events in the rules file, dry runs and the shipped samples (issue 16).

use std::time::Duration;

use hookroute::config::compile_text;

/// `(rules file, expected error text or `None` for a clean compile)`.
fn check_config(text: &str, expected: Option<&str>) {
    match (compile_text(text, "rules.yaml"), expected) {
        (Ok(_), None) => {}
        (Ok(_), Some(e)) => panic!("compiled, expected `{e}`:\n{text}"),
        (Err(d), None) => panic!("{d}"),
        (Err(d), Some(e)) => assert!(d.to_string().contains(e), "expected `{e}` in:\n{d}"),
    }
}

#[test]
fn the_built_in_source_and_alert_settings_in_the_rules_file() {
    let rule = "rules:\n  - {name: ops, source: hookroute, events: [\"hookroute.*\"], actions: [{to: log, text: hi}]}\n";
    let log = "destinations:\n  log: {type: log}\n";
    check_config(&format!("{log}{rule}"), None);
    check_config(
        &format!("sources:\n  hookroute:\n    verify: {{scheme: none}}\n{log}{rule}"),
        Some("rules.yaml:2:3: sources.hookroute: `hookroute` is the built-in source"),
    );
    check_config(
        &format!("{log}rules:\n  - {{name: x, source: hookroot, actions: [{{to: log, text: hi}}]}}\n"),
        Some("unknown source `hookroot`, expected one of: hookroute"),
    );
    check_config(
        &format!(
            "{log}rules:\n  - {{name: x, source: hookroute, when: {{path: \"$.payload.count\", changed: true}}, actions: [{{to: log, text: hi}}]}}\n"
        ),
        Some("the built-in `hookroute` source has none"),
    );
    check_config(&format!("settings:\n  alerts: {{failing_after: 30s, queue_age: 1h}}\n{log}{rule}"), None);
    check_config(
        "settings:\n  alerts: {failing_after: 100ms}\n",
        Some("settings.alerts.failing_after: must be at least 1s"),
    );
    check_config("settings:\n  alerts: {queue_age: soon}\n", Some("settings.alerts.queue_age"));
    check_config("settings:\n  alerts: {failing: 5m}\n", Some("unknown field `failing`"));
    let (config, _) = compile_text(&format!("{log}{rule}"), "rules.yaml").expect("compiles");
    assert_eq!(config.settings.alerts.failing_after, Duration::from_secs(300));
    assert_eq!(config.settings.alerts.queue_age, Duration::from_secs(900));
}

#[test]
fn own_events_are_dry_run_like_any_other() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let rules = "destinations:\n  log: {type: log}\nrules:\n  - name: ops\n    source: hookroute\n    events: [\"hookroute.destination.*\"]\n    actions: [{to: log, text: \"{{ payload.destination }} {{ type }}\"}]\n  - name: everything\n    actions: [{to: log, text: \"{{ type }}\"}]\n";
    let (config, _) = compile_text(rules, "rules.yaml").expect("compiles");
    for (file, fires) in [
        ("hookroute.destination.failing.json", true),
        ("hookroute.destination.recovered.json", true),
        ("hookroute.delivery.dead.json", false),
    ] {
        let raw = std::fs::read(examples.join(file)).expect("example");
        let report = hookroute::dry_run::build(
            &config,
            Some("hookroute"),
            bytes::Bytes::from(raw),
            &http::HeaderMap::new(),
            None,
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(report.source, "hookroute");
        assert_eq!(report.actions.len(), usize::from(fires), "{file}");
        // The catch-all rule without `source:` is not shown as matching what it never receives.
        let everything = report.rules.iter().find(|t| t.rule == "everything").expect("traced");
        assert!(!everything.matched, "{file}");
        assert!(
            everything.reason.as_deref().is_some_and(|r| r.contains("does not see hookroute's own events")),
            "{:?}",
            everything.reason
        );
    }
}

#[test]
fn hookroute_test_dry_runs_the_shipped_samples_with_source_hookroute() {
    for example in [
        "examples/hookroute.delivery.dead.json",
        "examples/hookroute.destination.failing.json",
        "examples/hookroute.destination.recovered.json",
        "examples/hookroute.reload.rejected.json",
        "examples/hookroute.queue.stale.json",
    ] {
        let out = std::process::Command::new(crate::cli::BIN)
            .args(["test", "--rules", "rules/house-check.yaml", "--source", "hookroute", example])
            .env("HOUSE_CHECK_SECRET", "hc-secret-value")
            .env("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/x")
            .env("SLACK_BOT_TOKEN", "xoxb-bot-token-secret")
            .env("SENDGRID_API_KEY", "SG.super-secret-key")
            .env("CRM_URL", "https://crm.example.com")
            .output()
            .expect("run");
        let (stdout, stderr) = crate::cli::text(&out);
        assert_eq!(out.status.code(), Some(0), "{example}: {stderr}");
        assert!(stdout.contains("on source `hookroute`"), "{stdout}");
        assert!(stdout.contains("MATCH tell-ops-about-hookroute"), "{stdout}");
        assert!(stdout.contains("no    order-ready-to-schedule"), "{stdout}");
        let event_type = example.trim_start_matches("examples/").trim_end_matches(".json");
        assert!(stdout.contains(&format!("\"subject\":\"hookroute: {event_type}\"")), "{stdout}");
        assert!(!stdout.contains("SG.super-secret-key"), "{stdout}");
    }
    // Without `--source`, the file's one source is meant; naming an unknown one is an error.
    let out = crate::cli::run(&[
        "test",
        "--rules",
        "rules/local.yaml",
        "--source",
        "hookrout",
        "examples/hookroute.queue.stale.json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", crate::cli::text(&out));
}

#[test]
fn the_readme_operator_events_example_compiles_with_the_default_thresholds() {
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read");
    let section = &readme[readme.find("## Operator events").expect("the README section")..];
    let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let yaml = &section[start..start + section[start..].find("```").expect("the block ends")];
    let env = |_: &str| Some("SG.x".to_owned());
    let (config, _) = hookroute::config::compile_text_with_env(yaml, "README.md", &env)
        .unwrap_or_else(|d| panic!("the README example fails:\n{d}"));
    assert_eq!(config.settings.alerts, hookroute::config::AlertSettings::default());
    assert_eq!(config.rules.rules()[0].source.as_deref(), Some("hookroute"));
}
