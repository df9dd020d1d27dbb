//! A destination's limits as values: how many requests may be in flight at once and how many may
//! start per unit of time. `config` compiles them from the rules file; `deliver::Gates` applies them.

use std::time::Duration;

/// `count` requests per `per`, with bursts of up to `count`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// `1/s`, `30/m`, `1000/h`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a rate; write e.g. 1/s, 30/m or 1000/h");
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err("a rate must allow at least 1 request".into());
        }
        Ok(Self { count, per })
    }

    pub(crate) fn per_token(self) -> Duration {
        self.per / self.count
    }
}

/// A destination's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub concurrency: usize,
    pub rate: Option<Rate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_parsing() {
        assert_eq!(Rate::parse("1/s"), Ok(Rate { count: 1, per: Duration::from_secs(1) }));
        assert_eq!(Rate::parse(" 30 / m "), Ok(Rate { count: 30, per: Duration::from_secs(60) }));
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("fast").is_err());
        assert!(Rate::parse("1/d").is_err());
    }
}
