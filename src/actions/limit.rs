//! Providers refuse a message over their length limit; hookroute cuts the text to fit instead,
//! on a character boundary and with an ellipsis, and says what it cut.

/// The ellipsis that marks a cut text.
const ELLIPSIS: char = '…';

/// `text` cut to at most `max` characters (the ellipsis included); `None` when it already fits.
pub fn chars(text: &str, max: usize) -> Option<String> {
    if max == 0 {
        return (!text.is_empty()).then(String::new);
    }
    let (cut, _) = text.char_indices().nth(max)?;
    let keep = text[..cut].char_indices().nth(max - 1).map_or(cut, |(i, _)| i);
    let mut out = String::with_capacity(keep + ELLIPSIS.len_utf8());
    out.push_str(&text[..keep]);
    out.push(ELLIPSIS);
    Some(out)
}

/// Fits a JSON body within `max` bytes by cutting one text field: `build(text)` makes the body.
/// Returns the body and, when it cut, a note naming `what`. An error when even an empty text does
/// not fit (the rest of the body, such as a card, is too large on its own).
pub fn fit_body(
    text: &str,
    max: usize,
    what: &str,
    build: impl Fn(&str) -> serde_json::Value,
) -> Result<(serde_json::Value, Option<String>), String> {
    let body = build(text);
    if body.to_string().len() <= max {
        return Ok((body, None));
    }
    // The longest prefix (plus ellipsis) whose body fits, by bisection over the prefix length:
    // escaping makes the body size grow with the prefix but not in proportion, so measure.
    let candidate = |keep: usize| {
        let mut end = keep.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut cut = String::with_capacity(end + ELLIPSIS.len_utf8());
        cut.push_str(&text[..end]);
        cut.push(ELLIPSIS);
        cut
    };
    let fits = |keep: usize| build(&candidate(keep)).to_string().len() <= max;
    if !fits(0) {
        return Err(format!("the message is over the provider's {max}-byte limit even without its text"));
    }
    let (mut lo, mut hi) = (0, text.len());
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    let cut = candidate(lo);
    let note =
        format!("{what} cut from {} to {} bytes to fit the {max}-byte message limit", text.len(), cut.len());
    Ok((build(&cut), Some(note)))
}

/// The note for a text cut to a character limit.
pub fn chars_note(what: &str, original: &str, max: usize) -> String {
    format!("{what} cut from {} to {max} characters (the provider's limit)", original.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_chars(text: &str, max: usize, expected: Option<&str>) {
        assert_eq!(chars(text, max).as_deref(), expected, "{text:?} {max}");
    }

    #[test]
    fn character_limits() {
        check_chars("hello", 5, None);
        check_chars("hello", 10, None);
        check_chars("hello!", 5, Some("hell…"));
        check_chars("ééééé", 3, Some("éé…"));
        check_chars("🎉🎉🎉", 2, Some("🎉…"));
        check_chars("ab", 1, Some("…"));
        check_chars("", 0, None);
        check_chars("a", 0, Some(""));
    }

    #[test]
    fn bodies_are_fitted_whatever_the_escaping() {
        let build = |t: &str| serde_json::json!({ "text": t });
        let (body, note) = fit_body("short", 100, "text", build).expect("fits");
        assert_eq!(body["text"], "short");
        assert!(note.is_none());
        // Quotes double in JSON: the cut must account for it.
        let quoted = "\"".repeat(200);
        let (body, note) = fit_body(&quoted, 100, "text", build).expect("fits");
        assert!(body.to_string().len() <= 100, "{}", body.to_string().len());
        assert!(body["text"].as_str().expect("text").ends_with('…'));
        assert!(note.expect("note").starts_with("text cut from 200 to "));
        // Multi-byte text is cut on a character boundary.
        let (body, _) = fit_body(&"é".repeat(100), 60, "text", build).expect("fits");
        let text = body["text"].as_str().expect("text");
        assert!(text.starts_with("éé") && text.ends_with('…') && body.to_string().len() <= 60);
        let big = |_: &str| serde_json::json!({ "card": "x".repeat(200) });
        assert!(fit_body("t", 100, "text", big).is_err());
    }
}
