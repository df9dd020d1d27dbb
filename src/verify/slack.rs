//! Slack: `X-Slack-Signature: v0=<lowercase hex>` over `v0:<X-Slack-Request-Timestamp>:<body>`,
//! compared exactly; the timestamp must be within the tolerance in both directions (slack_sdk).

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
    let given = required(headers, &["x-slack-signature"])?;
    let t = required(headers, &["x-slack-request-timestamp"])?;
    let ts = parse_timestamp(t)?;
    if !given.starts_with("v0=") {
        return Err(VerifyError::Malformed("expected `v0=` and hex"));
    }
    let matched = keys
        .macs(&[b"v0:", t.as_bytes(), b":", body])
        .any(|mac| ct_eq(format!("v0={}", hex::encode(mac)).as_bytes(), given.as_bytes()));
    if !matched {
        return Err(VerifyError::Mismatch);
    }
    check_window(ts, now, tolerance, false)?;
    Ok(None)
}
