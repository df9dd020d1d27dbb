//! Arbitrary header values and body through every verification scheme: a typed error or a verified
//! body, never a panic. Input: NUL-separated header values, the rest is the body.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use hookroute::secret::Secret;
use hookroute::verify::{HmacSha256, Keys, Verifier};
use libfuzzer_sys::fuzz_target;

const HEADERS: [&str; 12] = [
    "signature", "x-hub-signature-256", "stripe-signature", "x-shopify-hmac-sha256", "x-shopify-topic",
    "x-shopify-shop-domain", "x-shopify-api-version", "x-slack-signature", "x-slack-request-timestamp",
    "webhook-id", "webhook-timestamp", "webhook-signature",
];

static VERIFIERS: LazyLock<Vec<Verifier>> = LazyLock::new(|| {
    let s = [Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
    let keys = Keys::from_text(&s).expect("keys");
    let tolerance = Duration::from_secs(300);
    vec![
        Verifier::Hmac(HmacSha256::new("signature", &s).expect("hmac")),
        Verifier::GitHub(keys.clone()),
        Verifier::Stripe { keys: keys.clone(), tolerance },
        Verifier::Shopify(keys.clone()),
        Verifier::Slack { keys, tolerance },
        Verifier::StandardWebhooks { keys: Keys::from_whsec(&s).expect("whsec"), tolerance },
    ]
});

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == 0);
    let mut headers = http::HeaderMap::new();
    for name in HEADERS {
        if let Some(value) = parts.next()
            && let Ok(v) = http::HeaderValue::from_bytes(value)
        {
            headers.insert(name, v);
        }
    }
    let body: Vec<u8> = parts.flatten().copied().collect();
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    for v in VERIFIERS.iter() {
        let _ = v.verify(&headers, Bytes::from(body.clone()), now);
    }
});
