//! House Check's scheme: a header holding the hex HMAC-SHA256 of the raw body.
//!
//! Several secrets may be configured so a secret can be rotated without refusing traffic; the
//! signature is compared in constant time against each.

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;

use super::VerifyError;
use crate::secret::Secret;

type HmacSha256Mac = Hmac<Sha256>;

#[derive(Clone)]
pub struct HmacSha256 {
    header: http::HeaderName,
    /// One keyed MAC per secret, ready to be cloned per request.
    keys: Vec<HmacSha256Mac>,
}

impl std::fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HmacSha256 {{ header: {}, secrets: {} }}", self.header, self.keys.len())
    }
}

/// Why a verifier could not be built from config.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HmacConfigError {
    #[error("`{0}` is not a valid header name")]
    BadHeader(String),
    #[error("at least one secret is needed")]
    NoSecrets,
    #[error("secret {0} is empty")]
    EmptySecret(usize),
}

impl HmacSha256 {
    pub fn new(header: &str, secrets: &[Secret]) -> Result<Self, HmacConfigError> {
        let header = http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| HmacConfigError::BadHeader(header.to_owned()))?;
        if secrets.is_empty() {
            return Err(HmacConfigError::NoSecrets);
        }
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.expose().is_empty() {
                    return Err(HmacConfigError::EmptySecret(i));
                }
                // HMAC takes keys of any length; this cannot fail.
                HmacSha256Mac::new_from_slice(s.expose().as_bytes())
                    .map_err(|_| HmacConfigError::EmptySecret(i))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { header, keys })
    }

    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        let value =
            headers.get(&self.header).ok_or_else(|| VerifyError::MissingHeader(self.header.to_string()))?;
        let text = value.to_str().map_err(|_| VerifyError::HeaderNotText(self.header.to_string()))?;
        let signature = hex::decode(text.trim()).map_err(|_| VerifyError::Malformed("hex"))?;
        if signature.len() != 32 {
            return Err(VerifyError::Malformed("32 bytes of hex (64 characters)"));
        }
        let matched = self.keys.iter().any(|key| {
            let mut mac = key.clone();
            mac.update(body);
            mac.verify_slice(&signature).is_ok()
        });
        if matched { Ok(()) } else { Err(VerifyError::Mismatch) }
    }
}

/// The lowercase hex signature House Check would send for `body` (used by `sign`, `send` and tests).
pub fn sign_hex(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, including empty.
    let mut mac = HmacSha256Mac::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"type":"order.updated","payload":{"id":9001,"status":"to schedule"}}"#;

    fn verifier(secrets: &[&str]) -> HmacSha256 {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        HmacSha256::new("signature", &secrets).expect("valid")
    }

    fn check(header: Option<&str>, body: &[u8], expected: Result<(), VerifyError>) {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert("signature", h.parse().expect("header"));
        }
        assert_eq!(verifier(&["old-secret", "new-secret"]).verify(&headers, body), expected, "{header:?}");
    }

    #[test]
    fn known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign_hex("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verification_cases() {
        let new = sign_hex("new-secret", BODY);
        let old = sign_hex("old-secret", BODY);
        let other = sign_hex("other", BODY);
        check(Some(&new), BODY, Ok(()));
        check(Some(&old), BODY, Ok(()));
        check(Some(&new.to_uppercase()), BODY, Ok(()));
        check(Some(&format!(" {new} ")), BODY, Ok(()));
        check(Some(&other), BODY, Err(VerifyError::Mismatch));
        check(Some(&new), b"{}", Err(VerifyError::Mismatch));
        check(None, BODY, Err(VerifyError::MissingHeader("signature".into())));
        check(Some("zz"), BODY, Err(VerifyError::Malformed("hex")));
        check(Some(&new[..62]), BODY, Err(VerifyError::Malformed("32 bytes of hex (64 characters)")));
        check(Some(""), BODY, Err(VerifyError::Malformed("32 bytes of hex (64 characters)")));
    }

    #[test]
    fn config_errors() {
        assert_eq!(HmacSha256::new("signature", &[]).err(), Some(HmacConfigError::NoSecrets));
        assert_eq!(
            HmacSha256::new("signature", &[Secret::new("")]).err(),
            Some(HmacConfigError::EmptySecret(0))
        );
        assert!(matches!(
            HmacSha256::new("bad header", &[Secret::new("x")]),
            Err(HmacConfigError::BadHeader(_))
        ));
    }
}
