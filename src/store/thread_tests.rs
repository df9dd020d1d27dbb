//! Thread records (`thread:`) against a real SQLite file and PostgreSQL database: one opener per
//! key, replies deferred in the store until the opener is recorded, a dead opener handing on.

use super::*;

fn key(k: &str) -> ThreadId {
    ThreadId { destination: "slack".into(), key: k.into() }
}

/// Three events with one `slack` delivery each, all claimed at `now`.
async fn three_claimed(s: &dyn Store, now: i64) -> Vec<Claimed> {
    let events = [event("e1", None, 1), event("e2", None, 1), event("e3", None, 1)];
    s.insert(&events, now).await.expect("insert");
    let mut claimed = s.claim(now, LEASE, "w", &[want("slack", 10)]).await.expect("claim");
    claimed.sort_by_key(|c| c.id);
    assert_eq!(claimed.len(), 3);
    claimed
}

async fn an_opener_per_key_and_replies_wait_for_it(s: &dyn Store) {
    let now = 10_000;
    let c = three_claimed(s, now).await;
    assert_eq!(s.thread_place(&key("k"), c[0].lease(), now).await.expect("place"), ThreadPlace::Opener);
    assert_eq!(
        s.thread_place(&key("k"), c[0].lease(), now).await.expect("place"),
        ThreadPlace::Opener,
        "the opener placed again (a retry) still opens"
    );
    let waits = s.thread_place(&key("k"), c[1].lease(), now).await.expect("place");
    let ThreadPlace::Wait { until, opener } = waits else { panic!("the second waits: {waits:?}") };
    assert_eq!(opener, c[0].id);
    assert!(until >= now + 1_000, "{until}");
    assert_eq!(s.thread_place(&key("other"), c[2].lease(), now).await.expect("place"), ThreadPlace::Opener);
    assert!(
        s.claim(now + 1, LEASE, "w", &[want("slack", 10)]).await.expect("claim").is_empty(),
        "the waiting reply is not due before its opener is recorded"
    );
    assert!(
        s.thread_opened(&key("k"), c[0].id, r#"{"channel":"C1","ts":"1.1"}"#, now + 5).await.expect("opened")
    );
    let woken = s.claim(now + 5, LEASE, "w", &[want("slack", 10)]).await.expect("claim");
    assert_eq!(woken.iter().map(|d| d.id).collect::<Vec<_>>(), [c[1].id], "recording the opener wakes it");
    assert_eq!(
        s.thread_place(&key("k"), woken[0].lease(), now + 5).await.expect("place"),
        ThreadPlace::Reply { reference: r#"{"channel":"C1","ts":"1.1"}"#.into() }
    );
    s.thread_replied(&key("k"), woken[0].id, now + 6).await.expect("replied");
    let rows = s.threads_of_event("e2").await.expect("threads");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].role.as_str(), rows[0].messages, rows[0].opener_delivery_id),
        ("reply", Some(2), Some(c[0].id))
    );
    assert_eq!(s.threads_of_event("e1").await.expect("threads")[0].role, "opener");
    assert_eq!(s.prune_threads(now + 6).await.expect("prune"), 1, "`other` had no message since");
    assert_eq!(s.prune_threads(now + 7).await.expect("prune"), 1, "then `k`");
    let gone = s.threads_of_event("e2").await.expect("threads");
    assert_eq!(
        (gone[0].role.as_str(), gone[0].opener_delivery_id),
        ("reply", None),
        "the delivery keeps its part"
    );
}

async fn a_dead_opener_hands_the_thread_on(s: &dyn Store) {
    let now = 10_000;
    let c = three_claimed(s, now).await;
    assert_eq!(s.thread_place(&key("k"), c[0].lease(), now).await.expect("place"), ThreadPlace::Opener);
    assert!(matches!(
        s.thread_place(&key("k"), c[1].lease(), now).await.expect("place"),
        ThreadPlace::Wait { .. }
    ));
    record(s, &c[0], ok_attempt(now), NextState::Dead, Some("slack: channel_not_found".into()))
        .await
        .expect("record");
    assert!(s.thread_abandoned(&key("k"), c[0].id, now + 1).await.expect("abandoned"));
    let woken = s.claim(now + 1, LEASE, "w", &[want("slack", 10)]).await.expect("claim");
    assert_eq!(woken.iter().map(|d| d.id).collect::<Vec<_>>(), [c[1].id]);
    assert_eq!(
        s.thread_place(&key("k"), woken[0].lease(), now + 1).await.expect("place"),
        ThreadPlace::Opener
    );
    // An opener that ended without recording anything (dead, no abandon) is taken over too.
    record(s, &woken[0], ok_attempt(now + 2), NextState::Dead, None).await.expect("record");
    assert_eq!(s.thread_place(&key("k"), c[2].lease(), now + 3).await.expect("place"), ThreadPlace::Opener);
}

both_stores!(an_opener_per_key_and_replies_wait_for_it, a_dead_opener_hands_the_thread_on);
