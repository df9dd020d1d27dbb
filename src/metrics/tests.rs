//! Rendering of counters, histograms and gauges.

use super::*;

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[test]
fn counts_render_with_labels_and_escaping() {
    let m = Metrics::new();
    m.received("house-check", "order.updated", Received::Accepted);
    m.received("house-check", "order.updated", Received::Accepted);
    m.received("house-check", "", Received::Rejected(Rejection::Signature));
    m.rules_matched(["ready", "ready", "odd\"name"]);
    let text = m.render(&Gauges { rules_version: "abc".into(), ..Gauges::default() });
    assert_eq!(
        line(&text, "hookroute_events_received_total{source=\"house-check\",type=\"order.updated\""),
        Some(
            "hookroute_events_received_total{source=\"house-check\",type=\"order.updated\",outcome=\"accepted\",reason=\"\"} 2"
        )
    );
    assert!(text.contains("outcome=\"rejected\",reason=\"signature\"} 1"), "{text}");
    assert!(text.contains("hookroute_rule_matches_total{rule=\"ready\"} 2"), "{text}");
    assert!(text.contains("hookroute_rule_matches_total{rule=\"odd\\\"name\"} 1"), "{text}");
    assert!(text.contains("hookroute_rules_info{version=\"abc\"} 1"), "{text}");
    assert!(text.contains("# TYPE hookroute_events_received_total counter"));
}

#[test]
fn histogram_buckets_are_cumulative() {
    let m = Metrics::new();
    m.attempt("slack", DeliveryOutcome::Delivered, Some(Duration::from_millis(3)));
    m.attempt("slack", DeliveryOutcome::Retried, Some(Duration::from_millis(300)));
    m.attempt("slack", DeliveryOutcome::Dead, None);
    m.attempt("slack", DeliveryOutcome::Retried, Some(Duration::from_secs(60)));
    let text = m.render(&Gauges::default());
    let bucket = |le: &str| {
        line(
            &text,
            &format!(
                "hookroute_delivery_attempt_duration_seconds_bucket{{destination=\"slack\",le=\"{le}\"}}"
            ),
        )
        .and_then(|l| l.rsplit(' ').next())
        .map(str::to_owned)
    };
    assert_eq!(bucket("0.005").as_deref(), Some("1"));
    assert_eq!(bucket("0.25").as_deref(), Some("1"));
    assert_eq!(bucket("0.5").as_deref(), Some("2"));
    assert_eq!(bucket("30").as_deref(), Some("2"));
    assert_eq!(bucket("+Inf").as_deref(), Some("3"));
    assert!(text.contains("hookroute_delivery_attempt_duration_seconds_count{destination=\"slack\"} 3"));
    assert!(text.contains("hookroute_deliveries_total{destination=\"slack\",outcome=\"retried\"} 2"));
    assert!(text.contains("hookroute_deliveries_total{destination=\"slack\",outcome=\"dead\"} 1"));
}

#[test]
fn gauges_render() {
    let g = Gauges {
        queue_depth: Some(7),
        queue_oldest_age: Some(Duration::from_millis(1500)),
        stored: vec![("dead", 2)],
        reloads: vec![("rejected", 1)],
        last_reload_successful: false,
        ..Gauges::default()
    };
    let text = Metrics::new().render(&g);
    assert!(text.contains("\nhookroute_delivery_queue_depth 7\n"), "{text}");
    assert!(text.contains("\nhookroute_delivery_queue_oldest_age_seconds 1.5\n"), "{text}");
    assert!(text.contains("hookroute_deliveries_stored{status=\"dead\"} 2"));
    assert!(text.contains("hookroute_config_reloads_total{outcome=\"rejected\"} 1"));
    assert!(text.contains("\nhookroute_config_last_reload_successful 0\n"));
}

#[test]
fn distinct_event_types_are_capped_then_counted_as_other() {
    let m = Metrics::new();
    for n in 0..MAX_TYPE_LABELS + 500 {
        m.received("house-check", &format!("invented.{n}"), Received::Accepted);
    }
    // A type already counted keeps its own series after the cap.
    m.received("house-check", "invented.0", Received::Accepted);
    let text = m.render(&Gauges::default());
    let series = text.lines().filter(|l| l.starts_with("hookroute_events_received_total{")).count();
    assert_eq!(series, MAX_TYPE_LABELS + 1, "the named types and one `other`");
    assert!(text.contains("type=\"other\",outcome=\"accepted\",reason=\"\"} 500"), "{text}");
    assert!(text.contains("type=\"invented.0\",outcome=\"accepted\",reason=\"\"} 2"));
    assert!(!text.contains("invented.1000\""));
}
