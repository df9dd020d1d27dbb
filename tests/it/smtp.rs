//! `type: email` with `provider: smtp` against a real SMTP server on 127.0.0.1: Python's aiosmtpd
//! (tests/smtp_server.py), with STARTTLS and implicit TLS on a certificate made at test time by the
//! `openssl` CLI (a throwaway CA and a server certificate for 127.0.0.1), and AUTH PLAIN and LOGIN.
//! The server prints each message it receives; the tests read its headers and body.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookroute::actions::RenderedRequest;
use hookroute::deliver::{LogContext, Sender};
use hookroute::policy::Outcome;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{App, SECRET, WAIT};

const PASSWORD: &str = "smtp-pass-9f2c";

pub struct SmtpServer {
    pub port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
    _child: Child,
}

impl SmtpServer {
    pub async fn start(args: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs tests/smtp_server.py");
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready =
            tokio::time::timeout(WAIT, out.next_line()).await.expect("the SMTP server starts in time");
        let ready = ready.expect("read").expect("a READY line (is aiosmtpd installed?)");
        let port = ready.strip_prefix("READY ").and_then(|p| p.parse().ok()).expect("READY <port>");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if let Ok(v) = serde_json::from_str(&line) {
                    sink.lock().expect("lock").push(v);
                }
            }
        });
        Self { port, lines, _child: child }
    }

    /// Waits until `n` messages arrived (at most `WAIT`), then returns them.
    pub async fn messages(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let got: Vec<Value> = self
                .lines
                .lock()
                .expect("lock")
                .iter()
                .filter(|v| v.get("data").is_some())
                .cloned()
                .collect();
            if got.len() >= n || Instant::now() > deadline {
                assert_eq!(got.len(), n, "{got:#?}");
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn auth_mechanisms(&self) -> Vec<String> {
        let lines = self.lines.lock().expect("lock");
        lines.iter().filter_map(|v| v.get("auth_mechanism")?.as_str().map(str::to_owned)).collect()
    }
}

/// A throwaway CA and a server certificate for 127.0.0.1 signed by it, made by the `openssl` CLI.
async fn certificates(dir: &Path) -> PathBuf {
    let run = |args: &[&str]| {
        let mut c = Command::new("openssl");
        c.args(args).current_dir(dir).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        c
    };
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    for args in [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=hookroute-test-ca",
        ][..],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
            "-subj",
            "/CN=127.0.0.1",
        ][..],
        &[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ][..],
    ] {
        assert!(run(args).status().await.expect("openssl runs").success(), "openssl {args:?}");
    }
    dir.to_path_buf()
}

fn tls_args<'a>(mode: &'a str, dir: &'a Path) -> Vec<String> {
    vec![
        "--tls".into(),
        mode.into(),
        "--cert".into(),
        dir.join("cert.pem").display().to_string(),
        "--key".into(),
        dir.join("key.pem").display().to_string(),
    ]
}

pub fn rules(destinations: &str, recipients: &[&str]) -> String {
    let actions: Vec<String> = recipients
        .iter()
        .map(|r| {
            let to = r.split('@').next().unwrap_or("x");
            format!(
                r#"
      - to: {to}
        recipients: ["{r}"]
        subject: "Order {{{{ payload.id }}}}: {{{{ payload.status }}}}"
        text: "Order {{{{ payload.id }}}} is {{{{ payload.status }}}}."
        html: "<p>Order <b>{{{{ payload.id }}}}</b></p>"
        reply_to: "desk@example.com"
        thread: "order-{{{{ payload.id }}}}""#
            )
        })
        .collect();
    format!(
        r#"
settings:
  delivery:
    schedule: [1s]
    max_attempts: 3
sources:
  house-check:
    dedup: false
    verify: {{scheme: hmac-sha256, header: signature, secrets: ["{SECRET}"]}}
destinations:
{destinations}
rules:
  - name: orders
    events: ["order.*"]
    actions:{}
"#,
        actions.join("")
    )
}

pub fn destination(name: &str, port: u16, extra: &str) -> String {
    format!(
        "  {name}:\n    type: email\n    provider: smtp\n    smarthost: \"127.0.0.1:{port}\"\n    from: \"Order Bot <orders@example.com>\"\n    timeout: 5s\n{extra}"
    )
}

pub fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.split("\r\n\r\n").next().unwrap_or(data).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn deliveries(
    app: &App,
    n: usize,
    settled: impl Fn(&hookroute::store::DeliveryRow) -> bool,
) -> Vec<hookroute::store::DeliveryRow> {
    let deadline = Instant::now() + WAIT + Duration::from_secs(4);
    loop {
        let rows = app.store.list(hookroute::store::Filter::default()).await.expect("list");
        if rows.len() == n && rows.iter().all(&settled) {
            return rows;
        }
        assert!(Instant::now() < deadline, "deliveries never settled: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn event() -> Value {
    json!({"type": "order.updated", "payload": {"id": 7, "status": "shipped"}})
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd"]
async fn starttls_with_auth_plain_delivers_the_headers_and_body_and_a_wrong_password_is_dead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = certificates(dir.path()).await;
    let mut args = tls_args("starttls", &certs);
    args.extend(["--auth".to_owned(), format!("bot:{PASSWORD}")]);
    let server = SmtpServer::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let ca = certs.join("ca.pem").display().to_string();
    let auth = |pw: &str| {
        format!("    tls: starttls\n    ca_file: \"{ca}\"\n    username: bot\n    password: \"{pw}\"\n")
    };
    let dests = [
        destination("ops", server.port, &auth(PASSWORD)),
        destination("wrong", server.port, &auth("not-it-1234")),
    ];
    let app = App::start(&rules(&dests.join("\n"), &["ops@example.com", "wrong@example.com"])).await;
    assert_eq!(app.post_event(event()).await, 202);

    let got = server.messages(1).await;
    let m = &got[0];
    assert_eq!(m["tls"], true, "STARTTLS was used");
    assert_eq!(m["auth"], "PLAIN:bot");
    assert_eq!(m["mail_from"], "orders@example.com");
    assert_eq!(m["rcpt_tos"], json!(["ops@example.com"]));
    let data = m["data"].as_str().expect("data");
    assert!(
        header(data, "From").is_some_and(|f| f.contains("Order Bot") && f.contains("<orders@example.com>")),
        "{data}"
    );
    assert_eq!(header(data, "To"), Some("ops@example.com"));
    assert_eq!(header(data, "Subject"), Some("Order 7: shipped"));
    assert_eq!(header(data, "Reply-To"), Some("desk@example.com"));
    assert!(header(data, "Date").is_some(), "{data}");
    assert!(header(data, "In-Reply-To").is_none(), "a first message has no parent: {data}");
    let rows = deliveries(&app, 2, |d| d.status == "delivered" || d.status == "dead").await;
    let ops = rows.iter().find(|d| d.destination == "ops").expect("ops");
    assert_eq!((ops.status.as_str(), ops.attempts), ("delivered", 1));
    let message_id = format!("<hookroute.{}.{}@example.com>", ops.event_id.replace('-', ""), ops.id);
    assert_eq!(header(data, "Message-ID"), Some(message_id.as_str()));
    assert!(data.contains("multipart/alternative") && data.contains("Order 7 is shipped."), "{data}");
    assert_eq!(ops.history[0].status_code, Some(250));

    let wrong = rows.iter().find(|d| d.destination == "wrong").expect("wrong");
    assert_eq!((wrong.status.as_str(), wrong.attempts), ("dead", 1), "535 is permanent: {wrong:#?}");
    assert!(wrong.last_error.as_deref().is_some_and(|e| e.contains("535")), "{wrong:#?}");
    let stored = format!("{rows:?}");
    assert!(!stored.contains(PASSWORD) && !stored.contains("not-it-1234"), "{stored}");
    assert!(server.auth_mechanisms().iter().all(|m| m == "PLAIN"));
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd"]
async fn implicit_tls_with_auth_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = certificates(dir.path()).await;
    let mut args = tls_args("implicit", &certs);
    args.extend(["--auth".to_owned(), format!("bot:{PASSWORD}"), "--only-login".to_owned()]);
    let server = SmtpServer::start(&args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let ca = certs.join("ca.pem").display().to_string();
    let extra = format!(
        "    tls: implicit\n    ca_file: \"{ca}\"\n    username: bot\n    password: \"{PASSWORD}\"\n"
    );
    let app = App::start(&rules(&destination("ops", server.port, &extra), &["ops@example.com"])).await;
    assert_eq!(app.post_event(event()).await, 202);
    let rows = deliveries(&app, 1, |d| d.status != "pending").await;
    assert_eq!(rows[0].status, "delivered", "{rows:#?}");
    let got = server.messages(1).await;
    assert_eq!(got[0]["tls"], true);
    assert_eq!(got[0]["auth"], "LOGIN:bot");
    assert_eq!(server.auth_mechanisms(), vec!["LOGIN"]);
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd"]
async fn replies_are_classified_and_a_retry_reuses_the_message_id() {
    let server = SmtpServer::start(&["--tls", "none"]).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let none = "    tls: none\n";
    let dests = [
        destination("later", server.port, none),
        destination("nobody", server.port, none),
        destination("flaky", server.port, none),
        destination("refused", closed, none),
    ];
    let recipients = ["later@example.com", "nobody@example.com", "flaky@example.com", "refused@example.com"];
    let app = App::start(&rules(&dests.join("\n"), &recipients)).await;
    assert_eq!(app.post_event(event()).await, 202);
    // `flaky` is refused with 451 at DATA once, then accepted: two messages with one Message-ID.
    let got = server.messages(2).await;
    let id = |m: &Value| header(m["data"].as_str().expect("data"), "Message-ID").map(str::to_owned);
    assert_eq!(got[0]["refused"], 451);
    assert!(got[1].get("refused").is_none());
    assert_eq!(id(&got[0]), id(&got[1]), "the retry sent the same Message-ID");
    let rows = deliveries(&app, 4, |d| match d.destination.as_str() {
        "later" | "refused" => d.attempts >= 2,
        _ => d.status == "delivered" || d.status == "dead",
    })
    .await;
    let of = |name: &str| rows.iter().find(|d| d.destination == name).expect("row");
    assert_eq!((of("flaky").status.as_str(), of("flaky").attempts), ("delivered", 2));
    assert_eq!((of("nobody").status.as_str(), of("nobody").attempts), ("dead", 1), "550 is permanent");
    assert!(of("nobody").last_error.as_deref().is_some_and(|e| e.contains("550")));
    for transient in ["later", "refused"] {
        let d = of(transient);
        assert!(d.attempts >= 2 && d.status != "delivered", "{transient} is retried: {d:#?}");
    }
    assert!(of("later").history[0].error.as_deref().is_some_and(|e| e.contains("451")), "{:#?}", of("later"));
}

#[tokio::test]
#[ignore = "needs python3 with aiosmtpd"]
async fn a_reply_carries_in_reply_to_and_references_and_the_send_exposes_its_message_id() {
    let server = SmtpServer::start(&["--tls", "none"]).await;
    // The rule never fires: the test sends through the destination itself.
    let app =
        App::start(&rules(&destination("ops", server.port, "    tls: none\n"), &["ops@example.com"])).await;
    let config = app.reloader.current().load_full();
    let dest = config.destinations.get("ops").expect("destination");
    let parent = "<hookroute.first.1@example.com>";
    let mail = json!({"from": "orders@example.com", "to": ["ops@example.com"], "subject": "Order 7",
                      "text": "shipped", "thread": "order-7", "parent": parent});
    let req = RenderedRequest { body: mail.to_string().into(), content_type: None, notes: vec![] };
    let context = LogContext { event_id: "evt-2", rule: "orders", delivery_id: 2, series: 1 };
    let attempt = Sender::new().expect("sender").send(dest, &req, &context).await;
    assert_eq!(attempt.outcome, Outcome::Delivered { status: 250 });
    let reference = attempt.reference.expect("the Message-ID it was sent with");
    let sent_id = reference.0["message_id"].as_str().expect("a Message-ID").to_owned();
    assert_eq!(sent_id, "<hookroute.evt2.2@example.com>");
    let got = server.messages(1).await;
    let data = got[0]["data"].as_str().expect("data");
    assert_eq!(header(data, "Message-ID"), Some(sent_id.as_str()));
    assert_eq!(header(data, "In-Reply-To"), Some(parent));
    assert_eq!(header(data, "References"), Some(parent));
}
