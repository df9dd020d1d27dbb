//! Every vector in `tests/data/signature-vectors.json` (made by the senders' official libraries,
//! each with the clock to use): `valid: true` accepted, `valid: false` refused.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use hookroute::secret::Secret;
use hookroute::verify::{DEFAULT_TOLERANCE, Keys, Verifier};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/signature-vectors.json");

fn verifier(v: &Value) -> Verifier {
    let mut secrets = vec![Secret::new(v["secret"].as_str().expect("secret"))];
    if let Some(more) = v["additional_secrets"].as_array() {
        secrets.extend(more.iter().filter_map(Value::as_str).map(Secret::new));
    }
    let tolerance = v["tolerance_s"].as_u64().map_or(DEFAULT_TOLERANCE, Duration::from_secs);
    let text = || Keys::from_text(&secrets).expect("keys");
    match v["scheme"].as_str().expect("scheme") {
        "standard-webhooks" | "svix" => {
            Verifier::StandardWebhooks { keys: Keys::from_whsec(&secrets).expect("whsec keys"), tolerance }
        }
        "github" => Verifier::GitHub(text()),
        "stripe" => Verifier::Stripe { keys: text(), tolerance },
        "shopify" => Verifier::Shopify(text()),
        "slack" => Verifier::Slack { keys: text(), tolerance },
        other => panic!("unknown scheme {other}"),
    }
}

#[test]
fn every_vector_gets_the_official_verdict() {
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(VECTORS).expect("read vectors")).expect("json");
    let vectors = data["vectors"].as_array().expect("vectors");
    let mut wrong = Vec::new();
    for v in vectors {
        let mut headers = http::HeaderMap::new();
        for (name, value) in v["headers"].as_object().expect("headers") {
            headers.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.as_str().expect("value").parse().expect("header value"),
            );
        }
        let now = UNIX_EPOCH + Duration::from_secs(v["now"].as_u64().unwrap_or(1_767_225_600));
        let body = Bytes::from(v["body"].as_str().expect("body").to_owned());
        let result = verifier(v).verify(&headers, body, now);
        let want = v["valid"].as_bool().expect("valid");
        if result.is_ok() != want {
            wrong.push(format!("{}: want valid={want}, got {:?}", v["id"], result.map(|_| ())));
        }
    }
    crate::support::report(format_args!(
        "signature vectors: {}/{} got the official verdict",
        vectors.len() - wrong.len(),
        vectors.len()
    ));
    assert!(wrong.is_empty(), "{} vector(s) wrong:\n{}", wrong.len(), wrong.join("\n"));
    assert_eq!(vectors.len(), 61, "the whole file was read");
}
