//! Shopify: base64 of the HMAC-SHA256 of the raw body in `X-Shopify-Hmac-Sha256` (or the newer
//! unprefixed `shopify-*` names). Like `shopify.webhooks.validate`, the topic, shop domain, API
//! version and webhook id headers must be present; the base64 must be canonical (padded).

use http::HeaderMap;

use super::keys::{Keys, ct_eq};
use super::{VerifyError, header, required};

pub fn verify(keys: &Keys, headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, VerifyError> {
    use base64::Engine;
    let given = required(headers, &["x-shopify-hmac-sha256", "shopify-hmac-sha256"])?;
    for name in ["topic", "shop-domain", "api-version", "webhook-id"] {
        required(headers, &[&format!("x-shopify-{name}"), &format!("shopify-{name}")])?;
    }
    let matched = keys
        .macs(&[body])
        .any(|mac| ct_eq(base64::engine::general_purpose::STANDARD.encode(mac).as_bytes(), given.as_bytes()));
    if !matched {
        return Err(VerifyError::Mismatch);
    }
    Ok(header(
        headers,
        &["x-shopify-event-id", "shopify-event-id", "x-shopify-webhook-id", "shopify-webhook-id"],
    )?
    .map(str::to_owned))
}
