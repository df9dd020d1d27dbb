//! The `/hooks` listener's connection counters: plain atomics (the accept loop and every connection
//! bump them without a lock), rendered with the other families at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why the listener closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Its request head did not arrive within `settings.head_timeout`.
    HeadTimeout,
    /// It waited for a next request longer than `settings.idle_timeout`.
    IdleTimeout,
    /// Closed to make room under `settings.max_connections` (the oldest idle or slow-head one).
    Evicted,
}

/// Connection counters of the `/hooks` listener.
#[derive(Debug, Default)]
pub struct EdgeCounters {
    open: AtomicU64,
    accept_errors: AtomicU64,
    head_timeout: AtomicU64,
    idle_timeout: AtomicU64,
    evicted: AtomicU64,
}

impl EdgeCounters {
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn gone(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// An `accept` that failed (EMFILE, ENFILE, ENOBUFS…).
    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn closed(&self, why: Closed) {
        let counter = match why {
            Closed::HeadTimeout => &self.head_timeout,
            Closed::IdleTimeout => &self.idle_timeout,
            Closed::Evicted => &self.evicted,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn open_connections(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    pub fn accept_errors(&self) -> u64 {
        self.accept_errors.load(Ordering::Relaxed)
    }

    /// The families, appended to the exposition.
    pub(super) fn render(&self, out: &mut String) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        super::gauge(
            out,
            "hookroute_connections_open",
            "Connections open on the /hooks listener.",
            load(&self.open),
        );
        super::family(
            out,
            "hookroute_accept_errors_total",
            "counter",
            "Failed accepts on the /hooks listener (e.g. out of file descriptors).",
        );
        super::sample(out, "hookroute_accept_errors_total", &[], load(&self.accept_errors));
        let name = "hookroute_connections_closed_total";
        super::family(out, name, "counter", "Connections the /hooks listener closed itself, by reason.");
        for (reason, c) in [
            ("head_timeout", &self.head_timeout),
            ("idle_timeout", &self.idle_timeout),
            ("evicted", &self.evicted),
        ] {
            super::sample(out, name, &[("reason", reason)], load(c));
        }
    }
}
