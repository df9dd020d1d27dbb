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
            "3:28: destinations.d.bogus: unknown field `bogus`, expected one of: type, url, method, headers, provider, from, timeout, retry, concurrency, rate_limit, sign, hours, token, channel, api_url, chat_id, parse_mode, disable_notification, message_thread_id, routing_key, username, avatar_url, allowed_mentions, icon_url, icon_emoji, smarthost, tls, password, hello, ca_file",
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
        &[
            "3:13: destinations.d: a slack destination needs `url` (an incoming webhook) or `token` + `channel` (the Web API)",
        ],
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
fn a_string_body_sent_as_json_warns_unless_values_use_tojson() {
    let file = |body: &str| {
        format!(
            "{HEAD}destinations: {{d: {{type: http, url: \"https://x.example\"}}}}\nrules:\n  - {{name: r, actions: [{{to: d, content_type: application/json, body: '{body}'}}]}}\n"
        )
    };
    check(
        &file(r#"{"id": "{{ payload.id }}"}"#),
        &[
            "4:71: warning: rules[0].actions[0].body: a string body sent as JSON: a value with a quote or newline breaks it; write `{{ payload.x | tojson }}` (it adds the quotes), or write the body as YAML, which is built as JSON",
        ],
    );
    check(&file(r#"{"id": {{ payload.id | tojson }}, "n": {{payload.n|tojson}}}"#), &[]);
}

#[test]
fn admin_allowed_hosts_are_host_names() {
    check(
        &format!("{HEAD}settings: {{admin_allowed_hosts: [hookroute.internal, \"10.0.0.7:9090\"]}}\n"),
        &[],
    );
    check(
        &format!("{HEAD}settings: {{admin_allowed_hosts: [\"https://x.example/\"]}}\n"),
        &[
            "2:34: settings.admin_allowed_hosts[0]: `https://x.example/` is not a host name (write e.g. hookroute.internal, without scheme or path)",
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
            "6:5: rules[1].evnts: unknown field `evnts`, expected one of: name, source, events, when, actions, stop, after, still",
            "7:11: rules[1].when: invalid JSONPath at character 13: in long-hand segment, parser error",
            "9:17: rules[1].actions[0].txt: unknown field `txt`, expected one of: to, text, blocks, recipients, subject, html, from, reply_to, body, content_type, hours, thread, update_parent, reply_broadcast, card, embeds, cards_v2, severity, event_action, source, custom_details",
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

#[test]
fn the_version_covers_expanded_values_and_diagnostics_never_show_them() {
    let text = format!(
        "{HEAD}destinations:\n  d: {{type: http, url: \"https://x.example/${{TOKEN}}\"}}\nrules: []\n"
    );
    let version = |token: &'static str| {
        let lookup = move |name: &str| (name == "TOKEN").then(|| token.to_owned());
        compile_text_with_env(&text, "f", &lookup).expect("compiles").0.version
    };
    assert_eq!(version("rotated-1"), version("rotated-1"), "deterministic");
    assert_ne!(version("rotated-1"), version("rotated-2"), "a rotated value is a new version");
    assert!(!version("rotated-1").contains("rotated"));

    let lookup = |name: &str| (name == "RETENTION").then(|| "hunter2-not-a-duration".to_owned());
    let text = format!("{HEAD}settings: {{retention: \"${{RETENTION}}\"}}\n");
    let diags = compile_text_with_env(&text, "f", &lookup).expect_err("invalid");
    let shown = diags.to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("${RETENTION}"), "{shown}");
}

#[test]
fn posted_drafts_see_placeholders_not_the_environment_or_files() {
    let text = format!(
        "{HEAD}destinations:\n  d: {{type: slack, url: \"${{SLACK_URL}}\"}}\nrules:\n  - {{name: r, actions: [{{to: d, text: \"{{{{ '${{HOME}}' | upper }}}} ${{file:/etc/hostname}}\"}}]}}\n"
    );
    let (config, _) = super::compile::compile_in(&text, "f", super::env::Env::Sandbox).expect("compiles");
    let url = config.destinations["d"].url.as_ref().expect("url").expose().to_owned();
    assert_eq!(url, "https://placeholder.invalid/SLACK_URL");
    let event = bytes::Bytes::from_static(br#"{"type": "t"}"#);
    let report = crate::dry_run::build(&config, None, event, &http::HeaderMap::new(), None).expect("dry run");
    let shown = serde_json::to_string(&report).expect("json");
    assert!(shown.contains(r"PLACEHOLDER-HOME ${file:/etc/hostname}"), "{shown}");
    let home = std::env::var("HOME").unwrap_or_default();
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    for secret in [home.trim(), hostname.trim()].into_iter().filter(|s| s.len() > 3) {
        assert!(!shown.contains(secret), "the draft saw a server value: {shown}");
    }
}

#[test]
fn a_header_value_with_a_line_break_is_refused_at_load() {
    let lookup = |name: &str| (name == "KEY").then(|| "k1\r\nBcc: attacker@evil.com".to_owned());
    let text = format!(
        "{HEAD}destinations:\n  d: {{type: http, url: \"https://x.example\", headers: {{X-Key: \"${{KEY}}\"}}}}\nrules: []\n"
    );
    let diags = compile_text_with_env(&text, "f", &lookup).expect_err("refused");
    let shown = diags.to_string();
    assert!(
        shown.contains("destinations.d.headers.X-Key: not a valid HTTP header name and value"),
        "{shown}"
    );
    assert!(!shown.contains("attacker"), "{shown}");
}

#[test]
fn written_out_email_addresses_are_checked_at_load() {
    let file = |from: &str, to: &str| {
        format!(
            "{HEAD}destinations:\n  m: {{type: email, provider: postmark, from: \"{from}\"}}\nrules:\n  - {{name: r, actions: [{{to: m, recipients: [\"{to}\", \"{{{{ payload.to }}}}\"], subject: s, text: t}}]}}\n"
        )
    };
    check(&file("Bot <bot@example.com>", "ops@example.com"), &[]);
    check(
        &file("bot@example.com", "a@example.com, b@evil.com"),
        &[
            "5:46: rules[0].actions[0].recipients[0]: \"a@example.com, b@evil.com\" is not exactly one address (a list or a line break)",
        ],
    );
    check(
        &file("bot", "ops@example.com"),
        &["3:46: destinations.m.from: \"bot\" is not an email address: Missing separator character '@'."],
    );
}

#[test]
fn edge_limits_have_defaults_and_are_checked() {
    use super::EdgeLimits;
    use std::time::Duration;
    let compiled = |settings: &str| {
        compile_text_with_env(&format!("settings: {{{settings}}}\n{HEAD}"), "f", &env)
            .map(|(c, _)| c.settings)
    };
    assert_eq!(compiled("").expect("defaults").edge, EdgeLimits::default());
    let set = compiled(
        "head_timeout: 2s, idle_timeout: 90s, max_head_bytes: 8192, max_connections: 50, body_memory_bytes: 2000000",
    )
    .expect("valid");
    assert_eq!(
        set.edge,
        EdgeLimits {
            head_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(90),
            max_head_bytes: 8192,
            max_connections: 50,
            body_memory_bytes: 2_000_000,
        }
    );
    let at = |s: &str| format!("settings: {{{s}}}\n{HEAD}");
    check(
        &at("max_head_bytes: 100"),
        &["1:28: settings.max_head_bytes: must be between 1024 and 16777216 bytes"],
    );
    check(&at("max_connections: 0"), &["1:29: settings.max_connections: must be at least 1"]);
    check(&at("head_timeout: 0s"), &["1:26: settings.head_timeout: a duration must be longer than zero"]);
    check(
        &at("max_body_bytes: 5000, body_memory_bytes: 4000"),
        &[
            "1:53: settings.body_memory_bytes: must be at least settings.max_body_bytes (5000), or a body of that size could never be accepted",
        ],
    );
}

/// The Slack Web API's fields and the thread fields of actions (issue 15).
#[test]
fn slack_web_api_and_thread_mistakes() {
    let file = |dest: &str, action: &str| {
        format!("{HEAD}destinations:\n  d: {dest}\nrules:\n  - name: r\n    actions:\n      - {action}\n")
    };
    let api = "{type: slack, token: xoxb-1, channel: C1, api_url: \"http://127.0.0.1:9\"}";
    check(&file(api, "{to: d, text: t, thread: \"o-{{ payload.id }}\", update_parent: true}"), &[]);
    check(
        &file("{type: slack, url: \"https://h.example/x\", token: xoxb-1, channel: C1}", "{to: d, text: t}"),
        &[
            "3:25: destinations.d.url: `url` (an incoming webhook) and `token` (the Web API) exclude each other: give one",
        ],
    );
    check(
        &file("{type: slack, token: xoxb-1}", "{to: d, text: t}"),
        &["3:27: destinations.d: a slack destination with `token` needs `channel`"],
    );
    check(
        &file("{type: slack, url: \"https://h.example/x\", channel: C1}", "{to: d, text: t}"),
        &["3:57: destinations.d.channel: `channel` is for the Slack Web API: it needs `token`"],
    );
    check(
        &file("{type: http, url: \"https://h.example/x\", token: xoxb-1}", "{to: d}"),
        &["3:54: destinations.d.token: `token` is only valid for type: telegram, slack"],
    );
    check(
        &file("{type: slack, token: xoxb-1, channel: C1, api_url: nope}", "{to: d, text: t}"),
        &["3:57: destinations.d.api_url: not a valid URL: relative URL without a base"],
    );
    check(
        &file(api, "{to: d, text: t, update_parent: true}"),
        &["7:41: rules[0].actions[0].update_parent: `update_parent` needs `thread`"],
    );
    check(
        &file(
            "{type: slack, url: \"https://h.example/x\"}",
            "{to: d, text: t, thread: k, update_parent: true}",
        ),
        &[
            "7:34: warning: rules[0].actions[0].thread: `thread` is ignored: a slack incoming webhook returns no message id, so it cannot thread (threads need slack with `token` + `channel`, telegram, email with provider: smtp, google-chat or pagerduty)",
            "7:52: rules[0].actions[0].update_parent: `update_parent` is only valid for a slack destination with `token` + `channel` (the Web API)",
        ],
    );
    check(
        &file("{type: log}", "{to: d, text: t, thread: k, reply_broadcast: true}"),
        &[
            "7:34: warning: rules[0].actions[0].thread: `thread` is ignored: a log destination has no conversations (threads need slack with `token` + `channel`, telegram, email with provider: smtp, google-chat or pagerduty)",
            "7:54: rules[0].actions[0].reply_broadcast: `reply_broadcast` is only valid for a slack destination with `token` + `channel` (the Web API)",
        ],
    );
    check(
        &file("{type: slack, url: \"https://h.example/x\"}", "{to: d, text: t, thread: k}"),
        &[
            "7:34: warning: rules[0].actions[0].thread: `thread` is ignored: a slack incoming webhook returns no message id, so it cannot thread (threads need slack with `token` + `channel`, telegram, email with provider: smtp, google-chat or pagerduty)",
        ],
    );
    // Types that thread take `thread:` without a warning.
    check(&file("{type: telegram, token: \"1:AA\", chat_id: 1}", "{to: d, text: t, thread: k}"), &[]);
    check(&file(api, "{to: d, text: t, thread: k}"), &[]);
    check(
        &file("{type: log}", "{to: d, text: t, thread: k}"),
        &[
            "7:34: warning: rules[0].actions[0].thread: `thread` is ignored: a log destination has no conversations (threads need slack with `token` + `channel`, telegram, email with provider: smtp, google-chat or pagerduty)",
        ],
    );
    check(
        &file(api, "{to: d, text: t, thread: \"{{ nope(\"}"),
        &[
            "7:34: rules[0].actions[0].thread: syntax error: unexpected end of input, expected expression (template line 1)",
        ],
    );
}
