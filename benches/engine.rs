//! Hot-path costs: signature check, routing with growing rule counts, rules-file compilation and
//! template rendering. Run with `cargo bench --bench engine`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hookroute::actions::{Action, Incoming, Plan};
use hookroute::config::{Config, compile_text};
use hookroute::route::{ParsedEvent, plan};
use hookroute::secret::Secret;
use hookroute::template::{RenderContext, Templates};
use hookroute::verify::HmacSha256;
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

const SOURCE: &str = "house-check";
const EVENT_TYPE: &str = "order.updated";
const RECEIVED_AT: &str = "2026-05-20T10:00:00Z";

/// A House Check event of about 300 bytes that the `order-ready-to-schedule` rule fires on.
const EVENT: &str = r#"{"type":"order.updated","id":"evt_01J9Z3K7Q8W2X5Y6Z7A8B9C0D1","created_at":"2026-05-20T09:59:58Z","payload":{"id":9001,"status":"to schedule","address":"12 Elm Street, Springfield","customer":"Acme Realty","inspector":"J. Doe","scheduled_for":null,"tags":["urgent","residential"],"notes":"Side entrance; call ahead."}}"#;

/// A rules file with `n` rules: one that fires on the benchmark event, then rules spread over 50
/// event types (`type.0` … `type.49`) with one glob rule (`order.*`) every 500 from rule 5 on. The
/// glob rules are candidates for the benchmark event but their conditions do not hold.
fn rules_yaml(n: usize) -> String {
    let mut text = String::with_capacity(160 * n + 1024);
    text.push_str(concat!(
        "sources:\n",
        "  house-check:\n",
        "    verify:\n",
        "      scheme: hmac-sha256\n",
        "      header: signature\n",
        "      secrets: [\"bench-secret\"]\n",
        "destinations:\n",
        "  console:\n",
        "    type: log\n",
        "rules:\n",
        "  - name: order-ready-to-schedule\n",
        "    source: house-check\n",
        "    events: [\"order.updated\", \"order.update\"]\n",
        "    when:\n",
        "      path: \"$.payload.status\"\n",
        "      equals: \"to schedule\"\n",
        "    actions:\n",
        "      - to: console\n",
        "        text: \"Order {{ payload.id }} for {{ payload.customer }} is ready to schedule\"\n",
    ));
    for i in 1..n {
        let events = if i % 500 == 5 { "[\"order.*\"]".to_owned() } else { format!("[\"type.{}\"]", i % 50) };
        text.push_str(&format!(
            concat!(
                "  - name: rule-{i}\n",
                "    events: {events}\n",
                "    when:\n",
                "      path: \"$.payload.status\"\n",
                "      equals: \"s{i}\"\n",
                "    actions:\n",
                "      - to: console\n",
                "        text: \"rule {i}: order {{{{ payload.id }}}}\"\n",
            ),
            i = i,
            events = events,
        ));
    }
    text
}

fn compile(n: usize) -> Config {
    let text = rules_yaml(n);
    let (config, _warnings) = compile_text(&text, "bench.yaml")
        .unwrap_or_else(|d| panic!("the generated rules file compiles:\n{d}"));
    assert_eq!(config.rules.len(), n, "every generated rule compiled");
    config
}

fn event_body() -> Value {
    serde_json::from_str(EVENT).expect("the benchmark event is JSON")
}

fn verify(c: &mut Criterion) {
    let secret = "s";
    let verifier = HmacSha256::new("signature", &[Secret::new(secret)]).expect("a valid verifier");
    let body: Vec<u8> =
        (0..1024u32).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i % 36) as usize]).collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        "signature",
        HeaderValue::from_str(&hookroute::sign_hex(secret, &body)).expect("hex is a header value"),
    );
    verifier.verify(&headers, &body).expect("the signature is valid");
    c.bench_function("verify/hmac_1KiB", |b| {
        b.iter(|| verifier.verify(black_box(&headers), black_box(&body)))
    });
}

fn route(c: &mut Criterion) {
    let body = event_body();
    let mut group = c.benchmark_group("route");
    for n in [10usize, 1000, 10000] {
        let config = compile(n);
        let fired = config.rules.matching(SOURCE, EVENT_TYPE, &body);
        assert_eq!(fired.len(), 1, "exactly one rule fires on the benchmark event");
        group.bench_with_input(BenchmarkId::from_parameter(n), &config, |b, config| {
            b.iter(|| config.rules.matching(black_box(SOURCE), black_box(EVENT_TYPE), black_box(&body)).len())
        });
    }
    group.finish();
}

fn compile_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for n in [1000usize, 10000] {
        let text = rules_yaml(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| compile_text(black_box(text), "bench.yaml").map(|(c, _)| c.rules.len()))
        });
    }
    group.finish();
}

fn render(c: &mut Criterion) {
    let body = event_body();
    let raw = Bytes::from_static(EVENT.as_bytes());

    // A Slack action with a text template, rendered against a prepared context.
    let mut templates = Templates::default();
    let text = templates
        .text(
            "rules[0].actions[0].text",
            "Order {{ payload.id }} at {{ payload.address }} is ready to schedule",
        )
        .expect("the template compiles");
    let slack =
        Action { destination: "ops-slack".into(), plan: Plan::Slack { text: Some(text), blocks: None } };
    let ctx = RenderContext::new(EVENT_TYPE, &body, SOURCE, RECEIVED_AT);
    let incoming = Incoming { raw_body: &raw, content_type: Some("application/json"), ctx: &ctx };
    slack.render(&templates, &incoming).expect("the slack action renders");
    c.bench_function("render/slack_text", |b| {
        b.iter(|| slack.render(black_box(&templates), black_box(&incoming)))
    });

    // The whole pure path on the 10-rule config: match, build the context, render every action.
    let config = compile(10);
    let event = ParsedEvent {
        source: SOURCE,
        event_type: EVENT_TYPE,
        body: &body,
        raw_body: &raw,
        content_type: Some("application/json"),
        received_at: RECEIVED_AT,
        headers: None,
    };
    let planned = plan(&config, &event);
    assert_eq!(planned.len(), 1, "one action is planned");
    assert!(planned[0].request.is_ok(), "the planned action renders");
    c.bench_function("route_and_render/plan", |b| {
        b.iter(|| plan(black_box(&config), black_box(&event)).len())
    });
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = verify, route, compile_bench, render
}
criterion_main!(benches);
