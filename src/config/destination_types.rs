//! The per-type fields of the destination types added for issue 15 (Teams, Discord, Google Chat,
//! Mattermost, Telegram, PagerDuty, SMTP email): each field checked against the types it belongs
//! to, secrets (bot token, routing key, SMTP password) registered with the redactor, and what the
//! destination fixes in every body (Discord `username`, Telegram `chat_id`, …) collected.

use serde_json::{Map, Value};

use super::node::{Loc, NodeValue, join};
use super::problems::Problems;
use super::raw::RawDestination;
use crate::actions::smtp::{SmtpRelay, SmtpTls};
use crate::actions::telegram;
use crate::actions::{DestinationKind as K, EmailProvider};
use crate::secret::Secret;

/// What the fields compile to.
#[derive(Default)]
pub(super) struct Typed {
    /// The request URL when the type builds it (Telegram: from `api_url` and the token).
    pub url: Option<String>,
    pub fixed: Map<String, Value>,
    pub routing_key: Option<Secret>,
    pub smtp: Option<SmtpRelay>,
}

/// Which types take each field (`email` means `provider: smtp`).
fn owners(field: &str) -> &'static [K] {
    match field {
        // `token`, `api_url` and `channel` are also the Slack Web API's (checked in `slack_api`).
        "token" | "api_url" => &[K::Telegram, K::Slack],
        "chat_id" | "parse_mode" | "disable_notification" | "message_thread_id" => &[K::Telegram],
        "routing_key" => &[K::Pagerduty],
        "username" => &[K::Discord, K::Mattermost, K::Email],
        "avatar_url" | "allowed_mentions" => &[K::Discord],
        "channel" => &[K::Mattermost, K::Slack],
        "icon_url" | "icon_emoji" => &[K::Mattermost],
        _ => &[K::Email],
    }
}

pub(super) fn typed(
    kind: K,
    raw: &RawDestination,
    path: &str,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
) -> Option<Typed> {
    let smtp = kind == K::Email && raw.provider.as_ref().is_some_and(|x| x.value == EmailProvider::Smtp);
    let present: &[(&str, Option<Loc>)] = &[
        ("token", raw.token.as_ref().map(|x| x.loc)),
        ("chat_id", raw.chat_id.as_ref().map(|x| x.loc)),
        ("api_url", raw.api_url.as_ref().map(|x| x.loc)),
        ("parse_mode", raw.parse_mode.as_ref().map(|x| x.loc)),
        ("disable_notification", raw.disable_notification.as_ref().map(|x| x.loc)),
        ("message_thread_id", raw.message_thread_id.as_ref().map(|x| x.loc)),
        ("routing_key", raw.routing_key.as_ref().map(|x| x.loc)),
        ("username", raw.username.as_ref().map(|x| x.loc)),
        ("avatar_url", raw.avatar_url.as_ref().map(|x| x.loc)),
        ("allowed_mentions", raw.allowed_mentions.as_ref().map(|x| x.loc)),
        ("channel", raw.channel.as_ref().map(|x| x.loc)),
        ("icon_url", raw.icon_url.as_ref().map(|x| x.loc)),
        ("icon_emoji", raw.icon_emoji.as_ref().map(|x| x.loc)),
        ("smarthost", raw.smarthost.as_ref().map(|x| x.loc)),
        ("tls", raw.tls.as_ref().map(|x| x.loc)),
        ("password", raw.password.as_ref().map(|x| x.loc)),
        ("hello", raw.hello.as_ref().map(|x| x.loc)),
        ("ca_file", raw.ca_file.as_ref().map(|x| x.loc)),
    ];
    let mut ok = true;
    for (field, loc) in present {
        let Some(loc) = loc else { continue };
        let owners = owners(field);
        let fits = owners.contains(&kind) && (kind != K::Email || smtp);
        if !fits {
            ok = false;
            let names: Vec<&str> = owners
                .iter()
                .map(|k| if *k == K::Email { "email with provider: smtp" } else { k.name() })
                .collect();
            p.error::<()>(
                *loc,
                &join(path, field),
                format!("`{field}` is only valid for type: {}", names.join(", ")),
            );
        }
    }
    if !ok {
        return None;
    }
    let mut out = Typed::default();
    let text = |v: &Option<super::node::Spanned<String>>| v.as_ref().map(|x| Value::from(x.value.clone()));
    match kind {
        K::Telegram => telegram_fields(raw, path, p, secrets, &mut out)?,
        K::Pagerduty => {
            let Some(key) = &raw.routing_key else {
                return p.error(raw.kind.loc, path, "a pagerduty destination needs `routing_key`");
            };
            secrets.push((format!("[{path}.routing_key]"), key.value.clone()));
            out.routing_key = Some(Secret::new(key.value.clone()));
        }
        K::Discord => {
            out.fixed.extend(text(&raw.username).map(|v| ("username".to_owned(), v)));
            out.fixed.extend(text(&raw.avatar_url).map(|v| ("avatar_url".to_owned(), v)));
            if let Some(list) = &raw.allowed_mentions {
                let mut parse = Vec::new();
                for m in &list.value {
                    if !["users", "roles", "everyone"].contains(&m.value.as_str()) {
                        return p.error(
                            m.loc,
                            &join(path, "allowed_mentions"),
                            format!(
                                "unknown mention type `{}`, expected one of: users, roles, everyone",
                                m.value
                            ),
                        );
                    }
                    parse.push(Value::from(m.value.clone()));
                }
                out.fixed.insert("allowed_mentions".into(), serde_json::json!({ "parse": parse }));
            }
        }
        K::Mattermost => {
            for (name, v) in [
                ("channel", &raw.channel),
                ("username", &raw.username),
                ("icon_url", &raw.icon_url),
                ("icon_emoji", &raw.icon_emoji),
            ] {
                out.fixed.extend(text(v).map(|v| (name.to_owned(), v)));
            }
        }
        K::Email if smtp => out.smtp = Some(smtp_relay(raw, path, p, secrets)?),
        _ => {}
    }
    Some(out)
}

fn telegram_fields(
    raw: &RawDestination,
    path: &str,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
    out: &mut Typed,
) -> Option<()> {
    let Some(token) = &raw.token else {
        return p.error(raw.kind.loc, path, "a telegram destination needs `token` (the bot token)");
    };
    if token.value.trim().is_empty() || token.value.contains(['/', '?', '#', ' ']) {
        return p.error(token.loc, &join(path, "token"), "not a bot token (it goes into the URL path)");
    }
    secrets.push((format!("[{path}.token]"), token.value.clone()));
    let chat_id = match raw.chat_id.as_ref().map(|n| (n.loc, &n.value)) {
        Some((_, NodeValue::Int(i))) => Value::from(*i),
        Some((_, NodeValue::UInt(u))) => Value::from(*u),
        Some((_, NodeValue::Str(s))) if s.parse::<i64>().is_ok() => Value::from(s.parse::<i64>().ok()),
        Some((_, NodeValue::Str(s))) if s.starts_with('@') && s.len() > 1 => Value::from(s.clone()),
        Some((loc, _)) => {
            return p.error(loc, &join(path, "chat_id"), "a chat id is a number or `@channelname`");
        }
        None => return p.error(raw.kind.loc, path, "a telegram destination needs `chat_id`"),
    };
    out.fixed.insert("chat_id".into(), chat_id);
    if let Some(mode) = &raw.parse_mode {
        if !["HTML", "MarkdownV2", "Markdown"].contains(&mode.value.as_str()) {
            return p.error(
                mode.loc,
                &join(path, "parse_mode"),
                format!("unknown parse mode `{}`, expected one of: HTML, MarkdownV2, Markdown", mode.value),
            );
        }
        out.fixed.insert("parse_mode".into(), mode.value.clone().into());
    }
    if let Some(silent) = &raw.disable_notification {
        out.fixed.insert("disable_notification".into(), silent.value.into());
    }
    if let Some(topic) = &raw.message_thread_id {
        out.fixed.insert("message_thread_id".into(), topic.value.into());
    }
    let api_url = raw.api_url.as_ref().map_or(telegram::DEFAULT_API_URL, |u| u.value.as_str());
    out.url = Some(telegram::send_message_url(api_url, &token.value));
    Some(())
}

fn smtp_relay(
    raw: &RawDestination,
    path: &str,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
) -> Option<SmtpRelay> {
    let Some(smarthost) = &raw.smarthost else {
        return p.error(raw.kind.loc, path, "an smtp destination needs `smarthost` (host:port)");
    };
    let at = join(path, "smarthost");
    let Some((host, port)) = smarthost.value.rsplit_once(':') else {
        return p.error(smarthost.loc, &at, "expected `host:port`, e.g. `smtp.example.com:587`");
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(port) = port.parse::<u16>() else {
        return p.error(smarthost.loc, &at, format!("`{port}` is not a port number"));
    };
    if host.is_empty() {
        return p.error(smarthost.loc, &at, "the host is empty");
    }
    let tls = raw.tls.as_ref().map_or(SmtpTls::Starttls, |t| t.value);
    if tls == SmtpTls::None
        && let Some(u) = &raw.username
    {
        // As Alertmanager: credentials never cross the network in the clear.
        return p.error(u.loc, &join(path, "username"), "AUTH needs TLS: use `tls: starttls` or `implicit`");
    }
    if raw.username.is_some() != raw.password.is_some() {
        let loc = raw.username.as_ref().or(raw.password.as_ref()).map_or(raw.kind.loc, |x| x.loc);
        return p.error(loc, path, "`username` and `password` go together");
    }
    if let Some(pw) = &raw.password {
        secrets.push((format!("[{path}.password]"), pw.value.clone()));
    }
    let ca_pem = match &raw.ca_file {
        None => None,
        Some(f) => match std::fs::read(&f.value) {
            Ok(pem) if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_ok() => Some(pem),
            Ok(_) => return p.error(f.loc, &join(path, "ca_file"), "not a PEM certificate"),
            Err(e) => return p.error(f.loc, &join(path, "ca_file"), format!("cannot read it: {e}")),
        },
    };
    Some(SmtpRelay {
        host: host.to_owned(),
        port,
        tls,
        username: raw.username.as_ref().map(|u| u.value.clone()),
        password: raw.password.as_ref().map(|x| Secret::new(x.value.clone())),
        hello: raw.hello.as_ref().map_or_else(|| "localhost".to_owned(), |h| h.value.clone()),
        ca_pem,
    })
}
