//! The dedup key of a verified request: what a repeated delivery shares with the original.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::DedupKey as DedupKeySpec;

/// The key a repeated request shares with the original: by default the sender's delivery id when
/// its scheme signs one (`webhook-id`, `X-GitHub-Delivery`, Stripe's event id), else the body hash.
pub fn key(
    spec: &DedupKeySpec,
    delivery_id: Option<&str>,
    headers: &HeaderMap,
    body: &serde_json::Value,
    raw: &[u8],
) -> String {
    let from_request = match spec {
        DedupKeySpec::Body => delivery_id.map(|id| format!("id:{id}")),
        DedupKeySpec::Header(name) => {
            headers.get(name).and_then(|v| v.to_str().ok()).map(|v| format!("h:{v}"))
        }
        DedupKeySpec::Path(path) => path.select(body).first().map(|v| match v {
            serde_json::Value::String(s) => format!("p:{s}"),
            other => format!("p:{other}"),
        }),
    };
    from_request.unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(raw))))
}
