//! Sends one stored mail to an SMTP destination's relay (lettre over tokio and rustls): STARTTLS,
//! implicit TLS or none, AUTH PLAIN/LOGIN when credentials are given. One connection per mail;
//! the Message-ID comes from the delivery, so a retry sends the same one.

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::send::{LogContext, scrub};
use crate::actions::smtp::{self, SmtpRelay, SmtpTls, StoredMail};
use crate::actions::{Destination, RenderedRequest};
use crate::policy::Outcome;

/// One SMTP attempt.
pub(super) struct Sent {
    pub outcome: Outcome,
    /// The relay's reply code, when it gave one.
    pub code: Option<u16>,
    /// The Message-ID the mail was sent with (set when it was accepted).
    pub message_id: Option<String>,
}

pub(super) async fn send(dest: &Destination, req: &RenderedRequest, context: &LogContext<'_>) -> Sent {
    let dead = |reason: String| Sent { outcome: Outcome::Dead { reason }, code: None, message_id: None };
    let Some(relay) = &dest.smtp else { return dead("not an SMTP destination".into()) };
    let mail: StoredMail = match serde_json::from_slice(&req.body) {
        Ok(m) => m,
        Err(e) => return dead(format!("the stored mail is not readable: {e}")),
    };
    let message_id = smtp::message_id(context.event_id, context.delivery_id, &mail.from);
    let message = match smtp::message(&mail, &message_id, mail.parent.as_deref()) {
        Ok(m) => m,
        Err(reason) => return dead(reason),
    };
    let transport = match transport(relay, dest.timeout) {
        Ok(t) => t,
        Err(reason) => return dead(scrub(dest, reason)),
    };
    // lettre bounds each command by the timeout; this bounds the whole conversation.
    let whole = dest.timeout.saturating_mul(4);
    let result = tokio::time::timeout(whole, transport.send(message)).await;
    let (code, text) = match result {
        Err(_) => (None, format!("no answer within {whole:?}")),
        Ok(Ok(response)) => (
            response.code().to_string().parse::<u16>().ok(),
            response.message().collect::<Vec<_>>().join(" "),
        ),
        Ok(Err(e)) => (e.status().and_then(|c| c.to_string().parse::<u16>().ok()), e.to_string()),
    };
    let outcome = match smtp::reply_outcome(code, &scrub(dest, text)) {
        Outcome::Delivered { status } => Outcome::Delivered { status },
        other => other,
    };
    let delivered = matches!(outcome, Outcome::Delivered { .. });
    Sent { outcome, code, message_id: delivered.then_some(message_id) }
}

fn transport(
    relay: &SmtpRelay,
    timeout: std::time::Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls_parameters = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(relay.host.clone());
        if let Some(pem) = &relay.ca_pem {
            b = b.add_root_certificate(Certificate::from_pem(pem).map_err(|e| format!("ca_file: {e}"))?);
        }
        b.build().map_err(|e| format!("TLS setup failed: {e}"))
    };
    let tls = match relay.tls {
        SmtpTls::Starttls => Tls::Required(tls_parameters()?),
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
        SmtpTls::None => Tls::None,
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(relay.host.clone())
        .port(relay.port)
        .tls(tls)
        .timeout(Some(timeout))
        .hello_name(ClientId::Domain(relay.hello.clone()));
    if let (Some(user), Some(password)) = (&relay.username, &relay.password) {
        b = b
            .credentials(Credentials::new(user.clone(), password.expose().to_owned()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    Ok(b.build())
}
