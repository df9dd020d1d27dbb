//! Delivery settings: retry schedules, per-destination limits, retention and source dedup keys.

use std::time::Duration;

use super::node::{Node, NodeValue, Spanned, join};
use super::problems::{Problems, duration};
use super::raw::{RawDedup, RawDelivery, RawRetry};
use super::{Dedup, DedupKey, DeliverySettings};
use crate::policy::{Limits, Rate, RetryPolicy};
use crate::rules::Path;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONCURRENCY: usize = 8;
const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// A send must finish well inside a worker's lease on the delivery.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn settings(raw: RawDelivery, p: &mut Problems) -> DeliverySettings {
    let timeout =
        raw.timeout.and_then(|t| timeout(&t, "settings.delivery.timeout", p)).unwrap_or(DEFAULT_TIMEOUT);
    let retry = retry(
        RawRetry { max_attempts: raw.max_attempts, schedule: raw.schedule, max_age: raw.max_age },
        &RetryPolicy::default(),
        "settings.delivery",
        p,
    );
    let concurrency = concurrency(raw.concurrency.as_ref(), "settings.delivery.concurrency", p)
        .unwrap_or(DEFAULT_CONCURRENCY);
    DeliverySettings { timeout, retry, concurrency }
}

pub(super) fn timeout(text: &Spanned<String>, path: &str, p: &mut Problems) -> Option<Duration> {
    let d = duration(text, path, p)?;
    if d > MAX_TIMEOUT {
        return p.error(text.loc, path, format!("at most {}s", MAX_TIMEOUT.as_secs()));
    }
    Some(d)
}

pub(super) fn concurrency(n: Option<&Spanned<u32>>, path: &str, p: &mut Problems) -> Option<usize> {
    let n = n?;
    if n.value == 0 {
        return p.error(n.loc, path, "must be at least 1");
    }
    usize::try_from(n.value).ok()
}

/// A retry policy: fields given here, the rest from `base`.
pub(super) fn retry(raw: RawRetry, base: &RetryPolicy, path: &str, p: &mut Problems) -> RetryPolicy {
    let schedule = match raw.schedule {
        Some(list) if list.value.is_empty() => {
            p.error::<()>(list.loc, &join(path, "schedule"), "give at least one wait, e.g. [5s, 1m]");
            base.schedule.clone()
        }
        Some(list) => list
            .value
            .iter()
            .enumerate()
            .filter_map(|(i, s)| duration(s, &format!("{path}.schedule[{i}]"), p))
            .collect(),
        None => base.schedule.clone(),
    };
    let max_attempts = match raw.max_attempts {
        Some(a) if a.value == 0 => {
            p.error(a.loc, &join(path, "max_attempts"), "must be at least 1").unwrap_or(1)
        }
        Some(a) => a.value,
        None => base.max_attempts,
    };
    let max_age = match raw.max_age {
        Some(a) => duration(&a, &join(path, "max_age"), p),
        None => base.max_age,
    };
    RetryPolicy { schedule, max_attempts, max_age }
}

pub(super) fn limits(
    concurrency_raw: Option<&Spanned<u32>>,
    rate_raw: Option<&Spanned<String>>,
    default_concurrency: usize,
    path: &str,
    p: &mut Problems,
) -> Limits {
    let concurrency =
        concurrency(concurrency_raw, &join(path, "concurrency"), p).unwrap_or(default_concurrency);
    let rate = rate_raw.and_then(|r| {
        Rate::parse(&r.value).map_err(|e| p.error::<()>(r.loc, &join(path, "rate_limit"), e)).ok()
    });
    Limits { concurrency, rate }
}

/// `dedup:` of a source: absent → body hash for 24 h; `false` → off; a mapping → header or path.
pub(super) fn dedup(node: Option<&Node>, path: &str, p: &mut Problems) -> Option<Dedup> {
    let default = Dedup { key: DedupKey::Body, window: DEFAULT_DEDUP_WINDOW };
    let Some(node) = node else { return Some(default) };
    match &node.value {
        NodeValue::Bool(false) => return None,
        NodeValue::Bool(true) => return Some(default),
        _ => {}
    }
    let raw: RawDedup = super::node::decode(node, path)
        .map_err(|e| p.error::<()>(e.loc.unwrap_or(node.loc), &e.path, e.message))
        .ok()?;
    let window = match &raw.window {
        Some(w) => duration(w, &join(path, "window"), p)?,
        None => DEFAULT_DEDUP_WINDOW,
    };
    let key = match (raw.header, raw.path) {
        (Some(_), Some(pth)) => return p.error(pth.loc, path, "give `header` or `path`, not both"),
        (Some(h), None) => match http::HeaderName::from_bytes(h.value.as_bytes()) {
            Ok(name) => DedupKey::Header(name),
            Err(_) => return p.error(h.loc, &join(path, "header"), "not a valid header name"),
        },
        (None, Some(pth)) => match Path::parse(&pth.value) {
            Ok(q) => DedupKey::Path(q),
            Err(e) => return p.error(pth.loc, &join(path, "path"), e),
        },
        (None, None) => DedupKey::Body,
    };
    Some(Dedup { key, window })
}
