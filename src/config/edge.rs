//! `settings` → [`EdgeLimits`]: what a stranger on the `/hooks` listener may hold (a connection, a
//! head byte, a body byte in memory) and for how long. Compiled and checked once, like every other
//! part, so the server only reads plain values; the listener reads them at start.

use std::time::Duration;

use super::node::Spanned;
use super::problems::{Problems, duration};
use super::raw::RawSettings;

/// The edge's limits, every one with a safe default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeLimits {
    /// A request head must arrive within this from its first byte (and a new connection must
    /// send one within this); else the connection is closed.
    pub head_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Request line plus headers, in bytes; larger get 431.
    pub max_head_bytes: usize,
    /// Connections open at once (lowered at start to fit the process's open-file limit).
    pub max_connections: usize,
    /// Request-body bytes in memory across all requests; past it, 503 before reading.
    pub body_memory_bytes: usize,
}

pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_HEAD_BYTES: u64 = 64 * 1024;
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;
pub const DEFAULT_BODY_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// Below this a head cannot hold a signature header and the usual proxies' headers.
const MIN_HEAD_BYTES: u64 = 1024;
/// hyper's request buffer holds a whole head; it refuses to be told more than this is sane.
const MAX_HEAD_BYTES: u64 = 16 * 1024 * 1024;

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_head_bytes: to_usize(DEFAULT_MAX_HEAD_BYTES),
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            body_memory_bytes: to_usize(DEFAULT_BODY_MEMORY_BYTES),
        }
    }
}

/// The edge limits of `raw`; `max_body_bytes` is the compiled body limit (the memory budget must
/// hold at least one body of that size, or such a body could never be accepted).
pub fn limits(raw: &RawSettings, max_body_bytes: u64, p: &mut Problems) -> EdgeLimits {
    let time = |t: &Option<Spanned<String>>, path: &str, default: Duration, p: &mut Problems| {
        t.as_ref().and_then(|t| duration(t, path, p)).unwrap_or(default)
    };
    let head_timeout = time(&raw.head_timeout, "settings.head_timeout", DEFAULT_HEAD_TIMEOUT, p);
    let idle_timeout = time(&raw.idle_timeout, "settings.idle_timeout", DEFAULT_IDLE_TIMEOUT, p);
    let max_head_bytes = head_bytes(raw.max_head_bytes.as_ref(), p);
    let max_connections = match &raw.max_connections {
        Some(n) if n.value == 0 => {
            p.error(n.loc, "settings.max_connections", "must be at least 1").unwrap_or(1)
        }
        Some(n) => n.value,
        None => DEFAULT_MAX_CONNECTIONS,
    };
    let body_memory_bytes = body_memory(raw.body_memory_bytes.as_ref(), max_body_bytes, p);
    EdgeLimits {
        head_timeout,
        idle_timeout,
        max_head_bytes: to_usize(max_head_bytes),
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        body_memory_bytes: to_usize(body_memory_bytes),
    }
}

fn head_bytes(raw: Option<&Spanned<u64>>, p: &mut Problems) -> u64 {
    match raw {
        Some(b) if !(MIN_HEAD_BYTES..=MAX_HEAD_BYTES).contains(&b.value) => p
            .error(
                b.loc,
                "settings.max_head_bytes",
                format!("must be between {MIN_HEAD_BYTES} and {MAX_HEAD_BYTES} bytes"),
            )
            .unwrap_or(DEFAULT_MAX_HEAD_BYTES),
        Some(b) => b.value,
        None => DEFAULT_MAX_HEAD_BYTES,
    }
}

fn body_memory(raw: Option<&Spanned<u64>>, max_body_bytes: u64, p: &mut Problems) -> u64 {
    match raw {
        Some(b) if b.value < max_body_bytes => p
            .error(
                b.loc,
                "settings.body_memory_bytes",
                format!(
                    "must be at least settings.max_body_bytes ({max_body_bytes}), or a body of that size \
                     could never be accepted"
                ),
            )
            .unwrap_or(DEFAULT_BODY_MEMORY_BYTES),
        Some(b) => b.value,
        None => DEFAULT_BODY_MEMORY_BYTES.max(max_body_bytes),
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
