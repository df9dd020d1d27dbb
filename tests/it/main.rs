//! The one integration test binary: real server, real receivers, real files, real processes.

mod admin;
mod browser;
mod cli;
mod delivery;
mod diff;
mod durable;
mod fleet;
mod http_contract;
mod jsonpath_cts;
mod layers;
mod reload;
mod senders;
mod shipped_files;
mod signature_vectors;
mod support;
