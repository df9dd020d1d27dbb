//! `destinations.<name>` → [`Destination`]: URL checked, method and headers parsed, credential
//! headers registered with the redactor, per-type fields validated.

use std::collections::HashMap;

use super::node::{Loc, Node, Spanned, join};
use super::problems::{Problems, mapping};
use super::raw::{RawDestination, RawSign, SignScheme};
use super::{Settings, delivery};
use crate::actions::slack_api::SlackApi;
use crate::actions::{Destination, DestinationKind, EmailDefaults, EmailProvider, OutboundSign};
use crate::secret::Secret;
use crate::verify::{Encoding, Keys};

pub(super) fn destinations(
    node: Option<&Node>,
    settings: &Settings,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
) -> HashMap<String, Destination> {
    let mut out = HashMap::new();
    for (name, _, value) in mapping(node, "destinations", p) {
        let path = join("destinations", name);
        let Some(raw) = p.decode::<RawDestination>(value, &path) else {
            p.broken_destination(name);
            continue;
        };
        match destination(name, raw, &path, settings, p, secrets) {
            Some(d) => {
                out.insert(name.to_owned(), d);
            }
            None => p.broken_destination(name),
        }
    }
    out
}

fn destination(
    name: &str,
    raw: RawDestination,
    path: &str,
    settings: &Settings,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
) -> Option<Destination> {
    let kind = raw.kind.value;
    let not_for = |p: &mut Problems, field: &str, loc: Loc, what: &str| {
        p.error::<()>(loc, &join(path, field), format!("`{field}` is only valid for {what}"));
    };
    if kind != DestinationKind::Email {
        if let Some(f) = &raw.provider {
            not_for(p, "provider", f.loc, "type: email");
        }
        if let Some(f) = &raw.from {
            not_for(p, "from", f.loc, "type: email");
        }
    }
    let typed = super::destination_types::typed(kind, &raw, path, p, secrets)?;
    let builds_url = kind == DestinationKind::Telegram || typed.smtp.is_some();
    let slack_api = slack_api(&raw, path, p, secrets);
    let url = match (kind, raw.url) {
        (DestinationKind::Slack, Some(u)) if raw.token.is_some() => {
            p.error::<()>(
                u.loc,
                &join(path, "url"),
                "`url` (an incoming webhook) and `token` (the Web API) exclude each other: give one",
            );
            None
        }
        (DestinationKind::Slack, None) if raw.token.is_some() => None,
        (DestinationKind::Slack, None) => {
            return p.error(
                raw.kind.loc,
                path,
                "a slack destination needs `url` (an incoming webhook) or `token` + `channel` (the Web API)",
            );
        }
        (_, Some(u)) if builds_url => {
            let instead =
                if kind == DestinationKind::Telegram { "`api_url` and `token`" } else { "`smarthost`" };
            return p.error(
                u.loc,
                &join(path, "url"),
                format!("this destination takes {instead}, not `url`"),
            );
        }
        (_, None) if builds_url => typed.url.clone().map(|value| Spanned { loc: raw.kind.loc, value }),
        (DestinationKind::Pagerduty, None) => {
            Some(Spanned { loc: raw.kind.loc, value: crate::actions::pagerduty_default_url().to_owned() })
        }
        (DestinationKind::Log, Some(u)) => {
            not_for(p, "url", u.loc, "slack, email and http destinations");
            None
        }
        (DestinationKind::Log, None) => None,
        (DestinationKind::Email, None) => {
            let provider = raw.provider.as_ref().map_or(EmailProvider::Sendgrid, |p| p.value);
            Some(Spanned { loc: raw.kind.loc, value: provider.default_url().to_owned() })
        }
        (_, None) => {
            return p.error(raw.kind.loc, path, format!("a {} destination needs `url`", kind_name(kind)));
        }
        (_, Some(u)) => Some(u),
    };
    if let Some(u) = &url {
        check_url(u, &join(path, "url"), p);
        // A webhook URL is itself the credential.
        if matches!(
            kind,
            DestinationKind::Slack
                | DestinationKind::Teams
                | DestinationKind::Discord
                | DestinationKind::GoogleChat
                | DestinationKind::Mattermost
        ) {
            secrets.push((format!("[{path}.url]"), u.value.clone()));
        }
    }
    let method = match raw.method {
        None => http::Method::POST,
        Some(m) if kind == DestinationKind::Http => match m.value.to_ascii_uppercase().as_str() {
            "POST" => http::Method::POST,
            "PUT" => http::Method::PUT,
            "PATCH" => http::Method::PATCH,
            other => {
                return p.error(
                    m.loc,
                    &join(path, "method"),
                    format!("unsupported method `{other}`, expected one of: POST, PUT, PATCH"),
                );
            }
        },
        Some(m) => return p.error(m.loc, &join(path, "method"), "`method` is only valid for type: http"),
    };
    let mut headers = Vec::new();
    if let Some(h) = raw.headers {
        if kind == DestinationKind::Log {
            not_for(p, "headers", h.loc, "slack, email and http destinations");
        }
        for (k, v) in h.value {
            match (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_str(&v)) {
                (Ok(name), Ok(_)) => {
                    // Values built from `${VAR}` are masked through the variable already; a literal
                    // credential is masked whole.
                    if credential_header(name.as_str())
                        && !secrets.iter().any(|(_, s)| s.len() >= 4 && v.contains(s.as_str()))
                    {
                        secrets.push((format!("[{path}.headers.{k}]"), v.clone()));
                    }
                    headers.push((name, Secret::new(v)));
                }
                _ => {
                    p.error::<()>(
                        h.loc,
                        &join(path, &format!("headers.{k}")),
                        "not a valid HTTP header name and value",
                    );
                }
            }
        }
    }
    if kind == DestinationKind::Email && raw.from.is_none() {
        p.warning(raw.kind.loc, path, "no `from`: every action sending to this destination must give `from`");
    }
    let timeout = match raw.timeout {
        Some(t) => delivery::timeout(&t, &join(path, "timeout"), p)?,
        None => settings.delivery.timeout,
    };
    let retry = match raw.retry {
        Some(r) => delivery::retry(r, &settings.delivery.retry, &join(path, "retry"), p),
        None => settings.delivery.retry.clone(),
    };
    let sign = match raw.sign {
        None => None,
        Some(sign) if kind != DestinationKind::Http => {
            return p.error(sign.scheme.loc, &join(path, "sign"), "`sign` is only valid for type: http");
        }
        Some(sign) => {
            secrets.push((format!("[{path}.sign.secret]"), sign.secret.value.clone()));
            Some(outbound_sign(sign, &join(path, "sign"), p)?)
        }
    };
    let limits = delivery::limits(
        raw.concurrency.as_ref(),
        raw.rate_limit.as_ref(),
        settings.delivery.concurrency,
        path,
        p,
    );
    if let Some(f) = raw.from.as_ref().filter(|_| kind == DestinationKind::Email)
        && let Err(reason) = crate::actions::one_address(&f.value)
    {
        p.error::<()>(f.loc, &join(path, "from"), reason);
    }
    Some(Destination {
        name: name.to_owned(),
        kind,
        method,
        url: url.map(|u| Secret::new(u.value)),
        headers,
        timeout,
        email: (kind == DestinationKind::Email).then(|| EmailDefaults {
            provider: raw.provider.map_or(EmailProvider::Sendgrid, |p| p.value),
            from: raw.from.map(|f| f.value),
        }),
        retry,
        limits,
        sign,
        hours: raw
            .hours
            .as_ref()
            .and_then(|h| super::hours::hours(h, &join(path, "hours"), p))
            .unwrap_or_default(),
        slack_api: slack_api?,
        chat_fields: typed.fixed,
        routing_key: typed.routing_key,
        smtp: typed.smtp,
    })
}

/// `token` + `channel` (+ `api_url`) of a Slack Web API destination: `Some(None)` when the
/// destination does not use the Web API, `None` after an error. The token is registered with the
/// redactor.
fn slack_api(
    raw: &RawDestination,
    path: &str,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
) -> Option<Option<SlackApi>> {
    // Which other types take these fields is checked with their own fields (destination_types).
    if raw.kind.value != DestinationKind::Slack {
        return Some(None);
    }
    let fields = [("token", &raw.token), ("channel", &raw.channel), ("api_url", &raw.api_url)];
    let Some(token) = &raw.token else {
        for (field, value) in &fields[1..] {
            if let Some(v) = value {
                return p.error(
                    v.loc,
                    &join(path, field),
                    format!("`{field}` is for the Slack Web API: it needs `token`"),
                );
            }
        }
        return Some(None);
    };
    if token.value.trim().is_empty() {
        return p.error(token.loc, &join(path, "token"), "`token` is empty");
    }
    secrets.push((format!("[{path}.token]"), token.value.clone()));
    let Some(channel) = &raw.channel else {
        return p.error(token.loc, path, "a slack destination with `token` needs `channel`");
    };
    if channel.value.trim().is_empty() {
        return p.error(channel.loc, &join(path, "channel"), "`channel` is empty");
    }
    let api_url = match &raw.api_url {
        Some(u) => {
            check_url(u, &join(path, "api_url"), p);
            u.value.trim_end_matches('/').to_owned()
        }
        None => crate::actions::slack_api::DEFAULT_API_URL.to_owned(),
    };
    Some(Some(SlackApi { api_url, token: Secret::new(token.value.clone()), channel: channel.value.clone() }))
}

/// Header names that carry credentials by convention.
fn credential_header(name: &str) -> bool {
    ["auth", "token", "key", "secret", "signature", "cookie", "password"].iter().any(|w| name.contains(w))
}

pub(super) fn kind_name(kind: DestinationKind) -> &'static str {
    kind.name()
}

fn check_url(url: &Spanned<String>, path: &str, p: &mut Problems) {
    match reqwest::Url::parse(&url.value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(u) => {
            p.error::<()>(
                url.loc,
                path,
                format!("the URL must be http or https with a host, found scheme `{}`", u.scheme()),
            );
        }
        // The URL may hold a secret: describe the problem, never echo it.
        Err(e) => {
            p.error::<()>(url.loc, path, format!("not a valid URL: {e}"));
        }
    }
}

fn outbound_sign(raw: RawSign, path: &str, p: &mut Problems) -> Option<OutboundSign> {
    let secret = [Secret::new(raw.secret.value.clone())];
    match raw.scheme.value {
        SignScheme::HmacSha256 => {
            let header = raw.header.as_ref().map_or("x-hookroute-signature", |h| h.value.as_str());
            let Ok(header) = http::HeaderName::from_bytes(header.as_bytes()) else {
                let loc = raw.header.as_ref().map_or(raw.scheme.loc, |h| h.loc);
                return p.error(loc, &join(path, "header"), "not a valid header name");
            };
            let keys = Keys::from_text(&secret)
                .map_err(|e| p.error::<()>(raw.secret.loc, &join(path, "secret"), e.to_string()))
                .ok()?;
            Some(OutboundSign::Hmac {
                header,
                encoding: raw.encoding.map_or(Encoding::Hex, |e| e.value),
                prefix: raw.prefix.map(|x| x.value).unwrap_or_default(),
                keys,
            })
        }
        SignScheme::StandardWebhooks => {
            for (field, loc) in [
                ("header", raw.header.map(|h| h.loc)),
                ("encoding", raw.encoding.map(|h| h.loc)),
                ("prefix", raw.prefix.map(|h| h.loc)),
            ] {
                if let Some(loc) = loc {
                    p.error::<()>(
                        loc,
                        &join(path, field),
                        "standard-webhooks fixes its headers and encoding",
                    );
                }
            }
            let keys = Keys::from_whsec(&secret)
                .map_err(|e| p.error::<()>(raw.secret.loc, &join(path, "secret"), e.to_string()))
                .ok()?;
            Some(OutboundSign::StandardWebhooks { keys })
        }
    }
}
