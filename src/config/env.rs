//! `${VAR}`, `${VAR:-default}` and `${file:PATH}` in config strings, and what they expand to:
//! the process environment and files, or placeholders for posted drafts.
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

/// The largest `${file:…}` secret read: secrets are short, and a bound keeps a mistaken path from
/// filling memory.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads `${file:PATH}` secrets (Docker and Kubernetes mount them as files): the content with one
/// trailing newline removed. Only regular files (symlinks to them included) of at most
/// [`MAX_SECRET_FILE_BYTES`]: a device (`/dev/zero`), FIFO or directory is refused before it is
/// opened, so a read can neither block nor grow without bound.
pub fn read_secret_file(path: &str) -> Result<String, String> {
    use std::io::Read as _;
    let not_regular = || "not a regular file (only regular files are read as secrets)".to_owned();
    let too_big = || format!("larger than {} KiB", MAX_SECRET_FILE_BYTES / 1024);
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(too_big());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    // The path may have been swapped between the two looks: check the opened file again.
    if !file.metadata().map_err(|e| e.to_string())?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(too_big());
    }
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_owned())
}

/// What a posted draft (the admin dry run) sees instead of the server's environment and files:
/// a placeholder naming the variable, so the draft compiles and renders but reads nothing. In a
/// field whose name ends in `url`, a variable that starts the value (`url: ${SLACK_URL}`) becomes
/// a URL that cannot resolve, so the destination still compiles.
pub fn placeholder(name: &str, field_path: &str, text: &str) -> String {
    let is_url = field_path.rsplit('.').next().is_some_and(|f| f.ends_with("url"));
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if is_url && text.trim_start().starts_with(&format!("${{{name}")) {
        format!("https://placeholder.invalid/{safe}")
    } else {
        format!("placeholder-{safe}")
    }
}

/// Where the `${…}` of a rules file come from.
#[derive(Clone, Copy)]
pub enum Env<'a> {
    /// The server's: variables through the function, `${file:…}` from disk.
    Process(&'a dyn Fn(&str) -> Option<String>),
    /// None: every `${…}` is a [`placeholder`] (text posted to the admin API).
    Sandbox,
}

/// Expands one string of the rules file (at `field_path`) from `source`.
pub fn expand_from(
    source: Env<'_>,
    text: &str,
    field_path: &str,
    used: &mut Vec<(String, String)>,
) -> Result<String, EnvError> {
    match source {
        Env::Process(lookup) => expand(text, lookup, &read_secret_file, used),
        Env::Sandbox => expand(
            text,
            &|name| Some(placeholder(name, field_path, text)),
            &|file| Ok(placeholder(&format!("file:{file}"), field_path, text)),
            used,
        ),
    }
}

/// Names a compiled config: the first 12 hex digits of a SHA-256 over the text *and* every value
/// `${…}` expanded to, so a rotated secret (same text) is a new version. Each value enters only as
/// its own SHA-256, behind a domain prefix; the result shows no value (it can only confirm a guess
/// at a weak one, as any hash can), and it is deterministic, so a fleet agrees on versions.
pub fn version(text: &str, used: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"hookroute rules version 2\0");
    h.update(Sha256::digest(text.as_bytes()));
    let mut expanded: Vec<&(String, String)> = used.iter().collect();
    expanded.sort();
    for (name, value) in expanded {
        h.update(Sha256::digest(name.as_bytes()));
        h.update(Sha256::digest(value.as_bytes()));
    }
    hex::encode(&h.finalize()[..6])
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
    fn only_small_regular_files_are_secrets() {
        let refused = |path: &str| read_secret_file(path).expect_err(path);
        assert!(refused("/dev/zero").contains("not a regular file"));
        assert!(refused("/dev/null").contains("not a regular file"));
        assert!(refused("/").contains("not a regular file"));
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 64 * 1024 + 1]).expect("write");
        assert!(refused(big.to_str().expect("utf8")).contains("larger than 64 KiB"));
        let exact = dir.path().join("exact");
        std::fs::write(&exact, vec![b'x'; 64 * 1024]).expect("write");
        assert_eq!(read_secret_file(exact.to_str().expect("utf8")).map(|s| s.len()), Ok(64 * 1024));
    }

    #[test]
    fn placeholders_name_the_variable_and_keep_urls_urls() {
        assert_eq!(
            placeholder("HC_SECRET", "sources.s.verify.secrets[0]", "${HC_SECRET}"),
            "placeholder-HC_SECRET"
        );
        assert_eq!(
            placeholder("SLACK_URL", "destinations.d.url", "${SLACK_URL}"),
            "https://placeholder.invalid/SLACK_URL"
        );
        assert_eq!(
            placeholder("PATH_PART", "destinations.d.url", "https://x/${PATH_PART}"),
            "placeholder-PATH_PART"
        );
        assert_eq!(
            placeholder("file:/etc/hostname", "rules[0].actions[0].text", "${file:/etc/hostname}"),
            "placeholder-file__etc_hostname"
        );
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
