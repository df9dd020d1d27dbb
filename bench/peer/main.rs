//! Benchmark helper for `bench/run`, built as an example of the crate (`cargo build --release
//! --example hookroute-bench-peer`) so that it is not part of the service and `cargo install`
//! installs only `hookroute`. Subcommands:
//!
//! - `bare ADDR`: the ceiling of the HTTP stack, an axum endpoint that reads the body and answers 200;
//! - `receiver ADDR [--delay-ms N]`: a destination that answers 200 "ok" to anything (after N ms)
//!   and reports how many requests it got at `GET /count`;
//! - `gen-rules N [--seed S] [--receiver URL]`, `gen-event`: the benchmark's rules file and event
//!   (`bench/rulegen.rs`, shared with `benches/engine.rs`);
//! - `rules-stats FILE [--reps R]`: compile time, memory of the compiled rules and evaluation time
//!   per event of a rules file, as JSON;
//! - `store-stats STORE_URL [--from MS] [--to MS]`: received → delivered latency of the deliveries
//!   of events received in a window, read from the store, as JSON;
//! - `fill STORE_URL N --rules FILE`: stores N benchmark events with their pending deliveries,
//!   without sending anything;
//! - `swap --target PATH --readyz URL FILE_A FILE_B`: replaces PATH (write + rename) alternately
//!   with A and B, timing each swap until `GET /readyz` reports the new version;
//! - `entity URL [--keys K] [--events N] [--conns C]`: posts K keys × N signed House Check events
//!   (status alternating "to schedule" / "scheduled", round by round, so a key's events are K apart)
//!   over C HTTP/1.1 keep-alive connections, and reports accepted/s as JSON.

#[path = "../rulegen.rs"]
mod rulegen;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use hookroute::clock::{now_ms, rfc3339_ms};
use hookroute::config::Config;
use hookroute::route::{ParsedEvent, plan};
use hookroute::store::{Inserted, NewDelivery, NewEvent};

#[derive(Parser)]
#[command(about = "Benchmark helper for bench/run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A bare axum endpoint: POST /hooks/{source} reads the body and answers 200.
    Bare { addr: String },
    /// A destination answering 200 "ok" (after --delay-ms); GET /count tells how many it got.
    Receiver {
        addr: String,
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Prints a generated rules file of N rules (see bench/rulegen.rs).
    GenRules {
        rules: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "http://127.0.0.1:9")]
        receiver: String,
    },
    /// Prints the benchmark event (House Check, about 300 bytes).
    GenEvent,
    /// Compile time, memory and evaluation time per event of a rules file, as JSON.
    RulesStats {
        file: PathBuf,
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// How long each evaluation repetition runs.
        #[arg(long, default_value_t = 300)]
        min_ms: u64,
    },
    /// Received → delivered latency from the store, for events received in [from, to) (unix ms).
    StoreStats {
        store: String,
        #[arg(long, default_value_t = 0)]
        from: i64,
        #[arg(long, default_value_t = i64::MAX)]
        to: i64,
    },
    /// Stores N benchmark events with their pending deliveries (as planned by the rules file).
    Fill {
        store: String,
        events: usize,
        #[arg(long)]
        rules: PathBuf,
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Swaps the rules file COUNT times between A and B, timing each reload through /readyz.
    Swap {
        #[arg(long)]
        target: PathBuf,
        /// e.g. http://127.0.0.1:8080/readyz
        #[arg(long)]
        readyz: String,
        #[arg(long, default_value_t = 50)]
        count: usize,
        /// Spread the swaps over this long (a swap starts early only when the previous is done).
        #[arg(long, default_value_t = 20_000)]
        within_ms: u64,
        /// Give up on one reload after this long.
        #[arg(long, default_value_t = 15_000)]
        timeout_ms: u64,
        file_a: PathBuf,
        file_b: PathBuf,
    },
    /// Posts KEYS × EVENTS signed House Check events (distinct `payload.id`s) to URL over CONNS
    /// keep-alive connections; accepted/s as JSON.
    Entity {
        /// e.g. http://127.0.0.1:8080/hooks/house-check
        url: String,
        #[arg(long, default_value_t = 10_000)]
        keys: u32,
        #[arg(long, default_value_t = 10)]
        events: u32,
        #[arg(long, default_value_t = 64)]
        conns: usize,
        #[arg(long, default_value = rulegen::SECRET)]
        secret: String,
        /// Give up (and report what was sent) after this long.
        #[arg(long, default_value_t = 300)]
        timeout_s: u64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bare { addr } => serve(&addr, bare()).await,
        Command::Receiver { addr, delay_ms } => serve(&addr, receiver(delay_ms)).await,
        Command::GenRules { rules, seed, receiver } => {
            print!("{}", rulegen::rules_yaml(rules.max(1), seed, receiver.trim_end_matches('/')));
            Ok(())
        }
        Command::GenEvent => {
            println!("{}", rulegen::EVENT);
            Ok(())
        }
        Command::RulesStats { file, reps, min_ms } => rules_stats(&file, reps.max(1), min_ms),
        Command::StoreStats { store, from, to } => store_stats(&store, from, to).await,
        Command::Fill { store, events, rules, batch } => fill(&store, events, &rules, batch.max(1)).await,
        Command::Swap { target, readyz, count, within_ms, timeout_ms, file_a, file_b } => {
            swap(&target, &readyz, count, within_ms, timeout_ms, [&file_a, &file_b]).await
        }
        Command::Entity { url, keys, events, conns, secret, timeout_s } => {
            entity(&url, keys, events, conns.max(1), &secret, Duration::from_secs(timeout_s)).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookroute-bench-peer: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn bare() -> Router {
    Router::new().route("/hooks/{source}", post(|body: Bytes| async move { format!("{}\n", body.len()) }))
}

fn receiver(delay_ms: u64) -> Router {
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    Router::new()
        .route("/count", get(move || async move { seen.load(Ordering::Relaxed).to_string() }))
        .fallback(move |_body: Bytes| async move {
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            count.fetch_add(1, Ordering::Relaxed);
            "ok"
        })
}

async fn serve(addr: &str, app: Router) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    axum::serve(listener, app).await.with_context(|| format!("serving {addr}"))
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn compile(file: &std::path::Path, text: &str) -> anyhow::Result<Config> {
    match hookroute::config::compile_on_own_stack(file, text.to_owned()) {
        Ok(loaded) => Ok(loaded.config),
        Err(e) => bail!("{} does not compile: {e}", file.display()),
    }
}

/// Compiles the file `reps` times the way a reload does (on its own thread). The first two copies
/// are kept: the RSS grown by the first is an upper bound of the compiled rules' memory (it includes
/// what the allocator kept of the compiler's temporaries); the growth by the second, whose
/// temporaries reuse the memory the first's freed, is the compiled rules alone. Then times
/// `RuleSet::matching` on the benchmark event, `reps` times for `min_ms` each.
fn rules_stats(file: &std::path::Path, reps: usize, min_ms: u64) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let body: Value = serde_json::from_str(rulegen::EVENT).context("the bench event is JSON")?;
    let (rss_before, _) = memory_kib();
    let mut copies = Vec::with_capacity(2);
    let mut compile_ms = Vec::with_capacity(reps);
    let mut rss_after = Vec::with_capacity(2);
    for _ in 0..reps {
        let started = Instant::now();
        let config = compile(file, &text)?;
        compile_ms.push(ms(started.elapsed()));
        if copies.len() < 2 {
            copies.push(config);
            rss_after.push(memory_kib().0);
        }
    }
    let (_, hwm) = memory_kib();
    let config = &copies[0];
    let candidates = config.rules.candidates(rulegen::SOURCE, rulegen::EVENT_TYPE).count();
    let fired: Vec<&str> = config
        .rules
        .matching(rulegen::SOURCE, rulegen::EVENT_TYPE, &body)
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    let mut route_ns = Vec::with_capacity(reps);
    for _ in 0..reps {
        let started = Instant::now();
        let mut n: u64 = 0;
        while started.elapsed() < Duration::from_millis(min_ms) {
            for _ in 0..16 {
                let fired = config.rules.matching(
                    std::hint::black_box(rulegen::SOURCE),
                    std::hint::black_box(rulegen::EVENT_TYPE),
                    std::hint::black_box(&body),
                );
                std::hint::black_box(fired.len());
            }
            n += 16;
        }
        #[allow(clippy::cast_precision_loss)]
        route_ns.push(started.elapsed().as_secs_f64() * 1e9 / n as f64);
    }
    let per_copy_kib = match rss_after[..] {
        [first, second] => second.saturating_sub(first),
        _ => rss_after[0].saturating_sub(rss_before),
    };
    let out = json!({
        "file": file.display().to_string(),
        "rules": config.rules.len(),
        "candidates": candidates,
        "fired": fired,
        "compile_ms": compile_ms,
        "route_ns": route_ns,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "hwm_kib": hwm,
        "memory_first_kib": rss_after[0].saturating_sub(rss_before),
        "memory_per_copy_kib": per_copy_kib,
    });
    println!("{out}");
    Ok(())
}

/// One delivered attempt: destination, event received at, attempt started at, attempt latency.
type DeliveredRow = (String, i64, i64, i64);

const DELIVERED_SQL: &str = "SELECT d.destination, e.received_at, a.attempted_at, a.latency_ms \
     FROM attempts a JOIN deliveries d ON d.id = a.delivery_id JOIN events e ON e.id = d.event_id \
     WHERE a.outcome = 'delivered' AND e.received_at >= $1 AND e.received_at < $2";
const STATUS_SQL: &str = "SELECT d.status, COUNT(*) FROM deliveries d JOIN events e ON e.id = d.event_id \
     WHERE e.received_at >= $1 AND e.received_at < $2 GROUP BY d.status";

async fn store_stats(url: &str, from: i64, to: i64) -> anyhow::Result<()> {
    use std::str::FromStr;
    let (rows, statuses): (Vec<DeliveredRow>, Vec<(String, i64)>) = if url.starts_with("sqlite:") {
        let base = url.split('?').next().unwrap_or(url);
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(base)?.read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        let rows = sqlx::query_as(DELIVERED_SQL).bind(from).bind(to).fetch_all(&pool).await?;
        let statuses = sqlx::query_as(STATUS_SQL).bind(from).bind(to).fetch_all(&pool).await?;
        (rows, statuses)
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await?;
        let rows = sqlx::query_as(DELIVERED_SQL).bind(from).bind(to).fetch_all(&pool).await?;
        let statuses = sqlx::query_as(STATUS_SQL).bind(from).bind(to).fetch_all(&pool).await?;
        (rows, statuses)
    };
    let mut all = Vec::with_capacity(rows.len());
    let mut by_destination: std::collections::BTreeMap<String, Vec<i64>> = std::collections::BTreeMap::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for (destination, received_at, attempted_at, latency_ms) in rows {
        let done = attempted_at + latency_ms;
        first = first.min(attempted_at);
        last = last.max(done);
        all.push(done - received_at);
        by_destination.entry(destination).or_default().push(done - received_at);
    }
    let out = json!({
        "delivered": all.len(),
        "first_attempt_ms": (first != i64::MAX).then_some(first),
        "last_done_ms": (last != i64::MIN).then_some(last),
        "e2e_ms": percentiles(&mut all),
        "by_destination": by_destination.iter_mut().map(|(d, v)| (d.clone(), percentiles(v))).collect::<serde_json::Map<_, _>>(),
        "by_status": statuses.into_iter().map(|(s, n)| (s, json!(n))).collect::<serde_json::Map<_, _>>(),
    });
    println!("{out}");
    Ok(())
}

/// Nearest-rank percentiles of `values` (sorted in place).
fn percentiles(values: &mut [i64]) -> Value {
    values.sort_unstable();
    let n = values.len();
    let rank = |p: f64| {
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let r = ((p * n as f64).ceil() as usize).clamp(1, n);
        values[r - 1]
    };
    if n == 0 {
        return json!({"n": 0});
    }
    json!({"n": n, "p50": rank(0.50), "p99": rank(0.99), "p999": rank(0.999), "max": values[n - 1]})
}

async fn fill(url: &str, events: usize, rules: &std::path::Path, batch: usize) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(rules).with_context(|| format!("cannot read {}", rules.display()))?;
    let config = compile(rules, &text)?;
    let store = hookroute::store::open(url)
        .await
        .with_context(|| format!("cannot open {}", hookroute::store::redact_url(url)))?;
    let raw = bytes::Bytes::from_static(rulegen::EVENT.as_bytes());
    let body: Value = serde_json::from_str(rulegen::EVENT).context("the bench event is JSON")?;
    let started = Instant::now();
    let (mut stored, mut deliveries) = (0usize, 0usize);
    while stored < events {
        let now = now_ms();
        let received_at = rfc3339_ms(now);
        let event = ParsedEvent {
            source: rulegen::SOURCE,
            event_type: rulegen::EVENT_TYPE,
            body: &body,
            raw_body: &raw,
            content_type: Some("application/json"),
            received_at: &received_at,
            headers: None,
        };
        let planned = plan(&config, &event);
        let mut matched: Vec<String> = planned.iter().map(|p| p.rule.to_owned()).collect();
        matched.dedup();
        let planned: Vec<NewDelivery> = planned
            .into_iter()
            .map(|p| NewDelivery {
                rule: p.rule.to_owned(),
                action_index: p.action_index,
                destination: p.destination.to_owned(),
                request: p.request.map(|r| (r.body, r.content_type)).map_err(|e| e.to_string()),
                due_at: None,
                waits: false,
            })
            .collect();
        let size = batch.min(events - stored);
        let chunk: Vec<NewEvent> = (0..size)
            .map(|_| NewEvent {
                id: uuid::Uuid::now_v7().to_string(),
                source: rulegen::SOURCE.to_owned(),
                event_type: rulegen::EVENT_TYPE.to_owned(),
                received_at: now,
                body: raw.clone(),
                content_type: Some("application/json".to_owned()),
                matched_rules: matched.clone(),
                rules_version: config.version.clone(),
                dedup: None,
                deliveries: planned.clone(),
                state: None,
            })
            .collect();
        let inserted = store.insert(&chunk, now).await.context("insert failed")?;
        if inserted.iter().any(|i| *i != Inserted::New) {
            bail!("the store reported a duplicate");
        }
        stored += size;
        deliveries += size * planned.len();
    }
    let out = json!({"events": stored, "deliveries": deliveries, "secs": started.elapsed().as_secs_f64()});
    println!("{out}");
    Ok(())
}

/// The version hookroute gives a rules file: the first 12 hex digits of its SHA-256.
fn version_of(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}

/// `rules_version` from `GET /readyz` (a fresh connection each time, so it never waits on a pool).
async fn served_version(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/"), |(h, p)| (h, p));
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    let request = format!(
        "GET /{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        path.trim_start_matches('/')
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let body = answer.split_once("\r\n\r\n")?.1;
    let v: Value = serde_json::from_str(body.trim()).ok()?;
    v.get("rules_version")?.as_str().map(str::to_owned)
}

async fn swap(
    target: &std::path::Path,
    readyz: &str,
    count: usize,
    within_ms: u64,
    timeout_ms: u64,
    files: [&PathBuf; 2],
) -> anyhow::Result<()> {
    let texts = [
        std::fs::read_to_string(files[0]).with_context(|| format!("cannot read {}", files[0].display()))?,
        std::fs::read_to_string(files[1]).with_context(|| format!("cannot read {}", files[1].display()))?,
    ];
    let versions = [version_of(&texts[0]), version_of(&texts[1])];
    if versions[0] == versions[1] {
        bail!("the two files are the same");
    }
    let dir = target.parent().context("the target has no directory")?;
    let name = target.file_name().context("the target has no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.swap"));
    let mut current = served_version(readyz).await.context("GET /readyz gave no rules_version")?;
    let (mut reload_ms, mut swap_at_ms, mut timeouts) = (Vec::new(), Vec::new(), 0usize);
    let started = Instant::now();
    let first_ms = now_ms();
    let spacing = Duration::from_millis(within_ms) / u32::try_from(count.max(1)).unwrap_or(1);
    for k in 0..count {
        let due = spacing * u32::try_from(k).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let next = usize::from(current == versions[0]);
        std::fs::write(&tmp, &texts[next]).with_context(|| format!("cannot write {}", tmp.display()))?;
        let t0 = Instant::now();
        std::fs::rename(&tmp, target).with_context(|| format!("cannot replace {}", target.display()))?;
        swap_at_ms.push(now_ms());
        loop {
            if served_version(readyz).await.as_deref() == Some(&versions[next]) {
                reload_ms.push(ms(t0.elapsed()));
                break;
            }
            if t0.elapsed() > Duration::from_millis(timeout_ms) {
                timeouts += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        current = served_version(readyz).await.unwrap_or_else(|| versions[next].clone());
    }
    let out = json!({
        "swaps": count,
        "reloaded": reload_ms.len(),
        "timeouts": timeouts,
        "reload_ms": reload_ms,
        "swap_at_ms": swap_at_ms,
        "first_ms": first_ms,
        "last_ms": now_ms(),
    });
    println!("{out}");
    Ok(())
}

/// One prepared request of the entity load: the whole HTTP/1.1 request, signed.
fn entity_request(host: &str, path: &str, secret: &str, n: u64, key: u32, round: u32) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let status = if round.is_multiple_of(2) { "to schedule" } else { "scheduled" };
    let body = json!({
        "type": rulegen::EVENT_TYPE,
        "id": format!("evt_bench_{n}"),
        "created_at": "2026-05-20T09:59:58Z",
        "payload": {"id": key, "status": status, "address": "12 Elm Street, Springfield",
            "customer": "Acme Realty", "inspector": "J. Doe", "scheduled_for": null,
            "tags": ["urgent", "residential"], "notes": format!("round {round}")},
    })
    .to_string();
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\ncontent-type: application/json\r\nsignature: {signature}\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one HTTP/1.1 response (headers and a `content-length` body) from `stream`, keeping what
/// follows it in `buf`; its status code.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .context("no status code in the answer")?;
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    bail!("connection closed in a body");
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed before an answer");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The entity load: every request is prepared (and signed) before the clock starts; C tasks, each
/// with one keep-alive connection (reconnecting when the server closes it), take the next request
/// in order, so a key's events go out in their order, K requests apart.
async fn entity(
    url: &str,
    keys: u32,
    events: u32,
    conns: usize,
    secret: &str,
    limit: Duration,
) -> anyhow::Result<()> {
    let rest = url.strip_prefix("http://").context("the URL must be http://HOST:PORT/PATH")?;
    let (host, path) = rest.split_once('/').context("the URL has no path")?;
    let path = format!("/{path}");
    let mut requests = Vec::with_capacity(keys as usize * events as usize);
    for round in 0..events {
        for key in 0..keys {
            let n = u64::from(round) * u64::from(keys) + u64::from(key);
            requests.push(entity_request(host, &path, secret, n, key, round));
        }
    }
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (requests, next, host) = (Arc::clone(&requests), Arc::clone(&next), host.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut accepted, mut refused, mut errors) = (0u64, 0u64, 0u64);
            let mut stream: Option<tokio::net::TcpStream> = None;
            let mut buf = Vec::with_capacity(1024);
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
                let Some(request) = requests.get(i) else { break };
                if Instant::now() > deadline {
                    break;
                }
                let sent = tokio::time::timeout_at(deadline.into(), async {
                    if stream.is_none() {
                        let s = tokio::net::TcpStream::connect(&host).await?;
                        s.set_nodelay(true)?;
                        stream = Some(s);
                        buf.clear();
                    }
                    let s = stream.as_mut().context("connected")?;
                    s.write_all(request).await?;
                    read_response(s, &mut buf).await
                })
                .await;
                match sent {
                    Ok(Ok(status)) if (200..300).contains(&status) => accepted += 1,
                    Ok(Ok(_)) => refused += 1,
                    Ok(Err(_)) | Err(_) => {
                        errors += 1;
                        stream = None;
                    }
                }
            }
            (accepted, refused, errors)
        }));
    }
    let (mut accepted, mut refused, mut errors) = (0u64, 0u64, 0u64);
    for task in tasks {
        let (a, r, e) = task.await.context("a sender task failed")?;
        accepted += a;
        refused += r;
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rps = accepted as f64 / secs;
    let out = json!({
        "keys": keys, "events": events, "conns": conns, "requests": requests.len(),
        "accepted": accepted, "refused": refused, "errors": errors, "secs": secs, "rps": rps,
        "timed_out": Instant::now() > deadline,
    });
    println!("{out}");
    Ok(())
}
