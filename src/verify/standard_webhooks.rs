//! Standard Webhooks (and Svix, under `svix-*` names): `webhook-signature` is a space-separated list
//! of `v1,<base64>` over `<webhook-id>.<webhook-timestamp>.<body>`; the key is the base64 after
//! `whsec_`. Other versions (`v1a`, asymmetric) are skipped; the timestamp must be integer seconds
//! within the tolerance both ways. `webhook-id` names the delivery.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use super::keys::{Keys, ct_eq};
use super::{VerifyError, check_window, parse_timestamp, required};

pub fn verify(
    keys: &Keys,
    tolerance: Duration,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<Option<String>, VerifyError> {
    use base64::Engine;
    let id = required(headers, &["webhook-id", "svix-id"])?;
    let t = required(headers, &["webhook-timestamp", "svix-timestamp"])?;
    let signatures = required(headers, &["webhook-signature", "svix-signature"])?;
    let ts = parse_timestamp(t)?;
    check_window(ts, now, tolerance, false)?;
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::Malformed("no `v1,` signature"));
    }
    let matched = keys
        .macs(&[id.as_bytes(), b".", t.as_bytes(), b".", body])
        .any(|mac| candidates.iter().any(|c| ct_eq(c, &mac)));
    if !matched {
        return Err(VerifyError::Mismatch);
    }
    Ok(Some(id.to_owned()))
}

/// The `webhook-signature` value for an outgoing request: `v1,<base64>` under the first key.
pub fn sign(keys: &Keys, id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    let t = timestamp.to_string();
    keys.macs(&[id.as_bytes(), b".", t.as_bytes(), b".", body])
        .next()
        .map(|mac| format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac)))
        .unwrap_or_default()
}
