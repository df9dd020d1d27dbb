//! The actions of the destination types added for issue 15: which fields each takes, and their
//! plans (the chat types' text and extra, PagerDuty's event fields with their defaults).

use super::action::shape;
use super::node::{Spanned, join};
use super::problems::Problems;
use super::raw::RawAction;
use crate::actions::{ChatPlan, Destination, DestinationKind as K, PagerdutyPlan, Plan};
use crate::template::{Templates, Text};

pub(super) fn allowed_fields(kind: K) -> &'static [&'static str] {
    match kind {
        K::Teams => &["text", "card", "thread"],
        K::Discord => &["text", "embeds", "thread"],
        K::GoogleChat => &["text", "cards_v2", "thread"],
        K::Mattermost | K::Telegram => &["text", "thread"],
        K::Pagerduty => &["text", "severity", "event_action", "source", "custom_details", "thread"],
        _ => &[],
    }
}

fn text(t: &mut Templates, p: &mut Problems, path: &str, field: &str, s: &Spanned<String>) -> Option<Text> {
    t.text(&join(path, field), &s.value).map_err(|e| p.error::<()>(s.loc, &join(path, field), e)).ok()
}

pub(super) fn chat_plan(
    kind: K,
    raw: &RawAction,
    dest: &Destination,
    path: &str,
    t: &mut Templates,
    p: &mut Problems,
) -> Option<Plan> {
    let (extra_name, extra) = match kind {
        K::Teams => ("card", raw.card.as_ref()),
        K::Discord => ("embeds", raw.embeds.as_ref()),
        K::GoogleChat => ("cards_v2", raw.cards_v2.as_ref()),
        _ => ("", None),
    };
    if raw.text.is_none() && extra.is_none() {
        let needs =
            if extra_name.is_empty() { "`text`".to_owned() } else { format!("`text` or `{extra_name}`") };
        return p.error(raw.to.loc, path, format!("a {} action needs {needs}", kind.name()));
    }
    let text_compiled = raw.text.as_ref().map(|s| text(t, p, path, "text", s));
    let extra_compiled = extra.map(|node| shape(node, &join(path, extra_name), t, p));
    Some(Plan::Chat(ChatPlan {
        kind,
        text: text_compiled.map(|x| x.ok_or(())).transpose().ok()?,
        extra: extra_compiled.map(|x| x.ok_or(())).transpose().ok()?,
        fixed: dest.chat_fields.clone(),
    }))
}

pub(super) fn pagerduty_plan(
    raw: &RawAction,
    path: &str,
    t: &mut Templates,
    p: &mut Problems,
) -> Option<Plan> {
    let Some(summary) = &raw.text else {
        return p.error(raw.to.loc, path, "a pagerduty action needs `text` (the incident summary)");
    };
    let mut field = |name: &str, value: &Option<Spanned<String>>, default: &str, allowed: &[&str]| {
        let Some(v) = value else { return Some(Text::Literal(default.to_owned())) };
        let compiled = text(t, p, path, name, v)?;
        if let Text::Literal(literal) = &compiled
            && !allowed.is_empty()
            && !allowed.contains(&literal.as_str())
        {
            let expected = allowed.join(", ");
            return p.error(
                v.loc,
                &join(path, name),
                format!("unknown {name} `{literal}`, expected one of: {expected}"),
            );
        }
        Some(compiled)
    };
    let severity = field("severity", &raw.severity, "error", &["critical", "error", "warning", "info"]);
    let event_action =
        field("event_action", &raw.event_action, "trigger", &["trigger", "acknowledge", "resolve"]);
    let source = field("source", &raw.source, "hookroute", &[]);
    if let Some(Text::Literal(action)) = &event_action
        && action != "trigger"
        && raw.thread.is_none()
    {
        return p.error(
            raw.to.loc,
            path,
            format!("`event_action: {action}` needs `thread` (it names the incident's dedup_key)"),
        );
    }
    let summary = text(t, p, path, "text", summary);
    let custom_details = raw.custom_details.as_ref().map(|n| shape(n, &join(path, "custom_details"), t, p));
    Some(Plan::Pagerduty(PagerdutyPlan {
        summary: summary?,
        severity: severity?,
        event_action: event_action?,
        source: source?,
        custom_details: custom_details.map(|x| x.ok_or(())).transpose().ok()?,
    }))
}
