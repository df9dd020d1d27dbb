//! Text-format log lines that a sender cannot forge.
//!
//! An event type, a payload value or a `log` destination's message can hold a newline or an
//! escape sequence; printed as is, it would start a line that looks like our own
//! (`INFO …: FORGED`) or repaint the operator's terminal. In text logs every field is escaped
//! here; the JSON format is escaped by its encoder.

use std::borrow::Cow;
use std::fmt::Write as _;

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{self, Writer};

/// `s` with every control character (newline, carriage return, tab, ESC, DEL, C1 controls) written
/// as an escape: `\n`, `\r`, `\t`, or `\u{1b}`.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The field formatter of text logs: `message` first and bare, then `name=value`, each escaped.
pub fn text_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(|writer: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
        let text = format!("{value:?}");
        match field.name() {
            "message" => write!(writer, "{}", escape_control(&text)),
            name => write!(writer, "{name}={}", escape_control(&text)),
        }
    })
    .delimited(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(escape_control("order.updated"), Cow::Borrowed(_)));
        assert_eq!(escape_control("a\nINFO x: FORGED"), "a\\nINFO x: FORGED");
        assert_eq!(escape_control("\r\t\u{1b}[31m\u{7f}\u{85}"), "\\r\\t\\u{1b}[31m\\u{7f}\\u{85}");
        assert_eq!(escape_control("é ✓"), "é ✓");
    }
}
