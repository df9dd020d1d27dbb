//! Store cases against a real SQLite file.

use std::time::Duration;

use bytes::Bytes;

use super::*;

fn event(id: &str, dedup: Option<&str>, deliveries: usize) -> NewEvent {
    NewEvent {
        id: id.into(),
        source: "house-check".into(),
        event_type: "order.updated".into(),
        received_at: 1_000,
        body: Bytes::from_static(b"{\"type\":\"order.updated\"}"),
        content_type: Some("application/json".into()),
        matched_rules: vec!["r".into()],
        rules_version: "v1".into(),
        dedup: dedup.map(|k| DedupKey { key: k.into(), expires_at: 10_000 }),
        deliveries: (0..deliveries)
            .map(|i| NewDelivery {
                rule: "r".into(),
                action_index: i,
                destination: if i == 0 { "slack".into() } else { "mail".into() },
                request: Ok((Bytes::from_static(b"{}"), Some("application/json".into()))),
                due_at: None,
                waits: false,
            })
            .collect(),
        state: None,
    }
}

const LEASE: Duration = Duration::from_secs(60);

async fn record(
    s: &dyn Store,
    c: &Claimed,
    attempt: AttemptRecord,
    next: NextState,
    error: Option<String>,
) -> StoreResult<()> {
    s.record(&[Recorded { id: c.id, series: c.series, attempt, next, error }]).await
}

async fn insert_claim_record_and_counts(s: &dyn Store) {
    let r = s.insert(&[event("e1", None, 2), event("e2", None, 1)], 1_000).await.expect("insert");
    assert_eq!(r, [Inserted::New, Inserted::New]);
    assert_eq!(s.counts().await.expect("counts").pending, 3);

    let claimed = s.claim(1_000, 10, LEASE, "w1", &[]).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    // Leased rows are not claimed twice while the lease holds, and are after it expires.
    assert!(s.claim(1_001, 10, LEASE, "w2", &[]).await.expect("claim").is_empty());
    assert_eq!(s.claim(61_001, 10, LEASE, "w2", &[]).await.expect("claim").len(), 3);

    let c = &claimed[0];
    let attempt = |code| AttemptRecord {
        attempted_at: 2_000,
        status_code: Some(code),
        latency_ms: 5,
        error: None,
        response_excerpt: Some("ok".into()),
    };
    record(s, c, attempt(503), NextState::Retry { at: 7_000 }, Some("HTTP 503".into()))
        .await
        .expect("record");
    let rows =
        s.list(Filter { event_id: Some(c.event_id.clone()), ..Filter::default() }).await.expect("list");
    let row = rows.iter().find(|r| r.id == c.id).expect("row");
    assert_eq!((row.status.as_str(), row.attempts, row.next_attempt_at), ("failed", 1, 7_000));
    assert_eq!(row.history.len(), 1);
    assert_eq!(row.history[0].status_code, Some(503));

    // Not due before its time; due after.
    assert!(s.claim(6_999, 10, LEASE, "w1", &[]).await.expect("claim").iter().all(|x| x.id != c.id));
    s.release_stale_leases().await.expect("release");
    let again = s.claim(7_000, 10, LEASE, "w1", &[]).await.expect("claim");
    assert!(again.iter().any(|x| x.id == c.id && x.attempts == 1));
    record(s, c, attempt(200), NextState::Delivered, None).await.expect("record");
    assert_eq!(s.counts().await.expect("counts").delivered, 1);
}

async fn claims_for_some_destinations_and_release_gives_back(s: &dyn Store) {
    s.insert(&[event("e1", None, 2)], 1_000).await.expect("insert");
    let only = ["mail".to_owned(), "sms".to_owned()];
    let claimed = s.claim(1_000, 10, LEASE, "w", &only).await.expect("claim");
    assert_eq!(claimed.iter().map(|c| c.destination.as_str()).collect::<Vec<_>>(), ["mail"]);
    let next = s.claim(1_000, 10, LEASE, "w", &[]).await.expect("claim");
    assert_eq!(next.iter().map(|c| c.destination.as_str()).collect::<Vec<_>>(), ["slack"]);
    s.release(&[claimed[0].id]).await.expect("release");
    let again = s.claim(1_001, 10, LEASE, "w", &[]).await.expect("claim");
    assert_eq!(
        again.iter().map(|c| c.destination.as_str()).collect::<Vec<_>>(),
        ["mail"],
        "released, due again"
    );
    s.insert(&[event("e2", None, 2)], 2_000).await.expect("insert");
    let both = ["slack".to_owned(), "mail".to_owned()];
    assert_eq!(
        s.claim(2_000, 1, LEASE, "w", &both).await.expect("claim").len(),
        1,
        "the limit holds across destinations"
    );
    assert_eq!(s.claim(2_000, 10, LEASE, "w", &both).await.expect("claim").len(), 1, "the other one");
    assert!(s.claim(2_000, 10, LEASE, "w", &["crm".to_owned()]).await.expect("claim").is_empty());
}

async fn dedup_within_the_window_only(s: &dyn Store) {
    let r = s.insert(&[event("e1", Some("k"), 1), event("e2", Some("k"), 1)], 1_000).await.expect("insert");
    assert_eq!(r, [Inserted::New, Inserted::Duplicate("e1".into())], "duplicates inside one batch too");
    let r = s.insert(&[event("e3", Some("k"), 1)], 9_999).await.expect("insert");
    assert_eq!(r, [Inserted::Duplicate("e1".into())]);
    let r = s.insert(&[event("e4", Some("k"), 1)], 10_000).await.expect("insert");
    assert_eq!(r, [Inserted::New], "the window expired");
    assert_eq!(s.counts().await.expect("counts").pending, 2);
}

async fn template_failures_are_stored_dead_and_replay_starts_a_new_series(s: &dyn Store) {
    let mut ev = event("e1", None, 1);
    ev.deliveries[0].request = Err("undefined value".into());
    s.insert(&[ev], 1_000).await.expect("insert");
    let rows = s.list(Filter { status: Some(Status::Dead), ..Filter::default() }).await.expect("list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].last_error.as_deref(), Some("undefined value"));

    assert_eq!(
        s.replay(ReplaySelector::Status { status: Status::Dead, since: None }, false, 2_000)
            .await
            .expect("replay"),
        1
    );
    let claimed = s.claim(2_000, 10, LEASE, "w", &[]).await.expect("claim");
    assert_eq!((claimed[0].series, claimed[0].attempts, claimed[0].body.is_none()), (2, 0, true));
    assert!(matches!(
        s.replay(ReplaySelector::Ids(vec![claimed[0].id, 999]), false, 3_000).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.replay(ReplaySelector::Event("e1".into()), false, 3_000).await.expect("replay"), 1);
    let stored = s.event("e1").await.expect("event").expect("exists");
    assert_eq!(&stored.body[..], b"{\"type\":\"order.updated\"}");
}

async fn a_delivered_delivery_is_replayed_only_with_force(s: &dyn Store) {
    s.insert(&[event("e1", None, 2)], 1_000).await.expect("insert");
    let claimed = s.claim(1_000, 10, LEASE, "w", &[]).await.expect("claim");
    let (done, open) = (&claimed[0], &claimed[1]);
    let ok = AttemptRecord {
        attempted_at: 2_000,
        status_code: Some(200),
        latency_ms: 1,
        error: None,
        response_excerpt: None,
    };
    record(s, done, ok, NextState::Delivered, None).await.expect("record");
    s.release(&[open.id]).await.expect("release");

    let refused = s.replay(ReplaySelector::Ids(vec![open.id, done.id]), false, 3_000).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(m)) if m.contains(&format!("#{}", done.id))),
        "{refused:?}"
    );
    let statuses = |rows: Vec<DeliveryRow>| rows.iter().map(|r| (r.id, r.series)).collect::<Vec<_>>();
    let before = statuses(s.list(Filter::default()).await.expect("list"));
    assert!(before.iter().all(|(_, series)| *series == 1), "a refused replay changes nothing: {before:?}");
    let by_status = ReplaySelector::Status { status: Status::Delivered, since: None };
    assert_eq!(s.replay(by_status.clone(), false, 3_000).await.expect("replay"), 0);
    assert_eq!(
        s.replay(ReplaySelector::Event("e1".into()), false, 3_000).await.expect("replay"),
        1,
        "only the open one"
    );
    assert_eq!(s.replay(ReplaySelector::Ids(vec![done.id]), true, 3_000).await.expect("replay"), 1);
    let rows = s.list(Filter::default()).await.expect("list");
    assert!(rows.iter().all(|r| r.series == 2 && r.status == "pending"), "{rows:?}");
}

async fn prune_keeps_unfinished_and_dead_events(s: &dyn Store) {
    s.insert(&[event("done", None, 1), event("open", None, 1), event("dead", None, 1)], 1_000)
        .await
        .expect("insert");
    for c in s.claim(1_000, 10, LEASE, "w", &[]).await.expect("claim") {
        let next = match c.event_id.as_str() {
            "done" => NextState::Delivered,
            "dead" => NextState::Dead,
            _ => NextState::Retry { at: 50_000 },
        };
        let a = AttemptRecord {
            attempted_at: 1_500,
            status_code: Some(200),
            latency_ms: 1,
            error: None,
            response_excerpt: None,
        };
        record(s, &c, a, next, None).await.expect("record");
    }
    assert_eq!(s.prune(2_000, false, 2_000).await.expect("prune"), 1);
    assert!(s.event("done").await.expect("q").is_none());
    assert!(s.event("dead").await.expect("q").is_some());
    assert_eq!(s.prune(2_000, true, 2_000).await.expect("prune"), 1);
    assert!(s.event("open").await.expect("q").is_some());
}

#[tokio::test]
async fn sqlite_reopening_keeps_data_and_migrations_run_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = SqliteStore::open(&url).await.expect("open");
    s.insert(&[event("e1", None, 1)], 1_000).await.expect("insert");
    drop(s);
    let s = SqliteStore::open(&url).await.expect("reopen");
    assert_eq!(s.counts().await.expect("counts").pending, 1);
}

async fn inspection_lists_filter_page_and_summarise(s: &dyn Store) {
    let mut a = event("0001-a", None, 2);
    a.matched_rules = vec!["ready".into(), "audit".into()];
    let mut b = event("0002-b", None, 1);
    b.event_type = "files.created".into();
    b.received_at = 5_000;
    b.matched_rules = vec!["Ready".into()];
    let c = event("0003-c", None, 0);
    s.insert(&[a, b, c], 1_000).await.expect("insert");

    let ids = |rows: Vec<EventSummary>| rows.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = s.events(EventFilter::default()).await.expect("events");
    assert_eq!(all[0].deliveries.pending, 0);
    assert_eq!(all[2].deliveries.pending, 2);
    assert_eq!(ids(all), ["0003-c", "0002-b", "0001-a"], "newest id first");
    let page = |before: Option<&str>| EventFilter {
        before: before.map(str::to_owned),
        limit: 2,
        ..EventFilter::default()
    };
    assert_eq!(ids(s.events(page(None)).await.expect("page 1")), ["0003-c", "0002-b"]);
    assert_eq!(ids(s.events(page(Some("0002-b"))).await.expect("page 2")), ["0001-a"]);
    let only = |f: EventFilter| async move { ids(s.events(f).await.expect("events")) };
    assert_eq!(
        only(EventFilter { event_type: Some("files.created".into()), ..Default::default() }).await,
        ["0002-b"]
    );
    // Exact rule names: `ready` is not `Ready` (SQLite's LIKE ignores case; the list is checked).
    assert_eq!(only(EventFilter { rule: Some("ready".into()), ..Default::default() }).await, ["0001-a"]);
    assert_eq!(
        only(EventFilter { rule: Some("rea_y".into()), ..Default::default() }).await,
        Vec::<String>::new()
    );
    assert_eq!(only(EventFilter { since: Some(2_000), ..Default::default() }).await, ["0002-b"]);
    assert_eq!(only(EventFilter { until: Some(2_000), ..Default::default() }).await, ["0003-c", "0001-a"]);

    assert_eq!(s.queue().await.expect("queue"), QueueStats { depth: 3, oldest_started_at: Some(1_000) });
    let claimed = s.claim(1_000, 10, LEASE, "w", &[]).await.expect("claim");
    let attempt = |code: u16, latency_ms| AttemptRecord {
        attempted_at: 2_000,
        status_code: Some(code),
        latency_ms,
        error: (code >= 400).then(|| format!("HTTP {code}")),
        response_excerpt: None,
    };
    let slack: Vec<&Claimed> = claimed.iter().filter(|c| c.destination == "slack").collect();
    let mail = claimed.iter().find(|c| c.destination == "mail").expect("mail");
    record(s, slack[0], attempt(200, 10), NextState::Delivered, None).await.expect("record");
    record(s, slack[1], attempt(503, 30), NextState::Dead, Some("HTTP 503".into())).await.expect("record");
    record(s, mail, attempt(500, 20), NextState::Retry { at: 9_000 }, Some("HTTP 500".into()))
        .await
        .expect("record");

    let stats = s.destination_stats(1_500, 0).await.expect("stats");
    let slack_stats = stats.iter().find(|d| d.name == "slack").expect("slack");
    assert_eq!(
        (slack_stats.attempts, slack_stats.delivered, slack_stats.dead, slack_stats.pending),
        (2, 1, 1, 0)
    );
    assert_eq!(slack_stats.avg_latency_ms, Some(20.0));
    assert_eq!(slack_stats.max_latency_ms, Some(30));
    assert_eq!(slack_stats.last_error.as_deref(), Some("HTTP 503"));
    let mail_stats = stats.iter().find(|d| d.name == "mail").expect("mail");
    assert_eq!((mail_stats.attempts, mail_stats.pending, mail_stats.last_error_at), (1, 1, Some(2_000)));
    assert!(s.destination_stats(3_000, 3_000).await.expect("stats").iter().all(|d| d.attempts == 0));

    let f = |destination: &str, status: Option<Status>| Filter {
        destination: Some(destination.into()),
        status,
        ..Filter::default()
    };
    assert_eq!(s.list(f("slack", None)).await.expect("list").len(), 2);
    let dead = s.list(f("slack", Some(Status::Dead))).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].history[0].status_code, Some(503));
    let newest = s.list(Filter { limit: 1, ..Filter::default() }).await.expect("list")[0].id;
    let older = s.list(Filter { before: Some(newest), ..Filter::default() }).await.expect("list");
    assert_eq!(older.len(), 2);
    assert!(older.iter().all(|d| d.id < newest));
    let stored = s.event("0001-a").await.expect("event").expect("found");
    assert_eq!(stored.matched_rules, ["ready", "audit"]);
    assert_eq!(stored.rules_version, "v1");
}

/// Runs each store case against a fresh SQLite file and a fresh PostgreSQL database.
macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite_cases {
            $(
                #[tokio::test]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let url = format!("sqlite://{}", dir.path().join("t.db").display());
                    let store = super::SqliteStore::open(&url).await.expect("open");
                    super::$case(&store).await;
                }
            )*
        }
        mod postgres_cases {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
                async fn $case() {
                    let db = crate::store::test_database::TestDatabase::create().await;
                    let store = super::PostgresStore::open(db.url()).await.expect("open");
                    super::$case(&store).await;
                }
            )*
        }
    };
}

both_stores!(
    insert_claim_record_and_counts,
    claims_for_some_destinations_and_release_gives_back,
    dedup_within_the_window_only,
    template_failures_are_stored_dead_and_replay_starts_a_new_series,
    a_delivered_delivery_is_replayed_only_with_force,
    prune_keeps_unfinished_and_dead_events,
    inspection_lists_filter_page_and_summarise
);

#[tokio::test]
async fn sqlite_url_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = format!("sqlite://{}", dir.path().join("t.db").display());
    assert!(SqliteStore::open(&format!("{base}?synchronous=normal")).await.is_ok());
    assert!(SqliteStore::open(&format!("{base}?synchronous=full")).await.is_ok());
    assert!(matches!(
        SqliteStore::open(&format!("{base}?synchronous=sometimes")).await,
        Err(StoreError::BadUrl(_))
    ));
    assert!(matches!(super::open("mysql://x").await, Err(StoreError::BadUrl(_))));
    let bad =
        super::open("postgres://u:hunter2-pw@db:5432/x?sslmode=sometimes").await.err().expect("refused");
    assert!(!bad.to_string().contains("hunter2-pw"), "{bad}");
    let bad = super::open("mysql://u:hunter2-pw@db/x").await.err().expect("refused");
    // The message does not repeat the URL (the caller's context names it, redacted); the value
    // kept for `Debug` is redacted too.
    assert_eq!(
        bad.to_string(),
        "unsupported store URL: expected sqlite://PATH or postgres://USER@HOST:PORT/DB"
    );
    assert!(matches!(&bad, StoreError::BadUrl(url) if url == "mysql://u:***@db/x"), "{bad:?}");
}
