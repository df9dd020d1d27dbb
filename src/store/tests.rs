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

/// At most `room` deliveries of `destination`, no limits.
fn want(destination: &str, room: usize) -> Want {
    Want {
        destination: destination.into(),
        room,
        limits: crate::policy::Limits { concurrency: 1000, rate: None },
    }
}

/// Up to `room` of each destination the test events use.
fn any(room: usize) -> Vec<Want> {
    vec![want("slack", room), want("mail", room)]
}

/// Records one attempt under claim `c`; returns the ids the store refused as stale.
async fn record(
    s: &dyn Store,
    c: &Claimed,
    attempt: AttemptRecord,
    next: NextState,
    error: Option<String>,
) -> StoreResult<Vec<i64>> {
    s.record(&[Recorded { id: c.id, series: c.series, token: c.token, attempt, next, error }]).await
}

async fn insert_claim_record_and_counts(s: &dyn Store) {
    let r = s.insert(&[event("e1", None, 2), event("e2", None, 1)], 1_000).await.expect("insert");
    assert_eq!(r, [Inserted::New, Inserted::New]);
    assert_eq!(s.counts().await.expect("counts").pending, 3);

    let claimed = s.claim(1_000, LEASE, "w1", &any(10)).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    // Leased rows are not claimed twice while the lease holds, and are after it expires.
    assert!(s.claim(1_001, LEASE, "w2", &any(10)).await.expect("claim").is_empty());
    let reclaimed = s.claim(61_001, LEASE, "w2", &any(10)).await.expect("claim");
    assert_eq!(reclaimed.len(), 3);
    assert!(reclaimed.iter().all(|r| claimed.iter().any(|c| c.id == r.id && r.token == c.token + 1)));

    // The current holder (w2) records.
    let c = reclaimed.iter().find(|r| r.id == claimed[0].id).expect("same delivery");
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
    assert!(s.claim(6_999, LEASE, "w1", &any(10)).await.expect("claim").iter().all(|x| x.id != c.id));
    s.release_stale_leases().await.expect("release");
    let again = s.claim(7_000, LEASE, "w1", &any(10)).await.expect("claim");
    let c = again.iter().find(|x| x.id == c.id && x.attempts == 1).expect("due again");
    assert_eq!(
        record(s, c, attempt(200), NextState::Delivered, None).await.expect("record"),
        Vec::<i64>::new()
    );
    assert_eq!(s.counts().await.expect("counts").delivered, 1);
}

async fn claims_for_some_destinations_and_release_gives_back(s: &dyn Store) {
    s.insert(&[event("e1", None, 2)], 1_000).await.expect("insert");
    let only = [want("mail", 10), want("sms", 10)];
    let claimed = s.claim(1_000, LEASE, "w", &only).await.expect("claim");
    assert_eq!(claimed.iter().map(|c| c.destination.as_str()).collect::<Vec<_>>(), ["mail"]);
    let next = s.claim(1_000, LEASE, "w", &any(10)).await.expect("claim");
    assert_eq!(next.iter().map(|c| c.destination.as_str()).collect::<Vec<_>>(), ["slack"]);
    s.release(&[Lease { id: claimed[0].id, token: claimed[0].token + 1 }]).await.expect("release");
    assert!(
        s.claim(1_001, LEASE, "w", &any(10)).await.expect("claim").is_empty(),
        "a stale release does nothing"
    );
    s.release(&[claimed[0].lease()]).await.expect("release");
    let again = s.claim(1_001, LEASE, "w", &any(10)).await.expect("claim");
    assert_eq!(
        again.iter().map(|c| c.destination.as_str()).collect::<Vec<_>>(),
        ["mail"],
        "released, due again"
    );
    s.insert(&[event("e2", None, 2), event("e3", None, 1)], 2_000).await.expect("insert");
    assert_eq!(
        s.claim(2_000, LEASE, "w", &[want("slack", 1), want("mail", 0)]).await.expect("claim").len(),
        1,
        "each destination's room holds"
    );
    assert_eq!(s.claim(2_000, LEASE, "w", &any(10)).await.expect("claim").len(), 2, "the others");
    assert!(s.claim(2_000, LEASE, "w", &[want("crm", 10)]).await.expect("claim").is_empty());
}

fn ok_attempt(at: i64) -> AttemptRecord {
    AttemptRecord {
        attempted_at: at,
        status_code: Some(200),
        latency_ms: 1,
        error: None,
        response_excerpt: None,
    }
}

/// Fencing: w1 claims, its lease expires, w2 claims; w1's late writes change nothing, whether they
/// come before or after w2 delivered, and leave w2's lease alone.
async fn a_late_record_after_a_reclaim_changes_nothing(s: &dyn Store) {
    s.insert(&[event("e1", None, 1)], 1_000).await.expect("insert");
    let w1 = s.claim(1_000, LEASE, "w1", &any(10)).await.expect("claim").remove(0);
    let w2 = s.claim(61_001, LEASE, "w2", &any(10)).await.expect("claim").remove(0);
    assert_eq!((w2.id, w2.token), (w1.id, w1.token + 1));

    let late = record(s, &w1, ok_attempt(62_000), NextState::Retry { at: 62_000 }, Some("HTTP 503".into()));
    assert_eq!(late.await.expect("record"), [w1.id], "stale");
    s.release(&[w1.lease()]).await.expect("release");
    assert!(s.claim(62_001, LEASE, "w3", &any(10)).await.expect("claim").is_empty(), "w2's lease untouched");
    assert_eq!(s.renew(&[w2.lease()], 130_000).await.expect("renew"), [w2.id], "and still w2's");

    assert!(record(s, &w2, ok_attempt(63_000), NextState::Delivered, None).await.expect("record").is_empty());
    let late = record(s, &w1, ok_attempt(64_000), NextState::Dead, Some("HTTP 400".into()));
    assert_eq!(late.await.expect("record"), [w1.id], "stale");
    let rows = s.list(Filter::default()).await.expect("list");
    assert_eq!((rows[0].status.as_str(), rows[0].attempts, rows[0].history.len()), ("delivered", 1, 1));
    assert_eq!(rows[0].last_error, None);
}

/// Renewal extends the leases still held, in one call, and reports the ones lost.
async fn renewal_keeps_leases_and_reports_lost_ones(s: &dyn Store) {
    s.insert(&[event("e1", None, 2)], 1_000).await.expect("insert");
    let mine = s.claim(1_000, LEASE, "w1", &any(10)).await.expect("claim");
    let leases: Vec<Lease> = mine.iter().map(Claimed::lease).collect();
    let mut renewed = s.renew(&leases, 110_000).await.expect("renew");
    renewed.sort_unstable();
    assert_eq!(renewed, mine.iter().map(|c| c.id).collect::<Vec<_>>());
    assert!(s.claim(61_001, LEASE, "w2", &any(10)).await.expect("claim").is_empty(), "renewed past 61 s");
    let theirs = s.claim(110_001, LEASE, "w2", &any(10)).await.expect("claim");
    assert_eq!(theirs.len(), 2, "expired after the renewed time");
    assert!(s.renew(&leases, 200_000).await.expect("renew").is_empty(), "lost: w2 holds them");
}

/// A reload that drops a destination holds its queued deliveries; they resume when it is back.
async fn deliveries_of_a_removed_destination_are_held_until_it_is_back(s: &dyn Store) {
    s.insert(&[event("e1", None, 2)], 1_000).await.expect("insert");
    assert_eq!(s.hold(&["slack".into()], "v2", 2_000).await.expect("hold"), Held { held: 1, resumed: 0 });
    assert_eq!(s.counts().await.expect("counts").held, 1);
    let held = s.list(Filter { status: Some(Status::Held), ..Filter::default() }).await.expect("list");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].destination, "mail");
    assert!(held[0].last_error.as_deref().is_some_and(|e| e.contains("rules version v2")), "{held:?}");
    let claimed = s.claim(2_000, LEASE, "w", &any(10)).await.expect("claim");
    assert_eq!(
        claimed.iter().map(|c| c.destination.as_str()).collect::<Vec<_>>(),
        ["slack"],
        "held: not claimed"
    );
    assert_eq!(s.hold(&["slack".into()], "v2", 2_500).await.expect("hold"), Held::default(), "idempotent");
    let back = s.hold(&["slack".into(), "mail".into()], "v3", 3_000).await.expect("hold");
    assert_eq!(back, Held { held: 0, resumed: 1 });
    let claimed = s.claim(3_000, LEASE, "w", &any(10)).await.expect("claim");
    assert_eq!(claimed.iter().map(|c| c.destination.as_str()).collect::<Vec<_>>(), ["mail"]);
    assert_eq!(claimed[0].attempts, 0);
    let stats = s.destination_stats(0, 0).await.expect("stats");
    assert!(stats.iter().all(|d| d.held == 0), "{stats:?}");
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
    let claimed = s.claim(2_000, LEASE, "w", &any(10)).await.expect("claim");
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
    let claimed = s.claim(1_000, LEASE, "w", &any(10)).await.expect("claim");
    let (done, open) = (&claimed[0], &claimed[1]);
    let ok = AttemptRecord {
        attempted_at: 2_000,
        status_code: Some(200),
        latency_ms: 1,
        error: None,
        response_excerpt: None,
    };
    record(s, done, ok, NextState::Delivered, None).await.expect("record");
    s.release(&[open.lease()]).await.expect("release");

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
    for c in s.claim(1_000, LEASE, "w", &any(10)).await.expect("claim") {
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
    let claimed = s.claim(1_000, LEASE, "w", &any(10)).await.expect("claim");
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

async fn nul_in_a_recorded_answer_is_replaced(s: &dyn Store) {
    s.insert(&[event("e1", None, 1)], 1_000).await.expect("insert");
    let c = s.claim(1_000, LEASE, "w1", &any(10)).await.expect("claim").remove(0);
    let attempt = AttemptRecord {
        attempted_at: 2_000,
        status_code: Some(500),
        latency_ms: 5,
        error: Some("HTTP 500: bad\0answer".into()),
        response_excerpt: Some("bad\0answer".into()),
    };
    record(s, &c, attempt, NextState::Retry { at: 7_000 }, Some("HTTP 500: bad\0answer".into()))
        .await
        .expect("a NUL in an answer never fails the record");
    let rows =
        s.list(Filter { event_id: Some(c.event_id.clone()), ..Filter::default() }).await.expect("list");
    let a = &rows[0].history[0];
    assert_eq!(a.response_excerpt.as_deref(), Some("bad\u{fffd}answer"));
    assert_eq!(a.error.as_deref(), Some("HTTP 500: bad\u{fffd}answer"));
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
    a_late_record_after_a_reclaim_changes_nothing,
    renewal_keeps_leases_and_reports_lost_ones,
    deliveries_of_a_removed_destination_are_held_until_it_is_back,
    claims_for_some_destinations_and_release_gives_back,
    dedup_within_the_window_only,
    template_failures_are_stored_dead_and_replay_starts_a_new_series,
    a_delivered_delivery_is_replayed_only_with_force,
    prune_keeps_unfinished_and_dead_events,
    inspection_lists_filter_page_and_summarise,
    nul_in_a_recorded_answer_is_replaced
);

/// On PostgreSQL the claim holds a destination's rate (an evenly refilled bucket, bursts of one
/// below 10/s) and concurrency (live leases) for every instance together.
#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn postgres_claims_hold_rate_and_concurrency_for_the_fleet() {
    let db = crate::store::test_database::TestDatabase::create().await;
    let s = PostgresStore::open(db.url()).await.expect("open");
    let events: Vec<NewEvent> = (0..10).map(|i| event(&format!("e{i}"), None, 1)).collect();
    s.insert(&events, 1_000).await.expect("insert");
    let rate = crate::policy::Rate::parse("2/s").expect("rate");
    let limited = |room| Want {
        destination: "slack".into(),
        room,
        limits: crate::policy::Limits { concurrency: 3, rate: Some(rate) },
    };
    let n = |v: Vec<Claimed>| v.len();
    assert_eq!(n(s.claim(1_000, LEASE, "a", &[limited(10)]).await.expect("claim")), 1, "a burst of one");
    assert_eq!(
        n(s.claim(1_100, LEASE, "b", &[limited(10)]).await.expect("claim")),
        0,
        "another instance waits"
    );
    assert_eq!(n(s.claim(1_500, LEASE, "b", &[limited(10)]).await.expect("claim")), 1, "500 ms later: one");
    assert_eq!(n(s.claim(2_000, LEASE, "c", &[limited(10)]).await.expect("claim")), 1);
    assert_eq!(
        n(s.claim(9_000, LEASE, "a", &[limited(10)]).await.expect("claim")),
        0,
        "3 leased: concurrency 3"
    );
    let unlimited = Want { limits: crate::policy::Limits { concurrency: 5, rate: None }, ..limited(10) };
    assert_eq!(n(s.claim(9_000, LEASE, "a", &[unlimited]).await.expect("claim")), 2, "5 in flight at most");
}

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

/// Thread records (issue 15).
#[path = "thread_tests.rs"]
mod thread_cases;

/// Operator-event episodes (issue 16).
#[path = "episode_tests.rs"]
mod episode_cases;
