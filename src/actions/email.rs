//! The request shapes of email providers' HTTP APIs (see tests/data/destinations.md), and the
//! checks on rendered addresses and subjects: templates render recipients from event data, and a
//! provider that splits `To` on commas would otherwise mail whoever the sender names.

use bytes::Bytes;
use serde_json::{Value, json};

use super::RenderedRequest;

/// `destinations.<name>.provider` for `type: email`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmailProvider {
    Sendgrid,
    Mailgun,
    Postmark,
    Resend,
    /// The destination's own relay (`smarthost:`), spoken to over SMTP.
    Smtp,
}

/// A rendered email.
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub reply_to: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// A rendered address field: exactly one address (a display name allowed: `Ops <ops@x.example>`),
/// returned trimmed. A list (`a@x.example, b@evil.example`), a header break or anything that does
/// not parse as an address is refused with the reason.
pub fn one_address(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("is empty".into());
    }
    if value.chars().any(|c| c == ',' || c == ';' || c.is_control()) {
        return Err(format!("{value:?} is not exactly one address (a list or a line break)"));
    }
    let options = email_address::Options {
        minimum_sub_domains: 2,
        allow_domain_literal: false,
        allow_display_text: true,
        ..email_address::Options::default()
    };
    match email_address::EmailAddress::parse_with_options(value, options) {
        Ok(_) => Ok(value.to_owned()),
        Err(e) => Err(format!("{value:?} is not an email address: {e}")),
    }
}

/// SendGrid's address object: `{"email"}`, with `"name"` when the address has a display name
/// (`Ops <ops@x.example>`: SendGrid refuses the combined form in `email`).
fn sendgrid_address(address: &str) -> Value {
    match address.trim().strip_suffix('>').and_then(|a| a.rsplit_once('<')) {
        Some((name, email)) if !name.trim().is_empty() => {
            json!({"email": email.trim(), "name": name.trim().trim_matches('"')})
        }
        Some((_, email)) => json!({ "email": email.trim() }),
        None => json!({ "email": address.trim() }),
    }
}

/// A rendered subject on one line: CR and LF (a header injection in providers that build MIME
/// from it) become spaces.
pub fn one_line(subject: &str) -> String {
    subject.replace(['\r', '\n'], " ")
}

impl EmailProvider {
    /// The provider's default endpoint, used when the destination gives no `url`.
    pub fn default_url(self) -> &'static str {
        match self {
            EmailProvider::Sendgrid => "https://api.sendgrid.com/v3/mail/send",
            EmailProvider::Mailgun => "https://api.mailgun.net/v3/YOUR_DOMAIN/messages",
            EmailProvider::Postmark => "https://api.postmarkapp.com/email",
            EmailProvider::Resend => "https://api.resend.com/emails",
            EmailProvider::Smtp => "",
        }
    }

    pub fn request(self, mail: &Mail) -> RenderedRequest {
        let json_body = |v: Value| RenderedRequest {
            body: Bytes::from(v.to_string()),
            content_type: Some("application/json".into()),
            notes: Vec::new(),
        };
        match self {
            EmailProvider::Smtp => super::smtp::stored_mail(mail, None),
            EmailProvider::Sendgrid => {
                let mut content = Vec::new();
                if let Some(text) = &mail.text {
                    content.push(json!({"type": "text/plain", "value": text}));
                }
                if let Some(html) = &mail.html {
                    content.push(json!({"type": "text/html", "value": html}));
                }
                let to: Vec<Value> = mail.to.iter().map(|e| sendgrid_address(e)).collect();
                let mut body = json!({
                    "personalizations": [{"to": to}],
                    "from": sendgrid_address(&mail.from),
                    "subject": mail.subject,
                    "content": content,
                });
                if let Some(r) = &mail.reply_to {
                    body["reply_to"] = sendgrid_address(r);
                }
                json_body(body)
            }
            EmailProvider::Postmark => {
                let mut body = json!({
                    "From": mail.from,
                    "To": mail.to.join(", "),
                    "Subject": mail.subject,
                    "MessageStream": "outbound",
                });
                if let Some(r) = &mail.reply_to {
                    body["ReplyTo"] = r.as_str().into();
                }
                if let Some(text) = &mail.text {
                    body["TextBody"] = text.as_str().into();
                }
                if let Some(html) = &mail.html {
                    body["HtmlBody"] = html.as_str().into();
                }
                json_body(body)
            }
            EmailProvider::Resend => {
                let mut body = json!({"from": mail.from, "to": mail.to, "subject": mail.subject});
                if let Some(r) = &mail.reply_to {
                    body["reply_to"] = r.as_str().into();
                }
                if let Some(text) = &mail.text {
                    body["text"] = text.as_str().into();
                }
                if let Some(html) = &mail.html {
                    body["html"] = html.as_str().into();
                }
                json_body(body)
            }
            EmailProvider::Mailgun => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("from", &mail.from);
                form.append_pair("to", &mail.to.join(","));
                form.append_pair("subject", &mail.subject);
                if let Some(r) = &mail.reply_to {
                    form.append_pair("h:Reply-To", r);
                }
                if let Some(text) = &mail.text {
                    form.append_pair("text", text);
                }
                if let Some(html) = &mail.html {
                    form.append_pair("html", html);
                }
                RenderedRequest {
                    body: Bytes::from(form.finish()),
                    content_type: Some("application/x-www-form-urlencoded".into()),
                    notes: Vec::new(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail() -> Mail {
        Mail {
            from: "alerts@engine.test".into(),
            to: vec!["ops@example.test".into()],
            subject: "Rule fired".into(),
            reply_to: None,
            text: Some("order 42".into()),
            html: None,
        }
    }

    fn body(p: EmailProvider) -> Value {
        serde_json::from_slice(&p.request(&mail()).body).expect("json")
    }

    fn check_address(value: &str, ok: bool) {
        assert_eq!(one_address(value).is_ok(), ok, "{value}: {:?}", one_address(value));
    }

    #[test]
    fn addresses() {
        check_address("ops@example.test", true);
        check_address("  ops@example.test ", true);
        check_address("Ops Team <ops@example.test>", true);
        check_address("first.last+tag@mail.example.co.uk", true);
        check_address("victim@x, attacker@evil.com", false);
        check_address("victim@x.example,attacker@evil.com", false);
        check_address("victim@x.example;attacker@evil.com", false);
        check_address("ops@example.test\r\nBcc: attacker@evil.com", false);
        check_address("Ops <ops@example.test>, Evil <e@evil.com>", false);
        check_address("not an address", false);
        check_address("ops@localhost", false);
        check_address("ops@[127.0.0.1]", false);
        check_address("", false);
        assert!(one_address("a@x, b@evil.com").expect_err("list").contains("not exactly one address"));
    }

    #[test]
    fn reply_to_in_each_provider_shape() {
        let m = Mail { reply_to: Some("desk@example.test".into()), ..mail() };
        let json = |p: EmailProvider| serde_json::from_slice::<Value>(&p.request(&m).body).expect("json");
        assert_eq!(json(EmailProvider::Sendgrid)["reply_to"], json!({"email": "desk@example.test"}));
        let named = Mail { reply_to: Some("Help Desk <desk@example.test>".into()), ..mail() };
        let sendgrid =
            serde_json::from_slice::<Value>(&EmailProvider::Sendgrid.request(&named).body).expect("json");
        assert_eq!(sendgrid["reply_to"], json!({"email": "desk@example.test", "name": "Help Desk"}));
        assert_eq!(json(EmailProvider::Postmark)["ReplyTo"], "desk@example.test");
        assert_eq!(json(EmailProvider::Resend)["reply_to"], "desk@example.test");
        let form = EmailProvider::Mailgun.request(&m).body;
        assert!(std::str::from_utf8(&form).expect("utf8").contains("h%3AReply-To=desk%40example.test"));
    }

    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(one_line("Order 1\r\nBcc: attacker@evil.com"), "Order 1  Bcc: attacker@evil.com");
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn sendgrid_matches_the_official_client() {
        // tests/data/client-captures.json: sendgrid_202
        let captured = r#"{"from": {"email": "alerts@engine.test"}, "subject": "Rule fired", "personalizations": [{"to": [{"email": "ops@example.test"}]}], "content": [{"type": "text/plain", "value": "order 42"}]}"#;
        assert_eq!(body(EmailProvider::Sendgrid), serde_json::from_str::<Value>(captured).expect("json"));
    }

    #[test]
    fn resend_matches_the_official_client_fields() {
        // tests/data/client-captures.json: resend_200 (its `from` carries a display name)
        assert_eq!(
            body(EmailProvider::Resend),
            json!({"from": "alerts@engine.test", "to": ["ops@example.test"], "subject": "Rule fired", "text": "order 42"})
        );
    }

    #[test]
    fn postmark_and_mailgun_shapes() {
        assert_eq!(
            body(EmailProvider::Postmark),
            json!({"From": "alerts@engine.test", "To": "ops@example.test", "Subject": "Rule fired",
                   "TextBody": "order 42", "MessageStream": "outbound"})
        );
        let r = EmailProvider::Mailgun.request(&mail());
        assert_eq!(
            std::str::from_utf8(&r.body).expect("utf8"),
            "from=alerts%40engine.test&to=ops%40example.test&subject=Rule+fired&text=order+42"
        );
    }
}
