//! The JSONPath Compliance Test Suite (RFC 9535) run through the engine's own JSONPath layer,
//! [`hookroute::rules::Path`]: the limits it adds on top of the parser (nesting depth, length) must
//! not make it refuse or change anything the standard accepts.
//!
//! Every case runs; failures are collected and reported together. Cases the engine deliberately
//! treats differently are listed in [`EXCEPTIONS`] with the reason, and the test checks that each
//! listed case really does fail, so the list cannot go stale.

use std::panic::{AssertUnwindSafe, catch_unwind};

use hookroute::rules::Path;
use serde_json::Value;

const CTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/jsonpath-cts.json");

/// CTS cases the engine is known not to pass, by name, with the reason. Keep it exact: a case
/// listed here that passes fails the test.
const EXCEPTIONS: &[(&str, &str)] = &[];

/// Runs one case; `Err` says how it failed.
fn run_case(case: &Value) -> Result<(), String> {
    let selector = case["selector"].as_str().ok_or("the case has no string `selector`")?;
    let parsed = catch_unwind(AssertUnwindSafe(|| Path::parse(selector)))
        .map_err(|_| "Path::parse panicked".to_owned())?;

    if case["invalid_selector"].as_bool() == Some(true) {
        return match parsed {
            Ok(_) => Err("an invalid selector was accepted".to_owned()),
            Err(_) => Ok(()),
        };
    }

    // Path::parse names its own limits (MAX_PATH_LEN, MAX_PATH_NESTING) in its error.
    let path = parsed.map_err(|e| format!("a valid selector was refused: {e}"))?;
    let document = case.get("document").ok_or("the case has no `document`")?;
    let selected =
        catch_unwind(AssertUnwindSafe(|| Value::Array(path.select(document).into_iter().cloned().collect())))
            .map_err(|_| "Path::select panicked".to_owned())?;

    if let Some(expected) = case.get("result") {
        if &selected == expected {
            return Ok(());
        }
        return Err(format!("selected {selected}, expected {expected}"));
    }
    if let Some(Value::Array(alternatives)) = case.get("results") {
        if alternatives.contains(&selected) {
            return Ok(());
        }
        return Err(format!("selected {selected}, expected one of {}", Value::Array(alternatives.clone())));
    }
    Err("the case has neither `invalid_selector`, `result` nor `results`".to_owned())
}

#[test]
fn jsonpath_compliance_test_suite() {
    let text = std::fs::read_to_string(CTS).expect("the CTS file tests/data/jsonpath-cts.json is readable");
    let suite: Value = serde_json::from_str(&text).expect("the CTS file is JSON");
    let cases = suite["tests"].as_array().expect("the CTS file has a `tests` array");
    assert!(!cases.is_empty(), "the CTS file has no cases");

    let mut names = std::collections::HashSet::new();
    let mut failures = Vec::new();
    let mut excepted_and_failed = Vec::new();
    let mut passed = 0usize;
    for case in cases {
        let name = case["name"].as_str().expect("every CTS case has a `name`");
        assert!(names.insert(name), "duplicate CTS case name {name:?}: exceptions are keyed by name");
        let outcome = run_case(case);
        let excepted = EXCEPTIONS.iter().any(|(n, _)| *n == name);
        match (outcome, excepted) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => {
                failures.push(format!("{name:?}: listed in EXCEPTIONS but passes; remove it from the list"))
            }
            (Err(_), true) => excepted_and_failed.push(name),
            (Err(why), false) => failures.push(format!(
                "{name:?} (selector {:?}): {why}",
                case["selector"].as_str().unwrap_or_default()
            )),
        }
    }
    for (name, _) in EXCEPTIONS {
        if !names.contains(name) {
            failures.push(format!("{name:?}: listed in EXCEPTIONS but not in the CTS file"));
        }
    }

    let total = cases.len();
    crate::support::report(format_args!(
        "JSONPath CTS: {passed}/{total} passed ({} documented exception(s))",
        excepted_and_failed.len()
    ));
    for (name, reason) in EXCEPTIONS {
        crate::support::report(format_args!("exception {name:?}: {reason}"));
    }
    assert!(
        failures.is_empty() && passed == total - EXCEPTIONS.len(),
        "JSONPath CTS: {passed}/{total} passed, {} documented exception(s); {} failure(s):\n{}",
        EXCEPTIONS.len(),
        failures.len(),
        failures.join("\n")
    );
}
