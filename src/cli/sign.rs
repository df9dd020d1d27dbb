//! `hookroute sign --secret SECRET [FILE]`: the hex HMAC-SHA256 House Check would send.

use super::say;
use std::io::Read;
use std::path::Path;

use anyhow::Context;

pub fn run(secret: &str, file: Option<&Path>) -> anyhow::Result<u8> {
    let body = match file {
        Some(f) => std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("cannot read stdin")?;
            buf
        }
    };
    say!("{}", crate::verify::sign_hex(secret, &body));
    Ok(0)
}
