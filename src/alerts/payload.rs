//! The bodies of hookroute's own events and their dedup keys, pure. A body reads like a House
//! Check event (`{"type", "payload", "occurred_at"}`), so `{{ type }}` and `{{ payload.… }}` work
//! in templates as for any source. Every error text has been through the config's redactor before
//! it gets here (`emit.rs`); nothing else in a payload comes from a secret.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::bursts::DeadReport;
use crate::clock::rfc3339_ms;

pub const DELIVERY_DEAD: &str = "hookroute.delivery.dead";
pub const DESTINATION_FAILING: &str = "hookroute.destination.failing";
pub const DESTINATION_RECOVERED: &str = "hookroute.destination.recovered";
pub const RELOAD_REJECTED: &str = "hookroute.reload.rejected";
pub const QUEUE_STALE: &str = "hookroute.queue.stale";

/// One event to emit: its type, body and the key that makes it once per episode (or window).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnEvent {
    pub event_type: &'static str,
    pub body: Value,
    /// Dedup key of source `hookroute`: the same episode reported by two instances is one event.
    pub dedup_key: String,
}

fn event(event_type: &'static str, payload: Value, at: i64, dedup_key: String) -> OwnEvent {
    OwnEvent {
        event_type,
        body: json!({ "type": event_type, "payload": payload, "occurred_at": rfc3339_ms(at) }),
        dedup_key,
    }
}

fn seconds(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}

/// The dashboard's page of an event (a path on the admin listener).
pub fn event_link(event_id: &str) -> String {
    format!("/#/events/{event_id}")
}

/// `hookroute.delivery.dead`: the latest dead delivery of the report and how many died.
pub fn delivery_dead(r: &DeadReport) -> OwnEvent {
    let d = &r.latest;
    let payload = json!({
        "delivery_id": d.delivery_id,
        "event_id": d.event_id,
        "rule": d.rule,
        "destination": d.destination,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "link": event_link(&d.event_id),
        "count": r.count,
    });
    event(DELIVERY_DEAD, payload, d.at, format!("delivery.dead:{}:{}", d.destination, r.window))
}

/// `hookroute.destination.failing`: every attempt since `since` failed.
pub fn destination_failing(
    destination: &str,
    since: i64,
    failed: u64,
    last_error: &str,
    now: i64,
) -> OwnEvent {
    let payload = json!({
        "destination": destination,
        "since": rfc3339_ms(since),
        "failed_attempts": failed,
        "last_error": last_error,
    });
    event(DESTINATION_FAILING, payload, now, format!("destination.failing:{destination}:{since}"))
}

/// `hookroute.destination.recovered`: the first success after `failing` (episode opened at `since`).
pub fn destination_recovered(destination: &str, since: i64, failed: u64, now: i64) -> OwnEvent {
    let payload = json!({
        "destination": destination,
        "since": rfc3339_ms(since),
        "down_for_seconds": seconds(now - since),
        "attempts_failed_meanwhile": failed,
    });
    event(DESTINATION_RECOVERED, payload, now, format!("destination.recovered:{destination}:{since}"))
}

/// `hookroute.reload.rejected`: the rules file was refused and `version_kept` keeps running. The
/// key hashes the diagnostics without the file's own path, so instances whose rules live at
/// different paths agree that the same broken file is one event.
pub fn reload_rejected(version_kept: &str, diagnostics: &[String], path: &str, now: i64) -> OwnEvent {
    let mut h = Sha256::new();
    for d in diagnostics {
        h.update(d.replace(path, "").as_bytes());
        h.update([0]);
    }
    let digest: String = h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
    let payload = json!({ "version_kept": version_kept, "diagnostics": diagnostics });
    event(RELOAD_REJECTED, payload, now, format!("reload.rejected:{version_kept}:{digest}"))
}

/// `hookroute.queue.stale`: a delivery has waited past its due time for longer than `queue_age`.
pub fn queue_stale(oldest_due: i64, depth: i64, destination: &str, now: i64) -> OwnEvent {
    let payload = json!({
        "age_seconds": seconds(now - oldest_due),
        "depth": depth,
        "destination": destination,
        "oldest_due_at": rfc3339_ms(oldest_due),
    });
    event(QUEUE_STALE, payload, now, format!("queue.stale:{oldest_due}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::bursts::Dead;

    fn check(e: &OwnEvent, event_type: &str, key: &str, payload: Value) {
        assert_eq!(e.event_type, event_type);
        assert_eq!(e.body["type"], event_type);
        assert_eq!(e.dedup_key, key);
        assert_eq!(e.body["payload"], payload, "{event_type}");
        assert!(e.body["occurred_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn each_type_has_the_issue_fields() {
        let dead = Dead {
            delivery_id: 7,
            event_id: "0193e".into(),
            rule: "to-crm".into(),
            destination: "crm".into(),
            attempts: 4,
            last_error: "HTTP 500: down".into(),
            at: 120_000,
        };
        check(
            &delivery_dead(&DeadReport { latest: dead, count: 3, window: 2 }),
            DELIVERY_DEAD,
            "delivery.dead:crm:2",
            json!({"delivery_id": 7, "event_id": "0193e", "rule": "to-crm", "destination": "crm",
                   "attempts": 4, "last_error": "HTTP 500: down", "link": "/#/events/0193e", "count": 3}),
        );
        check(
            &destination_failing("crm", 0, 12, "HTTP 503", 300_000),
            DESTINATION_FAILING,
            "destination.failing:crm:0",
            json!({"destination": "crm", "since": "1970-01-01T00:00:00.000Z", "failed_attempts": 12,
                   "last_error": "HTTP 503"}),
        );
        check(
            &destination_recovered("crm", 0, 12, 90_500),
            DESTINATION_RECOVERED,
            "destination.recovered:crm:0",
            json!({"destination": "crm", "since": "1970-01-01T00:00:00.000Z", "down_for_seconds": 90.5,
                   "attempts_failed_meanwhile": 12}),
        );
        check(
            &queue_stale(1000, 42, "slack", 1_000_000),
            QUEUE_STALE,
            "queue.stale:1000",
            json!({"age_seconds": 999.0, "depth": 42, "destination": "slack",
                   "oldest_due_at": "1970-01-01T00:00:01.000Z"}),
        );
        let diags = vec!["/etc/a/rules.yaml:3:5: unknown destination `x`".to_owned()];
        let rejected = reload_rejected("abc123", &diags, "/etc/a/rules.yaml", 0);
        assert_eq!(rejected.body["payload"], json!({"version_kept": "abc123", "diagnostics": diags}));
        // The same problem in a file at another path is the same event.
        let elsewhere = vec!["/srv/b/rules.yaml:3:5: unknown destination `x`".to_owned()];
        assert_eq!(
            rejected.dedup_key,
            reload_rejected("abc123", &elsewhere, "/srv/b/rules.yaml", 9).dedup_key
        );
        assert_ne!(rejected.dedup_key, reload_rejected("abc124", &diags, "/etc/a/rules.yaml", 0).dedup_key);
    }
}
