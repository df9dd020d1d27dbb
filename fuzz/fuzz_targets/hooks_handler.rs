//! The whole `/hooks` handler (real router, real SQLite store in a temp file): arbitrary headers
//! and body never make a 5xx other than 503 (load shedding / store), nor a panic.
#![no_main]

use std::sync::{Arc, LazyLock};

use hookroute::config::compile_text_with_env;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const RULES: &str = r#"
sources:
  hc: {verify: {scheme: none}, dedup: false}
  signed: {verify: {scheme: hmac-sha256, secrets: ["s3cret"]}}
destinations: {log: {type: log}}
rules:
  - name: r
    when: {path: "$.payload.status", equals: "to schedule"}
    actions: [{to: log, text: "order {{ payload.id }}"}]
"#;

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let router = runtime.block_on(async {
        let (config, _) = compile_text_with_env(RULES, "fuzz.yaml", &|_| None).expect("rules");
        let dir = std::env::temp_dir().join(format!("hookroute-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let url = format!("sqlite://{}?synchronous=normal", dir.join("fuzz.db").display());
        let store = hookroute::store::open(&url).await.expect("store");
        let (ingest, _committer) = hookroute::deliver::Ingest::start(Arc::clone(&store), Arc::default());
        hookroute::server::router(hookroute::server::AppState::new(
            Arc::new(arc_swap_like(config)),
            ingest,
            store,
            Arc::new(hookroute::metrics::Metrics::new()),
        ))
    });
    Harness { runtime, router }
});

fn arc_swap_like(config: hookroute::config::Config) -> arc_swap::ArcSwap<hookroute::config::Config> {
    arc_swap::ArcSwap::from_pointee(config)
}

fuzz_target!(|data: &[u8]| {
    // First byte: source and content type; then NUL-separated signature header and body.
    let (source, content_type) = match data.first().copied().unwrap_or(0) % 6 {
        0 => ("hc", "application/json"),
        1 => ("signed", "application/json"),
        2 => ("hc", "text/plain"),
        3 => ("hc", "application/x-www-form-urlencoded"),
        4 => ("signed", "application/x-www-form-urlencoded"),
        _ => ("nope", "application/json"),
    };
    let rest = data.get(1..).unwrap_or_default();
    let split = rest.iter().position(|&b| b == 0).unwrap_or(0);
    let mut request = http::Request::post(format!("/hooks/{source}")).header("content-type", content_type);
    if let Ok(sig) = http::HeaderValue::from_bytes(&rest[..split]) {
        request = request.header("signature", sig);
    }
    let body = rest.get(split + 1..).unwrap_or_default().to_vec();
    let Ok(request) = request.body(axum::body::Body::from(body)) else { return };
    let h = &*HARNESS;
    let response = h.runtime.block_on(h.router.clone().oneshot(request)).expect("infallible");
    let status = response.status().as_u16();
    assert!(status < 500 || status == 503, "status {status}");
});
