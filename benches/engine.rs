//! Hot-path costs: signature check, routing with 10 to 100 000 rules, rules-file compilation and
//! template rendering, on the generated rules files of `bench/rulegen.rs`. Run with
//! `cargo bench --bench engine` (or a filter: `cargo bench --bench engine -- route/10000`).
//! `bench/run` measures the same files through `hookroute-bench-peer rules-stats` (scenario 2).

#[path = "../bench/rulegen.rs"]
mod rulegen;

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

use rulegen::{EVENT, EVENT_TYPE, HIT_RULE, SOURCE};

const RECEIVED_AT: &str = "2026-05-20T10:00:00Z";

/// Rule counts for routing and compilation: the generated mix of `bench/rulegen.rs` (the files
/// `bench/run` measures in its scenario 2).
const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];

fn rules_yaml(n: usize) -> String {
    rulegen::rules_yaml(n, 1, "http://127.0.0.1:9")
}

/// The generated file of `n` rules, compiled; `None` (and a note) when hookroute refuses it, so the
/// other sizes are still measured.
fn compile(n: usize) -> Option<Config> {
    let text = rules_yaml(n);
    match compile_text(&text, "bench.yaml") {
        Ok((config, _warnings)) => {
            assert_eq!(config.rules.len(), n, "every generated rule compiled");
            Some(config)
        }
        Err(d) => {
            eprintln!("{n} rules: skipped, the generated file does not compile:\n{d}");
            None
        }
    }
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
    for n in SIZES {
        let Some(config) = compile(n) else { continue };
        let fired: Vec<&str> =
            config.rules.matching(SOURCE, EVENT_TYPE, &body).iter().map(|r| r.name.as_str()).collect();
        assert_eq!(fired, [HIT_RULE], "exactly one rule fires on the benchmark event");
        group.bench_with_input(BenchmarkId::from_parameter(n), &config, |b, config| {
            b.iter(|| config.rules.matching(black_box(SOURCE), black_box(EVENT_TYPE), black_box(&body)).len())
        });
    }
    group.finish();
}

fn compile_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    for n in SIZES {
        let text = rules_yaml(n);
        if compile_text(&text, "bench.yaml").is_err() {
            eprintln!("compile/{n}: skipped, the generated file does not compile (see route/{n})");
            continue;
        }
        if n >= 100_000 {
            // A compile takes seconds here: ten samples of one iteration each.
            group.measurement_time(Duration::from_secs(60));
        }
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
    let slack = Action {
        destination: "ops-slack".into(),
        plan: Plan::Slack { text: Some(text), blocks: None },
        hours: None,
        thread: None,
        update_parent: false,
        reply_broadcast: false,
    };
    let ctx = RenderContext::new(EVENT_TYPE, &body, SOURCE, RECEIVED_AT);
    let incoming = Incoming { raw_body: &raw, content_type: Some("application/json"), ctx: &ctx };
    slack.render(&templates, &incoming).expect("the slack action renders");
    c.bench_function("render/slack_text", |b| {
        b.iter(|| slack.render(black_box(&templates), black_box(&incoming)))
    });

    // The whole pure path on the 10-rule config: match, build the context, render every action.
    let config = compile(10).expect("the 10-rule file compiles");
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
