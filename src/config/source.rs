//! `sources.<name>` → [`Source`]: its verification scheme with the secrets, where its event type
//! is, and how repeats are recognised.

use std::collections::HashMap;

use super::node::{Loc, Node, Spanned, join};
use super::problems::{Problems, duration, mapping};
use super::raw::{RawEventType, RawSource, RawVerify, VerifyScheme};
use super::{EventTypeSpec, Source, delivery};
use crate::rules::Path;
use crate::secret::Secret;
use crate::verify::{DEFAULT_TOLERANCE, Encoding, HmacSha256, KeyError, Keys, Verifier};

pub(super) fn sources(
    node: Option<&Node>,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
) -> HashMap<String, Source> {
    let mut out = HashMap::new();
    for (name, key, value) in mapping(node, "sources", p) {
        let path = join("sources", name);
        if !valid_name(name) {
            p.error::<()>(
                key.loc,
                &path,
                "a source name is served at /hooks/NAME: use letters, digits, `-`, `_` and `.`",
            );
            continue;
        }
        if name == crate::rules::BUILTIN_SOURCE {
            p.error::<()>(
                key.loc,
                &path,
                "`hookroute` is the built-in source of hookroute's own events (`source: hookroute` in a \
                 rule routes them); give your source another name",
            );
            continue;
        }
        let Some(raw) = p.decode::<RawSource>(value, &path) else { continue };
        let scheme = raw.verify.scheme.value;
        let event_type = event_type(raw.event_type.as_ref(), scheme, &join(&path, "event_type"), p);
        let dedup = delivery::dedup(raw.dedup.as_ref(), &join(&path, "dedup"), p);
        let key = match &raw.key {
            Some(k) => match Path::parse(&k.value) {
                Ok(q) => Some(Some(q)),
                Err(e) => p.error(k.loc, &join(&path, "key"), e),
            },
            None => Some(None),
        };
        let Some(verifier) = verifier(raw.verify, &join(&path, "verify"), p, secrets) else { continue };
        if let (Some(event_type), Some(key)) = (event_type, key) {
            out.insert(name.to_owned(), Source { name: name.to_owned(), verifier, dedup, event_type, key });
        }
    }
    out
}

/// The built-in `hookroute` source (issue 16): events hookroute emits about itself, with their
/// type at `$.type` like House Check's. No verifier is ever asked: it is not served over HTTP.
pub fn builtin() -> &'static Source {
    static BUILTIN: std::sync::LazyLock<Source> = std::sync::LazyLock::new(|| Source {
        name: crate::rules::BUILTIN_SOURCE.to_owned(),
        verifier: Verifier::None,
        dedup: None,
        event_type: EventTypeSpec::Path(Path::parse("$.type").unwrap_or_else(|_| unreachable!())),
        key: None,
    });
    &BUILTIN
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn verifier(
    raw: RawVerify,
    path: &str,
    p: &mut Problems,
    secrets: &mut Vec<(String, String)>,
) -> Option<Verifier> {
    let scheme = raw.scheme.value;
    let hmac_only = |p: &mut Problems, field: &str, loc: Option<Loc>| {
        if let Some(loc) = loc
            && scheme != VerifyScheme::HmacSha256
        {
            p.error::<()>(loc, &join(path, field), format!("`{field}` is only valid for scheme hmac-sha256"));
        }
    };
    hmac_only(p, "header", raw.header.as_ref().map(|h| h.loc));
    hmac_only(p, "encoding", raw.encoding.as_ref().map(|h| h.loc));
    hmac_only(p, "prefix", raw.prefix.as_ref().map(|h| h.loc));
    let timestamped = matches!(
        scheme,
        VerifyScheme::Stripe | VerifyScheme::Slack | VerifyScheme::StandardWebhooks | VerifyScheme::Svix
    );
    let tolerance = match &raw.tolerance {
        Some(t) if !timestamped => {
            return p.error(
                t.loc,
                &join(path, "tolerance"),
                "`tolerance` is only valid for stripe, slack and standard-webhooks",
            );
        }
        Some(t) => duration(t, &join(path, "tolerance"), p)?,
        None => DEFAULT_TOLERANCE,
    };
    if scheme == VerifyScheme::None {
        if let Some(s) = raw.secrets.as_ref().and_then(|s| s.first()) {
            return p.error(s.loc, &join(path, "secrets"), "scheme `none` takes no secrets");
        }
        p.warning(
            raw.scheme.loc,
            &join(path, "scheme"),
            "requests to this source are not verified: anyone who can reach it can trigger its rules",
        );
        return Some(Verifier::None);
    }
    let written = raw.secrets.unwrap_or_default();
    // (index as written, secret): messages and masks name entries as the file numbers them.
    let list = non_empty_secrets(written, path, p)?;
    for (i, s) in &list {
        secrets.push((format!("[{path}.secrets[{i}]]"), s.value.clone()));
    }
    let values: Vec<Secret> = list.iter().map(|(_, s)| Secret::new(s.value.clone())).collect();
    let at = |p: &mut Problems, e: String| -> Option<Verifier> {
        let loc = list.first().map_or(raw.scheme.loc, |(_, s)| s.loc);
        p.error(loc, &join(path, "secrets"), e)
    };
    let as_written = |e: KeyError| match e {
        KeyError::NotWhsec(i) => KeyError::NotWhsec(list.get(i).map_or(i, |(written, _)| *written)),
        e => e,
    };
    let text_keys = |p: &mut Problems| Keys::from_text(&values).map_err(|e| at(p, e.to_string())).ok();
    Some(match scheme {
        VerifyScheme::HmacSha256 => {
            let header = raw.header.map_or_else(|| "signature".to_owned(), |h| h.value);
            let encoding = raw.encoding.map_or(Encoding::Hex, |e| e.value);
            let prefix = raw.prefix.map(|x| x.value).unwrap_or_default();
            match HmacSha256::with_format(&header, encoding, &prefix, &values) {
                Ok(v) => Verifier::Hmac(v),
                Err(e) => return at(p, e.to_string()),
            }
        }
        VerifyScheme::Github => Verifier::GitHub(text_keys(p)?),
        VerifyScheme::Shopify => Verifier::Shopify(text_keys(p)?),
        VerifyScheme::Stripe => Verifier::Stripe { keys: text_keys(p)?, tolerance },
        VerifyScheme::Slack => Verifier::Slack { keys: text_keys(p)?, tolerance },
        VerifyScheme::StandardWebhooks | VerifyScheme::Svix => {
            let keys = Keys::from_whsec(&values).map_err(|e| at(p, as_written(e).to_string())).ok()?;
            Verifier::StandardWebhooks { keys, tolerance }
        }
        VerifyScheme::None => Verifier::None,
    })
}

/// The secrets with values. An entry that expands to nothing (`${OLD_SECRET:-}` while no rotation
/// is under way) is dropped with a warning naming it; only a list left empty is an error.
fn non_empty_secrets(
    written: Vec<Spanned<String>>,
    path: &str,
    p: &mut Problems,
) -> Option<Vec<(usize, Spanned<String>)>> {
    let Some(first) = written.first().map(|s| s.loc) else { return Some(vec![]) };
    if written.iter().all(|s| s.value.is_empty()) {
        return p.error(first, &join(path, "secrets"), "every secret is empty; at least one is needed");
    }
    let mut kept = Vec::with_capacity(written.len());
    for (i, s) in written.into_iter().enumerate() {
        if s.value.is_empty() {
            let field = format!("{path}.secrets[{i}]");
            p.warning(s.loc, &field, "is empty, so it is ignored; the other secrets still verify");
        } else {
            kept.push((i, s));
        }
    }
    Some(kept)
}

/// The source's own `event_type`, or the scheme's default.
fn event_type(
    raw: Option<&RawEventType>,
    scheme: VerifyScheme,
    path: &str,
    p: &mut Problems,
) -> Option<EventTypeSpec> {
    let header = |name: &Spanned<String>, p: &mut Problems| match http::HeaderName::from_bytes(
        name.value.as_bytes(),
    ) {
        Ok(h) => Some(EventTypeSpec::Header(vec![h])),
        Err(_) => p.error(name.loc, &join(path, "header"), "not a valid header name"),
    };
    let default_path = || Path::parse("$.type").ok().map(EventTypeSpec::Path);
    match raw {
        Some(RawEventType { header: Some(h), path: None }) => header(h, p),
        Some(RawEventType { header: None, path: Some(q) }) => match Path::parse(&q.value) {
            Ok(q) => Some(EventTypeSpec::Path(q)),
            Err(e) => p.error(q.loc, &join(path, "path"), e),
        },
        Some(RawEventType { header: Some(h), path: Some(_) }) => {
            p.error(h.loc, path, "give `header` or `path`, not both")
        }
        Some(RawEventType { header: None, path: None }) => {
            p.error(Loc::default(), path, "give `header` or `path`")
        }
        None => match scheme {
            VerifyScheme::Github => Some(EventTypeSpec::GitHub),
            VerifyScheme::Slack => Some(EventTypeSpec::Slack),
            VerifyScheme::Shopify => Some(EventTypeSpec::Header(vec![
                http::HeaderName::from_static("x-shopify-topic"),
                http::HeaderName::from_static("shopify-topic"),
            ])),
            _ => default_path(),
        },
    }
}
