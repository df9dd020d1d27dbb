//! GitHub: `X-Hub-Signature-256: sha256=<lowercase hex>` over the raw body; no timestamp, so
//! replays are caught by deduplicating on `X-GitHub-Delivery`. The header is compared whole, as
//! octokit does: an uppercase prefix or hex is refused.

use http::HeaderMap;

use super::keys::{Keys, ct_eq};
use super::{VerifyError, header, required};

pub fn verify(keys: &Keys, headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, VerifyError> {
    let given = required(headers, &["x-hub-signature-256"])?;
    if !given.starts_with("sha256=") {
        return Err(VerifyError::Malformed("expected `sha256=` and hex"));
    }
    let matched = keys
        .macs(&[body])
        .any(|mac| ct_eq(format!("sha256={}", hex::encode(mac)).as_bytes(), given.as_bytes()));
    if !matched {
        return Err(VerifyError::Mismatch);
    }
    Ok(header(headers, &["x-github-delivery"])?.map(str::to_owned))
}
