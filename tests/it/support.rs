//! Test harness: the real app on 127.0.0.1:0 with a rules file in a temp dir, and real HTTP
//! receivers on 127.0.0.1 standing in for Slack, the email API and any endpoint.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use hookroute::admin::{self, AdminState};
use hookroute::alerts::{OwnEventOptions, OwnEvents};
use hookroute::config::watch::Reloader;
use hookroute::deliver::{Ingest, Sender, Worker, WorkerOptions};
use hookroute::metrics::Metrics;
use hookroute::server::{self, AppState};
use hookroute::store::{self, Store};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub const SECRET: &str = "test-secret-7f3a";

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: axum::http::Method,
    pub path: String,
    /// The query string, when the request had one.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Captured {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("receiver got JSON")
    }
}

/// A canned reply: status, optional Retry-After, body.
#[derive(Clone, Debug)]
pub struct Reply(pub u16, pub Option<&'static str>, pub &'static str);

#[derive(Default)]
struct ReceiverState {
    got: Vec<Captured>,
    script: VecDeque<Reply>,
    default: Option<Reply>,
    delay: Duration,
}

/// A local HTTP server that records every request and answers from a script (then 200 "ok").
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::with_script(vec![]).await
    }

    pub async fn with_script(script: Vec<Reply>) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState {
            got: vec![],
            script: script.into(),
            default: None,
            delay: Duration::ZERO,
        }));
        let shared = Arc::clone(&state);
        let app = Router::new().fallback(
            move |method: axum::http::Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let shared = Arc::clone(&shared);
                async move {
                    // Like a real destination, the request counts once it arrived, even if the sender
                    // goes away before the (delayed) answer.
                    let (delay, reply) = {
                        let mut s = shared.lock().expect("lock");
                        let (path, query) = (uri.path().to_owned(), uri.query().map(str::to_owned));
                        s.got.push(Captured { method, path, query, headers, body, at: Instant::now() });
                        let fallback = s.default.clone().unwrap_or(Reply(200, None, "ok"));
                        (s.delay, s.script.pop_front().unwrap_or(fallback))
                    };
                    tokio::time::sleep(delay).await;
                    let Reply(status, retry_after, body) = reply;
                    let mut r = (StatusCode::from_u16(status).expect("status"), body).into_response();
                    if let Some(ra) = retry_after {
                        r.headers_mut().insert("retry-after", ra.parse().expect("header"));
                    }
                    r
                }
            },
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url: format!("http://{addr}"), state }
    }

    /// The reply once the script is used up (200 "ok" unless changed).
    pub fn set_default(&self, reply: Reply) {
        self.state.lock().expect("lock").default = Some(reply);
    }

    /// Answers every request only after `delay` (a slow destination).
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().expect("lock").delay = delay;
    }

    pub fn got(&self) -> Vec<Captured> {
        self.state.lock().expect("lock").got.clone()
    }

    /// Waits until `n` requests arrived (at most `timeout`), then returns all of them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Captured> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.got();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The real app, serving on an ephemeral port.
pub struct App {
    pub base: String,
    /// The admin listener (dashboard, /api, /metrics).
    pub admin: String,
    pub rules_path: PathBuf,
    pub reloader: Arc<Reloader>,
    pub store: Arc<dyn Store>,
    pub store_url: String,
    pub client: reqwest::Client,
    /// The server's request slots (`settings.max_concurrent_requests`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// The server's request-body memory budget (`settings.body_memory_bytes`).
    pub budget: Arc<hookroute::server::budget::Budget>,
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

impl App {
    pub async fn start(rules: &str) -> Self {
        Self::start_with_store(rules, None).await
    }

    /// Like `start`, on the store at `store_url` (default: a SQLite file in the temp dir).
    pub async fn start_with_store(rules: &str, store_url: Option<String>) -> Self {
        let options = WorkerOptions { poll: Duration::from_millis(50), ..WorkerOptions::default() };
        Self::start_with(rules, store_url, options).await
    }

    /// Like `start_with_store`, with the worker's options (a short lease, say).
    pub async fn start_with(rules: &str, store_url: Option<String>, options: WorkerOptions) -> Self {
        Self::start_full(rules, store_url, options, None).await
    }

    /// Like `start_with_store`, emitting hookroute's own events with these timings.
    pub async fn start_own_events(rules: &str, store_url: Option<String>, own: OwnEventOptions) -> Self {
        let options = WorkerOptions { poll: Duration::from_millis(50), ..WorkerOptions::default() };
        Self::start_full(rules, store_url, options, Some(own)).await
    }

    /// The app with every part: `own` turns hookroute's own events on.
    pub async fn start_full(
        rules: &str,
        store_url: Option<String>,
        mut options: WorkerOptions,
        own: Option<OwnEventOptions>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules_path = dir.path().join("rules.yaml");
        std::fs::write(&rules_path, rules).expect("write rules");
        let loaded =
            hookroute::config::load(&rules_path).unwrap_or_else(|e| panic!("test rules invalid: {e}"));
        let reloader = Reloader::new(rules_path.clone(), loaded);
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(Arc::clone(&reloader).run(stop_rx.clone(), true));
        let store_url =
            store_url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("hookroute.db").display()));
        let store = store::open(&store_url).await.expect("open store");
        let wake = Arc::new(Notify::new());
        let metrics = Arc::new(Metrics::new());
        let (facts_tx, facts_rx) = tokio::sync::mpsc::unbounded_channel();
        let observed = own.is_some().then(|| facts_tx.clone());
        let (ingest, _committer) = Ingest::start_observed(Arc::clone(&store), Arc::clone(&wake), observed);
        if let Some(own) = own {
            options.facts = Some(facts_tx);
            let emitter = OwnEvents {
                store: Arc::clone(&store),
                config: reloader.current(),
                reloader: Arc::clone(&reloader),
                ingest: ingest.clone(),
                metrics: Arc::clone(&metrics),
                options: own,
            };
            tokio::spawn(emitter.run(facts_rx, stop_rx.clone()));
        }
        let worker = Worker {
            store: Arc::clone(&store),
            config: reloader.current(),
            sender: Sender::new().expect("client"),
            wake,
            options,
            metrics: Arc::clone(&metrics),
        };
        tokio::spawn(worker.run(stop_rx));
        let state = AppState::new(reloader.current(), ingest, Arc::clone(&store), Arc::clone(&metrics));
        let in_flight = Arc::clone(&state.in_flight);
        let budget = Arc::clone(&state.budget);
        let admin_state = AdminState {
            reloader: Arc::clone(&reloader),
            store: Arc::clone(&store),
            metrics,
            token: None,
            token_required: false,
            started_at: 0.0,
        };
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let admin = format!("http://{}", admin_listener.local_addr().expect("admin addr"));
        tokio::spawn(admin::run(admin_listener, admin_state, std::future::pending()));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        tokio::spawn(server::run(listener, state, std::future::pending()));
        Self {
            base: format!("http://{addr}"),
            admin,
            rules_path,
            reloader,
            store,
            store_url,
            client: reqwest::Client::new(),
            in_flight,
            budget,
            _dir: dir,
            _stop: stop,
        }
    }

    /// POSTs `body` to /hooks/{source} signed with `secret` (no header when `None`).
    pub async fn post(&self, source: &str, body: &[u8], secret: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .post(format!("{}/hooks/{source}", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = secret {
            req = req.header("signature", hookroute::sign_hex(s, body));
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// `host:port` of the hooks listener, for raw sockets.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    pub async fn post_event(&self, body: serde_json::Value) -> u16 {
        self.post("house-check", body.to_string().as_bytes(), Some(SECRET)).await.0
    }

    /// Tells the worker to stop (it finishes what it holds), as a shutdown does: a test can then
    /// start another app on the same store, like a restart.
    pub fn stop_worker(&self) {
        let _ = self._stop.send(true);
    }
}

/// A rules file whose destinations point at the given receivers.
pub fn rules(slack: &str, email: &str, crm: &str) -> String {
    format!(
        r#"
settings:
  delivery:
    schedule: [1s, 1s, 2s]
    max_attempts: 4
sources:
  house-check:
    dedup: false
    verify:
      scheme: hmac-sha256
      header: signature
      secrets: ["old-secret-1234", "{SECRET}"]
destinations:
  ops-slack:
    type: slack
    url: "{slack}/services/T0/B0/XXX"
  planning-mail:
    type: email
    provider: sendgrid
    url: "{email}/v3/mail/send"
    headers:
      Authorization: "Bearer SG.test-key"
    from: "planning-bot@example.com"
  crm:
    type: http
    url: "{crm}/house-check"
    headers: {{X-Team: ops}}
rules:
  - name: order-ready-to-schedule
    source: house-check
    events: ["order.updated", "order.update"]
    when:
      all:
        - path: "$.payload.status"
          equals: "to schedule"
    actions:
      - to: ops-slack
        text: "Order {{{{ payload.id }}}} is ready to schedule"
      - to: planning-mail
        recipients: ["planning@example.com"]
        subject: "Order {{{{ payload.id }}}} is ready to schedule"
        text: "Order {{{{ payload.id }}}} moved to {{{{ payload.status }}}}."
  - name: big-files
    events: ["files.created"]
    when: "$.payload.files[?@.size > 1000000]"
    actions:
      - to: ops-slack
        text: "Large file uploaded for order {{{{ payload.order_id }}}}"
  - name: inspections-to-crm
    events: ["inspection.*"]
    actions:
      - to: crm
"#
    )
}

/// How long "nothing more happens" is watched for: past the next event it rules out, which in the
/// test rules is at the latest a retry 1 s + 20 % jitter later (or a first send, due at once).
pub const QUIET: Duration = Duration::from_millis(1500);

/// Watches for [`QUIET`] and asserts no request beyond the `expected` ones arrived meanwhile.
pub async fn assert_quiet(r: &Receiver, expected: usize) {
    let until = Instant::now() + QUIET;
    while Instant::now() < until {
        assert!(r.got().len() <= expected, "unexpected extra requests: {:?}", r.got());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(r.got().len(), expected, "unexpected extra requests: {:?}", r.got());
}

pub const WAIT: Duration = Duration::from_secs(10);

/// A TCP proxy the test can cut, standing between hookroute and PostgreSQL to simulate an outage.
pub struct Proxy {
    pub port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, links2, upstream) = (Arc::clone(&up), Arc::clone(&links), upstream.to_owned());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().expect("lock").push(link);
            }
        });
        Self { port, up, links }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().expect("lock").drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Sends events `ids` round-robin over `bases`, 30 at a time; returns the acknowledged ids.
pub async fn spread(bases: &[String], ids: std::ops::Range<u32>) -> Vec<u64> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let mut acked = Vec::new();
    let all: Vec<u32> = ids.collect();
    for chunk in all.chunks(30) {
        let mut sends = tokio::task::JoinSet::new();
        for &i in chunk {
            let body =
                serde_json::json!({"type": "order.updated", "payload": {"id": i, "status": "to schedule"}})
                    .to_string();
            let url = format!("{}/hooks/house-check", bases[i as usize % bases.len()]);
            let request = client
                .post(url)
                .header("signature", hookroute::sign_hex(SECRET, body.as_bytes()))
                .body(body)
                .send();
            sends.spawn(async move { (i, request.await.is_ok_and(|r| r.status() == 202)) });
        }
        while let Some(done) = sends.join_next().await {
            if let Ok((i, true)) = done {
                acked.push(u64::from(i));
            }
        }
    }
    acked
}

/// Writes a figure a test measured (a pass count, a duplicate rate) to the terminal even when the
/// test passes: `eprintln!` output is captured by libtest and shown only for failures, while a direct
/// write to the stderr handle is not. One line, prefixed by the test's name.
pub fn report(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("test").to_owned();
    let _ = writeln!(std::io::stderr(), "    [{test}] {line}");
}

/// The most requests that arrived within any window of `width` (both ends included).
pub fn max_in_window(got: &[Captured], width: Duration) -> usize {
    let mut at: Vec<Instant> = got.iter().map(|c| c.at).collect();
    at.sort_unstable();
    (0..at.len()).map(|i| at[i..].iter().take_while(|t| **t - at[i] <= width).count()).max().unwrap_or(0)
}

/// Polls `f` until it returns `Some` (at most `WAIT`).
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
