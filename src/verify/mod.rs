//! Proof that a request came from the sender: checked on the raw bytes, before anything parses them.
//!
//! A [`VerifiedBody`] can only be made here, so code that needs a verified body cannot be handed an
//! unchecked one. Verifiers do no I/O and return typed errors, never a bare `false`.

mod hmac_hex;

use bytes::Bytes;
use http::HeaderMap;

pub use hmac_hex::{HmacSha256, sign_hex};

/// Why a request was refused. Logged; never sent back to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("the `{0}` header is missing")]
    MissingHeader(String),
    #[error("the `{0}` header is not valid text")]
    HeaderNotText(String),
    #[error("the signature is not {0}")]
    Malformed(&'static str),
    #[error("the signature does not match any configured secret")]
    Mismatch,
}

/// A request body whose signature has been checked (or whose source is configured `none`).
#[derive(Debug, Clone)]
pub struct VerifiedBody(Bytes);

impl VerifiedBody {
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

/// How a source proves its requests.
#[derive(Debug, Clone)]
pub enum Verifier {
    HmacSha256(HmacSha256),
    /// No check at all; must be written explicitly in the rules file.
    None,
}

impl Verifier {
    pub fn verify(&self, headers: &HeaderMap, body: Bytes) -> Result<VerifiedBody, VerifyError> {
        match self {
            Verifier::HmacSha256(v) => v.verify(headers, &body)?,
            Verifier::None => {}
        }
        Ok(VerifiedBody(body))
    }
}
