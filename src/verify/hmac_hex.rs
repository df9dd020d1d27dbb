//! A plain HMAC-SHA256 of the raw body in one header: House Check's scheme (hex, header `signature`),
//! and any sender like it (`encoding: base64`, a `prefix` such as `sha256=`). Hex is accepted in
//! either case. Several secrets may be configured so a secret can be rotated without refusing traffic.

use http::HeaderMap;

use super::VerifyError;
use super::keys::{KeyError, Keys, ct_eq};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

#[derive(Debug, Clone)]
pub struct HmacSha256 {
    header: http::HeaderName,
    encoding: Encoding,
    prefix: String,
    keys: Keys,
}

/// Why a verifier could not be built from config.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HmacConfigError {
    #[error("`{0}` is not a valid header name")]
    BadHeader(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl HmacSha256 {
    pub fn new(header: &str, secrets: &[Secret]) -> Result<Self, HmacConfigError> {
        Self::with_format(header, Encoding::Hex, "", secrets)
    }

    pub fn with_format(
        header: &str,
        encoding: Encoding,
        prefix: &str,
        secrets: &[Secret],
    ) -> Result<Self, HmacConfigError> {
        let header = http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| HmacConfigError::BadHeader(header.to_owned()))?;
        Ok(Self { header, encoding, prefix: prefix.to_owned(), keys: Keys::from_text(secrets)? })
    }

    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        use base64::Engine;
        let value =
            headers.get(&self.header).ok_or_else(|| VerifyError::MissingHeader(self.header.to_string()))?;
        let text = value.to_str().map_err(|_| VerifyError::HeaderNotText(self.header.to_string()))?.trim();
        let text =
            text.strip_prefix(self.prefix.as_str()).ok_or(VerifyError::Malformed("the prefix is missing"))?;
        let signature = match self.encoding {
            Encoding::Hex => hex::decode(text).map_err(|_| VerifyError::Malformed("not hex"))?,
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| VerifyError::Malformed("not base64"))?,
        };
        if signature.len() != 32 {
            return Err(VerifyError::Malformed("not 32 bytes"));
        }
        if self.keys.macs(&[body]).any(|mac| ct_eq(&mac, &signature)) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::sign_hex;

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
        check(Some("zz"), BODY, Err(VerifyError::Malformed("not hex")));
        check(Some(&new[..62]), BODY, Err(VerifyError::Malformed("not 32 bytes")));
        check(Some(""), BODY, Err(VerifyError::Malformed("not 32 bytes")));
    }

    #[test]
    fn base64_and_prefix_formats() {
        use base64::Engine;
        let raw = hex::decode(sign_hex("k", BODY)).expect("hex");
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let v =
            HmacSha256::with_format("x-sig", Encoding::Base64, "sha256=", &[Secret::new("k")]).expect("ok");
        let mut headers = HeaderMap::new();
        headers.insert("x-sig", format!("sha256={b64}").parse().expect("header"));
        assert_eq!(v.verify(&headers, BODY), Ok(()));
        headers.insert("x-sig", b64.parse().expect("header"));
        assert_eq!(v.verify(&headers, BODY), Err(VerifyError::Malformed("the prefix is missing")));
    }

    #[test]
    fn config_errors() {
        assert_eq!(HmacSha256::new("signature", &[]).err(), Some(HmacConfigError::Key(KeyError::NoSecrets)));
        assert_eq!(
            HmacSha256::new("signature", &[Secret::new("")]).err(),
            Some(HmacConfigError::Key(KeyError::Empty(0)))
        );
        assert!(matches!(
            HmacSha256::new("bad header", &[Secret::new("x")]),
            Err(HmacConfigError::BadHeader(_))
        ));
    }
}
