//! The admin router (real router, real SQLite store and rules file in a temp dir): arbitrary
//! methods, paths, headers and bodies never panic nor answer 500, every answer carries the
//! hardening headers, and a request naming a Host the listener does not allow is always 421.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const RULES: &str = r#"
sources:
  hc: {verify: {scheme: none}, dedup: false}
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
        let dir = std::env::temp_dir().join(format!("hookroute-fuzz-admin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let rules = dir.join("rules.yaml");
        std::fs::write(&rules, RULES).expect("rules");
        let loaded = hookroute::config::load(&rules).expect("rules compile");
        let url = format!("sqlite://{}?synchronous=normal", dir.join("fuzz.db").display());
        let store = hookroute::store::open(&url).await.expect("store");
        hookroute::admin::router(hookroute::admin::AdminState {
            reloader: hookroute::config::watch::Reloader::new(rules, loaded),
            store,
            metrics: Arc::new(hookroute::metrics::Metrics::new()),
            token: None,
            token_required: false,
            started_at: 0.0,
        })
    });
    Harness { runtime, router }
});

const METHODS: [&str; 6] = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS"];
const PATHS: [&str; 12] = [
    "/api/overview", "/api/events", "/api/events/", "/api/deliveries", "/api/deliveries/1/replay", "/api/replay",
    "/api/destinations", "/api/rules", "/api/reload", "/api/dry-run", "/", "/metrics",
];

fuzz_target!(|data: &[u8]| {
    // Byte 0: method; byte 1: a known path, or (high bit) the path comes from the input; then
    // NUL-separated: [path,] header block ("name: value" lines), body.
    let method = METHODS[usize::from(data.first().copied().unwrap_or(0)) % METHODS.len()];
    let selector = data.get(1).copied().unwrap_or(0);
    let mut parts = data.get(2..).unwrap_or_default().splitn(3, |&b| b == 0);
    let path = if selector & 0x80 == 0 {
        PATHS[usize::from(selector) % PATHS.len()].to_owned()
    } else {
        format!("/{}", String::from_utf8_lossy(parts.next().unwrap_or_default()))
    };
    let mut request = http::Request::builder().method(method).uri(path);
    let mut host_given = None;
    for line in String::from_utf8_lossy(parts.next().unwrap_or_default()).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.trim().as_bytes()), http::HeaderValue::from_str(value.trim()))
        else {
            continue;
        };
        if name == http::header::HOST {
            host_given = Some(value.to_str().unwrap_or_default().to_owned());
        }
        request = request.header(name, value);
    }
    if host_given.is_none() && selector & 0x40 == 0 {
        request = request.header("host", "127.0.0.1:9090");
        host_given = Some("127.0.0.1:9090".into());
    }
    let body = parts.next().unwrap_or_default().to_vec();
    let Ok(request) = request.body(axum::body::Body::from(body)) else { return };
    let hosts = request.headers().get_all(http::header::HOST).iter().count();
    let h = &*HARNESS;
    let response = h.runtime.block_on(h.router.clone().oneshot(request)).expect("infallible");
    let status = response.status().as_u16();
    assert!(status != 500, "status {status}");
    assert!(response.headers().contains_key("content-security-policy"), "hardened");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let allowed = hosts == 1
        && host_given.as_deref().is_some_and(|h| hookroute::admin::guard::host_allowed(h, &[]));
    if !allowed {
        assert_eq!(status, 421, "a Host that is not allowed is refused");
    }
});
