//! The one integration test binary: real server, real receivers, real files, real processes.

mod admin;
mod admin_guard;
mod alerts;
mod browser;
mod cli;
mod cli_mistakes;
mod delivery;
mod destination_examples;
mod destinations;
mod diff;
mod durable;
mod edge;
mod entity;
mod fleet;
mod held;
mod hours;
mod http_contract;
mod jsonpath_cts;
mod layers;
mod limits;
mod overview;
mod provider_threads;
mod reload;
mod secrets;
mod senders;
mod shipped_files;
mod signature_vectors;
mod slack_web_api;
mod smtp;
mod support;
#[path = "../../src/store/test_database.rs"]
mod test_database;
mod text_logs;
mod threads;
mod verify_first;
mod waiting;
