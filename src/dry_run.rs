//! The dry run behind `hookroute test` and the admin API's explanations: which rules an event
//! matches and why, and the requests it would send, with secrets masked. Pure: sends nothing.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::route::{self, ParsedEvent};
use crate::rules::{RuleTrace, explain_prev};

/// Why a dry run could not explain the event.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error("unknown source `{0}`; the rules define: {1}")]
    UnknownSource(String, String),
    #[error("several sources are defined; pick one ({0})")]
    AmbiguousSource(String),
    #[error("the event is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the event has no event type where this source expects one (give its headers)")]
    NoEventType,
    #[error("the previous event is not valid JSON: {0}")]
    InvalidPrev(String),
}

#[derive(Serialize)]
pub struct Report {
    pub source: String,
    pub event_type: String,
    pub rules_version: String,
    /// Which previous event of the entity key the rules saw, in one sentence (sources with `key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    pub rules: Vec<RuleTrace>,
    pub actions: Vec<ActionReport>,
}

#[derive(Serialize)]
pub struct ActionReport {
    pub rule: String,
    pub action: usize,
    pub destination: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What rendering changed to fit the provider, e.g. a text cut to its length limit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Explains `raw` arriving on `source` (the only one when `None`). `event_type` overrides where the
/// source would find it (stored events know theirs; their headers are not kept).
pub fn build(
    config: &Config,
    source: Option<&str>,
    raw: Bytes,
    headers: &http::HeaderMap,
    event_type: Option<&str>,
) -> Result<Report, DryRunError> {
    build_with_prev(config, source, raw, headers, event_type, None)
}

/// [`build`] given the previous event of the same key (`None`: as the first event of its key).
/// As when serving, an event whose key path selects no single string or number has no previous
/// event, whatever `prev` says; the report's `entity` sentence says which case applied.
pub fn build_with_prev(
    config: &Config,
    source: Option<&str>,
    raw: Bytes,
    headers: &http::HeaderMap,
    event_type: Option<&str>,
    prev: Option<&[u8]>,
) -> Result<Report, DryRunError> {
    let source = match source {
        Some(s) if config.sources.contains_key(s) || s == crate::rules::BUILTIN_SOURCE => s.to_owned(),
        Some(s) => return Err(DryRunError::UnknownSource(s.to_owned(), sorted_sources(config))),
        None if config.sources.len() == 1 => config.sources.keys().next().cloned().unwrap_or_default(),
        None => return Err(DryRunError::AmbiguousSource(sorted_sources(config))),
    };
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let body: Value = crate::json::decode_received(&raw, content_type)
        .map_err(|e| DryRunError::InvalidJson(e.to_string()))?;
    let source_def = config
        .sources
        .get(&source)
        .or_else(|| (source == crate::rules::BUILTIN_SOURCE).then(crate::config::builtin_source))
        .ok_or_else(|| DryRunError::UnknownSource(source.clone(), sorted_sources(config)))?;
    let spec = &source_def.event_type;
    let prev: Option<Value> = match prev {
        Some(p) => Some(crate::json::parse_strict(p).map_err(|e| DryRunError::InvalidPrev(e.to_string()))?),
        None => None,
    };
    let (entity, prev) = entity(source_def.key.as_ref(), &body, prev);
    let event_type = match event_type {
        Some(t) => t.to_owned(),
        None => route::event_type_of(spec, headers, &body).ok_or(DryRunError::NoEventType)?,
    };
    let received_at = crate::clock::now_rfc3339();
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
    let actions = route::plan_prev(config, &event, prev.as_ref())
        .into_iter()
        .map(|planned| {
            let dest = config.destinations.get(planned.destination);
            let (body, content_type, error, notes) = match planned.request {
                Ok(r) => (Some(redact(&String::from_utf8_lossy(&r.body))), r.content_type, None, r.notes),
                Err(e) => (None, None, Some(e.to_string()), Vec::new()),
            };
            ActionReport {
                rule: planned.rule.to_owned(),
                action: planned.action_index,
                destination: planned.destination.to_owned(),
                kind: dest.map(|d| d.kind.name().to_owned()).unwrap_or_default(),
                method: dest
                    .filter(|d| d.url.is_some() || d.slack_api.is_some())
                    .map(|d| d.method.to_string()),
                url: dest.and_then(|d| d.url.as_ref()).map(|u| mask_url(&redact(u.expose()))).or_else(|| {
                    let api = dest.and_then(|d| d.slack_api.as_ref())?;
                    Some(mask_url(&api.method_url("chat.postMessage")))
                }),
                headers: dest
                    .map(|d| {
                        let mut headers: Vec<_> =
                            d.headers.iter().map(|(k, v)| (k.to_string(), redact(v.expose()))).collect();
                        if let Some(api) = &d.slack_api {
                            // The Web API's token, as the sender adds it: masked.
                            headers.push((
                                "authorization".into(),
                                redact(&format!("Bearer {}", api.token.expose())),
                            ));
                        }
                        headers
                    })
                    .unwrap_or_default(),
                content_type,
                body,
                error,
                notes,
            }
        })
        .collect();
    Ok(Report {
        rules: explain_prev(&config.rules, &source, &event_type, &body, Some(headers), prev.as_ref()),
        entity,
        source,
        event_type,
        rules_version: config.version.clone(),
        actions,
    })
}

/// The sentence saying which previous event the rules saw, and that event (kept only when the
/// event has a key, as when serving).
fn entity(
    key: Option<&crate::rules::Path>,
    body: &Value,
    prev: Option<Value>,
) -> (Option<String>, Option<Value>) {
    let Some(path) = key else { return (None, None) };
    match (route::entity_key(path, body), prev) {
        (None, _) => (
            Some(format!(
                "no previous event: the key path {} selects no single string or number in this event",
                path.text()
            )),
            None,
        ),
        (Some(k), None) => (Some(format!("key {k}: no previous event (the first event of its key)")), None),
        (Some(k), Some(p)) => (Some(format!("key {k}: compared with the given previous event")), Some(p)),
    }
}

fn sorted_sources(config: &Config) -> String {
    let mut names: Vec<&str> = config.sources.keys().map(String::as_str).collect();
    names.sort_unstable();
    names.join(", ")
}

/// A URL written literally in the rules may carry credentials the redactor does not know (it masks
/// values that came from the environment): `user:pw@` and query values are shown as `***`, unless
/// they are already a `${VAR}` placeholder.
fn mask_url(url: &str) -> String {
    let masked = |v: &str| if v.is_empty() || is_placeholder(v) { v.to_owned() } else { "***".to_owned() };
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (rest, fragment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (before_query, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    match authority.rfind('@') {
        Some(at) if !scheme.is_empty() => {
            out.push_str(&masked(&authority[..at]));
            out.push_str(&authority[at..]);
        }
        _ => out.push_str(authority),
    }
    out.push_str(path);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => format!("{k}={}", masked(v)),
                None => masked(pair),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    out.push_str(fragment);
    out
}

fn is_placeholder(v: &str) -> bool {
    v.starts_with("${") && v.ends_with('}')
}

#[cfg(test)]
mod tests {
    use super::mask_url;

    fn check(url: &str, shown: &str) {
        assert_eq!(mask_url(url), shown, "{url}");
    }

    #[test]
    fn urls_are_shown_without_userinfo_or_query_values() {
        check("https://example.com/x", "https://example.com/x");
        check("http://user:pw@127.0.0.1:9/x", "http://***@127.0.0.1:9/x");
        check("http://127.0.0.1:9/x?token=abc&b=2", "http://127.0.0.1:9/x?token=***&b=***");
        check("http://u@h?secret", "http://***@h?***");
        check("http://h/p?a=&b#frag", "http://h/p?a=&***#frag");
        check("${SLACK_WEBHOOK_URL}", "${SLACK_WEBHOOK_URL}");
        check("https://${USER}:${PW}@h/x?token=${TOKEN}", "https://${USER}:${PW}@h/x?token=${TOKEN}");
        check("https://h/a@b", "https://h/a@b");
    }
}
