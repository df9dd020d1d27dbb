//! Compile diagnostics, case by case: each bad file gives exactly these `line:col: field: message`.

use super::compile_text_with_env;

fn env(name: &str) -> Option<String> {
    (name == "SET").then(|| "https://example.com".to_owned())
}

/// Compiles `yaml` and compares every diagnostic (without the file name) with `expected`.
fn check(yaml: &str, expected: &[&str]) {
    let got: Vec<String> = match compile_text_with_env(yaml, "f", &env) {
        Ok((_, warnings)) => warnings.items.iter().map(|d| d.render("f")).collect(),
        Err(diags) => diags.items.iter().map(|d| d.render("f")).collect(),
    };
    let got: Vec<&str> = got.iter().map(|l| l.trim_start_matches("f:")).collect();
    assert_eq!(got, expected, "for:\n{yaml}");
}

const HEAD: &str = "sources: {s: {verify: {scheme: hmac-sha256, secrets: [x]}}}\n";

#[test]
fn diagnostics() {
    check(&format!("{HEAD}destinations: {{d: {{type: log}}}}\nrules: []\n"), &[]);
    check(
        &format!("{HEAD}destinations:\n  d: {{type: slack, url: \"${{NOPE}}\"}}\n"),
        &[
            "3:25: destinations.d.url: environment variable `NOPE` is not set (write `${NOPE:-default}` to give a default)",
        ],
    );
    check(
        &format!(
            "{HEAD}destinations:\n  d: {{type: slack, url: x, bogus: 1}}\nrules:\n  - {{name: r, actions: [{{to: d, text: t}}]}}\n"
        ),
        &[
            "3:25: destinations.d.url: not a valid URL: relative URL without a base",
            "3:28: destinations.d.bogus: unknown field `bogus`, expected one of: type, url, method, headers, provider, from, timeout, retry, concurrency, rate_limit, sign",
        ],
    );
    check(
        &format!("{HEAD}destinations:\n  d: {{type: log, sign: {{scheme: hmac-sha256, secret: k}}}}\n"),
        &["3:33: destinations.d.sign: `sign` is only valid for type: http"],
    );
    check(
        "sources: {s: {verify: {scheme: github, secrets: [x], tolerance: 5m}}}\n",
        &[
            "1:65: sources.s.verify.tolerance: `tolerance` is only valid for stripe, slack and standard-webhooks",
        ],
    );
    check(
        "sources: {s: {verify: {scheme: none}}}\n",
        &[
            "1:32: warning: sources.s.verify.scheme: requests to this source are not verified: anyone who can reach it can trigger its rules",
        ],
    );
    check(
        "sources: {s: {verify: {scheme: standard-webhooks, secrets: [\"whsec_%%%\"]}}}\n",
        &["1:61: sources.s.verify.secrets: secret 0 must be `whsec_` followed by base64"],
    );
    let deep = format!("$[?{}@.a{}]", "(".repeat(1000), ")".repeat(1000));
    check(
        &format!(
            "{HEAD}destinations: {{d: {{type: log}}}}\nrules:\n  - {{name: r, when: \"{deep}\", actions: [{{to: d, text: t}}]}}\n"
        ),
        &["4:21: rules[0].when: JSONPath nests 1001 levels of brackets; at most 64 are allowed"],
    );
    check(
        &format!(
            "{HEAD}destinations: {{d: {{type: log}}}}\nrules:\n  - {{name: r, when: {{header: x-a, path: $.a, equals: 1}}, actions: [{{to: d, text: t}}]}}\n"
        ),
        &["4:22: rules[0].when: a test takes `path:` or `header:`, not both"],
    );
    check(
        &format!(
            "{HEAD}destinations: {{d: {{type: log}}}}\nrules:\n  - {{name: r, actions: [{{to: d, text: \"{{{{ x \"}}]}}\n"
        ),
        &[
            "4:39: rules[0].actions[0].text: syntax error: unexpected end of input, expected end of variable block (template line 1)",
        ],
    );
    check(
        &format!("{HEAD}settings: {{delivery: {{schedule: [5s, soon], max_attempts: 0}}}}\n"),
        &[
            "2:38: settings.delivery.schedule[1]: `soon` is not a duration; write e.g. 500ms, 10s, 5m or 1h",
            "2:59: settings.delivery.max_attempts: must be at least 1",
        ],
    );
}

#[test]
fn a_broken_destination_is_reported_once_not_at_every_use() {
    check(
        &format!(
            "{HEAD}destinations:\n  d: {{type: slack}}\nrules:\n  - {{name: r, actions: [{{to: d, text: t}}]}}\n"
        ),
        &["3:13: destinations.d: a slack destination needs `url`"],
    );
}

#[test]
fn environment_and_file_secrets_are_masked_for_people() {
    let (config, _) = compile_text_with_env(
        &format!("{HEAD}destinations:\n  d: {{type: http, url: \"${{SET}}/x\"}}\nrules: []\n"),
        "f",
        &env,
    )
    .expect("compiles");
    assert_eq!(config.redactor.redact("POST https://example.com/x"), "POST ${SET}/x");
}

#[test]
fn an_empty_admin_token_is_an_error_not_an_open_api() {
    check(
        &format!("{HEAD}settings: {{admin_token: \"\"}}\n"),
        &["2:25: settings.admin_token: is empty; remove it to turn the token off"],
    );
}

#[test]
fn a_secret_that_expands_to_empty_is_dropped_with_a_warning() {
    let rotation = "sources: {s: {verify: {scheme: hmac-sha256, secrets: [\"${SET}\", \"${OLD:-}\"]}}}\n";
    check(
        rotation,
        &[
            "1:65: warning: sources.s.verify.secrets[1]: is empty, so it is ignored; the other secrets still verify",
        ],
    );
    let (config, _) = compile_text_with_env(rotation, "f", &env).expect("starts with the one secret left");
    assert!(config.sources.contains_key("s"));
    check(
        "sources: {s: {verify: {scheme: standard-webhooks, secrets: [\"${OLD:-}\", \"whsec_%%%\"]}}}\n",
        &[
            "1:61: warning: sources.s.verify.secrets[0]: is empty, so it is ignored; the other secrets still verify",
            "1:73: sources.s.verify.secrets: secret 1 must be `whsec_` followed by base64",
        ],
    );
    check(
        "sources: {s: {verify: {scheme: github, secrets: [\"${OLD:-}\", \"\"]}}}\n",
        &["1:50: sources.s.verify.secrets: every secret is empty; at least one is needed"],
    );
}

#[test]
fn unknown_filters_and_tests_are_load_errors_at_the_template_field() {
    check(
        &format!(
            "{HEAD}destinations: {{d: {{type: log}}}}\nrules:\n  - name: r\n    actions:\n      - to: d\n        text: \"{{{{ payload.id | nofilter }}}}\"\n      - to: d\n        text: \"{{% if payload.id is nottest %}}x{{% endif %}}\"\n"
        ),
        &[
            "7:15: rules[0].actions[0].text: unknown filter `nofilter` (template line 1)",
            "9:15: rules[0].actions[1].text: unknown test `nottest` (template line 1)",
        ],
    );
}

#[test]
fn an_unknown_key_does_not_hide_the_rules_other_problems() {
    check(
        &format!(
            "{HEAD}destinations: {{d: {{type: log}}}}\nrules:\n  - {{name: r, actions: [{{to: d, text: t}}]}}\n  - name: r\n    evnts: [a]\n    when: \"$.payload[?(\"\n    actions:\n      - {{to: d, txt: t, text: t}}\n"
        ),
        &[
            "5:11: rules[1].name: duplicate rule name `r` (first used at line 4)",
            "6:5: rules[1].evnts: unknown field `evnts`, expected one of: name, source, events, when, actions, stop",
            "7:11: rules[1].when: invalid JSONPath at character 13: in long-hand segment, parser error",
            "9:17: rules[1].actions[0].txt: unknown field `txt`, expected one of: to, text, blocks, recipients, subject, html, from, body, content_type",
        ],
    );
    check(
        "sources: {s: {verify: {scheme: hmac-sha256, secrets: [x], secretz: [y], tolerance: 5m}}}\nbogus: 1\n",
        &[
            "1:59: sources.s.verify.secretz: unknown field `secretz`, expected one of: scheme, header, encoding, prefix, secrets, tolerance",
            "1:84: sources.s.verify.tolerance: `tolerance` is only valid for stripe, slack and standard-webhooks",
            "2:1: bogus: unknown field `bogus`, expected one of: settings, sources, destinations, rules",
        ],
    );
}
