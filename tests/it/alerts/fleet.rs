//! hookroute's own events from a fleet on PostgreSQL: each transition reported once (issue 16).

use crate::support::{App, Receiver, Reply, WAIT, assert_quiet};

use super::{fast, metrics, order, own_rules, stored_own, types};

/// The `hookroute_deliveries_total` sample of `destination` and `outcome` in a scrape.
fn deliveries_counted(metrics: &str, destination: &str, outcome: &str) -> u64 {
    let prefix =
        format!("hookroute_deliveries_total{{destination=\"{destination}\",outcome=\"{outcome}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn a_fleet_reports_each_transition_once() {
    let db = crate::test_database::TestDatabase::create().await;
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    crm.set_default(Reply(500, None, "down"));
    let rules =
        own_rules(&crm.url, &ops.url, "{failing_after: 2s}", "{schedule: [200ms], max_attempts: 1000}", "");
    let a = App::start_own_events(&rules, Some(db.url().to_owned()), fast()).await;
    let b = App::start_own_events(&rules, Some(db.url().to_owned()), fast()).await;
    for i in 0..8 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(app.post_event(order(i)).await, 202);
    }
    let got = ops.wait_for(1, WAIT).await;
    assert_eq!(types(&got), ["hookroute.destination.failing"]);
    // Both instances saw crm fail (each retried some of its deliveries), one reported it.
    crate::support::eventually("both instances retrying crm", || async {
        let (ma, mb) = (metrics(&a).await, metrics(&b).await);
        (deliveries_counted(&ma, "crm", "retried") > 0 && deliveries_counted(&mb, "crm", "retried") > 0)
            .then_some(())
    })
    .await;
    assert_quiet(&ops, 1).await;
    let reported =
        |m: &str| m.contains("hookroute_own_events_total{type=\"hookroute.destination.failing\"} 1");
    let (ma, mb) = (metrics(&a).await, metrics(&b).await);
    assert!(reported(&ma) ^ reported(&mb), "exactly one instance reported:\n{ma}\n{mb}");
    // The other one saw the same transition and found it reported (the store said so).
    let other = if reported(&ma) { &mb } else { &ma };
    assert!(other.contains("hookroute_own_events_suppressed_total{reason=\"duplicate\"} 1"), "{other}");

    crm.set_default(Reply(200, None, "ok"));
    let got = ops.wait_for(2, WAIT).await;
    assert_eq!(types(&got), ["hookroute.destination.failing", "hookroute.destination.recovered"]);
    assert_quiet(&ops, 2).await;

    // Both instances read the same broken file (each its own copy): one event.
    let broken = rules.replace("      - to: crm\n", "      - to: crn\n");
    std::fs::write(&a.rules_path, &broken).expect("write a");
    std::fs::write(&b.rules_path, &broken).expect("write b");
    let got = ops.wait_for(3, WAIT).await;
    assert_eq!(types(&got)[2], "hookroute.reload.rejected");
    crate::support::eventually("both instances rejected the file", || async {
        let both =
            [&a, &b].iter().all(|app| app.reloader.last_report().is_some_and(|r| r.outcome == "rejected"));
        both.then_some(())
    })
    .await;
    assert_quiet(&ops, 3).await;
    let mut stored = stored_own(&a).await;
    stored.sort();
    assert_eq!(
        stored,
        ["hookroute.destination.failing", "hookroute.destination.recovered", "hookroute.reload.rejected"]
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL on 127.0.0.1:5432"]
async fn a_fleet_summarises_dead_deliveries_without_losing_count() {
    let db = crate::test_database::TestDatabase::create().await;
    let (crm, ops) = (Receiver::start().await, Receiver::start().await);
    crm.set_default(Reply(500, None, "down"));
    let rules = own_rules(&crm.url, &ops.url, "{failing_after: 1h}", "{max_attempts: 1}", "");
    let options =
        hookroute::alerts::OwnEventOptions { summary_window: std::time::Duration::from_secs(2), ..fast() };
    let a = App::start_own_events(&rules, Some(db.url().to_owned()), options.clone()).await;
    let b = App::start_own_events(&rules, Some(db.url().to_owned()), options).await;
    for i in 0..6 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(app.post_event(order(i)).await, 202);
    }
    // Both instances saw deaths; a report another instance beat is carried into the next window.
    let mut reports = Vec::new();
    crate::support::eventually("all six deaths reported", || {
        reports = super::own(&ops.got());
        let counted: u64 = reports.iter().map(|(_, p)| p["count"].as_u64().unwrap_or(0)).sum();
        std::future::ready((counted == 6).then_some(()))
    })
    .await;
    assert!(reports.iter().all(|(t, _)| t == "hookroute.delivery.dead"), "{reports:?}");
    let (ma, mb) = (metrics(&a).await, metrics(&b).await);
    let dead = |m: &str| deliveries_counted(m, "crm", "dead");
    assert_eq!(dead(&ma) + dead(&mb), 6);
    crate::support::report(format_args!(
        "deaths: {} on one instance, {} on the other; {} report(s)",
        dead(&ma),
        dead(&mb),
        reports.len()
    ));
    // Deaths within two windows, two instances: at most one report per window, four windows.
    assert!(reports.len() <= 4, "{reports:?}");
    let n = reports.len();
    assert_quiet(&ops, n).await;
}
