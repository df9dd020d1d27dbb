//! The `/hooks` listener under hostile traffic, over raw sockets on loopback: slow heads and idle
//! keep-alives are closed on time, the connection cap makes room for a real sender, heads and
//! bodies are bounded before they are read.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{App, Receiver, SECRET, eventually, report, rules};

/// The test rules with `extra` lines added under `settings:`.
async fn app_with(extra: &[&str]) -> (App, Receiver) {
    let r = Receiver::start().await;
    let settings: String = extra.iter().map(|line| format!("  {line}\n")).collect();
    let text = rules(&r.url, &r.url, &r.url).replacen("settings:\n", &format!("settings:\n{settings}"), 1);
    (App::start(&text).await, r)
}

fn event(id: u32) -> serde_json::Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": "scheduled"}})
}

/// True when the server closed `stream` within `wait` (what it sent before is read and dropped).
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Writes `request` (a write error is fine: the server may close early) and returns everything
/// read until `until` appears in it, the server closes, or 5 s pass.
async fn exchange(stream: &mut TcpStream, request: &[u8], until: &str) -> String {
    let _ = stream.write_all(request).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains(until) {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn slow_heads_are_closed_after_the_head_timeout_while_a_sender_is_served() {
    const SLOW: usize = 300;
    let (app, _r) = app_with(&["head_timeout: 1s"]).await;
    let mut slow = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut s = TcpStream::connect(app.addr()).await.expect("connect");
        s.write_all(b"POST /hooks/house-check HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("write");
        slow.push(s);
    }
    // A few trickle a byte every 200 ms: activity does not extend a head's time.
    let mut tricklers = tokio::task::JoinSet::new();
    for mut s in slow.drain(..10) {
        tricklers.spawn(async move {
            let started = Instant::now();
            while s.write_all(b"a").await.is_ok() && started.elapsed() < Duration::from_secs(5) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            started.elapsed()
        });
    }
    let started = Instant::now();
    assert_eq!(app.post_event(event(1)).await, 202);
    let legit = started.elapsed();
    report(format_args!("a signed POST took {legit:?} with {SLOW} slow heads open"));
    assert!(legit < Duration::from_secs(1), "{legit:?}");

    for s in &mut slow {
        assert!(closed_within(s, Duration::from_secs(5)).await, "a slow head still open");
    }
    while let Some(trickled) = tricklers.join_next().await {
        let trickled = trickled.expect("trickler");
        assert!(trickled < Duration::from_secs(3), "a trickled head kept for {trickled:?}");
    }
    report(format_args!("all {SLOW} slow heads closed {:?} after the first opened", started.elapsed()));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout_not_the_head_timeout() {
    let (app, _r) = app_with(&["head_timeout: 1s", "idle_timeout: 2s"]).await;
    let mut s = TcpStream::connect(app.addr()).await.expect("connect");
    let answer = exchange(&mut s, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "ok\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let answered = Instant::now();
    assert!(!closed_within(&mut s, Duration::from_millis(1500)).await, "closed by the head timeout");
    assert!(closed_within(&mut s, Duration::from_secs(3)).await, "idle connection still open");
    let idle = answered.elapsed();
    report(format_args!("an idle keep-alive connection was closed after {idle:?}"));
    assert!(idle >= Duration::from_millis(1900), "{idle:?}");
}

#[tokio::test]
async fn past_max_connections_the_oldest_idle_ones_make_room_for_a_sender() {
    let (app, _r) = app_with(&["max_connections: 20"]).await;
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(TcpStream::connect(app.addr()).await.expect("connect"));
    }
    let started = Instant::now();
    assert_eq!(app.post_event(event(1)).await, 202);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    let metrics = app.client.get(format!("{}/metrics", app.admin)).send().await.expect("scrape");
    let metrics = metrics.text().await.expect("text");
    let evicted = metric(&metrics, "hookroute_connections_closed_total{reason=\"evicted\"}");
    let open = metric(&metrics, "hookroute_connections_open");
    report(format_args!("60 idle connections over a cap of 20: {evicted} evicted, {open} open"));
    assert!(evicted >= 40.0 && open <= 21.0, "{metrics}");
    let mut closed = 0;
    for s in &mut idle {
        closed += usize::from(closed_within(s, Duration::from_millis(50)).await);
    }
    assert!(closed >= 40, "{closed} of the 60 closed");
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test]
async fn a_head_over_64_kib_gets_431() {
    let (app, _r) = app_with(&[]).await;
    let mut s = TcpStream::connect(app.addr()).await.expect("connect");
    let mut request = b"POST /hooks/house-check HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 70_000));
    request.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\n{}");
    let answer = exchange(&mut s, &request, "\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
}

#[tokio::test]
async fn expect_continue_with_a_declared_length_over_the_limit_gets_413_at_once() {
    let (app, _r) = app_with(&[]).await;
    let mut s = TcpStream::connect(app.addr()).await.expect("connect");
    let head = format!(
        "POST /hooks/house-check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nsignature: {}\r\n\
         Expect: 100-continue\r\nContent-Length: 50000000\r\n\r\n",
        hookroute::sign_hex(SECRET, b"{}")
    );
    let started = Instant::now();
    let answer = exchange(&mut s, head.as_bytes(), "\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "no 100 Continue first: {answer:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_body_that_does_not_fit_the_memory_budget_gets_503_with_retry_after() {
    let (app, _r) = app_with(&["max_body_bytes: 10000", "body_memory_bytes: 20000"]).await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(app.addr()).await.expect("connect");
        let head = "POST /hooks/house-check HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n{";
        s.write_all(head.as_bytes()).await.expect("write");
        holders.push(s);
    }
    eventually("both bodies reserved", || async { (app.budget.used() == 20_000).then_some(()) }).await;
    let body = event(1).to_string();
    let send = || {
        app.client
            .post(format!("{}/hooks/house-check", app.base))
            .header("signature", hookroute::sign_hex(SECRET, body.as_bytes()))
            .body(body.clone())
            .send()
    };
    let refused = send().await.expect("send");
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"), "{:?}", refused.headers());
    drop(holders);
    eventually("room again", || async { (app.budget.used() == 0).then_some(()) }).await;
    assert_eq!(send().await.expect("send").status(), 202);
}

#[tokio::test]
async fn the_connection_cap_fits_the_open_file_limit_so_descriptors_never_run_out() {
    let r = Receiver::start().await;
    let (_dir, rules_path) = crate::cli::write_temp("rules.yaml", &rules(&r.url, &r.url, &r.url));
    let server = crate::cli::serve_with_fd_limit(&rules_path, 256);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..400 {
        idle.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let body = event(1).to_string();
    let started = Instant::now();
    let answer = client
        .post(format!("{}/hooks/house-check", server.base))
        .header("signature", hookroute::sign_hex(SECRET, body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), 202);
    let took = started.elapsed();
    let health = client.get(format!("{}/healthz", server.admin)).send().await.expect("admin");
    assert_eq!(health.status(), 200, "the admin listener still has descriptors");
    let logs = server.logs.lock().expect("logs").join("\n");
    report(format_args!("400 idle connections under `ulimit -n 256`: a signed POST took {took:?}"));
    assert!(logs.contains("more than the open-file limit allows"), "{logs}");
    assert!(!logs.contains("Too many open files"), "{logs}");
}
