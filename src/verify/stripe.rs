//! Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…][,v0=…]` over `<t>.<body>`; the key is the
//! whole `whsec_…` string as text. Elements are split on `,` without trimming and hex compared
//! exactly, as Stripe's libraries do. Like them, only age is limited: a timestamp in the future is
//! accepted (see README, "Verification").

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
    let header = required(headers, &["stripe-signature"])?;
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for element in header.split(',') {
        match element.split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", sig)) => v1.push(sig),
            _ => {}
        }
    }
    let t = timestamp.ok_or(VerifyError::Malformed("no `t=` element"))?;
    if v1.is_empty() {
        return Err(VerifyError::Malformed("no `v1=` element"));
    }
    let ts = parse_timestamp(t)?;
    let matched = keys.macs(&[t.as_bytes(), b".", body]).any(|mac| {
        let expected = hex::encode(mac);
        v1.iter().any(|sig| ct_eq(expected.as_bytes(), sig.as_bytes()))
    });
    if !matched {
        return Err(VerifyError::Mismatch);
    }
    check_window(ts, now, tolerance, true)?;
    // Stripe's event id (`evt_…`) names the delivery; read only after the signature held.
    Ok(serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("id")?.as_str().map(str::to_owned)))
}
