//! Arbitrary template source (first half) rendered against arbitrary JSON (second half): compile
//! errors and render errors are fine; panics, hangs and unbounded work are not (fuel bounds it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let source = String::from_utf8_lossy(&data[..split]);
    let body = hookroute::json::parse_strict(data.get(split + 1..).unwrap_or_default())
        .unwrap_or_else(|_| serde_json::json!({"type": "t", "payload": {"id": 1}}));
    let mut templates = hookroute::template::Templates::default();
    let ctx = hookroute::template::RenderContext::new("t", &body, "s", "2026-11-29T00:00:00Z");
    if let Ok(text) = templates.text("text", &source) {
        let _ = templates.render_text(&text, &ctx);
    }
    if let Ok(shape) = templates.leaf("leaf", &source) {
        let _ = templates.render_shape(&shape, &ctx);
    }
});
