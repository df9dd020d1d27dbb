//! The overview's aggregates against a real SQLite file and a real PostgreSQL database: known
//! events and attempts in, exact buckets, counts and percentiles out.

use bytes::Bytes;

use super::*;

fn event(id: &str, source: &str, received_at: i64, rule: &str, destinations: &[&str]) -> NewEvent {
    NewEvent {
        id: id.into(),
        source: source.into(),
        event_type: "order.updated".into(),
        received_at,
        body: Bytes::from_static(b"{}"),
        content_type: None,
        matched_rules: vec![rule.into()],
        rules_version: "v1".into(),
        dedup: None,
        deliveries: destinations
            .iter()
            .enumerate()
            .map(|(i, d)| NewDelivery {
                rule: rule.into(),
                action_index: i,
                destination: (*d).into(),
                request: Ok((Bytes::from_static(b"{}"), None)),
                due_at: None,
                waits: false,
            })
            .collect(),
        state: None,
    }
}

fn wants() -> Vec<Want> {
    ["ok", "down"]
        .iter()
        .map(|d| Want {
            destination: (*d).into(),
            room: 100,
            limits: crate::policy::Limits { concurrency: 1000, rate: None },
        })
        .collect()
}

/// Minute buckets from t=0: 3 events of `a` in minute 0, 1 of `b` in minute 2; `ok` delivers
/// (latencies 10, 10, 30), `down` fails its attempt (a retry) and then dies.
async fn aggregates_count_buckets_outcomes_and_latencies(s: &dyn Store) {
    const MIN: i64 = 60_000;
    let batch = [
        event("e1", "a", 1_000, "r", &["ok"]),
        event("e2", "a", 2_000, "r", &["ok"]),
        event("e3", "a", 59_999, "R", &["ok"]),
        event("e4", "b", 2 * MIN + 5, "r", &["down"]),
    ];
    s.insert(&batch, 1_000).await.expect("insert");
    let claimed = s.claim(3 * MIN, std::time::Duration::from_secs(60), "w", &wants()).await.expect("claim");
    assert_eq!(claimed.len(), 4);
    let attempt = |at, latency_ms, ok: bool| AttemptRecord {
        attempted_at: at,
        status_code: Some(if ok { 200 } else { 500 }),
        latency_ms,
        error: (!ok).then(|| "HTTP 500".to_owned()),
        response_excerpt: None,
    };
    let mut records = Vec::new();
    let mut latencies = [10, 10, 30].into_iter();
    for c in &claimed {
        let (a, next) = if c.destination == "ok" {
            (attempt(3 * MIN, latencies.next().expect("three ok"), true), NextState::Delivered)
        } else {
            (attempt(3 * MIN + 1, 700, false), NextState::Retry { at: 4 * MIN })
        };
        records.push(Recorded { id: c.id, series: c.series, token: c.token, attempt: a, next, error: None });
    }
    assert!(s.record(&records).await.expect("record").is_empty());
    let again = s.claim(4 * MIN, std::time::Duration::from_secs(60), "w", &wants()).await.expect("claim");
    let c = &again[0];
    let dead = Recorded {
        id: c.id,
        series: c.series,
        token: c.token,
        attempt: attempt(4 * MIN, 900, false),
        next: NextState::Dead,
        error: Some("HTTP 500".into()),
    };
    assert!(s.record(&[dead]).await.expect("record").is_empty());

    let events = s.event_rate(0, MIN).await.expect("event rate");
    let got: Vec<_> = events.iter().map(|b| (b.bucket, b.source.as_str(), b.events)).collect();
    assert_eq!(got, [(0, "a", 3), (2, "b", 1)]);
    // A later window leaves the early events out, and buckets count from its start.
    let later = s.event_rate(MIN, MIN).await.expect("event rate");
    assert_eq!(later.iter().map(|b| (b.bucket, b.events)).collect::<Vec<_>>(), [(1, 1)]);

    let outcomes = s.outcome_rate(0, MIN).await.expect("outcome rate");
    let got: Vec<_> = outcomes.iter().map(|b| (b.bucket, b.outcome.as_str(), b.attempts)).collect();
    assert_eq!(got, [(3, "delivered", 3), (3, "retry", 1), (4, "dead", 1)]);

    let glance = s.destination_glance(0).await.expect("glance");
    assert_eq!(glance.len(), 2);
    let (down, ok) = (&glance[0], &glance[1]);
    assert_eq!((down.name.as_str(), down.attempts, down.delivered, down.failing), ("down", 2, 0, true));
    assert_eq!(
        (down.p50_latency_ms, down.p95_latency_ms, down.success_rate),
        (Some(700), Some(900), Some(0.0))
    );
    assert_eq!(down.last_failed_at, Some(4 * MIN));
    assert_eq!((ok.name.as_str(), ok.attempts, ok.delivered, ok.failing), ("ok", 3, 3, false));
    assert_eq!((ok.p50_latency_ms, ok.p95_latency_ms, ok.success_rate), (Some(10), Some(30), Some(1.0)));
    assert!(s.destination_glance(5 * MIN).await.expect("glance").is_empty());

    let count = |f: EventFilter| async move { s.count_events(f).await.expect("count") };
    assert_eq!(count(EventFilter::default()).await, 4);
    assert_eq!(count(EventFilter { source: Some("a".into()), ..EventFilter::default() }).await, 3);
    // Rule names are exact: `r` is not `R` (SQLite's LIKE would say it is).
    assert_eq!(count(EventFilter { rule: Some("r".into()), ..EventFilter::default() }).await, 3);
    assert_eq!(count(EventFilter { rule: Some("R".into()), ..EventFilter::default() }).await, 1);
    assert_eq!(count(EventFilter { status: Some(Status::Dead), ..EventFilter::default() }).await, 1);
    let window = EventFilter { since: Some(2_000), until: Some(59_999), ..EventFilter::default() };
    assert_eq!(count(window).await, 1);
    // `before` and `limit` page the list; the count is the whole filter's.
    let paged = EventFilter { before: Some("e2".into()), limit: 1, ..EventFilter::default() };
    assert_eq!(count(paged).await, 4);
}

#[tokio::test]
async fn sqlite_aggregates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqliteStore::open(&url).await.expect("open");
    aggregates_count_buckets_outcomes_and_latencies(&store).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn postgres_aggregates() {
    let db = super::test_database::TestDatabase::create().await;
    let store = PostgresStore::open(db.url()).await.expect("open");
    aggregates_count_buckets_outcomes_and_latencies(&store).await;
}
