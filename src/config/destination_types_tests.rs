//! Diagnostics of the issue-15 destination types and their actions, case by case: each bad file
//! gives exactly these `line:col: field: message`.

use super::compile_text_with_env;

/// Compiles `yaml` and compares every diagnostic (without the file name) with `expected`.
fn check(yaml: &str, expected: &[&str]) {
    let got: Vec<String> = match compile_text_with_env(yaml, "f", &|_| None) {
        Ok((_, warnings)) => warnings.items.iter().map(|d| d.render("f")).collect(),
        Err(diags) => diags.items.iter().map(|d| d.render("f")).collect(),
    };
    let got: Vec<&str> = got.iter().map(|l| l.trim_start_matches("f:")).collect();
    assert_eq!(got, expected, "for:\n{yaml}");
}

/// A file with one destination `d` (the flow mapping given) and one rule sending `action` to it.
fn file(destination: &str, action: &str) -> String {
    format!(
        "sources: {{s: {{verify: {{scheme: none}}}}}}\ndestinations:\n  d: {destination}\nrules:\n  - {{name: r, actions: [{{to: d, {action}}}]}}\n"
    )
}

const UNVERIFIED: &str = "1:32: warning: sources.s.verify.scheme: requests to this source are not verified: anyone who can reach it can trigger its rules";

#[test]
fn valid_destinations_of_every_new_type() {
    for (dest, action) in [
        ("{type: teams, url: \"https://x.example/w\"}", "text: t, card: {type: AdaptiveCard}"),
        (
            "{type: discord, url: \"https://x.example/w\", username: bot, allowed_mentions: [users]}",
            "text: t, embeds: [{title: x}]",
        ),
        ("{type: google-chat, url: \"https://x.example/w\"}", "text: t, thread: \"k-{{ type }}\""),
        ("{type: mattermost, url: \"https://x.example/w\", channel: c, icon_emoji: \":bell:\"}", "text: t"),
        (
            "{type: telegram, token: \"1:AB\", chat_id: \"@ops\", parse_mode: MarkdownV2}",
            "text: t, thread: k",
        ),
        (
            "{type: telegram, token: \"1:AB\", chat_id: -100, disable_notification: true, message_thread_id: 4}",
            "text: t",
        ),
        (
            "{type: pagerduty, routing_key: R}",
            "text: t, severity: \"{{ payload.sev }}\", event_action: resolve, thread: k",
        ),
        (
            "{type: email, provider: smtp, smarthost: \"smtp.example.com:587\", from: a@b.example, username: u, password: p}",
            "recipients: [c@d.example], subject: s, text: t, thread: k",
        ),
        (
            "{type: email, provider: smtp, smarthost: \"[::1]:25\", tls: none, from: a@b.example}",
            "recipients: [c@d.example], subject: s, html: h",
        ),
    ] {
        check(&file(dest, action), &[UNVERIFIED]);
    }
}

#[test]
fn destination_mistakes() {
    let cases: &[(&str, &str)] = &[
        ("{type: teams}", "3:13: destinations.d: a teams destination needs `url`"),
        (
            "{type: telegram, chat_id: 1}",
            "3:13: destinations.d: a telegram destination needs `token` (the bot token)",
        ),
        ("{type: telegram, token: \"1:AB\"}", "3:13: destinations.d: a telegram destination needs `chat_id`"),
        (
            "{type: telegram, token: \"1:AB\", chat_id: ops}",
            "3:47: destinations.d.chat_id: a chat id is a number or `@channelname`",
        ),
        (
            "{type: telegram, token: \"a/b\", chat_id: 1}",
            "3:30: destinations.d.token: not a bot token (it goes into the URL path)",
        ),
        (
            "{type: telegram, token: \"1:AB\", chat_id: 1, parse_mode: html}",
            "3:62: destinations.d.parse_mode: unknown parse mode `html`, expected one of: HTML, MarkdownV2, Markdown",
        ),
        (
            "{type: telegram, token: \"1:AB\", chat_id: 1, url: \"https://x.example\"}",
            "3:55: destinations.d.url: this destination takes `api_url` and `token`, not `url`",
        ),
        ("{type: pagerduty}", "3:13: destinations.d: a pagerduty destination needs `routing_key`"),
        (
            "{type: discord, url: \"https://x.example\", allowed_mentions: [all]}",
            "3:67: destinations.d.allowed_mentions: unknown mention type `all`, expected one of: users, roles, everyone",
        ),
        (
            "{type: discord, url: \"https://x.example\", token: t}",
            "3:55: destinations.d.token: `token` is only valid for type: telegram, slack",
        ),
        (
            "{type: email, provider: sendgrid, smarthost: \"h:25\"}",
            "3:51: destinations.d.smarthost: `smarthost` is only valid for type: email with provider: smtp",
        ),
        (
            "{type: email, provider: smtp, from: a@b.example}",
            "3:13: destinations.d: an smtp destination needs `smarthost` (host:port)",
        ),
        (
            "{type: email, provider: smtp, from: a@b.example, smarthost: h}",
            "3:66: destinations.d.smarthost: expected `host:port`, e.g. `smtp.example.com:587`",
        ),
        (
            "{type: email, provider: smtp, from: a@b.example, smarthost: \"h:x\"}",
            "3:66: destinations.d.smarthost: `x` is not a port number",
        ),
        (
            "{type: email, provider: smtp, from: a@b.example, smarthost: \"h:25\", tls: none, username: u, password: p}",
            "3:95: destinations.d.username: AUTH needs TLS: use `tls: starttls` or `implicit`",
        ),
        (
            "{type: email, provider: smtp, from: a@b.example, smarthost: \"h:25\", username: u}",
            "3:84: destinations.d: `username` and `password` go together",
        ),
        (
            "{type: email, provider: smtp, from: a@b.example, smarthost: \"h:25\", ca_file: /nonexistent/ca.pem}",
            "3:83: destinations.d.ca_file: cannot read it: No such file or directory (os error 2)",
        ),
        (
            "{type: email, provider: smtp, from: a@b.example, smarthost: \"h:25\", url: \"https://x.example\"}",
            "3:79: destinations.d.url: this destination takes `smarthost`, not `url`",
        ),
    ];
    for (dest, expected) in cases {
        check(&file(dest, "text: t"), &[UNVERIFIED, expected]);
    }
}

#[test]
fn action_mistakes_and_thread_warnings() {
    let teams = "{type: teams, url: \"https://x.example/w\"}";
    let pd = "{type: pagerduty, routing_key: R}";
    let cases: &[(&str, &str, &str)] = &[
        (
            teams,
            "embeds: []",
            "5:50: rules[0].actions[0].embeds: `embeds` does not apply to a teams destination",
        ),
        (
            teams,
            "thread: k",
            "5:50: warning: rules[0].actions[0].thread: `thread` is ignored: a teams destination has no conversations (threads need slack with `token` + `channel`, telegram, email with provider: smtp, google-chat or pagerduty)",
        ),
        (
            "{type: slack, url: \"https://x.example/w\"}",
            "subject: s",
            "5:51: rules[0].actions[0].subject: `subject` does not apply to a slack destination",
        ),
        (
            pd,
            "severity: fatal",
            "5:52: rules[0].actions[0].severity: unknown severity `fatal`, expected one of: critical, error, warning, info",
        ),
        (
            pd,
            "event_action: resolve",
            "5:30: rules[0].actions[0]: `event_action: resolve` needs `thread` (it names the incident's dedup_key)",
        ),
        (
            "{type: email, provider: sendgrid, from: a@b.example}",
            "recipients: [c@d.example], subject: s, text: t, thread: k",
            "5:89: warning: rules[0].actions[0].thread: `thread` is ignored: only email with provider: smtp writes threading headers (threads need slack with `token` + `channel`, telegram, email with provider: smtp, google-chat or pagerduty)",
        ),
    ];
    for (dest, action, expected) in cases {
        let action = if action.starts_with("recipients") {
            (*action).to_owned()
        } else {
            format!("text: t, {action}")
        };
        check(&file(dest, &action), &[UNVERIFIED, expected]);
    }
    let no_text = file("{type: telegram, token: \"1:AB\", chat_id: 1}", "thread: k");
    check(&no_text, &[UNVERIFIED, "5:30: rules[0].actions[0]: a telegram action needs `text`"]);
}
