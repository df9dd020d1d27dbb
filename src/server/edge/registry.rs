//! The open connections, in accept order, with what each is doing. The cap is enforced here,
//! before each accept: at it, the oldest connection with no request in flight (an idle keep-alive
//! or a slow head: what a stranger holds cheaply) is closed, and the next connection is accepted
//! only once its descriptor is really gone; while every connection has a request in flight, new
//! ones wait in the kernel's backlog. So the listener never holds more than `cap` descriptors,
//! however fast connections arrive. Each connection's [`Track`] also gives its watchdog the
//! deadline that applies to it now.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::{Closed, Metrics};

/// How often [`Registry::room`] looks again for a connection that became idle.
const RECHECK: Duration = Duration::from_millis(50);

/// Every open connection of the listener.
pub struct Registry {
    cap: usize,
    metrics: Arc<Metrics>,
    inner: Mutex<Inner>,
    /// Woken when a connection's descriptor is closed.
    freed: Notify,
}

struct Inner {
    next: u64,
    /// Connections that can still be evicted, by accept order.
    conns: BTreeMap<u64, Arc<Track>>,
    /// Descriptors still open: `conns` plus the evicted ones not yet closed.
    open: usize,
}

impl Registry {
    pub fn new(cap: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        let inner = Inner { next: 0, conns: BTreeMap::new(), open: 0 };
        Arc::new(Self { cap, metrics, inner: Mutex::new(inner), freed: Notify::new() })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once one more connection fits under the cap, closing the oldest idle one (and
    /// waiting for it to be gone) when at it.
    pub async fn room(&self) {
        loop {
            {
                let mut inner = self.lock();
                if inner.open < self.cap {
                    return;
                }
                if inner.open == inner.conns.len() {
                    evict_oldest_idle(&mut inner.conns, &self.metrics);
                }
            }
            let _ = tokio::time::timeout(RECHECK, self.freed.notified()).await;
        }
    }

    /// Registers a connection just accepted (after [`Registry::room`]).
    pub fn admit(self: &Arc<Self>) -> Entry {
        let mut inner = self.lock();
        let id = inner.next;
        inner.next += 1;
        inner.open += 1;
        let track = Arc::new(Track::new());
        inner.conns.insert(id, Arc::clone(&track));
        self.metrics.edge.opened();
        Entry { id, track, registry: Arc::clone(self) }
    }

    /// Closes the oldest idle connection, if any (to free a file descriptor after EMFILE).
    pub fn evict_one(&self) -> bool {
        evict_oldest_idle(&mut self.lock().conns, &self.metrics)
    }
}

/// Takes the oldest connection without a request in flight out of `conns` and tells it to close.
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

/// A connection's place in the registry; leaves it when dropped (after its socket is closed).
pub struct Entry {
    id: u64,
    pub track: Arc<Track>,
    registry: Arc<Registry>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        {
            let mut inner = self.registry.lock();
            inner.conns.remove(&self.id);
            inner.open = inner.open.saturating_sub(1);
        }
        self.registry.metrics.edge.gone();
        self.registry.freed.notify_one();
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
