//! hookroute: receive webhooks, verify them, route them through a hot-reloaded YAML rules file and
//! forward them to Slack, email APIs and HTTP endpoints.
//!
//! Modules in the order a request flows through them:
//! - [`server`]: the HTTP edge (`POST /hooks/{source}`), which verifies, routes and queues.
//! - [`verify`]: signature checks on the raw body, before anything parses it.
//! - [`route`] and [`rules`]: which rules an event fires, pure and indexed by event type.
//! - [`template`] and [`actions`]: the rendered request body of each action, pure.
//! - [`deliver`]: the queue seam and the workers that send, retry and classify outcomes.
//! - [`alerts`]: hookroute's own events (source `hookroute`), emitted through the same ingest path.
//! - [`config`]: the rules file compiled into validated types, and its hot reload.
//! - [`admin`] and [`metrics`]: the operators' listener (dashboard, JSON API, `/metrics`).
//! - [`dry_run`]: why an event matches what it matches (`hookroute test`, the admin API).
//! - [`cli`]: the subcommands (`serve`, `check`, `test`, `sign`, `send`).
//!
//! Leaves that the layers above share: [`policy`] (retry policy, outcomes, limits), [`clock`] (now
//! and RFC 3339), [`secret`], [`json`]. Modules import downward only (ARCHITECTURE.md, "Layers").

pub mod actions;
pub mod admin;
pub mod alerts;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deliver;
pub mod dry_run;
pub mod json;
pub mod logfmt;
pub mod metrics;
pub mod policy;
pub mod route;
pub mod rules;
pub mod secret;
pub mod server;
pub mod store;
pub mod template;
pub mod verify;

pub use verify::sign_hex;
