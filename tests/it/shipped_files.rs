//! The files we ship in `rules/` and `examples/` load and behave as documented, so they never rot.

use std::path::Path;

use bytes::Bytes;
use hookroute::config::compile_text_with_env;
use hookroute::route::{self, ParsedEvent};

/// Every variable set, so files that need an environment still compile.
fn any_env(_: &str) -> Option<String> {
    Some("http://127.0.0.1:9".to_owned())
}

fn files(dir: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<_> = std::fs::read_dir(&root)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no .{ext} files in {dir}");
    out
}

fn fired(rules_file: &str, example: &Path) -> Vec<String> {
    fired_after(rules_file, None, example)
}

/// The deliveries `example` causes when `prev` was the previous event of its key.
fn fired_after(rules_file: &str, prev: Option<&Path>, example: &Path) -> Vec<String> {
    let prev: Option<serde_json::Value> =
        prev.map(|p| serde_json::from_slice(&std::fs::read(p).expect("read prev")).expect("prev is JSON"));
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rules_file)).expect("read");
    let (config, _) = compile_text_with_env(&text, rules_file, &any_env).expect("compiles");
    let raw = Bytes::from(std::fs::read(example).expect("read example"));
    let body: serde_json::Value = serde_json::from_slice(&raw).expect("example is JSON");
    let event_type = route::event_type(&body).expect("example has a type").to_owned();
    // hookroute's own events come from its built-in source.
    let source = if event_type.starts_with("hookroute.") { "hookroute" } else { "house-check" };
    let event = ParsedEvent {
        source,
        event_type: &event_type,
        body: &body,
        raw_body: &raw,
        content_type: Some("application/json"),
        received_at: "2026-11-29T00:00:00Z",
        headers: None,
    };
    route::plan_prev(&config, &event, prev.as_ref())
        .into_iter()
        .map(|p| {
            p.request.unwrap_or_else(|e| panic!("{} renders: {e}", example.display()));
            format!("{}->{}", p.rule, p.destination)
        })
        .collect()
}

#[test]
fn every_rules_file_compiles_without_errors() {
    for path in files("rules", "yaml") {
        let text = std::fs::read_to_string(&path).expect("read");
        if let Err(d) = compile_text_with_env(&text, &path.display().to_string(), &any_env) {
            panic!("{d}");
        }
    }
}

#[test]
fn every_example_event_is_routed_as_documented() {
    let examples = files("examples", "json");
    let names: Vec<_> =
        examples.iter().map(|p| p.file_name().expect("name").to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        [
            "files-created.json",
            "hookroute.delivery.dead.json",
            "hookroute.destination.failing.json",
            "hookroute.destination.recovered.json",
            "hookroute.queue.stale.json",
            "hookroute.reload.rejected.json",
            "inspection-updated.json",
            "order-update.json",
            "order-updated-note.json",
            "order-updated.json"
        ]
    );
    let expect = |file: &str, rules: &str, want: &[&str]| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(file);
        assert_eq!(fired(rules, &path), want, "{file} through {rules}");
    };
    expect(
        "order-updated.json",
        "rules/house-check.yaml",
        &[
            "order-ready-to-schedule->ops-slack",
            "order-ready-to-schedule->planning-mail",
            "order-stuck->ops-slack",
            "order-status-to-crm->crm",
            "order-thread->ops-slack-app",
        ],
    );
    expect(
        "order-update.json",
        "rules/house-check.yaml",
        &[
            "order-ready-to-schedule->ops-slack",
            "order-ready-to-schedule->planning-mail",
            "order-stuck->ops-slack",
            "order-status-to-crm->crm",
            "order-thread->ops-slack-app",
        ],
    );
    expect("files-created.json", "rules/house-check.yaml", &["big-files->ops-slack"]);
    expect("inspection-updated.json", "rules/house-check.yaml", &["inspections-to-crm->crm"]);
    expect("order-updated.json", "rules/local.yaml", &["order-ready-to-schedule->console"]);
    // The same order again with only a note changed: no second "ready" message, no CRM update.
    let example = |f: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(f);
    let (first, note) = (example("order-updated.json"), example("order-updated-note.json"));
    assert_eq!(fired_after("rules/house-check.yaml", Some(&first), &note), Vec::<String>::new());
    assert_eq!(fired_after("rules/local.yaml", Some(&first), &note), Vec::<String>::new());
    expect("files-created.json", "rules/local.yaml", &["big-files->console"]);
    // hookroute's own events reach only the rule that names their source.
    for own in [
        "hookroute.delivery.dead.json",
        "hookroute.destination.failing.json",
        "hookroute.destination.recovered.json",
        "hookroute.queue.stale.json",
        "hookroute.reload.rejected.json",
    ] {
        expect(own, "rules/house-check.yaml", &["tell-ops-about-hookroute->ops-email"]);
        expect(own, "rules/local.yaml", &[]);
    }
    expect("inspection-updated.json", "rules/local.yaml", &["every-inspection->console"]);
}

fn rules_schema() -> jsonschema::Validator {
    let out = std::process::Command::new(crate::cli::BIN).arg("schema").output().expect("run schema");
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

fn schema_errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let instance: serde_json::Value = serde_saphyr::from_str(yaml).expect("YAML");
    validator.iter_errors(&instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

#[test]
fn every_shipped_rules_file_matches_the_schema() {
    let validator = rules_schema();
    for path in files("rules", "yaml") {
        let text = std::fs::read_to_string(&path).expect("read");
        let errors = schema_errors(&validator, &text);
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

#[test]
fn the_schema_flags_what_check_refuses() {
    let validator = rules_schema();
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/house-check.yaml"))
        .expect("read");
    for (from, to) in [
        ("    events:", "    evnts:"),
        ("type: slack", "type: slak"),
        ("scheme: hmac-sha256", "scheme: hmac-sha257"),
        ("becomes: \"to schedule\"", "becomes: \"to schedule\"\n          matches: \"x\""),
        ("secrets: [", "secret: ["),
    ] {
        assert!(base.contains(from), "the example still has `{from}`");
        let broken = base.replacen(from, to, 1);
        assert!(!schema_errors(&validator, &broken).is_empty(), "the schema accepts `{to}`");
    }
}

/// The first ```yaml block after the README heading `heading`.
fn readme_yaml_after(heading: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("read");
    let section = &readme[readme.find(heading).unwrap_or_else(|| panic!("README has `{heading}`"))..];
    let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let len = section[start..].find("```").expect("the block ends");
    section[start..start + len].to_owned()
}

/// The settings every omitted key gets.
fn defaults() -> hookroute::config::Settings {
    let (config, _) = compile_text_with_env("sources: {}\n", "defaults", &any_env).expect("compiles");
    config.settings
}

#[test]
fn the_readme_rules_reference_starts_with_the_old_secret_unset() {
    let yaml = readme_yaml_after("## Rules reference");
    assert!(yaml.contains("${HOUSE_CHECK_OLD_SECRET:-}"), "the rotation example is still there");
    let env = |name: &str| (name != "HOUSE_CHECK_OLD_SECRET").then(|| "http://127.0.0.1:9".to_owned());
    let (config, warnings) = compile_text_with_env(&yaml, "README.md", &env)
        .unwrap_or_else(|d| panic!("the README example fails:\n{d}"));
    let warnings: Vec<String> = warnings.items.iter().map(|d| d.render("README.md")).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("warning: sources.house-check.verify.secrets[1]: is empty"),
        "{warnings:#?}"
    );
    let (shown, default) = (&config.settings, defaults());
    assert_eq!(shown.max_body_bytes, default.max_body_bytes, "max_body_bytes");
    assert_eq!(shown.read_timeout, default.read_timeout, "read_timeout");
    assert_eq!(shown.max_concurrent_requests, default.max_concurrent_requests, "max_concurrent_requests");
    assert_eq!(shown.delivery.timeout, default.delivery.timeout, "delivery.timeout");
    assert_eq!(shown.delivery.retry.max_attempts, default.delivery.retry.max_attempts, "max_attempts");
}

#[test]
fn the_readme_delivery_settings_are_the_compiled_defaults() {
    let yaml = readme_yaml_after("## Delivery");
    let (config, _) = compile_text_with_env(&yaml, "README.md", &any_env).unwrap_or_else(|d| panic!("{d}"));
    let (shown, default) = (&config.settings, defaults());
    assert_eq!(shown.retention, default.retention, "retention");
    assert_eq!(shown.state_retention, default.state_retention, "state_retention");
    assert_eq!(shown.delivery.timeout, default.delivery.timeout, "delivery.timeout");
    assert_eq!(shown.delivery.retry.schedule, default.delivery.retry.schedule, "schedule");
    assert_eq!(shown.delivery.retry.max_attempts, default.delivery.retry.max_attempts, "max_attempts");
    assert_eq!(shown.delivery.concurrency, default.delivery.concurrency, "concurrency");
    // `max_age` is shown as an example (it is marked optional): no default.
    assert_eq!(default.delivery.retry.max_age, None);
}
