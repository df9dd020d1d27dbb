//! Signing what hookroute sends, so receivers can verify hookroute the way hookroute verifies its
//! senders: a plain HMAC-SHA256 header, or Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`). Pure: the caller passes the clock and the delivery's stable id.

use crate::verify::{Encoding, Keys, sign_standard_webhooks};

#[derive(Debug, Clone)]
pub enum OutboundSign {
    Hmac { header: http::HeaderName, encoding: Encoding, prefix: String, keys: Keys },
    StandardWebhooks { keys: Keys },
}

impl OutboundSign {
    /// The headers to add to a request carrying `body`. `id` must be the same on every retry of one
    /// delivery (receivers deduplicate on it); `now` is unix seconds.
    pub fn headers(&self, body: &[u8], id: &str, now: i64) -> Vec<(http::HeaderName, String)> {
        use base64::Engine;
        match self {
            OutboundSign::Hmac { header, encoding, prefix, keys } => {
                let Some(mac) = keys.macs(&[body]).next() else { return vec![] };
                let value = match encoding {
                    Encoding::Hex => hex::encode(mac),
                    Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(mac),
                };
                vec![(header.clone(), format!("{prefix}{value}"))]
            }
            OutboundSign::StandardWebhooks { keys } => vec![
                (http::HeaderName::from_static("webhook-id"), id.to_owned()),
                (http::HeaderName::from_static("webhook-timestamp"), now.to_string()),
                (
                    http::HeaderName::from_static("webhook-signature"),
                    sign_standard_webhooks(keys, id, now, body),
                ),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use bytes::Bytes;

    use super::*;
    use crate::secret::Secret;
    use crate::verify::{HmacSha256, Verifier};

    fn header_map(pairs: Vec<(http::HeaderName, String)>) -> http::HeaderMap {
        pairs.into_iter().map(|(k, v)| (k, v.parse().expect("value"))).collect()
    }

    #[test]
    fn what_we_sign_our_own_verifiers_accept() {
        let body = br#"{"order":9001}"#;
        let secret = [Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
        let sw = OutboundSign::StandardWebhooks { keys: Keys::from_whsec(&secret).expect("keys") };
        let headers = header_map(sw.headers(body, "msg_1", 1_767_225_600));
        let verifier = Verifier::StandardWebhooks {
            keys: Keys::from_whsec(&secret).expect("keys"),
            tolerance: Duration::from_secs(300),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_767_225_601);
        let verified = verifier.verify(&headers, Bytes::from_static(body), now).expect("valid");
        assert_eq!(verified.delivery_id.as_deref(), Some("msg_1"));

        let plain = [Secret::new("crm-shared-secret")];
        let hmac = OutboundSign::Hmac {
            header: http::HeaderName::from_static("x-hookroute-signature"),
            encoding: Encoding::Hex,
            prefix: "sha256=".into(),
            keys: Keys::from_text(&plain).expect("keys"),
        };
        let headers = header_map(hmac.headers(body, "ignored", 0));
        let check =
            HmacSha256::with_format("x-hookroute-signature", Encoding::Hex, "sha256=", &plain).expect("ok");
        assert_eq!(check.verify(&headers, body), Ok(()));
    }
}
