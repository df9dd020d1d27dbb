//! The rules file as written: serde structs that reject unknown keys. `compile` turns them into
//! validated runtime types; nothing outside `config` sees these.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::node::{Node, Spanned};
use crate::actions::{DestinationKind, EmailProvider};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    #[serde(default)]
    pub settings: Option<Node>,
    #[serde(default)]
    pub sources: Option<Node>,
    #[serde(default)]
    pub destinations: Option<Node>,
    #[serde(default)]
    pub rules: Option<Node>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Settings")]
pub struct RawSettings {
    /// Largest accepted request body in bytes (default 1 MiB).
    pub max_body_bytes: Option<Spanned<u64>>,
    pub delivery: Option<RawDelivery>,
    /// How long events whose deliveries all succeeded are kept, e.g. `7d`.
    pub retention: Option<Spanned<String>>,
    /// How long the last event of an entity key is remembered after it, e.g. `90d` (the default).
    pub state_retention: Option<Spanned<String>>,
    /// How long a client may take to send a request body (default 10 s).
    pub read_timeout: Option<Spanned<String>>,
    /// Requests handled at once before new ones get 503 (default 1024; read at start only).
    pub max_concurrent_requests: Option<Spanned<u32>>,
    /// Bearer token the admin API requires, e.g. `${ADMIN_TOKEN}` (`--admin-token` wins).
    pub admin_token: Option<Spanned<String>>,
    /// Host names the admin listener answers to besides IP literals and `localhost`, e.g.
    /// `[hookroute.internal]` (requests naming any other `Host` get 421: DNS rebinding defence).
    pub admin_allowed_hosts: Option<Vec<Spanned<String>>>,
    /// How long a client may take to send a whole request head, from its first byte, and a new
    /// connection to send one at all (default 10 s; read at start).
    pub head_timeout: Option<Spanned<String>>,
    /// How long a keep-alive connection may wait for its next request (default 60 s; read at start).
    pub idle_timeout: Option<Spanned<String>>,
    /// Largest request head (request line and headers) in bytes; larger get 431 (default 64 KiB;
    /// read at start).
    pub max_head_bytes: Option<Spanned<u64>>,
    /// Connections open at once; past it the oldest idle or slow-head one is closed, and new ones
    /// wait in the backlog while every one has a request in flight (default 10 000, lowered to fit
    /// the open-file limit; read at start).
    pub max_connections: Option<Spanned<u32>>,
    /// Request-body bytes held in memory by all requests together; a body that does not fit gets
    /// 503 with Retry-After before it is read (default 64 MiB; read at start).
    pub body_memory_bytes: Option<Spanned<u64>>,
    /// When hookroute's own events (source `hookroute`) fire.
    pub alerts: Option<RawAlerts>,
}

/// `settings.alerts`: thresholds of hookroute's own events.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Alerts")]
pub struct RawAlerts {
    /// A destination whose attempts have all failed for this long emits
    /// `hookroute.destination.failing` (default `5m`).
    pub failing_after: Option<Spanned<String>>,
    /// A delivery due this long and not yet sent emits `hookroute.queue.stale` (default `15m`).
    pub queue_age: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Delivery")]
pub struct RawDelivery {
    /// Default per-request timeout, e.g. `10s`.
    pub timeout: Option<Spanned<String>>,
    /// Attempts per delivery before giving up, first one included.
    pub max_attempts: Option<Spanned<u32>>,
    /// Waits between attempts, e.g. `[5s, 30s, 2m]`; the last repeats.
    pub schedule: Option<Spanned<Vec<Spanned<String>>>>,
    /// No retry once a delivery's attempt series is this old.
    pub max_age: Option<Spanned<String>>,
    /// Requests in flight at once per destination (default 8).
    pub concurrency: Option<Spanned<u32>>,
}

/// A destination's own retry policy; unset fields come from `settings.delivery`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Retry")]
pub struct RawRetry {
    pub max_attempts: Option<Spanned<u32>>,
    pub schedule: Option<Spanned<Vec<Spanned<String>>>>,
    pub max_age: Option<Spanned<String>>,
}

/// How a source recognises a request it has already accepted.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Dedup")]
pub struct RawDedup {
    pub header: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub window: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Source")]
pub struct RawSource {
    pub verify: RawVerify,
    /// `false`, or how to build the key (default: SHA-256 of the raw body, 24 h window).
    #[schemars(schema_with = "super::schema::dedup")]
    #[serde(default)]
    pub dedup: Option<Node>,
    /// Where the event type is (default: the scheme's own place, e.g. `$.type`).
    pub event_type: Option<RawEventType>,
    /// The entity an event is about, a JSONPath selecting one string or number (e.g.
    /// `$.payload.id`): `becomes`, `changed` and `prev` compare with the key's previous event.
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EventType")]
pub struct RawEventType {
    pub header: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Verify")]
pub struct RawVerify {
    pub scheme: Spanned<VerifyScheme>,
    /// hmac-sha256 only: the header (default `signature`), its encoding and a prefix to strip.
    pub header: Option<Spanned<String>>,
    pub encoding: Option<Spanned<crate::verify::Encoding>>,
    pub prefix: Option<Spanned<String>>,
    pub secrets: Option<Vec<Spanned<String>>>,
    /// Timestamped schemes: the replay window, e.g. `5m` (default 300 s).
    pub tolerance: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyScheme {
    HmacSha256,
    Github,
    Stripe,
    Shopify,
    Slack,
    StandardWebhooks,
    Svix,
    None,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Destination")]
pub struct RawDestination {
    #[serde(rename = "type")]
    pub kind: Spanned<DestinationKind>,
    pub url: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    pub provider: Option<Spanned<EmailProvider>>,
    pub from: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub retry: Option<RawRetry>,
    pub concurrency: Option<Spanned<u32>>,
    /// e.g. `1/s` for a Slack incoming webhook.
    pub rate_limit: Option<Spanned<String>>,
    /// `type: http` only: sign what is sent.
    pub sign: Option<RawSign>,
    /// When deliveries may be sent: `always`, or `{days: [mon, …], from: "08:00", to: "18:00",
    /// timezone: Europe/Amsterdam}`; due outside them, they wait for the next opening.
    #[schemars(schema_with = "super::schema::any")]
    #[serde(default)]
    pub hours: Option<Node>,
    /// `type: slack`, Web API: the bot token (`xoxb-…`, e.g. `${SLACK_BOT_TOKEN}`), instead of `url`;
    /// `telegram`: the bot token (a secret; it is part of the request path).
    pub token: Option<Spanned<String>>,
    /// `type: slack` with `token`: the channel id or name messages go to; `mattermost`: the channel
    /// (default: the webhook's own).
    pub channel: Option<Spanned<String>>,
    /// `type: slack` with `token`: the Web API base (default `https://slack.com/api`); `telegram`: the
    /// Bot API base URL (default `https://api.telegram.org`).
    pub api_url: Option<Spanned<String>>,
    // Issue 15: the fields of the chat, paging and SMTP destination types.
    /// `telegram`: the chat, a number or `@channelname`.
    #[schemars(schema_with = "super::schema::any")]
    #[serde(default)]
    pub chat_id: Option<Node>,
    /// `telegram`: `HTML`, `MarkdownV2` or `Markdown` (default: plain text).
    pub parse_mode: Option<Spanned<String>>,
    /// `telegram`: deliver silently.
    pub disable_notification: Option<Spanned<bool>>,
    /// `telegram`: the forum topic to post in.
    pub message_thread_id: Option<Spanned<i64>>,
    /// `pagerduty`: the integration's routing key (a secret).
    pub routing_key: Option<Spanned<String>>,
    /// `discord`, `mattermost`: the name shown as sender; `email` with `provider: smtp`: the AUTH user.
    pub username: Option<Spanned<String>>,
    /// `discord`: the sender's avatar.
    pub avatar_url: Option<Spanned<String>>,
    /// `discord`: which mentions may ping: `users`, `roles`, `everyone` (default none).
    pub allowed_mentions: Option<Spanned<Vec<Spanned<String>>>>,
    /// `mattermost`: the sender's icon.
    pub icon_url: Option<Spanned<String>>,
    pub icon_emoji: Option<Spanned<String>>,
    /// `email` with `provider: smtp`: the relay, `host:port`.
    pub smarthost: Option<Spanned<String>>,
    /// `email` with `provider: smtp`: `starttls` (default), `implicit` (port 465) or `none`.
    pub tls: Option<Spanned<crate::actions::smtp::SmtpTls>>,
    /// `email` with `provider: smtp`: the AUTH password (a secret; needs TLS).
    pub password: Option<Spanned<String>>,
    /// `email` with `provider: smtp`: the EHLO name (default `localhost`).
    pub hello: Option<Spanned<String>>,
    /// `email` with `provider: smtp`: a PEM file of extra CA certificates to trust.
    pub ca_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sign")]
pub struct RawSign {
    pub scheme: Spanned<SignScheme>,
    pub secret: Spanned<String>,
    /// hmac-sha256 only (default `x-hookroute-signature`, hex, no prefix).
    pub header: Option<Spanned<String>>,
    pub encoding: Option<Spanned<crate::verify::Encoding>>,
    pub prefix: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignScheme {
    HmacSha256,
    StandardWebhooks,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Rule")]
pub struct RawRule {
    pub name: Spanned<String>,
    pub source: Option<Spanned<String>>,
    /// A name, a glob, or a list of them; all event types when absent.
    #[schemars(schema_with = "super::schema::events")]
    #[serde(default)]
    pub events: Option<Node>,
    #[schemars(schema_with = "super::schema::condition")]
    #[serde(default)]
    pub when: Option<Node>,
    #[schemars(with = "Vec<RawAction>")]
    pub actions: Spanned<Vec<Node>>,
    #[serde(default)]
    pub stop: bool,
    /// The actions are due this long after the event, e.g. `48h` (kept in the store meanwhile).
    pub after: Option<Spanned<String>>,
    /// With `after`: a condition every later event of the same key must meet before the due
    /// time; the first that does not cancels the waiting deliveries.
    #[schemars(schema_with = "super::schema::condition")]
    #[serde(default)]
    pub still: Option<Node>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Action")]
pub struct RawAction {
    pub to: Spanned<String>,
    pub text: Option<Spanned<String>>,
    #[schemars(schema_with = "super::schema::blocks")]
    #[serde(default)]
    pub blocks: Option<Node>,
    pub recipients: Option<Vec<Spanned<String>>>,
    pub subject: Option<Spanned<String>>,
    pub html: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    /// Email only: the Reply-To address (a template; must render to exactly one address).
    pub reply_to: Option<Spanned<String>>,
    #[schemars(schema_with = "super::schema::any")]
    #[serde(default)]
    pub body: Option<Node>,
    pub content_type: Option<Spanned<String>>,
    /// This action's own `hours:` (`always` opts out of the destination's).
    #[schemars(schema_with = "super::schema::any")]
    #[serde(default)]
    pub hours: Option<Node>,
    /// The conversation this message belongs to, a template (e.g. `order-{{ payload.id }}`): later
    /// messages with the same key reply to the first one (destinations without threads ignore it).
    pub thread: Option<Spanned<String>>,
    /// Slack Web API with `thread`: a reply also re-renders the thread's first message.
    pub update_parent: Option<Spanned<bool>>,
    /// Slack Web API with `thread`: a reply also shows in the channel.
    pub reply_broadcast: Option<Spanned<bool>>,
    // Issue 15: the optional extras and PagerDuty fields of the new destination types.
    /// `teams`: an Adaptive Card (YAML) sent instead of the text card.
    #[schemars(schema_with = "super::schema::any")]
    #[serde(default)]
    pub card: Option<Node>,
    /// `discord`: embeds (a list, at most 10).
    #[schemars(schema_with = "super::schema::any")]
    #[serde(default)]
    pub embeds: Option<Node>,
    /// `google-chat`: `cardsV2` (a list of cards).
    #[schemars(schema_with = "super::schema::any")]
    #[serde(default)]
    pub cards_v2: Option<Node>,
    /// `pagerduty`: `critical`, `error` (default), `warning` or `info` (a template).
    pub severity: Option<Spanned<String>>,
    /// `pagerduty`: `trigger` (default), `acknowledge` or `resolve` (a template).
    pub event_action: Option<Spanned<String>>,
    /// `pagerduty`: `payload.source` (default `hookroute`; a template).
    pub source: Option<Spanned<String>>,
    /// `pagerduty`: `payload.custom_details` (YAML; strings are templates).
    #[schemars(schema_with = "super::schema::any")]
    #[serde(default)]
    pub custom_details: Option<Node>,
}
