//! `hookroute deliveries`, `replay` and `prune`: inspect and repair the store from a shell.

use super::say;
use anyhow::{Context, bail};

use crate::clock::{now_ms, rfc3339_ms};
use crate::store::{self, Filter, ReplaySelector, Status};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub fn list(
    url: &str,
    status: Option<Status>,
    event: Option<String>,
    limit: i64,
    json: bool,
) -> anyhow::Result<u8> {
    let rows = runtime()?.block_on(async {
        let store = super::open_existing_store(url).await?;
        anyhow::Ok(store.list(Filter { status, event_id: event, limit, ..Filter::default() }).await?)
    })?;
    if json {
        say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if rows.is_empty() {
        say!("no deliveries");
        return Ok(0);
    }
    for r in &rows {
        let next = if matches!(r.status.as_str(), "pending" | "failed") {
            format!(", next attempt {}", rfc3339_ms(r.next_attempt_at))
        } else {
            String::new()
        };
        say!(
            "#{} {} -> {}: event {}, rule {}, action {}, {} attempt(s){}",
            r.id,
            r.status,
            r.destination,
            r.event_id,
            r.rule,
            r.action_index,
            r.attempts,
            next
        );
        if let Some(e) = &r.last_error {
            say!("    last error: {e}");
        }
        for a in &r.history {
            let code = a.status_code.map_or_else(|| "-".to_owned(), |c| c.to_string());
            say!(
                "    series {} {} status {} in {} ms: {}{}",
                a.series,
                rfc3339_ms(a.attempted_at),
                code,
                a.latency_ms,
                a.outcome,
                a.error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
    }
    Ok(0)
}

pub fn replay(
    url: &str,
    ids: Vec<i64>,
    event: Option<String>,
    status: Option<Status>,
    since: Option<&str>,
    force: bool,
) -> anyhow::Result<u8> {
    if status == Some(Status::Delivered) && !force {
        bail!("replaying delivered deliveries sends them again: add --force to do so");
    }
    let selector = match (ids.is_empty(), event, status) {
        (false, None, None) => ReplaySelector::Ids(ids),
        (true, Some(e), None) => ReplaySelector::Event(e),
        (true, None, Some(status)) => {
            ReplaySelector::Status { status, since: since.map(parse_since).transpose()? }
        }
        _ => {
            bail!("give delivery ids, or --event ID, or --status STATUS [--since TIME]: exactly one of them")
        }
    };
    if since.is_some() && !matches!(selector, ReplaySelector::Status { .. }) {
        bail!("--since goes with --status");
    }
    let by_status = match &selector {
        ReplaySelector::Status { status, .. } => Some(status.as_str()),
        _ => None,
    };
    let n = runtime()?.block_on(async {
        let store = super::open_existing_store(url).await?;
        match store.replay(selector.clone(), force, now_ms()).await {
            Err(store::StoreError::Conflict(m)) => bail!("{m}: add --force to do so"),
            other => anyhow::Ok(other?),
        }
    })?;
    match (n, by_status) {
        // Nothing left to repair is not a failure (a cron job running `replay --status dead`).
        (0, Some(status)) => say!("nothing to replay: no {status} deliveries"),
        (0, None) => {
            say!("nothing to replay: every delivery of the event was delivered (--force sends them again)")
        }
        _ => say!("{n} deliver{} queued for a new attempt series", if n == 1 { "y" } else { "ies" }),
    }
    Ok(0)
}

pub fn prune(url: &str, older_than: &str, dead: bool, state_older_than: &str) -> anyhow::Result<u8> {
    let age = parse_age(older_than).with_context(|| format!("--older-than {older_than}"))?;
    let state_age =
        parse_age(state_older_than).with_context(|| format!("--state-older-than {state_older_than}"))?;
    let (n, keys, threads) = runtime()?.block_on(async {
        let store = super::open_existing_store(url).await?;
        let now = now_ms();
        let n = store.prune(now - age, dead, now).await?;
        let keys = store.prune_state(now - state_age).await?;
        anyhow::Ok((n, keys, store.prune_threads(now - state_age).await?))
    })?;
    say!("{n} event(s) deleted, {keys} entity key(s) forgotten, {threads} thread(s) forgotten");
    Ok(0)
}

/// `2026-11-29T10:00:00Z` or an age such as `24h`.
pub(super) fn parse_since(text: &str) -> anyhow::Result<i64> {
    if let Ok(t) = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000)?);
    }
    Ok(now_ms()
        - parse_age(text)
            .with_context(|| format!("--since {text}: give an RFC 3339 time or an age like 24h"))?)
}

/// `30m`, `24h`, `7d` in milliseconds.
fn parse_age(text: &str) -> anyhow::Result<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: i64 = t[..split].parse().context("expected a number followed by s, m, h or d")?;
    let unit = match &t[split..] {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => bail!("unknown unit `{other}`: use s, m, h or d"),
    };
    Ok(n * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_times() {
        assert_eq!(parse_age("90s").expect("ok"), 90_000);
        assert_eq!(parse_age("7d").expect("ok"), 604_800_000);
        assert!(parse_age("7w").is_err());
        assert!(parse_age("h").is_err());
        assert_eq!(parse_since("1970-01-01T00:00:01Z").expect("ok"), 1_000);
        assert!(parse_since("yesterday").is_err());
    }
}
