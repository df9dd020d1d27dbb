//! `type: email` with `provider: smtp`: the pure half. What is stored for a delivery is the
//! rendered mail as JSON ([`StoredMail`]; no relay, no password); the deliverer builds the MIME
//! message with [`message`] at each attempt, with a `Message-ID` made from the delivery
//! ([`message_id`]) so a retry sends the same one, and reads the relay's reply through
//! [`reply_outcome`]: 2xx delivered, 4xx transient, 5xx permanent, no reply (connection, TLS,
//! timeout) retried.
//!
//! Threads: [`message`] takes the Message-ID of the thread's first mail (the "parent reference")
//! and sets `In-Reply-To` and `References` to it; the parent reference of a sent mail is the
//! Message-ID it was sent with.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::RenderedRequest;
use super::email::Mail;
use crate::policy::Outcome;
use crate::secret::Secret;

/// `tls:` of an SMTP destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which the relay must offer (the default).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// No TLS: only for a relay on a trusted network; no AUTH is sent over it.
    None,
}

/// The relay of an SMTP destination, compiled from `smarthost`, `tls`, `username`, `password`,
/// `hello` and `ca_file`.
#[derive(Debug, Clone)]
pub struct SmtpRelay {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The EHLO name (default `localhost`, as Alertmanager).
    pub hello: String,
    /// Extra trusted roots (PEM) for a relay with a private CA.
    pub ca_pem: Option<Vec<u8>>,
}

/// A rendered mail as stored with its delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The action's rendered `thread:` (for the thread store; not a header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// The Message-ID of the thread's first mail, when the thread store knows it: sent as
    /// `In-Reply-To` and `References`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

pub const CONTENT_TYPE: &str = "application/vnd.hookroute.mail+json";

pub fn stored_mail(mail: &Mail, thread: Option<&str>) -> RenderedRequest {
    let stored = StoredMail {
        from: mail.from.clone(),
        to: mail.to.clone(),
        subject: mail.subject.clone(),
        reply_to: mail.reply_to.clone(),
        text: mail.text.clone(),
        html: mail.html.clone(),
        thread: thread.map(str::to_owned),
        parent: None,
    };
    RenderedRequest {
        body: Bytes::from(serde_json::to_vec(&stored).unwrap_or_default()),
        content_type: Some(CONTENT_TYPE.into()),
        notes: Vec::new(),
    }
}

/// The Message-ID of one delivery: the same for every attempt of it, unique across events.
pub fn message_id(event_id: &str, delivery_id: i64, from: &str) -> String {
    let address = from.trim().strip_suffix('>').and_then(|a| a.rsplit_once('<')).map_or(from, |(_, a)| a);
    let domain = address.rsplit_once('@').map_or("hookroute.invalid", |(_, d)| d.trim());
    let event: String = event_id.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("<hookroute.{event}.{delivery_id}@{domain}>")
}

/// The MIME message: headers `From`, `To`, `Subject`, `Date`, `Message-ID`, `Reply-To?`, and with
/// a parent `In-Reply-To` + `References`; text, HTML, or both as `multipart/alternative`.
pub fn message(mail: &StoredMail, message_id: &str, parent: Option<&str>) -> Result<lettre::Message, String> {
    use lettre::message::{Mailbox, MultiPart, SinglePart};
    let mailbox = |field: &str, v: &str| -> Result<Mailbox, String> {
        v.parse::<Mailbox>().map_err(|e| format!("{field}: {v:?} is not an address: {e}"))
    };
    let mut b = lettre::Message::builder()
        .from(mailbox("from", &mail.from)?)
        .subject(super::email::one_line(&mail.subject))
        .date_now()
        .message_id(Some(message_id.to_owned()));
    for to in &mail.to {
        b = b.to(mailbox("to", to)?);
    }
    if let Some(r) = &mail.reply_to {
        b = b.reply_to(mailbox("reply_to", r)?);
    }
    if let Some(parent) = parent {
        b = b.in_reply_to(parent.to_owned()).references(parent.to_owned());
    }
    let built = match (&mail.text, &mail.html) {
        (Some(text), Some(html)) => {
            b.multipart(MultiPart::alternative_plain_html(text.clone(), html.clone()))
        }
        (Some(text), None) => b.singlepart(SinglePart::plain(text.clone())),
        (None, Some(html)) => b.singlepart(SinglePart::html(html.clone())),
        (None, None) => return Err("the mail has neither text nor html".into()),
    };
    built.map_err(|e| format!("cannot build the message: {e}"))
}

/// What the relay's reply means: `code` is its three-digit code, `None` when there was no reply
/// (connection refused, TLS failure, timeout).
pub fn reply_outcome(code: Option<u16>, message: &str) -> Outcome {
    let reason = |what: &str| match code {
        Some(c) => format!("SMTP {what} {c}: {}", message.trim()),
        None => format!("SMTP {what}: {}", message.trim()),
    };
    match code {
        Some(c @ 200..=299) => Outcome::Delivered { status: c },
        Some(400..=499) | None => Outcome::Retry { after: None, reason: reason("transient") },
        Some(_) => Outcome::Dead { reason: reason("permanent") },
    }
}

/// SMTP conversations: the reference is `{"message_id": "<…>"}`, the Message-ID the first mail
/// was sent with. The relay's answer names no message, so the sender hands [`reference`] that
/// Message-ID itself; a reply's stored mail gains `parent`, sent as `In-Reply-To` + `References`.
///
/// [`reference`]: super::threads::ThreadProtocol::reference
pub struct SmtpThreads;

impl super::threads::ThreadProtocol for SmtpThreads {
    fn reference(&self, sent_message_id: &[u8]) -> Option<super::threads::ParentRef> {
        let id = std::str::from_utf8(sent_message_id).ok()?.trim();
        let valid =
            id.starts_with('<') && id.ends_with('>') && id.contains('@') && !id.contains(['\r', '\n']);
        valid.then(|| super::threads::ParentRef(serde_json::json!({ "message_id": id })))
    }

    fn apply_parent(
        &self,
        request: &RenderedRequest,
        parent: &super::threads::ParentRef,
        _options: super::threads::ReplyOptions,
    ) -> Result<RenderedRequest, String> {
        let id = parent
            .0
            .get("message_id")
            .and_then(serde_json::Value::as_str)
            .ok_or("the stored mail thread reference has no message_id")?;
        let mut mail: StoredMail = serde_json::from_slice(&request.body)
            .map_err(|e| format!("the stored mail is not readable: {e}"))?;
        mail.parent = Some(id.to_owned());
        let body = serde_json::to_vec(&mail).map_err(|e| format!("cannot store the mail: {e}"))?;
        Ok(RenderedRequest { body: Bytes::from(body), ..request.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> StoredMail {
        StoredMail {
            from: "Alerts <alerts@engine.test>".into(),
            to: vec!["ops@example.test".into()],
            subject: "Order 7\r\nBcc: evil@x.test".into(),
            reply_to: Some("desk@example.test".into()),
            text: Some("order 7 shipped".into()),
            html: None,
            thread: Some("order-7".into()),
            parent: None,
        }
    }

    #[test]
    fn message_ids_are_stable_per_delivery() {
        let id = message_id("0190-ab_cd", 42, "Alerts <alerts@engine.test>");
        assert_eq!(id, "<hookroute.0190abcd.42@engine.test>");
        assert_eq!(id, message_id("0190-ab_cd", 42, "Alerts <alerts@engine.test>"));
        assert_ne!(id, message_id("0190-ab_cd", 43, "alerts@engine.test"));
        assert_eq!(message_id("e", 1, "nobody"), "<hookroute.e.1@hookroute.invalid>");
    }

    #[test]
    fn headers_and_threading() {
        let m = message(&mail(), "<hookroute.e.2@engine.test>", Some("<hookroute.e.1@engine.test>"))
            .expect("builds");
        let text = String::from_utf8(m.formatted()).expect("utf8");
        for header in [
            "From: Alerts <alerts@engine.test>\r\n",
            "To: ops@example.test\r\n",
            "Reply-To: desk@example.test\r\n",
            "Message-ID: <hookroute.e.2@engine.test>\r\n",
            "In-Reply-To: <hookroute.e.1@engine.test>\r\n",
            "References: <hookroute.e.1@engine.test>\r\n",
            "Subject: Order 7  Bcc: evil@x.test\r\n",
        ] {
            assert!(text.contains(header), "{header:?} missing in\n{text}");
        }
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(text.contains("order 7 shipped"));
        let first = message(&mail(), "<a@b.test>", None).expect("builds");
        let first = String::from_utf8(first.formatted()).expect("utf8");
        assert!(!first.contains("In-Reply-To") && !first.contains("References"), "{first}");
        let both = StoredMail { html: Some("<b>7</b>".into()), ..mail() };
        let both =
            String::from_utf8(message(&both, "<a@b.test>", None).expect("builds").formatted()).expect("utf8");
        assert!(both.contains("multipart/alternative"), "{both}");
        assert!(message(&StoredMail { text: None, ..mail() }, "<a@b.test>", None).is_err());
    }

    #[test]
    fn stored_mail_round_trips() {
        let m = Mail {
            from: "a@b.test".into(),
            to: vec!["c@d.test".into()],
            subject: "s".into(),
            reply_to: None,
            text: Some("t".into()),
            html: None,
        };
        let r = stored_mail(&m, Some("k"));
        let back: StoredMail = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(back.thread.as_deref(), Some("k"));
        assert_eq!(back.to, vec!["c@d.test"]);
    }

    fn check(code: Option<u16>, expected: &str) {
        let got = match reply_outcome(code, "x") {
            Outcome::Delivered { .. } => "delivered",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead { .. } => "dead",
        };
        assert_eq!(got, expected, "{code:?}");
    }

    #[test]
    fn replies() {
        check(Some(250), "delivered");
        check(Some(421), "retry");
        check(Some(450), "retry");
        check(Some(452), "retry");
        check(Some(535), "dead");
        check(Some(550), "dead");
        check(Some(554), "dead");
        check(None, "retry");
    }
}
