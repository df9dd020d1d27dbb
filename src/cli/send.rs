//! `hookroute send --url URL --secret SECRET EVENT_FILE`: sign and POST an event like House Check.

use std::path::Path;

use anyhow::Context;

pub fn run(url: &str, secret: &str, header: &str, file: &Path) -> anyhow::Result<u8> {
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let signature = crate::verify::sign_hex(secret, &body);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let response = runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header(header, signature)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Ok::<_, reqwest::Error>((status, text))
    });
    let (status, text) = response.with_context(|| format!("POST {url} failed"))?;
    println!("{} {}", status.as_u16(), text.trim_end());
    Ok(if status.is_success() { 0 } else { 1 })
}
