//! Raw config → validated runtime [`Config`]: JSONPath parsed, regexes and templates compiled,
//! destinations resolved, secrets wrapped. Every problem is collected, not just the first.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::destination::destinations;
use super::diagnostic::Diagnostics;
use super::env::{self, Env, Redactor};
use super::node::{self, Loc, Node, NodeValue, Spanned, join};
use super::problems::{Problems, duration};
use super::raw::{RawAction, RawFile, RawRule, RawSettings};
use super::{Config, Settings, Source, action::action, delivery, edge, source, when};
use crate::actions::Destination;
use crate::rules::{Condition, EventPattern, Rule, RuleSet};
use crate::template::Templates;

pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 86_400);
const DEFAULT_STATE_RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// Compiles rules-file text. `file` names it in diagnostics; `lookup` reads the environment.
pub fn compile(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Diagnostics), Diagnostics> {
    compile_in(text, file, Env::Process(lookup))
}

/// Compiles rules-file text with `${…}` taken from `env`.
pub fn compile_in(text: &str, file: &str, env: Env<'_>) -> Result<(Config, Diagnostics), Diagnostics> {
    let mut p = Problems::default();
    let mut used = Vec::new();
    let config = compile_inner(text, env, &mut used, &mut p);
    // A message may quote a value it found wrong (a URL, a duration): never an expanded secret.
    let redactor = Redactor::new(used.iter().map(|(name, value)| (format!("${{{name}}}"), value.clone())));
    let mut items = p.diagnostics;
    for d in &mut items {
        d.message = redactor.redact(&d.message);
    }
    items.sort_by_key(|d| (d.line, d.col));
    let diagnostics = Diagnostics { file: file.to_owned(), items };
    match config {
        Some(c) if !diagnostics.has_errors() => Ok((c, diagnostics)),
        _ => Err(diagnostics),
    }
}

fn compile_inner(
    text: &str,
    source: Env<'_>,
    used: &mut Vec<(String, String)>,
    p: &mut Problems,
) -> Option<Config> {
    let mut root = match node::parse_yaml(text) {
        Ok(root) => root,
        Err(e) => return p.error(e.loc, "", e.message),
    };
    root.for_each_str_mut("", &mut |loc, path, s| match env::expand_from(source, s, path, used) {
        Ok(expanded) => *s = expanded,
        Err(e) => {
            p.error::<()>(loc, path, e.to_string());
        }
    });
    if !matches!(root.value, NodeValue::Map(_)) {
        return p.error(
            root.loc,
            "",
            format!(
                "the rules file must be a mapping with sources, destinations and rules; found {}",
                root.kind()
            ),
        );
    }
    let file: RawFile = p.decode(&root, "")?;

    let settings = settings(file.settings.as_ref(), p);
    let mut secret_values: Vec<(String, String)> =
        used.iter().map(|(name, value)| (format!("${{{name}}}"), value.clone())).collect();
    let sources = source::sources(file.sources.as_ref(), p, &mut secret_values);
    let destinations = destinations(file.destinations.as_ref(), &settings, p, &mut secret_values);
    let mut templates = Templates::default();
    let rules = rules(file.rules.as_ref(), &sources, &destinations, &mut templates, p);

    let version = env::version(text, used);
    let mut secret_files: Vec<String> = match source {
        Env::Process(_) => {
            used.iter().filter_map(|(name, _)| name.strip_prefix("file:")).map(str::to_owned).collect()
        }
        Env::Sandbox => Vec::new(),
    };
    secret_files.sort_unstable();
    secret_files.dedup();
    Some(Config {
        secret_files,
        version,
        sources,
        destinations,
        rules: RuleSet::new(rules?),
        templates,
        settings,
        redactor: Redactor::new(secret_values),
    })
}

fn settings(node: Option<&Node>, p: &mut Problems) -> Settings {
    let raw: RawSettings = node.and_then(|n| p.decode(n, "settings")).unwrap_or_default();
    let retention = raw
        .retention
        .as_ref()
        .and_then(|r| duration(r, "settings.retention", p))
        .unwrap_or(DEFAULT_RETENTION);
    let max_body_bytes = match &raw.max_body_bytes {
        Some(b) if b.value == 0 => {
            p.error(b.loc, "settings.max_body_bytes", "must be at least 1").unwrap_or(DEFAULT_MAX_BODY_BYTES)
        }
        Some(b) => b.value,
        None => DEFAULT_MAX_BODY_BYTES,
    };
    let edge = edge::limits(&raw, max_body_bytes, p);
    let delivery = raw.delivery.unwrap_or_default();
    Settings {
        edge,
        max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
        delivery: delivery::settings(delivery, p),
        retention,
        state_retention: raw
            .state_retention
            .and_then(|r| duration(&r, "settings.state_retention", p))
            .unwrap_or(DEFAULT_STATE_RETENTION),
        read_timeout: raw
            .read_timeout
            .and_then(|t| duration(&t, "settings.read_timeout", p))
            .unwrap_or(Duration::from_secs(10)),
        max_concurrent_requests: match raw.max_concurrent_requests {
            Some(n) if n.value == 0 => {
                p.error(n.loc, "settings.max_concurrent_requests", "must be at least 1").unwrap_or(1)
            }
            Some(n) => usize::try_from(n.value).unwrap_or(usize::MAX),
            None => 1024,
        },
        admin_token: match raw.admin_token {
            Some(t) if t.value.trim().is_empty() => {
                p.error(t.loc, "settings.admin_token", "is empty; remove it to turn the token off")
            }
            Some(t) => Some(crate::secret::Secret::new(t.value)),
            None => None,
        },
        admin_allowed_hosts: admin_hosts(raw.admin_allowed_hosts.unwrap_or_default(), p),
        alerts: alerts(raw.alerts, p),
    }
}

/// `settings.alerts` (issue 16): when hookroute's own events fire.
fn alerts(raw: Option<super::raw::RawAlerts>, p: &mut Problems) -> super::AlertSettings {
    let raw = raw.unwrap_or_default();
    let mut at_least_a_second = |d: Option<Spanned<String>>, path: &str, default: Duration| match d {
        Some(d) => match duration(&d, path, p) {
            Some(v) if v < Duration::from_secs(1) => {
                p.error(d.loc, path, "must be at least 1s").unwrap_or(default)
            }
            Some(v) => v,
            None => default,
        },
        None => default,
    };
    super::AlertSettings {
        failing_after: at_least_a_second(
            raw.failing_after,
            "settings.alerts.failing_after",
            super::AlertSettings::DEFAULT_FAILING_AFTER,
        ),
        queue_age: at_least_a_second(
            raw.queue_age,
            "settings.alerts.queue_age",
            super::AlertSettings::DEFAULT_QUEUE_AGE,
        ),
    }
}

/// `settings.admin_allowed_hosts`: plain host names (a port is ignored), no scheme or path.
fn admin_hosts(raw: Vec<Spanned<String>>, p: &mut Problems) -> Vec<String> {
    let mut hosts = Vec::new();
    for (i, h) in raw.into_iter().enumerate() {
        let name = h.value.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)) {
            p.error::<()>(
                h.loc,
                &format!("settings.admin_allowed_hosts[{i}]"),
                format!(
                    "`{name}` is not a host name (write e.g. hookroute.internal, without scheme or path)"
                ),
            );
        } else {
            hosts.push(name.to_owned());
        }
    }
    hosts
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
                let msg =
                    format!("duplicate rule name `{}` (first used at line {})", raw.name.value, first.line);
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

/// Why a rule of the built-in source cannot compare with a previous event.
const BUILTIN_HAS_NO_KEY: &str =
    "`becomes`, `changed` and `still` compare events of one key; the built-in `hookroute` source has none";

/// A rule comparing with the previous event (`becomes`, `changed`) needs every source it can see
/// to have a `key`: its own `source:`, or, without one, all sources (say `source:` to narrow it).
fn keyed_sources(
    named: Option<&Spanned<String>>,
    sources: &HashMap<String, Source>,
    loc: Loc,
    path: &str,
    p: &mut Problems,
) -> bool {
    let mut unkeyed: Vec<&str> = sources
        .values()
        .filter(|s| named.is_none_or(|n| n.value == s.name) && s.key.is_none())
        .map(|s| s.name.as_str())
        .collect();
    unkeyed.sort_unstable();
    if unkeyed.is_empty() {
        return true;
    }
    let fix = if named.is_some() { "" } else { ", or give the rule the `source:` that has one" };
    p.error::<()>(
        loc,
        path,
        format!(
            "`becomes`, `changed` and `still` compare events of the same key, but source {} has \
             no `key` (add e.g. `key: \"$.payload.id\"` to it{fix})",
            unkeyed.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
        ),
    );
    false
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
    let builtin = raw.source.as_ref().is_some_and(|s| s.value == crate::rules::BUILTIN_SOURCE);
    if let Some(s) = &raw.source
        && !sources.contains_key(&s.value)
        && !builtin
    {
        ok = false;
        let mut known: BTreeMap<_, _> = sources.keys().map(|k| (k.as_str(), ())).collect();
        known.insert(crate::rules::BUILTIN_SOURCE, ());
        let known: Vec<_> = known.into_keys().collect();
        p.error::<()>(
            s.loc,
            &join(path, "source"),
            format!("unknown source `{}`, expected one of: {}", s.value, known.join(", ")),
        );
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
                            p.error::<()>(
                                item.loc,
                                &format!("{path}.events[{i}]"),
                                "an event type must be a non-empty string",
                            );
                        }
                    }
                }
                out
            }
            _ => {
                return p.error(
                    n.loc,
                    &join(path, "events"),
                    "`events` is an event type, a glob such as `order.*`, or a non-empty list of them",
                );
            }
        },
    };
    let when = match &raw.when {
        Some(n) => {
            let c = when::compile(n, &join(path, "when"), p);
            ok &= c.is_some();
            if c.as_ref().is_some_and(Condition::needs_prev) {
                ok &= if builtin {
                    p.error::<()>(n.loc, &join(path, "when"), BUILTIN_HAS_NO_KEY);
                    false
                } else {
                    keyed_sources(raw.source.as_ref(), sources, n.loc, &join(path, "when"), p)
                };
            }
            c
        }
        None => None,
    };
    let after = raw.after.as_ref().and_then(|a| {
        let d = duration(a, &join(path, "after"), p);
        ok &= d.is_some();
        d
    });
    let still = match &raw.still {
        Some(n) => {
            let c = when::compile(n, &join(path, "still"), p);
            ok &= c.is_some();
            // One problem per place: a missing `after` first, then a missing `key`.
            if after.is_none() {
                ok = false;
                p.error::<()>(
                    n.loc,
                    &join(path, "still"),
                    "`still` needs `after`: it holds while the actions wait",
                );
            }
            ok &= if builtin {
                p.error::<()>(n.loc, &join(path, "still"), BUILTIN_HAS_NO_KEY);
                false
            } else {
                keyed_sources(raw.source.as_ref(), sources, n.loc, &join(path, "still"), p)
            };
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
        match p.decode::<RawAction>(node, &apath).and_then(|a| action(a, &apath, destinations, templates, p))
        {
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
        after,
        still,
    })
}
