//! The chat and paging destination types end to end (issue 15): one local receiver per provider
//! checks the exact request (method, path, headers, JSON) against tests/data/destinations.md
//! (sections 7–12) and answers each documented success and error shape; the store shows what
//! hookroute made of the answer.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{App, Captured, Receiver, Reply, SECRET, WAIT};

const TELEGRAM_TOKEN: &str = "123456:AAH-test-bot-token";
const ROUTING_KEY: &str = "R0UT1NGKEY0123456789abcdef012345";

struct Receivers {
    teams: Receiver,
    discord: Receiver,
    chat: Receiver,
    mattermost: Receiver,
    telegram: Receiver,
    pagerduty: Receiver,
}

impl Receivers {
    async fn start(scripts: [Vec<Reply>; 6]) -> Self {
        let [teams, discord, chat, mattermost, telegram, pagerduty] = scripts;
        Self {
            teams: Receiver::with_script(teams).await,
            discord: Receiver::with_script(discord).await,
            chat: Receiver::with_script(chat).await,
            mattermost: Receiver::with_script(mattermost).await,
            telegram: Receiver::with_script(telegram).await,
            pagerduty: Receiver::with_script(pagerduty).await,
        }
    }

    fn rules(&self) -> String {
        format!(
            r#"
settings:
  delivery:
    # 5 s: the longest wait, so Telegram's `retry_after: 2` is not clamped to 1 s.
    schedule: [1s, 5s]
    max_attempts: 3
sources:
  house-check:
    dedup: false
    verify: {{scheme: hmac-sha256, header: signature, secrets: ["{SECRET}"]}}
destinations:
  teams:
    type: teams
    url: "{teams}/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=SIGSECRET"
  discord:
    type: discord
    url: "{discord}/api/webhooks/1/DISCORDTOKEN"
    username: hookroute
  chat:
    type: google-chat
    url: "{chat}/v1/spaces/S/messages?key=KEY&token=CHATTOKEN"
  mattermost:
    type: mattermost
    url: "{mattermost}/hooks/MMKEY"
    channel: town-square
    username: hookroute
  telegram:
    type: telegram
    api_url: "{telegram}"
    token: "{TELEGRAM_TOKEN}"
    chat_id: -100123
    parse_mode: HTML
  pagerduty:
    type: pagerduty
    url: "{pagerduty}/v2/enqueue"
    routing_key: "{ROUTING_KEY}"
rules:
  - name: orders
    events: ["order.*"]
    actions:
      - {{to: teams, text: "Order {{{{ payload.id }}}}: {{{{ payload.status }}}}"}}
      - {{to: discord, text: "Order {{{{ payload.id }}}}: {{{{ payload.status }}}}"}}
      - {{to: chat, text: "Order {{{{ payload.id }}}}: {{{{ payload.status }}}}", thread: "order-{{{{ payload.id }}}}"}}
      - {{to: mattermost, text: "Order {{{{ payload.id }}}}: {{{{ payload.status }}}}"}}
      - {{to: telegram, text: "Order <b>{{{{ payload.id }}}}</b>"}}
      - to: pagerduty
        text: "Order {{{{ payload.id }}}} failed"
        thread: "order-{{{{ payload.id }}}}"
        severity: critical
        custom_details: {{status: "{{{{ payload.status }}}}"}}
"#,
            teams = self.teams.url,
            discord = self.discord.url,
            chat = self.chat.url,
            mattermost = self.mattermost.url,
            telegram = self.telegram.url,
            pagerduty = self.pagerduty.url,
        )
    }
}

fn event() -> Value {
    json!({"type": "order.updated", "payload": {"id": 7, "status": "failed"}})
}

async fn one(r: &Receiver, n: usize) -> Vec<Captured> {
    let got = r.wait_for(n, WAIT).await;
    assert_eq!(got.len(), n, "{got:?}");
    got
}

fn check_post_json(c: &Captured, path: &str, query: Option<&str>, body: &Value) {
    assert_eq!(c.method, "POST");
    assert_eq!(c.path, path);
    assert_eq!(c.query.as_deref(), query);
    assert_eq!(c.headers.get("content-type").and_then(|v| v.to_str().ok()), Some("application/json"));
    assert!(c.headers.get("x-hookroute-delivery").is_some());
    assert_eq!(&c.json(), body, "{path}");
}

/// The stored status of each destination's delivery, once none is pending (at most `WAIT` + 4 s).
async fn settled(app: &App, n: usize) -> Vec<hookroute::store::DeliveryRow> {
    let deadline = std::time::Instant::now() + WAIT + Duration::from_secs(4);
    loop {
        let rows = app.store.list(hookroute::store::Filter::default()).await.expect("list");
        if rows.len() == n && rows.iter().all(|d| d.status == "delivered" || d.status == "dead") {
            return rows;
        }
        assert!(std::time::Instant::now() < deadline, "deliveries never settled: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn row<'a>(
    rows: &'a [hookroute::store::DeliveryRow],
    destination: &str,
) -> &'a hookroute::store::DeliveryRow {
    rows.iter().find(|d| d.destination == destination).expect("a delivery to the destination")
}

#[tokio::test]
async fn each_type_sends_its_documented_request_and_is_delivered_on_its_success_shape() {
    let r = Receivers::start([
        vec![Reply(202, None, "")],
        vec![Reply(204, None, "")],
        vec![Reply(200, None, r#"{"name":"spaces/S/messages/M","thread":{"name":"spaces/S/threads/T"}}"#)],
        vec![Reply(200, None, "ok")],
        vec![Reply(200, None, r#"{"ok":true,"result":{"message_id":77,"chat":{"id":-100123}}}"#)],
        vec![Reply(202, None, r#"{"status":"success","message":"Event processed","dedup_key":"order-7"}"#)],
    ])
    .await;
    let app = App::start(&r.rules()).await;
    assert_eq!(app.post_event(event()).await, 202);

    let teams = &one(&r.teams, 1).await[0];
    check_post_json(
        teams,
        "/workflows/abc/triggers/manual/paths/invoke",
        Some("api-version=1&sig=SIGSECRET"),
        &json!({"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.2",
                "body": [{"type": "TextBlock", "text": "Order 7: failed", "wrap": true}]
            }
        }]}),
    );
    check_post_json(
        &one(&r.discord, 1).await[0],
        "/api/webhooks/1/DISCORDTOKEN",
        None,
        &json!({"content": "Order 7: failed", "username": "hookroute", "allowed_mentions": {"parse": []}}),
    );
    check_post_json(
        &one(&r.chat, 1).await[0],
        "/v1/spaces/S/messages",
        Some("key=KEY&token=CHATTOKEN&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"),
        &json!({"text": "Order 7: failed", "thread": {"threadKey": "order-7"}}),
    );
    check_post_json(
        &one(&r.mattermost, 1).await[0],
        "/hooks/MMKEY",
        None,
        &json!({"text": "Order 7: failed", "channel": "town-square", "username": "hookroute"}),
    );
    check_post_json(
        &one(&r.telegram, 1).await[0],
        &format!("/bot{TELEGRAM_TOKEN}/sendMessage"),
        None,
        &json!({"chat_id": -100123, "parse_mode": "HTML", "text": "Order <b>7</b>"}),
    );
    check_post_json(
        &one(&r.pagerduty, 1).await[0],
        "/v2/enqueue",
        None,
        &json!({"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "order-7", "payload": {
            "summary": "Order 7 failed", "source": "hookroute", "severity": "critical",
            "custom_details": {"status": "failed"}}}),
    );
    let rows = settled(&app, 6).await;
    for d in &rows {
        assert_eq!(
            (d.destination.as_str(), d.status.as_str(), d.attempts),
            (d.destination.as_str(), "delivered", 1)
        );
    }
}

#[tokio::test]
async fn documented_errors_are_retried_or_dead_and_no_secret_is_stored() {
    let r = Receivers::start([
        // Teams: a 2xx whose text is an error is a refused message.
        vec![Reply(200, None, "Summary or Text is required.")],
        // Discord: rate limited (wait in the body), then an unknown webhook.
        vec![
            Reply(429, None, r#"{"message":"You are being rate limited.","retry_after":0.5,"global":false}"#),
            Reply(404, None, r#"{"code":10015,"message":"Unknown Webhook"}"#),
        ],
        // Google Chat: 429 retried, then delivered.
        vec![Reply(429, None, ""), Reply(200, None, r#"{"name":"spaces/S/messages/M"}"#)],
        // Mattermost: 400 is permanent.
        vec![Reply(400, None, "Unable to parse incoming data")],
        // Telegram: ok:false 429 retried after parameters.retry_after, then delivered.
        vec![
            // (a description echoing the token: it must not be stored)
            Reply(429, None, r#"{"ok":false,"error_code":429,"description":"Too Many Requests for bot123456:AAH-test-bot-token: retry after 2","parameters":{"retry_after":2}}"#),
            Reply(200, None, r#"{"ok":true,"result":{"message_id":78}}"#),
        ],
        // PagerDuty: 400 invalid event is permanent.
        vec![Reply(400, None, r#"{"status":"invalid event","message":"Event object is invalid"}"#)],
    ])
    .await;
    let app = App::start(&r.rules()).await;
    assert_eq!(app.post_event(event()).await, 202);
    let rows = settled(&app, 6).await;
    let check = |destination: &str, status: &str, attempts: i64| {
        let d = row(&rows, destination);
        assert_eq!((d.status.as_str(), d.attempts), (status, attempts), "{d:#?}");
    };
    check("teams", "dead", 1);
    check("discord", "dead", 2);
    check("chat", "delivered", 2);
    check("mattermost", "dead", 1);
    check("telegram", "delivered", 2);
    check("pagerduty", "dead", 1);
    assert!(
        row(&rows, "teams").last_error.as_deref().is_some_and(|e| e.contains("Summary or Text is required"))
    );
    // Telegram's retry waited for `retry_after` (2 s), not the schedule's 1 s (a lower bound only).
    let tg = r.telegram.got();
    assert!(tg[1].at - tg[0].at >= Duration::from_millis(1_950), "{:?}", tg[1].at - tg[0].at);
    let tg_row = row(&rows, "telegram");
    assert!(
        tg_row.history[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("telegram error 429") && e.contains("[redacted]")),
        "{tg_row:#?}"
    );
    let stored = format!("{rows:?}");
    for secret in [TELEGRAM_TOKEN, ROUTING_KEY, "DISCORDTOKEN", "CHATTOKEN", "SIGSECRET", "MMKEY"] {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
    }
}

/// `hookroute test` (the dry run) says what it cut to fit a provider's limit and masks every
/// secret of the new types; `hookroute check` warns about a `thread:` a type cannot use.
#[test]
fn the_dry_run_notes_cuts_and_masks_secrets_and_check_warns_about_threads() {
    use crate::cli::{run, text};
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = format!(
        r#"
sources:
  house-check:
    verify: {{scheme: hmac-sha256, header: signature, secrets: ["{SECRET}"]}}
destinations:
  discord:
    type: discord
    url: "https://discord.com/api/webhooks/1/DISCORDTOKEN"
  telegram:
    type: telegram
    token: "{TELEGRAM_TOKEN}"
    chat_id: 42
  pagerduty:
    type: pagerduty
    routing_key: "{ROUTING_KEY}"
  teams:
    type: teams
    url: "https://x.webhook.office.com/webhookb2/TEAMSSECRET"
rules:
  - name: long
    events: ["order.*"]
    actions:
      - {{to: discord, text: "{{{{ payload.note }}}}"}}
      - {{to: telegram, text: "{{{{ payload.note }}}}"}}
      - {{to: pagerduty, text: "{{{{ payload.note }}}}", thread: "order-{{{{ payload.id }}}}"}}
      - {{to: teams, text: "short", thread: "order-{{{{ payload.id }}}}"}}
"#
    );
    let rules_path = dir.path().join("rules.yaml");
    std::fs::write(&rules_path, rules).expect("write");
    let event_path = dir.path().join("event.json");
    let note = "x".repeat(5_000);
    std::fs::write(
        &event_path,
        json!({"type": "order.updated", "payload": {"id": 7, "note": note}}).to_string(),
    )
    .expect("write");
    let rules_arg = rules_path.to_str().expect("utf8");

    let out = run(&["test", "--rules", rules_arg, event_path.to_str().expect("utf8")]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for note in [
        "NOTE: content cut from 5000 to 2000 characters (the provider's limit)",
        "NOTE: text cut from 5000 to 4096 characters (the provider's limit)",
        "NOTE: summary cut from 5000 to 1024 characters (the provider's limit)",
    ] {
        assert!(stdout.contains(note), "{note:?} missing in\n{stdout}");
    }
    assert!(stdout.contains("/bot[destinations.telegram.token]/sendMessage"), "{stdout}");
    for secret in [TELEGRAM_TOKEN, ROUTING_KEY, "DISCORDTOKEN", "TEAMSSECRET"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret), "{secret} shown:\n{stdout}\n{stderr}");
    }

    let out = run(&["check", "--rules", rules_arg]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "rules[0].actions[3].thread: `thread` is ignored: a teams destination has no conversations (threads need slack with `token` + `channel`, telegram, email with provider: smtp, google-chat or pagerduty)"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("actions[2].thread"), "pagerduty uses its thread: {stdout}");
}

/// A Telegram reply through the sender itself: the stored body given its thread's parent
/// reference (`telegram::with_parent`) carries `reply_parameters.message_id`, and the attempt
/// exposes the new message's `result.message_id` for the thread store.
#[tokio::test]
async fn a_telegram_reply_names_its_parent_and_the_send_exposes_the_message_id() {
    use hookroute::actions::{RenderedRequest, telegram};
    use hookroute::deliver::{LogContext, Sender};
    let r = Receivers::start([
        vec![],
        vec![],
        vec![],
        vec![],
        vec![Reply(200, None, r#"{"ok":true,"result":{"message_id":78,"chat":{"id":-100123}}}"#)],
        vec![],
    ])
    .await;
    let app = App::start(&r.rules()).await;
    let config = app.reloader.current().load_full();
    let dest = config.destinations.get("telegram").expect("destination");
    let stored = json!({"chat_id": -100123, "text": "Order 7: shipped"}).to_string();
    let body = telegram::with_parent(stored.as_bytes(), 77).expect("a JSON object");
    let req =
        RenderedRequest { body: body.into(), content_type: Some("application/json".into()), notes: vec![] };
    let context = LogContext { event_id: "evt", rule: "orders", delivery_id: 9, series: 1 };
    let attempt = Sender::new().expect("sender").send(dest, &req, &context).await;
    assert_eq!(attempt.outcome, hookroute::policy::Outcome::Delivered { status: 200 });
    let reference = attempt.reference.expect("the new message's reference");
    assert_eq!(reference.0, json!({"message_id": 78}));
    let got = one(&r.telegram, 1).await;
    check_post_json(
        &got[0],
        &format!("/bot{TELEGRAM_TOKEN}/sendMessage"),
        None,
        &json!({"chat_id": -100123, "text": "Order 7: shipped",
                "reply_parameters": {"message_id": 77, "allow_sending_without_reply": true}}),
    );
}
