//! A destination's limits as values: how many requests may be in flight at once and how many may
//! start per unit of time. `config` compiles them from the rules file; `deliver::Gates` applies them.

use std::time::Duration;

/// `count` requests per `per`, spaced evenly: bursts of at most [`Rate::burst`] requests (one for
/// any rate up to 10/s), so no second starts with a volley.
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

    /// How many requests may start back to back after a quiet spell: 100 ms worth, at least one.
    /// Any window of length T then sees at most `burst + count × T / per` requests.
    pub fn burst(self) -> f64 {
        (f64::from(self.count) * 0.1 / self.per.as_secs_f64()).floor().max(1.0)
    }

    /// Milliseconds between two tokens.
    pub fn per_token_ms(self) -> f64 {
        self.per.as_secs_f64() * 1000.0 / f64::from(self.count)
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

    #[test]
    fn bursts_are_100_ms_worth_and_never_zero() {
        let burst = |t: &str| Rate::parse(t).map(Rate::burst);
        assert_eq!(burst("2/s"), Ok(1.0));
        assert_eq!(burst("3/s"), Ok(1.0));
        assert_eq!(burst("30/s"), Ok(3.0));
        assert_eq!(burst("1/h"), Ok(1.0));
    }
}
