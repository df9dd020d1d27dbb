//! Reading a request body within its limits: the size limit, the read timeout and the shared
//! memory [`Budget`]. The declared `Content-Length` is judged before the body is touched, so an
//! oversized or unaffordable body is refused before hyper sends `100 Continue` and before any of it
//! is buffered; a chunked body reserves its memory chunk by chunk as it arrives.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use super::budget::{Budget, Reservation};

/// Why a body was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("no room for this body in the request-body memory budget right now")]
    NoRoom,
    #[error("the body was not received in time")]
    Timeout,
    #[error("could not read the request body")]
    Unreadable,
}

/// What bounds one body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
}

/// The whole body, with the budget reservation that holds its bytes (keep it while they live).
pub async fn read(
    body: Body,
    headers: &HeaderMap,
    limits: BodyLimits,
    budget: &Arc<Budget>,
) -> Result<(Bytes, Reservation), BodyError> {
    let declared = declared_length(headers);
    let reservation = reserve_declared(declared, limits, budget)?;
    match tokio::time::timeout(limits.timeout, collect(body, declared, limits.max_bytes, reservation)).await {
        Ok(read) => read,
        Err(_) => Err(BodyError::Timeout),
    }
}

/// `Content-Length` when present and a number (hyper has already refused a malformed one).
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// A declared length over the limit is refused at once; one within it is reserved whole, so the
/// read below can never be refused half-way. Without one (chunked), an empty reservation grows.
fn reserve_declared(
    declared: Option<usize>,
    limits: BodyLimits,
    budget: &Arc<Budget>,
) -> Result<Reservation, BodyError> {
    match declared {
        Some(n) if n > limits.max_bytes => Err(BodyError::TooLarge { limit: limits.max_bytes }),
        Some(n) => budget.reserve(n).ok_or(BodyError::NoRoom),
        None => Ok(budget.empty()),
    }
}

async fn collect(
    mut body: Body,
    declared: Option<usize>,
    max_bytes: usize,
    mut reservation: Reservation,
) -> Result<(Bytes, Reservation), BodyError> {
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Unreadable)?;
        let Ok(chunk) = frame.into_data() else { continue };
        let len = buf.len().saturating_add(chunk.len());
        if len > max_bytes {
            return Err(BodyError::TooLarge { limit: max_bytes });
        }
        if len > reservation.bytes() && !reservation.grow(len - reservation.bytes()) {
            return Err(BodyError::NoRoom);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), reservation))
}
