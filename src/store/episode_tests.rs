//! Operator-event episodes (issue 16) against a real SQLite file and PostgreSQL database: the
//! statement that opens or closes an episode is the one decision a fleet shares.

use super::*;

/// Operator events (issue 16): an episode is opened by one call and closed by one call, however
/// many ask; and the delivery due the longest is found with its destination.
async fn episodes_open_and_close_once_and_the_oldest_due_delivery(s: &dyn Store) {
    assert_eq!(s.close_episode("destination.failing:crm", 5).await.expect("close"), None, "none open");
    assert_eq!(s.open_episode("destination.failing:crm", 100, 400).await.expect("open"), Some(100));
    assert_eq!(
        s.open_episode("destination.failing:crm", 150, 450).await.expect("open"),
        None,
        "already open"
    );
    assert_eq!(s.open_episode("queue.stale", 7, 450).await.expect("another subject"), Some(7));
    assert_eq!(s.close_episode("destination.failing:crm", 900).await.expect("close"), Some(100));
    assert_eq!(s.close_episode("destination.failing:crm", 901).await.expect("close"), None, "closed once");
    assert_eq!(s.open_episode("destination.failing:crm", 1000, 1200).await.expect("reopen"), Some(1000));

    assert_eq!(s.oldest_due(0).await.expect("oldest"), None);
    let mut later = event("e-later", None, 1);
    later.deliveries[0].due_at = Some(5_000);
    s.insert(&[later, event("e-now", None, 2)], 1_000).await.expect("insert");
    let (destination, due) = s.oldest_due(2_000).await.expect("oldest").expect("one is due");
    assert_eq!(due, 1_000);
    assert!(["slack", "mail"].contains(&destination.as_str()), "{destination}");
    let claimed = s.claim(2_000, LEASE, "w", &any(10)).await.expect("claim");
    for c in &claimed {
        record(s, c, ok_attempt(2_100), NextState::Delivered, None).await.expect("record");
    }
    assert_eq!(s.oldest_due(3_000).await.expect("oldest"), None, "delivered ones are not due");
    assert_eq!(s.oldest_due(6_000).await.expect("oldest"), Some(("slack".to_owned(), 5_000)));
}

both_stores!(episodes_open_and_close_once_and_the_oldest_due_delivery);
