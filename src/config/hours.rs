//! `hours:` on a destination or an action → [`Hours`]: `always`, or days, from, to and an IANA
//! time zone, each checked here with its place (an unknown zone, a bad time, an empty window).

use jiff::civil::Time;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::node::{Node, NodeValue, Spanned, join};
use super::problems::Problems;
use crate::policy::hours::day_index;
use crate::policy::{Hours, OpenHours};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    days: Vec<Spanned<String>>,
    from: Spanned<String>,
    to: Spanned<String>,
    timezone: Spanned<String>,
}

pub(super) fn hours(node: &Node, path: &str, p: &mut Problems) -> Option<Hours> {
    if let NodeValue::Str(s) = &node.value {
        return match s.as_str() {
            "always" => Some(Hours::Always),
            _ => p.error(node.loc, path, "`hours` is `always` or a mapping with days, from, to and timezone"),
        };
    }
    let raw: RawHours = p.decode(node, path)?;
    let mut days = [false; 7];
    let mut ok = true;
    for (i, d) in raw.days.iter().enumerate() {
        match day_index(&d.value) {
            Some(at) => days[at] = true,
            None => {
                ok = false;
                p.error::<()>(
                    d.loc,
                    &format!("{path}.days[{i}]"),
                    format!("unknown day `{}`, expected one of: mon, tue, wed, thu, fri, sat, sun", d.value),
                );
            }
        }
    }
    let time = |t: &Spanned<String>, field: &str, p: &mut Problems| match t.value.parse::<Time>() {
        Ok(v) if t.value.len() == 5 => Some(v),
        _ => p.error(t.loc, &join(path, field), format!("`{}` is not a time like 08:00", t.value)),
    };
    let (from, to) = (time(&raw.from, "from", p), time(&raw.to, "to", p));
    let timezone = match TimeZone::get(&raw.timezone.value) {
        Ok(tz) => Some(tz),
        Err(_) => p.error(
            raw.timezone.loc,
            &join(path, "timezone"),
            format!("unknown time zone `{}` (an IANA name such as Europe/Amsterdam)", raw.timezone.value),
        ),
    };
    let (from, to, timezone) = (from?, to?, timezone?);
    if from >= to {
        return p.error(raw.to.loc, &join(path, "to"), "`to` must be later than `from` on the same day");
    }
    if !days.contains(&true) {
        return p.error(node.loc, &join(path, "days"), "give at least one day");
    }
    ok.then_some(Hours::Open(OpenHours { days, from, to, timezone }))
}
