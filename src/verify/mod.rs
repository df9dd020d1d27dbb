//! Proof that a request came from its sender: checked on the raw bytes, before anything parses them.
//!
//! One module per scheme behind [`Verifier`]. A [`VerifiedBody`] can only be made here, so code that
//! needs a verified body cannot be handed an unchecked one. Verifiers do no I/O, take the clock as
//! an argument (so tests pin it), and return typed errors, never a bare `false`.

mod github;
mod hmac_hex;
mod keys;
mod shopify;
mod slack;
mod standard_webhooks;
mod stripe;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderMap;

pub use hmac_hex::{Encoding, HmacSha256};
pub use keys::{KeyError, Keys, sign_hex};
pub use standard_webhooks::sign as sign_standard_webhooks;

/// The replay window of timestamped schemes unless configured.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a request was refused. Logged; never sent back to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the `{0}` header is missing")]
    MissingHeader(String),
    #[error("the `{0}` header is not valid text")]
    HeaderNotText(String),
    #[error("the signature is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signature does not match any configured secret")]
    Mismatch,
    #[error("the timestamp is {0} s older than allowed")]
    Expired(u64),
    #[error("the timestamp is {0} s in the future, more than allowed")]
    TooNew(u64),
}

/// A request body whose signature has been checked (or whose source is configured `none`).
#[derive(Debug, Clone)]
pub struct VerifiedBody(Bytes);

impl VerifiedBody {
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

/// A verified request: its body and, where the sender names each delivery, that id (for dedup).
#[derive(Debug, Clone)]
pub struct Verified {
    pub body: VerifiedBody,
    pub delivery_id: Option<String>,
}

/// How a source proves its requests (`sources.<name>.verify.scheme`).
#[derive(Debug, Clone)]
pub enum Verifier {
    /// House Check and any sender using a plain HMAC-SHA256 of the body in one header.
    Hmac(HmacSha256),
    GitHub(Keys),
    Stripe {
        keys: Keys,
        tolerance: Duration,
    },
    Shopify(Keys),
    Slack {
        keys: Keys,
        tolerance: Duration,
    },
    /// Standard Webhooks, also under Svix's `svix-*` header names.
    StandardWebhooks {
        keys: Keys,
        tolerance: Duration,
    },
    /// No check at all; must be written explicitly in the rules file.
    None,
}

impl Verifier {
    pub fn verify(&self, headers: &HeaderMap, body: Bytes, now: SystemTime) -> Result<Verified, VerifyError> {
        let delivery_id = match self {
            Verifier::Hmac(v) => {
                v.verify(headers, &body)?;
                None
            }
            Verifier::GitHub(keys) => github::verify(keys, headers, &body)?,
            Verifier::Stripe { keys, tolerance } => stripe::verify(keys, *tolerance, headers, &body, now)?,
            Verifier::Shopify(keys) => shopify::verify(keys, headers, &body)?,
            Verifier::Slack { keys, tolerance } => slack::verify(keys, *tolerance, headers, &body, now)?,
            Verifier::StandardWebhooks { keys, tolerance } => {
                standard_webhooks::verify(keys, *tolerance, headers, &body, now)?
            }
            Verifier::None => None,
        };
        Ok(Verified { body: VerifiedBody(body), delivery_id })
    }
}

/// The first of `names` present, as text.
fn header<'h>(headers: &'h HeaderMap, names: &[&str]) -> Result<Option<&'h str>, VerifyError> {
    for name in names {
        if let Some(v) = headers.get(*name) {
            return v.to_str().map(Some).map_err(|_| VerifyError::HeaderNotText((*name).to_owned()));
        }
    }
    Ok(None)
}

/// Like [`header`], but absent is an error naming the first name.
fn required<'h>(headers: &'h HeaderMap, names: &[&str]) -> Result<&'h str, VerifyError> {
    header(headers, names)?.ok_or_else(|| VerifyError::MissingHeader(names[0].to_owned()))
}

/// Integer unix seconds, digits only (no sign, no fraction).
fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed("the timestamp is not integer seconds"));
    }
    text.parse().map_err(|_| VerifyError::Malformed("the timestamp is out of range"))
}

/// Whether `ts` is within `tolerance` of `now`: older is always checked, newer unless `future_ok`.
/// Exactly `tolerance` away is accepted, as the senders' libraries do.
fn check_window(ts: i64, now: SystemTime, tolerance: Duration, future_ok: bool) -> Result<(), VerifyError> {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let tol = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = now.saturating_sub(ts);
    if age > tol {
        return Err(VerifyError::Expired(age.unsigned_abs() - tol.unsigned_abs()));
    }
    if !future_ok && -age > tol {
        return Err(VerifyError::TooNew(age.unsigned_abs() - tol.unsigned_abs()));
    }
    Ok(())
}
