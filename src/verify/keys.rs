//! HMAC-SHA256 keys prepared once per secret, and the comparisons every scheme shares.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::Secret;

type HmacSha256Mac = Hmac<Sha256>;

/// One keyed MAC per configured secret (several = rotation), cloned per request.
#[derive(Clone)]
pub struct Keys(Vec<HmacSha256Mac>);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} secrets)", self.0.len())
    }
}

/// Why keys could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("at least one secret is needed")]
    NoSecrets,
    #[error("secret {0} is empty")]
    Empty(usize),
    #[error("secret {0} must be `whsec_` followed by base64")]
    NotWhsec(usize),
}

impl Keys {
    /// Keys from the secrets' UTF-8 bytes (House Check, GitHub, Stripe — `whsec_` included —,
    /// Shopify, Slack).
    pub fn from_text(secrets: &[Secret]) -> Result<Self, KeyError> {
        Self::build(secrets, |_, s| Ok(s.as_bytes().to_vec()))
    }

    /// Standard Webhooks keys: the base64 after `whsec_`, decoded.
    pub fn from_whsec(secrets: &[Secret]) -> Result<Self, KeyError> {
        use base64::Engine;
        Self::build(secrets, |i, s| {
            let b64 = s.strip_prefix("whsec_").unwrap_or(s);
            base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| KeyError::NotWhsec(i))
        })
    }

    fn build(
        secrets: &[Secret],
        key: impl Fn(usize, &str) -> Result<Vec<u8>, KeyError>,
    ) -> Result<Self, KeyError> {
        if secrets.is_empty() {
            return Err(KeyError::NoSecrets);
        }
        let macs = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.expose().is_empty() {
                    return Err(KeyError::Empty(i));
                }
                let bytes = key(i, s.expose())?;
                HmacSha256Mac::new_from_slice(&bytes).map_err(|_| KeyError::Empty(i))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(macs))
    }

    /// The MAC of the concatenated `parts` under each secret.
    pub fn macs<'a>(&'a self, parts: &'a [&'a [u8]]) -> impl Iterator<Item = [u8; 32]> + 'a {
        self.0.iter().map(move |key| {
            let mut mac = key.clone();
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().into()
        })
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 of `body` under `secret` (UTF-8) as lowercase hex: what House Check sends.
pub fn sign_hex(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = HmacSha256Mac::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
