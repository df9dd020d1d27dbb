//! Arbitrary JSON through every condition operator (compiled once): evaluation never panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

const RULES: &str = r#"
sources: {s: {verify: {scheme: none}}}
destinations: {log: {type: log}}
rules:
  - name: r
    actions: [{to: log, text: x}]
    when:
      any:
        - {path: "$.payload.status", equals: "to schedule"}
        - {path: "$..id", not_equals: 5}
        - {path: "$.payload.items[*].qty", in: [1, 2.5, "3", null]}
        - {path: "$.payload.items[*].sku", not_in: ["a"]}
        - {path: "$.a.b.c", exists: false}
        - {path: "$..name", matches: "^(a|b)+$"}
        - {path: "$.payload", contains: "k"}
        - {path: "$.payload.tags", contains: 3}
        - {path: "$..*", starts_with: "x"}
        - {path: "$..*", ends_with: "y"}
        - {path: "$..n", gt: 1e300}
        - {path: "$..n", gte: -1}
        - {path: "$..when", lt: "2026-01-01"}
        - {path: "$..n", lte: 0}
        - not: "$.payload.files[?@.size > 1000000 && @.name == 'x']"
        - "$[?length(@.name) > 3]"
        - {header: x-test, equals: yes}
"#;

static CONFIG: LazyLock<hookroute::config::Config> = LazyLock::new(|| {
    hookroute::config::compile_text_with_env(RULES, "fuzz.yaml", &|_| None).expect("fuzz rules compile").0
});

fuzz_target!(|data: &[u8]| {
    let Ok(body) = hookroute::json::parse_strict(data) else { return };
    let mut headers = http::HeaderMap::new();
    headers.insert("x-test", http::HeaderValue::from_static("yes"));
    let _ = CONFIG.rules.matching_with("s", "t", &body, Some(&headers));
    let _ = hookroute::rules::explain(&CONFIG.rules, "s", "t", &body, None);
});
