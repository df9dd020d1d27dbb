//! Event-type patterns: exact names (`order.updated`) and globs (`order.*`, `*`, `order.?pdated`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPattern {
    Exact(String),
    Glob(String),
}

impl EventPattern {
    pub fn new(text: &str) -> Self {
        if text.contains(['*', '?']) {
            EventPattern::Glob(text.to_owned())
        } else {
            EventPattern::Exact(text.to_owned())
        }
    }

    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            EventPattern::Exact(name) => name == event_type,
            EventPattern::Glob(glob) => glob_match(glob.as_bytes(), event_type.as_bytes()),
        }
    }
}

/// `*` matches any run of characters (dots included), `?` exactly one. Linear-time backtracking.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_cases() {
        let cases = [
            ("order.updated", "order.updated", true),
            ("order.updated", "order.update", false),
            ("order.*", "order.updated", true),
            ("order.*", "order.update", true),
            ("order.*", "order.", true),
            ("order.*", "orders.updated", false),
            ("*", "anything.at.all", true),
            ("*", "", true),
            ("*.created", "files.created", true),
            ("*.created", "files.created.x", false),
            ("order.?pdated", "order.updated", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("inspection.*", "order.updated", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(EventPattern::new(pattern).matches(text), expected, "{pattern} vs {text}");
        }
    }
}
