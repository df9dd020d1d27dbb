//! `hookroute test`: which rules an event matches and why, and the requests it would send, with
//! secrets masked. Sends nothing.

use super::say;
use std::path::Path;

use anyhow::Context;
use bytes::Bytes;

use crate::config::{self, LoadError};
use crate::dry_run::{self, Report};

pub fn run(
    rules: &Path,
    source: Option<&str>,
    json: bool,
    header_args: &[String],
    prev_file: Option<&Path>,
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
    let prev = match prev_file {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let report =
        dry_run::build_with_prev(&loaded.config, source, Bytes::from(raw), &headers, None, prev.as_deref())
            .with_context(|| format!("in {}", event_file.display()))?;
    if json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report)?;
    }
    // A CI gate built on `test` must fail when a delivery would be stored dead.
    let failed = report.actions.iter().filter(|a| a.error.is_some()).count();
    if failed > 0 {
        eprintln!("{failed} action(s) failed to render; those deliveries would be stored dead");
        return Ok(1);
    }
    Ok(0)
}

fn print_text(r: &Report) -> std::io::Result<()> {
    say!("event `{}` on source `{}` (rules version {})", r.event_type, r.source, r.rules_version);
    if let Some(entity) = &r.entity {
        say!("{entity}");
    }
    say!("\nrules:");
    for t in &r.rules {
        let mark = if t.matched { "MATCH" } else { "no   " };
        match &t.reason {
            Some(reason) => say!("  {mark} {}: {reason}", t.rule),
            None => say!("  {mark} {}", t.rule),
        }
    }
    say!("\nactions ({}):", r.actions.len());
    for a in &r.actions {
        say!("  {} -> {} ({}), action {}", a.rule, a.destination, a.kind, a.action);
        if let Some(e) = &a.error {
            say!("    ERROR: {e}");
            continue;
        }
        if let (Some(m), Some(u)) = (&a.method, &a.url) {
            say!("    {m} {u}");
        }
        for (k, v) in &a.headers {
            say!("    {k}: {v}");
        }
        if let Some(ct) = &a.content_type {
            say!("    content-type: {ct}");
        }
        if let Some(b) = &a.body {
            say!("    {b}");
        }
        for note in &a.notes {
            say!("    NOTE: {note}");
        }
    }
    Ok(())
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
