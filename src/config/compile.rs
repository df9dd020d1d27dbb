//! Raw config → validated runtime [`Config`]: JSONPath parsed, regexes and templates compiled,
//! destinations resolved, secrets wrapped. Every problem is collected, not just the first.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::diagnostic::{Diagnostic, Diagnostics};
use super::env::{self, Redactor};
use super::node::{self, DecodeError, Loc, Node, NodeValue, Spanned, decode, join};
use super::raw::{RawAction, RawDelivery, RawDestination, RawFile, RawRule, RawSettings, RawSource, VerifyScheme};
use super::{Config, DeliverySettings, Settings, Source, when};
use crate::actions::{Action, Destination, DestinationKind, EmailProvider, HttpBody, Plan};
use crate::rules::{EventPattern, Rule, RuleSet};
use crate::secret::Secret;
use crate::template::{Shape, Templates, Text};
use crate::verify::{HmacSha256, Verifier};

pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_ATTEMPTS: u32 = 4;

/// The diagnostics of one compile.
#[derive(Default)]
pub struct Problems(Vec<Diagnostic>);

impl Problems {
    /// Records an error; returns `None` so callers can `return p.error(..)`. A second error at the
    /// same place is a knock-on of the first (a missing variable makes a bad URL) and is dropped.
    pub fn error<T>(&mut self, loc: Loc, path: &str, message: impl Into<String>) -> Option<T> {
        let d = Diagnostic::error(loc, path, message);
        if !self.0.iter().any(|e| e.severity == d.severity && (e.line, e.col) == (d.line, d.col)) {
            self.0.push(d);
        }
        None
    }

    pub fn warning(&mut self, loc: Loc, path: &str, message: impl Into<String>) {
        self.0.push(Diagnostic::warning(loc, path, message));
    }

    fn decode_error<T>(&mut self, e: DecodeError, fallback: Loc) -> Option<T> {
        self.error(e.loc.unwrap_or(fallback), &e.path, e.message)
    }

    fn decode<T: serde::de::DeserializeOwned>(&mut self, node: &Node, path: &str) -> Option<T> {
        decode(node, path).map_err(|e| self.decode_error::<T>(e, node.loc)).ok()
    }
}

/// Compiles rules-file text. `file` names it in diagnostics; `lookup` reads the environment.
pub fn compile(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Diagnostics), Diagnostics> {
    let mut p = Problems::default();
    let config = compile_inner(text, lookup, &mut p);
    let mut items = p.0;
    items.sort_by_key(|d| (d.line, d.col));
    let diagnostics = Diagnostics {
        file: file.to_owned(),
        items,
    };
    match config {
        Some(c) if !diagnostics.has_errors() => Ok((c, diagnostics)),
        _ => Err(diagnostics),
    }
}

fn compile_inner(text: &str, lookup: &dyn Fn(&str) -> Option<String>, p: &mut Problems) -> Option<Config> {
    let mut root = match node::parse_yaml(text) {
        Ok(root) => root,
        Err(e) => return p.error(e.loc, "", e.message),
    };
    let mut used = Vec::new();
    root.for_each_str_mut("", &mut |loc, path, s| match env::expand(s, lookup, &mut used) {
        Ok(expanded) => *s = expanded,
        Err(e) => {
            p.error::<()>(loc, path, e.to_string());
        }
    });
    if !matches!(root.value, NodeValue::Map(_)) {
        return p.error(root.loc, "", format!("the rules file must be a mapping with sources, destinations and rules; found {}", root.kind()));
    }
    let file: RawFile = p.decode(&root, "")?;

    let settings = settings(file.settings.as_ref(), p);
    let mut secret_values: Vec<(String, String)> =
        used.into_iter().map(|(name, value)| (format!("${{{name}}}"), value)).collect();
    let sources = sources(file.sources.as_ref(), p, &mut secret_values);
    let destinations = destinations(file.destinations.as_ref(), &settings, p, &mut secret_values);
    let mut templates = Templates::default();
    let rules = rules(file.rules.as_ref(), &sources, &destinations, &mut templates, p);

    let version = hex::encode(&Sha256::digest(text.as_bytes())[..6]);
    Some(Config {
        version,
        sources,
        destinations,
        rules: RuleSet::new(rules?),
        templates,
        settings,
        redactor: Redactor::new(secret_values),
    })
}

/// A mapping's entries, or an error when the node is something else.
fn mapping<'n>(node: Option<&'n Node>, path: &str, p: &mut Problems) -> Vec<(&'n str, &'n Node, &'n Node)> {
    match node {
        None => vec![],
        Some(n) if matches!(n.value, NodeValue::Null) => vec![],
        Some(n) => match n.entries() {
            Some(entries) => entries.collect(),
            None => p.error(n.loc, path, format!("expected a mapping of names, found {}", n.kind())).unwrap_or_default(),
        },
    }
}

fn settings(node: Option<&Node>, p: &mut Problems) -> Settings {
    let raw: RawSettings = node.and_then(|n| p.decode(n, "settings")).unwrap_or_default();
    let delivery = raw.delivery.unwrap_or_default();
    let max_body_bytes = match raw.max_body_bytes {
        Some(b) if b.value == 0 => p.error(b.loc, "settings.max_body_bytes", "must be at least 1").unwrap_or(DEFAULT_MAX_BODY_BYTES),
        Some(b) => b.value,
        None => DEFAULT_MAX_BODY_BYTES,
    };
    Settings {
        max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
        delivery: delivery_settings(delivery, p),
    }
}

fn delivery_settings(raw: RawDelivery, p: &mut Problems) -> DeliverySettings {
    let timeout = raw
        .timeout
        .and_then(|t| duration(&t, "settings.delivery.timeout", p))
        .unwrap_or(DEFAULT_TIMEOUT);
    let max_attempts = match raw.max_attempts {
        Some(a) if a.value == 0 => p.error(a.loc, "settings.delivery.max_attempts", "must be at least 1").unwrap_or(1),
        Some(a) => a.value,
        None => DEFAULT_MAX_ATTEMPTS,
    };
    DeliverySettings { timeout, max_attempts }
}

/// `250ms`, `10s`, `5m`, `1h`.
fn duration(text: &Spanned<String>, path: &str, p: &mut Problems) -> Option<Duration> {
    let s = text.value.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return p.error(text.loc, path, format!("`{s}` is not a duration; write e.g. 500ms, 10s, 5m or 1h")),
    };
    if d.is_zero() {
        return p.error(text.loc, path, "a duration must be longer than zero");
    }
    Some(d)
}

fn sources(node: Option<&Node>, p: &mut Problems, secrets: &mut Vec<(String, String)>) -> HashMap<String, Source> {
    let mut out = HashMap::new();
    for (name, key, value) in mapping(node, "sources", p) {
        let path = join("sources", name);
        if !valid_name(name) {
            p.error::<()>(key.loc, &path, "a source name is served at /hooks/NAME: use letters, digits, `-`, `_` and `.`");
            continue;
        }
        let Some(raw) = p.decode::<RawSource>(value, &path) else { continue };
        let verify_path = join(&path, "verify");
        let verifier = match raw.verify.scheme.value {
            VerifyScheme::None => {
                p.warning(raw.verify.scheme.loc, &join(&verify_path, "scheme"), "requests to this source are not verified: anyone who can reach it can trigger its rules");
                Verifier::None
            }
            VerifyScheme::HmacSha256 => {
                let header = raw.verify.header.map_or_else(|| "signature".to_owned(), |h| h.value);
                let list = raw.verify.secrets.unwrap_or_default();
                for (i, s) in list.iter().enumerate() {
                    secrets.push((format!("[{path} secret {i}]"), s.value.clone()));
                }
                let values: Vec<Secret> = list.iter().map(|s| Secret::new(s.value.clone())).collect();
                match HmacSha256::new(&header, &values) {
                    Ok(v) => Verifier::HmacSha256(v),
                    Err(e) => {
                        let loc = list.first().map_or(raw.verify.scheme.loc, |s| s.loc);
                        p.error::<()>(loc, &join(&verify_path, "secrets"), e.to_string());
                        continue;
                    }
                }
            }
        };
        out.insert(name.to_owned(), Source { name: name.to_owned(), verifier });
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn destinations(
    node: Option<&Node>,
    settings: &Settings,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
) -> HashMap<String, Destination> {
    let mut out = HashMap::new();
    for (name, _, value) in mapping(node, "destinations", p) {
        let path = join("destinations", name);
        let Some(raw) = p.decode::<RawDestination>(value, &path) else { continue };
        if let Some(d) = destination(name, raw, &path, settings, p, secrets) {
            out.insert(name.to_owned(), d);
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
    let url = match (kind, raw.url) {
        (DestinationKind::Log, Some(u)) => {
            not_for(p, "url", u.loc, "slack, email and http destinations");
            None
        }
        (DestinationKind::Log, None) => None,
        (DestinationKind::Email, None) => {
            let provider = raw.provider.as_ref().map_or(EmailProvider::Sendgrid, |p| p.value);
            Some(Spanned { loc: raw.kind.loc, value: provider.default_url().to_owned() })
        }
        (_, None) => return p.error(raw.kind.loc, path, format!("a {} destination needs `url`", kind_name(kind))),
        (_, Some(u)) => Some(u),
    };
    if let Some(u) = &url {
        check_url(u, &join(path, "url"), p);
        if kind == DestinationKind::Slack {
            secrets.push((format!("[{path}.url]"), u.value.clone()));
        }
    }
    let method = match raw.method {
        None => http::Method::POST,
        Some(m) if kind == DestinationKind::Http => match m.value.to_ascii_uppercase().as_str() {
            "POST" => http::Method::POST,
            "PUT" => http::Method::PUT,
            "PATCH" => http::Method::PATCH,
            other => return p.error(m.loc, &join(path, "method"), format!("unsupported method `{other}`, expected one of: POST, PUT, PATCH")),
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
                    if credential_header(name.as_str()) && !secrets.iter().any(|(_, s)| s.len() >= 4 && v.contains(s.as_str())) {
                        secrets.push((format!("[{path}.headers.{k}]"), v.clone()));
                    }
                    headers.push((name, Secret::new(v)));
                }
                _ => {
                    p.error::<()>(h.loc, &join(path, &format!("headers.{k}")), "not a valid HTTP header name and value");
                }
            }
        }
    }
    if kind == DestinationKind::Email && raw.from.is_none() {
        p.warning(raw.kind.loc, path, "no `from`: every action sending to this destination must give `from`");
    }
    let timeout = match raw.timeout {
        Some(t) => duration(&t, &join(path, "timeout"), p)?,
        None => settings.delivery.timeout,
    };
    Some(Destination {
        name: name.to_owned(),
        kind,
        method,
        url: url.map(|u| Secret::new(u.value)),
        headers,
        timeout,
        email: (kind == DestinationKind::Email).then(|| crate::actions::EmailDefaults {
            provider: raw.provider.map_or(EmailProvider::Sendgrid, |p| p.value),
            from: raw.from.map(|f| f.value),
        }),
    })
}

/// Header names that carry credentials by convention.
fn credential_header(name: &str) -> bool {
    ["auth", "token", "key", "secret", "signature", "cookie", "password"]
        .iter()
        .any(|w| name.contains(w))
}

fn kind_name(kind: DestinationKind) -> &'static str {
    match kind {
        DestinationKind::Slack => "slack",
        DestinationKind::Email => "email",
        DestinationKind::Http => "http",
        DestinationKind::Log => "log",
    }
}

fn check_url(url: &Spanned<String>, path: &str, p: &mut Problems) {
    match reqwest::Url::parse(&url.value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        Ok(u) => {
            p.error::<()>(url.loc, path, format!("the URL must be http or https with a host, found scheme `{}`", u.scheme()));
        }
        // The URL may hold a secret: describe the problem, never echo it.
        Err(e) => {
            p.error::<()>(url.loc, path, format!("not a valid URL: {e}"));
        }
    }
}

fn rules(
    node: Option<&Node>,
    sources: &HashMap<String, Source>,
    destinations: &HashMap<String, Destination>,
    templates: &mut Templates,
    p: &mut Problems,
) -> Option<Vec<Rule>> {
    let items: &[Node] = match node.map(|n| &n.value) {
        None | Some(NodeValue::Null) => &[],
        Some(NodeValue::Seq(items)) => items,
        Some(_) => {
            let n = node?;
            return p.error(n.loc, "rules", format!("expected a list of rules, found {}", n.kind()));
        }
    };
    let mut seen: HashMap<String, Loc> = HashMap::new();
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let path = format!("rules[{i}]");
        let rule = p.decode::<RawRule>(item, &path).and_then(|raw| {
            if let Some(first) = seen.get(&raw.name.value) {
                let msg = format!("duplicate rule name `{}` (first used at line {})", raw.name.value, first.line);
                p.error::<()>(raw.name.loc, &join(&path, "name"), msg);
            } else {
                seen.insert(raw.name.value.clone(), raw.name.loc);
            }
            rule(raw, &path, sources, destinations, templates, p)
        });
        match rule {
            Some(r) => out.push(r),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn rule(
    raw: RawRule,
    path: &str,
    sources: &HashMap<String, Source>,
    destinations: &HashMap<String, Destination>,
    templates: &mut Templates,
    p: &mut Problems,
) -> Option<Rule> {
    let mut ok = true;
    if let Some(s) = &raw.source
        && !sources.contains_key(&s.value)
    {
        ok = false;
        let known: BTreeMap<_, _> = sources.keys().map(|k| (k.as_str(), ())).collect();
        let known: Vec<_> = known.into_keys().collect();
        p.error::<()>(s.loc, &join(path, "source"), format!("unknown source `{}`, expected one of: {}", s.value, known.join(", ")));
    }
    let events = match &raw.events {
        None => vec![EventPattern::new("*")],
        Some(n) => match &n.value {
            NodeValue::Str(s) => vec![EventPattern::new(s)],
            NodeValue::Seq(items) if !items.is_empty() => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) if !s.is_empty() => out.push(EventPattern::new(s)),
                        _ => {
                            ok = false;
                            p.error::<()>(item.loc, &format!("{path}.events[{i}]"), "an event type must be a non-empty string");
                        }
                    }
                }
                out
            }
            _ => return p.error(n.loc, &join(path, "events"), "`events` is an event type, a glob such as `order.*`, or a non-empty list of them"),
        },
    };
    let when = match &raw.when {
        Some(n) => {
            let c = when::compile(n, &join(path, "when"), p);
            ok &= c.is_some();
            c
        }
        None => None,
    };
    if raw.actions.value.is_empty() {
        p.warning(raw.actions.loc, &join(path, "actions"), "this rule has no actions");
    }
    let mut actions = Vec::new();
    for (i, node) in raw.actions.value.iter().enumerate() {
        let apath = format!("{path}.actions[{i}]");
        match p.decode::<RawAction>(node, &apath).and_then(|a| action(a, &apath, destinations, templates, p)) {
            Some(a) => actions.push(a),
            None => ok = false,
        }
    }
    ok.then(|| Rule {
        name: raw.name.value,
        source: raw.source.map(|s| s.value),
        events,
        when,
        actions,
        stop: raw.stop,
    })
}

fn action(
    raw: RawAction,
    path: &str,
    destinations: &HashMap<String, Destination>,
    t: &mut Templates,
    p: &mut Problems,
) -> Option<Action> {
    let Some(dest) = destinations.get(&raw.to.value) else {
        let mut known: Vec<_> = destinations.keys().map(String::as_str).collect();
        known.sort_unstable();
        return p.error(raw.to.loc, &join(path, "to"), format!("unknown destination `{}`, expected one of: {}", raw.to.value, known.join(", ")));
    };
    let kind = dest.kind;
    let mut ok = true;
    let mut reject = |p: &mut Problems, field: &str, loc: Loc| {
        ok = false;
        p.error::<()>(loc, &join(path, field), format!("`{field}` does not apply to a {} destination", kind_name(kind)));
    };
    let allowed: &[&str] = match kind {
        DestinationKind::Slack => &["text", "blocks"],
        DestinationKind::Email => &["recipients", "subject", "text", "html", "from"],
        DestinationKind::Http => &["body", "content_type"],
        DestinationKind::Log => &["text"],
    };
    let present: [(&str, Option<Loc>); 8] = [
        ("text", raw.text.as_ref().map(|x| x.loc)),
        ("blocks", raw.blocks.as_ref().map(|x| x.loc)),
        ("recipients", raw.recipients.as_ref().and_then(|x| x.first()).map(|x| x.loc)),
        ("subject", raw.subject.as_ref().map(|x| x.loc)),
        ("html", raw.html.as_ref().map(|x| x.loc)),
        ("from", raw.from.as_ref().map(|x| x.loc)),
        ("body", raw.body.as_ref().map(|x| x.loc)),
        ("content_type", raw.content_type.as_ref().map(|x| x.loc)),
    ];
    for (field, loc) in present {
        if let Some(loc) = loc
            && !allowed.contains(&field)
        {
            reject(p, field, loc);
        }
    }
    let mut text_of = |p: &mut Problems, field: &str, s: &Spanned<String>| -> Option<Text> {
        t.text(&join(path, field), &s.value).map_err(|e| p.error::<()>(s.loc, &join(path, field), e)).ok()
    };
    let plan = match kind {
        DestinationKind::Slack => {
            if raw.text.is_none() && raw.blocks.is_none() {
                return p.error(raw.to.loc, path, "a slack action needs `text`, `blocks` or both");
            }
            let text = raw.text.as_ref().map(|s| text_of(p, "text", s));
            let blocks = raw.blocks.as_ref().map(|b| shape(b, &join(path, "blocks"), t, p));
            Plan::Slack { text: text.map(|x| x.ok_or(())).transpose().ok()?, blocks: blocks.map(|x| x.ok_or(())).transpose().ok()? }
        }
        DestinationKind::Log => {
            let Some(text) = &raw.text else {
                return p.error(raw.to.loc, path, "a log action needs `text`");
            };
            Plan::Log { text: text_of(p, "text", text)? }
        }
        DestinationKind::Email => email_plan(&raw, dest, path, &mut text_of, p)?,
        DestinationKind::Http => {
            let body = match (&raw.body, &raw.content_type) {
                (None, Some(ct)) => return p.error(ct.loc, &join(path, "content_type"), "`content_type` needs a `body`"),
                (None, None) => HttpBody::Forward,
                (Some(b), ct) => match &b.value {
                    NodeValue::Str(s) => {
                        let text = t.text(&join(path, "body"), s).map_err(|e| p.error::<()>(b.loc, &join(path, "body"), e)).ok()?;
                        let content_type = ct.as_ref().map_or_else(|| "text/plain; charset=utf-8".to_owned(), |c| c.value.clone());
                        HttpBody::Text { text, content_type }
                    }
                    _ => {
                        if let Some(ct) = ct {
                            return p.error(ct.loc, &join(path, "content_type"), "a body written as YAML is always sent as application/json");
                        }
                        HttpBody::Json(shape(b, &join(path, "body"), t, p)?)
                    }
                },
            };
            Plan::Http { body }
        }
    };
    ok.then(|| Action { destination: dest.name.clone(), plan })
}

fn email_plan(
    raw: &RawAction,
    dest: &Destination,
    path: &str,
    text_of: &mut TextCompiler<'_>,
    p: &mut Problems,
) -> Option<Plan> {
    let defaults = dest.email.as_ref()?;
    let recipients = match &raw.recipients {
        Some(list) if !list.is_empty() => list,
        _ => return p.error(raw.to.loc, path, "an email action needs `recipients` (a list of addresses)"),
    };
    let Some(subject) = &raw.subject else {
        return p.error(raw.to.loc, path, "an email action needs `subject`");
    };
    if raw.text.is_none() && raw.html.is_none() {
        return p.error(raw.to.loc, path, "an email action needs `text`, `html` or both");
    }
    let from = match (&raw.from, &defaults.from) {
        (Some(f), _) => text_of(p, "from", f),
        (None, Some(f)) => Some(Text::Literal(f.clone())),
        (None, None) => return p.error(raw.to.loc, path, format!("no `from` here nor on destination `{}`", dest.name)),
    };
    let to: Vec<Option<Text>> = recipients
        .iter()
        .enumerate()
        .map(|(i, r)| text_of(p, &format!("recipients[{i}]"), r))
        .collect();
    let subject = text_of(p, "subject", subject);
    let text = raw.text.as_ref().map(|s| text_of(p, "text", s));
    let html = raw.html.as_ref().map(|s| text_of(p, "html", s));
    Some(Plan::Email {
        provider: defaults.provider,
        from: from?,
        recipients: to.into_iter().collect::<Option<_>>()?,
        subject: subject?,
        text: text.map(|x| x.ok_or(())).transpose().ok()?,
        html: html.map(|x| x.ok_or(())).transpose().ok()?,
    })
}

/// Compiles one text field of an action: `(problems, field, source)`.
type TextCompiler<'a> = dyn FnMut(&mut Problems, &str, &Spanned<String>) -> Option<Text> + 'a;

/// A YAML value whose string leaves are templates.
fn shape(node: &Node, path: &str, t: &mut Templates, p: &mut Problems) -> Option<Shape> {
    Some(match &node.value {
        NodeValue::Str(s) => match t.leaf(path, s) {
            Ok(shape) => shape,
            Err(e) => return p.error(node.loc, path, e),
        },
        NodeValue::Seq(items) => {
            let parts: Vec<_> = items.iter().enumerate().map(|(i, n)| shape(n, &format!("{path}[{i}]"), t, p)).collect();
            Shape::List(parts.into_iter().collect::<Option<_>>()?)
        }
        NodeValue::Map(entries) => {
            let parts: Vec<_> = entries
                .iter()
                .map(|(k, v)| {
                    let key = k.scalar_text();
                    let value = shape(v, &join(path, &key), t, p)?;
                    Some((key, value))
                })
                .collect();
            Shape::Object(parts.into_iter().collect::<Option<_>>()?)
        }
        _ => Shape::Literal(node.to_json()),
    })
}
