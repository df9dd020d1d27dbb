//! Counters and histograms for `GET /metrics`, in the Prometheus text format.
//!
//! A registry per running service (not a process-global recorder) so that several services in one
//! process — the integration tests — each count only their own traffic. Counting is a short mutex
//! hold on the request path; everything that needs the store (queue depth, stored counts) is read at
//! scrape time by the admin endpoint and passed in as [`Gauges`].

mod edge;
pub mod own_events;

pub use edge::{Closed, EdgeCounters};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the attempt latency histogram buckets.
const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// What became of a request to `/hooks/{source}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Received {
    Accepted,
    Duplicate,
    Rejected(Rejection),
}

/// Why a request was refused; the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rejection {
    Signature,
    UnknownSource,
    UnsupportedMediaType,
    BodyTooLarge,
    ReadTimeout,
    UnreadableBody,
    InvalidJson,
    NoEventType,
    Overloaded,
    StoreUnavailable,
    /// The request-body memory budget had no room for the body.
    BodyBudget,
    /// A value that would be stored as text holds a NUL.
    NulInText,
}

impl Rejection {
    fn label(self) -> &'static str {
        match self {
            Rejection::Signature => "signature",
            Rejection::UnknownSource => "unknown_source",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::BodyTooLarge => "body_too_large",
            Rejection::ReadTimeout => "read_timeout",
            Rejection::UnreadableBody => "unreadable_body",
            Rejection::InvalidJson => "invalid_json",
            Rejection::NoEventType => "no_event_type",
            Rejection::Overloaded => "overloaded",
            Rejection::StoreUnavailable => "store_unavailable",
            Rejection::BodyBudget => "body_budget",
            Rejection::NulInText => "nul_in_text",
        }
    }
}

impl Received {
    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Received::Accepted => ("accepted", ""),
            Received::Duplicate => ("duplicate", ""),
            Received::Rejected(r) => ("rejected", r.label()),
        }
    }
}

/// What an attempt did to its delivery; the `outcome` label of `hookroute_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryOutcome {
    Delivered,
    Retried,
    Dead,
}

impl DeliveryOutcome {
    fn label(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retried => "retried",
            DeliveryOutcome::Dead => "dead",
        }
    }
}

#[derive(Default)]
struct Histogram {
    /// Per bucket (not cumulative); the last slot is `+Inf`.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = LATENCY_BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Default)]
struct Counters {
    /// source → type → outcome → count (nested so that counting an existing entry allocates nothing).
    received: BTreeMap<String, BTreeMap<String, BTreeMap<Received, u64>>>,
    rule_matches: BTreeMap<String, u64>,
    deliveries: BTreeMap<(String, DeliveryOutcome), u64>,
    attempt_seconds: BTreeMap<String, Histogram>,
    /// Distinct (source, type) series in `received`, bounded by [`MAX_TYPE_LABELS`].
    type_labels: usize,
    stale_writes: u64,
}

/// At most this many distinct event types are counted by name (all sources together); later new
/// types are counted as [`OTHER_TYPE`]. A signed sender, or a `scheme: none` source, could otherwise
/// create one series per type it invents and grow every scrape without bound.
pub const MAX_TYPE_LABELS: usize = 1000;
/// The `type` label of requests whose type arrived after [`MAX_TYPE_LABELS`] were in use.
pub const OTHER_TYPE: &str = "other";

/// The service's counters.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
    /// The `/hooks` listener's connections (atomics, no lock).
    pub edge: EdgeCounters,
    /// hookroute's own events (issue 16).
    pub own_events: own_events::OwnEventCounters,
}

/// Values read at scrape time from the store, the reloader and the process.
#[derive(Debug, Default)]
pub struct Gauges {
    pub rules_version: String,
    /// `None` when the store did not answer: the store gauges are left out.
    pub queue_depth: Option<i64>,
    pub queue_oldest_age: Option<Duration>,
    /// (status, count) of stored deliveries.
    pub stored: Vec<(&'static str, i64)>,
    /// (outcome label, count) of reload attempts since start.
    pub reloads: Vec<(&'static str, u64)>,
    pub last_reload_success_unix: Option<f64>,
    pub last_reload_successful: bool,
    pub last_reload_duration: Option<Duration>,
    pub resident_memory_bytes: Option<u64>,
    pub start_time_unix: f64,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a request. `source` must be a configured source (or empty), `event_type` verified
    /// (or empty): label values must not come from unauthenticated input.
    pub fn received(&self, source: &str, event_type: &str, outcome: Received) {
        let mut c = self.counters();
        if !c.received.contains_key(source) {
            c.received.insert(source.to_owned(), BTreeMap::new());
        }
        let full = c.type_labels >= MAX_TYPE_LABELS;
        let Some(types) = c.received.get_mut(source) else { return };
        let label = if types.contains_key(event_type) || !full { event_type } else { OTHER_TYPE };
        let mut added = false;
        if !types.contains_key(label) {
            types.insert(label.to_owned(), BTreeMap::new());
            added = true;
        }
        if let Some(outcomes) = types.get_mut(label) {
            *outcomes.entry(outcome).or_default() += 1;
        }
        if added {
            c.type_labels += 1;
        }
    }

    pub fn rules_matched<'a>(&self, rules: impl IntoIterator<Item = &'a str>) {
        let mut c = self.counters();
        for rule in rules {
            match c.rule_matches.get_mut(rule) {
                Some(n) => *n += 1,
                None => {
                    c.rule_matches.insert(rule.to_owned(), 1);
                }
            }
        }
    }

    /// Counts one attempt: its outcome and, when a request was made, its latency.
    pub fn attempt(&self, destination: &str, outcome: DeliveryOutcome, latency: Option<Duration>) {
        let mut c = self.counters();
        *c.deliveries.entry((destination.to_owned(), outcome)).or_default() += 1;
        if let Some(latency) = latency {
            c.attempt_seconds.entry(destination.to_owned()).or_default().observe(latency.as_secs_f64());
        }
    }

    /// Counts writes a store refused because their claim was superseded (fencing).
    pub fn stale_writes(&self, n: u64) {
        self.counters().stale_writes += n;
    }

    /// The text exposition (format 0.0.4).
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        {
            let c = self.counters();
            family(
                &mut out,
                "hookroute_events_received_total",
                "counter",
                "Requests to /hooks by source, event type and outcome.",
            );
            for (source, types) in &c.received {
                for (event_type, outcomes) in types {
                    for (outcome, n) in outcomes {
                        let (outcome, reason) = outcome.labels();
                        let labels = [
                            ("source", source.as_str()),
                            ("type", event_type),
                            ("outcome", outcome),
                            ("reason", reason),
                        ];
                        sample(&mut out, "hookroute_events_received_total", &labels, *n as f64);
                    }
                }
            }
            family(&mut out, "hookroute_rule_matches_total", "counter", "Events each rule matched.");
            for (rule, n) in &c.rule_matches {
                sample(&mut out, "hookroute_rule_matches_total", &[("rule", rule)], *n as f64);
            }
            family(
                &mut out,
                "hookroute_stale_writes_total",
                "counter",
                "Attempt records refused because another claim holds the delivery now (fencing).",
            );
            sample(&mut out, "hookroute_stale_writes_total", &[], c.stale_writes as f64);
            family(
                &mut out,
                "hookroute_deliveries_total",
                "counter",
                "Delivery attempts by destination and what they did to the delivery.",
            );
            for ((destination, outcome), n) in &c.deliveries {
                sample(
                    &mut out,
                    "hookroute_deliveries_total",
                    &[("destination", destination), ("outcome", outcome.label())],
                    *n as f64,
                );
            }
            family(
                &mut out,
                "hookroute_delivery_attempt_duration_seconds",
                "histogram",
                "Time from sending a request to a destination to its answer.",
            );
            for (destination, h) in &c.attempt_seconds {
                let name = "hookroute_delivery_attempt_duration_seconds";
                let mut cumulative = 0;
                for (i, n) in h.buckets.iter().enumerate() {
                    cumulative += n;
                    let le = LATENCY_BUCKETS.get(i).map_or_else(|| "+Inf".to_owned(), f64::to_string);
                    sample(
                        &mut out,
                        &format!("{name}_bucket"),
                        &[("destination", destination), ("le", &le)],
                        cumulative as f64,
                    );
                }
                sample(&mut out, &format!("{name}_sum"), &[("destination", destination)], h.sum);
                sample(&mut out, &format!("{name}_count"), &[("destination", destination)], h.count as f64);
            }
        }
        if let Some(depth) = g.queue_depth {
            gauge(
                &mut out,
                "hookroute_delivery_queue_depth",
                "Deliveries pending or failed (waiting for a retry).",
                depth as f64,
            );
            gauge(
                &mut out,
                "hookroute_delivery_queue_oldest_age_seconds",
                "Age of the oldest delivery not yet done (0 when none).",
                g.queue_oldest_age.map_or(0.0, |d| d.as_secs_f64()),
            );
        }
        family(&mut out, "hookroute_deliveries_stored", "gauge", "Deliveries in the store by status.");
        for (status, n) in &g.stored {
            sample(&mut out, "hookroute_deliveries_stored", &[("status", status)], *n as f64);
        }
        family(&mut out, "hookroute_config_reloads_total", "counter", "Rules reload attempts by outcome.");
        for (outcome, n) in &g.reloads {
            sample(&mut out, "hookroute_config_reloads_total", &[("outcome", outcome)], *n as f64);
        }
        if let Some(t) = g.last_reload_success_unix {
            gauge(
                &mut out,
                "hookroute_config_last_reload_success_timestamp_seconds",
                "When the running rules were loaded.",
                t,
            );
        }
        gauge(
            &mut out,
            "hookroute_config_last_reload_successful",
            "1 when the last reload attempt was applied or unchanged.",
            if g.last_reload_successful { 1.0 } else { 0.0 },
        );
        if let Some(d) = g.last_reload_duration {
            gauge(
                &mut out,
                "hookroute_config_reload_duration_seconds",
                "How long the last reload took to read and compile the rules.",
                d.as_secs_f64(),
            );
        }
        self.edge.render(&mut out);
        self.own_events.render(&mut out);
        family(&mut out, "hookroute_rules_info", "gauge", "The running rules version (a hash of the file).");
        sample(&mut out, "hookroute_rules_info", &[("version", &g.rules_version)], 1.0);
        if let Some(rss) = g.resident_memory_bytes {
            gauge(&mut out, "process_resident_memory_bytes", "Resident memory size in bytes.", rss as f64);
        }
        gauge(
            &mut out,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            g.start_time_unix,
        );
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help);
    sample(out, name, &[], value);
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\\', '"', '\n']) {
        v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").into()
    } else {
        v.into()
    }
}

/// This process's resident set size, from `/proc/self/statm` (Linux; `None` elsewhere).
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests;
