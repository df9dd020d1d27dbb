//! `${VAR}` and `${VAR:-default}` in config strings.
//!
//! Expansion happens once at load, so the hot path never looks at the environment. Every value that
//! came from the environment is remembered, so output meant for people (dry runs, logs) can show
//! `${VAR}` instead of the secret it holds.

use std::collections::BTreeMap;

/// Why a string could not be expanded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("environment variable `{0}` is not set (write `${{{0}:-default}}` to give a default)")]
    Missing(String),
    #[error("`${{` is not closed by `}}`")]
    Unclosed,
    #[error("`{0}` is not a valid variable name (letters, digits and `_`, not starting with a digit)")]
    BadName(String),
    #[error("cannot read secret file `{0}`: {1}")]
    File(String, String),
}

/// Reads `${file:PATH}` secrets (Docker and Kubernetes mount them as files): the content with one
/// trailing newline removed.
pub fn read_secret_file(path: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

/// Expands `text`, reading variables through `lookup` and `${file:PATH}` through `read_file`.
/// `$${` stands for a literal `${`. Each `(name, value)` read is pushed onto `used`.
pub fn expand(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
    used: &mut Vec<(String, String)>,
) -> Result<String, EnvError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(EnvError::Unclosed)?;
            let inner = &after[..end];
            if let Some(path) = inner.strip_prefix("file:") {
                let value = read_file(path).map_err(|e| EnvError::File(path.to_owned(), e))?;
                out.push_str(&value);
                used.push((format!("file:{path}"), value));
                rest = &after[end + 1..];
                continue;
            }
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if !valid_name(name) {
                return Err(EnvError::BadName(name.to_owned()));
            }
            match lookup(name) {
                Some(value) => {
                    out.push_str(&value);
                    used.push((name.to_owned(), value));
                }
                None => match default {
                    Some(d) => out.push_str(d),
                    None => return Err(EnvError::Missing(name.to_owned())),
                },
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces known secret values by a placeholder in text meant for people.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Secret value → what to show instead; longest first so overlapping values mask fully.
    secrets: Vec<(String, String)>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// Values shorter than this are not masked: masking `1` or `ok` everywhere would garble output.
    const MIN_LEN: usize = 4;

    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut map = BTreeMap::new();
        for (shown, value) in pairs {
            if value.len() >= Self::MIN_LEN {
                map.entry(value).or_insert(shown);
            }
        }
        let mut secrets: Vec<_> = map.into_iter().collect();
        secrets.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        Self { secrets }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (value, shown) in &self.secrets {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), shown);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<&str, EnvError>) {
        let lookup = |name: &str| match name {
            "HOST" => Some("example.com".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let files = |path: &str| match path {
            "/run/secrets/token" => Ok("from-a-file".to_owned()),
            _ => Err("No such file or directory".to_owned()),
        };
        let mut used = Vec::new();
        assert_eq!(expand(text, &lookup, &files, &mut used), expected.map(str::to_owned), "{text}");
    }

    #[test]
    fn expansion_cases() {
        check("plain", Ok("plain"));
        check("https://${HOST}/x", Ok("https://example.com/x"));
        check("${HOST}${HOST}", Ok("example.comexample.com"));
        check("${NOPE:-fallback}", Ok("fallback"));
        check("${NOPE:-}", Ok(""));
        check("${HOST:-fallback}", Ok("example.com"));
        check("${EMPTY:-x}", Ok(""));
        check("cost $5 and $${HOST}", Ok("cost $5 and ${HOST}"));
        check("${NOPE}", Err(EnvError::Missing("NOPE".into())));
        check("${HOST", Err(EnvError::Unclosed));
        check("${1X}", Err(EnvError::BadName("1X".into())));
        check("{{ payload.id }}", Ok("{{ payload.id }}"));
        check("Bearer ${file:/run/secrets/token}", Ok("Bearer from-a-file"));
        check("${file:/nope}", Err(EnvError::File("/nope".into(), "No such file or directory".into())));
    }

    #[test]
    fn secret_files_lose_one_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("hookroute-env-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("s");
        std::fs::write(&f, "s3cret\n").expect("write");
        assert_eq!(read_secret_file(f.to_str().expect("utf8")), Ok("s3cret".to_owned()));
        std::fs::write(&f, "s3cret\n\n").expect("write");
        assert_eq!(read_secret_file(f.to_str().expect("utf8")), Ok("s3cret\n".to_owned()));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn redactor_masks_every_occurrence_and_skips_tiny_values() {
        let r = Redactor::new([
            ("${TOKEN}".to_owned(), "s3cr3t-token".to_owned()),
            ("${X}".to_owned(), "ab".to_owned()),
        ]);
        assert_eq!(r.redact("a s3cr3t-token b s3cr3t-token ab"), "a ${TOKEN} b ${TOKEN} ab");
    }
}
