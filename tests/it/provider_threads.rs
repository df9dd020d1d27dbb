//! `thread:` on Telegram and SMTP email through the real app, the real store and the thread
//! mechanism (`actions::threads::ThreadProtocol`): the first message of a key records the
//! provider's id (Telegram `result.message_id`, the SMTP `Message-ID`), later ones carry it
//! (`reply_parameters.message_id`; `In-Reply-To` + `References`). Telegram through a local Bot
//! API stand-in on 127.0.0.1, SMTP through the aiosmtpd test server (tests/smtp_server.py).

use serde_json::{Value, json};

use crate::smtp::{SmtpServer, destination, header, rules as smtp_rules};
use crate::support::{App, Receiver, Reply, SECRET, WAIT};

const TELEGRAM_TOKEN: &str = "424242:AAH-thread-test-token";

fn telegram_rules(api_url: &str) -> String {
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
  ops-telegram:
    type: telegram
    api_url: "{api_url}"
    token: "{TELEGRAM_TOKEN}"
    chat_id: -100123
rules:
  - name: order-updates
    events: ["order.*"]
    actions:
      - to: ops-telegram
        thread: "order-{{{{ payload.id }}}}"
        text: "Order {{{{ payload.id }}}}: {{{{ payload.status }}}}"
"#
    )
}

fn order(id: u32, status: &str) -> Value {
    json!({"type": "order.updated", "payload": {"id": id, "status": status}})
}

/// The Bot API's answer to the `i`-th request: a new `message_id` each (501, 502, …).
fn sent(i: usize) -> Reply {
    let bodies = [
        r#"{"ok":true,"result":{"message_id":501,"chat":{"id":-100123},"text":"a"}}"#,
        r#"{"ok":true,"result":{"message_id":502,"chat":{"id":-100123},"text":"b"}}"#,
        r#"{"ok":true,"result":{"message_id":503,"chat":{"id":-100123},"text":"c"}}"#,
    ];
    Reply(200, None, bodies[i])
}

/// Two events of order 7 and one of order 8: order 7's second message replies to the
/// `message_id` its first one got; the two first messages reply to nothing.
#[tokio::test]
async fn a_telegram_reply_carries_the_first_messages_id() {
    let bot = Receiver::with_script((0..3).map(sent).collect()).await;
    let app = App::start(&telegram_rules(&bot.url)).await;
    for (id, status) in [(7, "paid"), (7, "shipped"), (8, "paid")] {
        assert_eq!(app.post_event(order(id, status)).await, 202);
    }
    let got = bot.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3, "{got:#?}");
    // The i-th request was answered with message_id 501 + i.
    let mut opener_of_7 = None;
    let mut reply_of_7 = None;
    for (i, c) in got.iter().enumerate() {
        assert_eq!(c.method, "POST");
        assert_eq!(c.path, format!("/bot{TELEGRAM_TOKEN}/sendMessage"));
        let body = c.json();
        assert_eq!(body["chat_id"], -100123);
        let text = body["text"].as_str().expect("text").to_owned();
        match text.as_str() {
            "Order 7: paid" => {
                assert!(body.get("reply_parameters").is_none(), "a first message: {body}");
                opener_of_7 = Some(501 + i as i64);
            }
            "Order 8: paid" => assert!(body.get("reply_parameters").is_none(), "a first message: {body}"),
            "Order 7: shipped" => reply_of_7 = Some(body["reply_parameters"].clone()),
            other => panic!("unexpected message {other:?}"),
        }
    }
    let opener = opener_of_7.expect("order 7's first message was sent");
    assert_eq!(
        reply_of_7.expect("order 7's second message was sent"),
        json!({"message_id": opener, "allow_sending_without_reply": true}),
        "the reply names the message the first one created"
    );
}

/// Two mails of one order: the second's `In-Reply-To` and `References` are the first's
/// `Message-ID`; a mail of another order starts its own thread.
#[tokio::test]
#[ignore = "needs python3 with aiosmtpd"]
async fn an_smtp_reply_carries_in_reply_to_and_references_of_the_first_mail() {
    let server = SmtpServer::start(&["--tls", "none"]).await;
    let app =
        App::start(&smtp_rules(&destination("ops", server.port, "    tls: none\n"), &["ops@example.com"]))
            .await;
    assert_eq!(app.post_event(order(7, "paid")).await, 202);
    assert_eq!(app.post_event(order(7, "shipped")).await, 202);
    let got = server.messages(2).await;
    let mails: Vec<&str> = got.iter().map(|m| m["data"].as_str().expect("data")).collect();
    let by_subject = |s: &str| {
        *mails
            .iter()
            .find(|d| header(d, "Subject") == Some(s))
            .unwrap_or_else(|| panic!("no {s}: {mails:#?}"))
    };
    let first = by_subject("Order 7: paid");
    let second = by_subject("Order 7: shipped");
    let first_id = header(first, "Message-ID").expect("the first mail has a Message-ID");
    assert!(header(first, "In-Reply-To").is_none(), "the first mail opens the thread: {first}");
    assert!(header(first, "References").is_none(), "{first}");
    assert_eq!(header(second, "In-Reply-To"), Some(first_id), "{second}");
    assert_eq!(header(second, "References"), Some(first_id), "{second}");
    assert_ne!(header(second, "Message-ID"), Some(first_id), "each mail has its own Message-ID");

    assert_eq!(app.post_event(order(8, "paid")).await, 202);
    let got = server.messages(3).await;
    let other = got
        .iter()
        .map(|m| m["data"].as_str().expect("data"))
        .find(|d| header(d, "Subject") == Some("Order 8: paid"));
    let other = other.expect("order 8's mail");
    assert!(header(other, "In-Reply-To").is_none(), "another order opens its own thread: {other}");
}
