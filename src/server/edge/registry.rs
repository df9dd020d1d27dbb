//! The open connections, in accept order, with what each is doing. The cap is enforced here: at
//! it, a new connection closes the oldest one that has no request in flight (an idle keep-alive or
//! a slow head: what a stranger holds cheaply) and takes its place; only when every connection is
//! busy with a request is the new one refused. Each connection's [`Track`] also gives its watchdog
//! the deadline that applies to it now.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::{Closed, Metrics};

/// Every open connection of the listener.
pub struct Registry {
    cap: usize,
    metrics: Arc<Metrics>,
    conns: Mutex<(u64, BTreeMap<u64, Arc<Track>>)>,
}

impl Registry {
    pub fn new(cap: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self { cap, metrics, conns: Mutex::new((0, BTreeMap::new())) })
    }

    fn lock(&self) -> MutexGuard<'_, (u64, BTreeMap<u64, Arc<Track>>)> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection, closing the oldest idle one when at the cap; `None` when at the
    /// cap with every connection busy (the caller closes the new one).
    pub fn admit(self: &Arc<Self>) -> Option<Entry> {
        let mut guard = self.lock();
        let (next, conns) = &mut *guard;
        if conns.len() >= self.cap && !evict_oldest_idle(conns, &self.metrics) {
            self.metrics.edge.closed(Closed::Refused);
            return None;
        }
        let id = *next;
        *next += 1;
        let track = Arc::new(Track::new());
        conns.insert(id, Arc::clone(&track));
        self.metrics.edge.opened();
        Some(Entry { id, track, registry: Arc::clone(self) })
    }

    /// Closes the oldest idle connection, if any (to free a file descriptor after EMFILE).
    pub fn evict_one(&self) -> bool {
        evict_oldest_idle(&mut self.lock().1, &self.metrics)
    }
}

/// Removes and closes the oldest connection without a request in flight.
fn evict_oldest_idle(conns: &mut BTreeMap<u64, Arc<Track>>, metrics: &Metrics) -> bool {
    let Some(id) = conns.iter().find(|(_, t)| t.phase().in_flight == 0).map(|(id, _)| *id) else {
        return false;
    };
    if let Some(track) = conns.remove(&id) {
        track.close.notify_one();
        metrics.edge.closed(Closed::Evicted);
    }
    true
}

/// A connection's place in the registry; leaves it when dropped.
pub struct Entry {
    id: u64,
    pub track: Arc<Track>,
    registry: Arc<Registry>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.registry.lock().1.remove(&self.id);
        self.registry.metrics.edge.gone();
    }
}

/// What one connection is doing, for its watchdog and for eviction.
pub struct Track {
    phase: Mutex<Phase>,
    /// Set while no request is in flight and no byte of a next head has come: the first byte read
    /// then starts the head timer (an atomic, so other reads take no lock).
    awaiting_head: AtomicBool,
    /// Woken when the deadline may have changed.
    pub changed: Notify,
    /// Woken when the registry evicted this connection.
    pub close: Notify,
}

#[derive(Clone, Copy)]
pub struct Phase {
    in_flight: usize,
    /// When the head being received started (a new connection: when it was accepted).
    head_since: Option<Instant>,
    /// When the last request was answered.
    idle_since: Instant,
}

impl Track {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            phase: Mutex::new(Phase { in_flight: 0, head_since: Some(now), idle_since: now }),
            awaiting_head: AtomicBool::new(false),
            changed: Notify::new(),
            close: Notify::new(),
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Phase)) {
        f(&mut self.phase.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_one();
    }

    /// Bytes arrived: when they start a next head, its timer starts now.
    pub fn bytes_read(&self) {
        if self.awaiting_head.swap(false, Ordering::AcqRel) {
            self.update(|p| {
                if p.in_flight == 0 && p.head_since.is_none() {
                    p.head_since = Some(Instant::now());
                }
            });
        }
    }

    /// A request's head was parsed: no edge deadline while it is handled.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.awaiting_head.store(false, Ordering::Release);
        self.update(|p| {
            p.in_flight += 1;
            p.head_since = None;
        });
        Busy(Arc::clone(self))
    }

    /// When this connection must be closed unless something changes, and why; `None` while a
    /// request is in flight.
    pub fn deadline(&self, head_timeout: Duration, idle_timeout: Duration) -> Option<(Instant, Closed)> {
        let p = self.phase();
        if p.in_flight > 0 {
            return None;
        }
        Some(match p.head_since {
            Some(since) => (since + head_timeout, Closed::HeadTimeout),
            None => (p.idle_since + idle_timeout, Closed::IdleTimeout),
        })
    }
}

/// A request in flight on a connection; answered when dropped.
pub struct Busy(Arc<Track>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|p| {
            p.in_flight = p.in_flight.saturating_sub(1);
            if p.in_flight == 0 {
                p.idle_since = Instant::now();
            }
        });
        self.0.awaiting_head.store(true, Ordering::Release);
    }
}
