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
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rules_file)).expect("read");
    let (config, _) = compile_text_with_env(&text, rules_file, &any_env).expect("compiles");
    let raw = Bytes::from(std::fs::read(example).expect("read example"));
    let body: serde_json::Value = serde_json::from_slice(&raw).expect("example is JSON");
    let event_type = route::event_type(&body).expect("example has a type").to_owned();
    let event = ParsedEvent {
        source: "house-check",
        event_type: &event_type,
        body: &body,
        raw_body: &raw,
        content_type: Some("application/json"),
        received_at: "2026-11-29T00:00:00Z",
        headers: None,
    };
    route::plan(&config, &event)
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
        ["files-created.json", "inspection-updated.json", "order-update.json", "order-updated.json"]
    );
    let expect = |file: &str, rules: &str, want: &[&str]| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(file);
        assert_eq!(fired(rules, &path), want, "{file} through {rules}");
    };
    expect(
        "order-updated.json",
        "rules/house-check.yaml",
        &["order-ready-to-schedule->ops-slack", "order-ready-to-schedule->planning-mail"],
    );
    expect(
        "order-update.json",
        "rules/house-check.yaml",
        &["order-ready-to-schedule->ops-slack", "order-ready-to-schedule->planning-mail"],
    );
    expect("files-created.json", "rules/house-check.yaml", &["big-files->ops-slack"]);
    expect("inspection-updated.json", "rules/house-check.yaml", &["inspections-to-crm->crm"]);
    expect("order-updated.json", "rules/local.yaml", &["order-ready-to-schedule->console"]);
    expect("files-created.json", "rules/local.yaml", &["big-files->console"]);
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
        ("equals: \"to schedule\"", "equals: \"to schedule\"\n          matches: \"x\""),
        ("secrets: [", "secret: ["),
    ] {
        assert!(base.contains(from), "the example still has `{from}`");
        let broken = base.replacen(from, to, 1);
        assert!(!schema_errors(&validator, &broken).is_empty(), "the schema accepts `{to}`");
    }
}
