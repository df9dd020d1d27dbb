//! `hookroute test`: which rules an event matches and why, and the requests it would send, with
//! secrets masked. Sends nothing.

use std::path::Path;

use anyhow::{Context, bail};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::config::{self, Config, LoadError};
use crate::route::{self, ParsedEvent};
use crate::rules::{RuleTrace, explain};

#[derive(Serialize)]
struct Report {
    source: String,
    event_type: String,
    rules_version: String,
    rules: Vec<RuleTrace>,
    actions: Vec<ActionReport>,
}

#[derive(Serialize)]
struct ActionReport {
    rule: String,
    action: usize,
    destination: String,
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(
    rules: &Path,
    source: Option<&str>,
    json: bool,
    header_args: &[String],
    event_file: &Path,
) -> anyhow::Result<u8> {
    let headers = parse_headers(header_args)?;
    let loaded = match config::load_on_own_stack(rules) {
        Ok(l) => l,
        Err(LoadError::Invalid(d)) => {
            eprint!("{d}");
            eprintln!("{}: {} error(s)", rules.display(), d.error_count());
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    let raw = std::fs::read(event_file).with_context(|| format!("cannot read {}", event_file.display()))?;
    let report = build(&loaded.config, source, Bytes::from(raw), &headers)
        .with_context(|| format!("in {}", event_file.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(0)
}

fn build(
    config: &Config,
    source: Option<&str>,
    raw: Bytes,
    headers: &http::HeaderMap,
) -> anyhow::Result<Report> {
    let source = match source {
        Some(s) if config.sources.contains_key(s) => s.to_owned(),
        Some(s) => bail!("unknown source `{s}`; the rules define: {}", sorted_sources(config)),
        None if config.sources.len() == 1 => config.sources.keys().next().cloned().unwrap_or_default(),
        None => bail!("several sources are defined; pick one with --source ({})", sorted_sources(config)),
    };
    let body: Value = crate::json::parse_strict(&raw).context("the event is not valid JSON")?;
    let spec = &config.sources.get(&source).context("unknown source")?.event_type;
    let event_type = route::event_type_of(spec, headers, &body)
        .context("the event has no event type where this source expects one (give headers with --header)")?;
    let received_at = crate::server::now_rfc3339();
    let event = ParsedEvent {
        source: &source,
        event_type: &event_type,
        body: &body,
        raw_body: &raw,
        content_type: Some("application/json"),
        received_at: &received_at,
        headers: Some(headers),
    };
    let redact = |s: &str| config.redactor.redact(s);
    let actions = route::plan(config, &event)
        .into_iter()
        .map(|planned| {
            let dest = config.destinations.get(planned.destination);
            let (body, content_type, error) = match planned.request {
                Ok(r) => (Some(redact(&String::from_utf8_lossy(&r.body))), r.content_type, None),
                Err(e) => (None, None, Some(e.to_string())),
            };
            ActionReport {
                rule: planned.rule.to_owned(),
                action: planned.action_index,
                destination: planned.destination.to_owned(),
                kind: dest.map(|d| format!("{:?}", d.kind).to_lowercase()).unwrap_or_default(),
                method: dest.filter(|d| d.url.is_some()).map(|d| d.method.to_string()),
                url: dest.and_then(|d| d.url.as_ref()).map(|u| redact(u.expose())),
                headers: dest
                    .map(|d| d.headers.iter().map(|(k, v)| (k.to_string(), redact(v.expose()))).collect())
                    .unwrap_or_default(),
                content_type,
                body,
                error,
            }
        })
        .collect();
    Ok(Report {
        rules: explain(&config.rules, &source, &event_type, &body, Some(headers)),
        source,
        event_type,
        rules_version: config.version.clone(),
        actions,
    })
}

fn sorted_sources(config: &Config) -> String {
    let mut names: Vec<&str> = config.sources.keys().map(String::as_str).collect();
    names.sort_unstable();
    names.join(", ")
}

fn print_text(r: &Report) {
    println!("event `{}` on source `{}` (rules version {})", r.event_type, r.source, r.rules_version);
    println!("\nrules:");
    for t in &r.rules {
        let mark = if t.matched { "MATCH" } else { "no   " };
        match &t.reason {
            Some(reason) => println!("  {mark} {}: {reason}", t.rule),
            None => println!("  {mark} {}", t.rule),
        }
    }
    println!("\nactions ({}):", r.actions.len());
    for a in &r.actions {
        println!("  {} -> {} ({}), action {}", a.rule, a.destination, a.kind, a.action);
        if let Some(e) = &a.error {
            println!("    ERROR: {e}");
            continue;
        }
        if let (Some(m), Some(u)) = (&a.method, &a.url) {
            println!("    {m} {u}");
        }
        for (k, v) in &a.headers {
            println!("    {k}: {v}");
        }
        if let Some(ct) = &a.content_type {
            println!("    content-type: {ct}");
        }
        if let Some(b) = &a.body {
            println!("    {b}");
        }
    }
}

/// `--header 'X-GitHub-Event: issues'` → a header map.
fn parse_headers(args: &[String]) -> anyhow::Result<http::HeaderMap> {
    let mut headers = http::HeaderMap::new();
    for arg in args {
        let (name, value) =
            arg.split_once(':').with_context(|| format!("--header {arg}: expected NAME: VALUE"))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("--header {arg}: bad name"))?;
        let value = http::HeaderValue::from_str(value.trim())
            .with_context(|| format!("--header {arg}: bad value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}
