//! `rules[i].actions[j]` → [`Action`]: the destination resolved, fields checked against its type,
//! templates compiled.

use std::collections::HashMap;

use super::destination::kind_name;
use super::node::{Loc, Node, NodeValue, Spanned, join};
use super::problems::Problems;
use super::raw::RawAction;
use crate::actions::{Action, Destination, DestinationKind, HttpBody, Plan};
use crate::template::{Shape, Templates, Text};

pub(super) fn action(
    raw: RawAction,
    path: &str,
    destinations: &HashMap<String, Destination>,
    t: &mut Templates,
    p: &mut Problems,
) -> Option<Action> {
    let Some(dest) = destinations.get(&raw.to.value) else {
        if p.is_broken_destination(&raw.to.value) {
            return None;
        }
        let mut known: Vec<_> = destinations.keys().map(String::as_str).collect();
        known.sort_unstable();
        return p.error(
            raw.to.loc,
            &join(path, "to"),
            format!("unknown destination `{}`, expected one of: {}", raw.to.value, known.join(", ")),
        );
    };
    let kind = dest.kind;
    let mut ok = true;
    let mut reject = |p: &mut Problems, field: &str, loc: Loc| {
        ok = false;
        p.error::<()>(
            loc,
            &join(path, field),
            format!("`{field}` does not apply to a {} destination", kind_name(kind)),
        );
    };
    let allowed: &[&str] = match kind {
        DestinationKind::Slack => &["text", "blocks"],
        DestinationKind::Email => &["recipients", "subject", "text", "html", "from", "reply_to"],
        DestinationKind::Http => &["body", "content_type"],
        DestinationKind::Log => &["text"],
        other => super::action_types::allowed_fields(other),
    };
    let present: [(&str, Option<Loc>); 16] = [
        ("text", raw.text.as_ref().map(|x| x.loc)),
        ("blocks", raw.blocks.as_ref().map(|x| x.loc)),
        ("recipients", raw.recipients.as_ref().and_then(|x| x.first()).map(|x| x.loc)),
        ("subject", raw.subject.as_ref().map(|x| x.loc)),
        ("html", raw.html.as_ref().map(|x| x.loc)),
        ("from", raw.from.as_ref().map(|x| x.loc)),
        ("reply_to", raw.reply_to.as_ref().map(|x| x.loc)),
        ("body", raw.body.as_ref().map(|x| x.loc)),
        ("content_type", raw.content_type.as_ref().map(|x| x.loc)),
        ("card", raw.card.as_ref().map(|x| x.loc)),
        ("embeds", raw.embeds.as_ref().map(|x| x.loc)),
        ("cards_v2", raw.cards_v2.as_ref().map(|x| x.loc)),
        ("severity", raw.severity.as_ref().map(|x| x.loc)),
        ("event_action", raw.event_action.as_ref().map(|x| x.loc)),
        ("source", raw.source.as_ref().map(|x| x.loc)),
        ("custom_details", raw.custom_details.as_ref().map(|x| x.loc)),
    ];
    for (field, loc) in present {
        if let Some(loc) = loc
            && !allowed.contains(&field)
        {
            reject(p, field, loc);
        }
    }
    let mut text_of = |p: &mut Problems, field: &str, s: &Spanned<String>| -> Option<Text> {
        t.text(&join(path, field), &s.value).map_err(|e| p.error::<()>(s.loc, &join(path, field), e)).ok()
    };
    let plan = match kind {
        DestinationKind::Slack => {
            if raw.text.is_none() && raw.blocks.is_none() {
                return p.error(raw.to.loc, path, "a slack action needs `text`, `blocks` or both");
            }
            let text = raw.text.as_ref().map(|s| text_of(p, "text", s));
            let blocks = raw.blocks.as_ref().map(|b| shape(b, &join(path, "blocks"), t, p));
            Plan::Slack {
                text: text.map(|x| x.ok_or(())).transpose().ok()?,
                blocks: blocks.map(|x| x.ok_or(())).transpose().ok()?,
            }
        }
        DestinationKind::Log => {
            let Some(text) = &raw.text else {
                return p.error(raw.to.loc, path, "a log action needs `text`");
            };
            Plan::Log { text: text_of(p, "text", text)? }
        }
        DestinationKind::Email => email_plan(&raw, dest, path, &mut text_of, p)?,
        DestinationKind::Http => {
            let body = match (&raw.body, &raw.content_type) {
                (None, Some(ct)) => {
                    return p.error(ct.loc, &join(path, "content_type"), "`content_type` needs a `body`");
                }
                (None, None) => HttpBody::Forward,
                (Some(b), ct) => match &b.value {
                    NodeValue::Str(s) => {
                        let text = t
                            .text(&join(path, "body"), s)
                            .map_err(|e| p.error::<()>(b.loc, &join(path, "body"), e))
                            .ok()?;
                        let content_type = ct
                            .as_ref()
                            .map_or_else(|| "text/plain; charset=utf-8".to_owned(), |c| c.value.clone());
                        if content_type.to_ascii_lowercase().contains("json") && has_raw_expression(s) {
                            p.warning(
                                b.loc,
                                &join(path, "body"),
                                "a string body sent as JSON: a value with a quote or newline breaks it; \
                                 write `{{ payload.x | tojson }}` (it adds the quotes), or write the body \
                                 as YAML, which is built as JSON",
                            );
                        }
                        HttpBody::Text { text, content_type }
                    }
                    _ => {
                        if let Some(ct) = ct {
                            return p.error(
                                ct.loc,
                                &join(path, "content_type"),
                                "a body written as YAML is always sent as application/json",
                            );
                        }
                        HttpBody::Json(shape(b, &join(path, "body"), t, p)?)
                    }
                },
            };
            Plan::Http { body }
        }
        DestinationKind::Pagerduty => super::action_types::pagerduty_plan(&raw, path, t, p)?,
        other => super::action_types::chat_plan(other, &raw, dest, path, t, p)?,
    };
    let (thread, update_parent, reply_broadcast) = thread_fields(&raw, dest, path, t, p)?;
    let hours = match &raw.hours {
        Some(h) => {
            let compiled = super::hours::hours(h, &join(path, "hours"), p);
            ok &= compiled.is_some();
            compiled
        }
        None => None,
    };
    ok.then(|| Action { destination: dest.name.clone(), plan, hours, thread, update_parent, reply_broadcast })
}

/// `thread`, `update_parent` and `reply_broadcast`: the thread key compiled (a warning where the
/// destination has no conversations), the Slack-only flags checked. `None` after an error.
fn thread_fields(
    raw: &RawAction,
    dest: &Destination,
    path: &str,
    t: &mut Templates,
    p: &mut Problems,
) -> Option<(Option<Text>, bool, bool)> {
    let threads = dest.has_threads();
    let thread = match &raw.thread {
        None => None,
        Some(s) => {
            let text = t
                .text(&join(path, "thread"), &s.value)
                .map_err(|e| p.error::<()>(s.loc, &join(path, "thread"), e))
                .ok()?;
            if !threads {
                p.warning(
                    s.loc,
                    &join(path, "thread"),
                    format!(
                        "`thread` is ignored: {} (threads need slack with `token` + `channel`, telegram, \
                         email with provider: smtp, google-chat or pagerduty)",
                        no_threads_reason(dest)
                    ),
                );
            }
            Some(text)
        }
    };
    let mut flag = |field: &str, value: &Option<Spanned<bool>>| -> Option<bool> {
        let Some(v) = value else { return Some(false) };
        if dest.slack_api.is_none() {
            return p.error(
                v.loc,
                &join(path, field),
                format!(
                    "`{field}` is only valid for a slack destination with `token` + `channel` (the Web API)"
                ),
            );
        }
        if v.value && raw.thread.is_none() {
            return p.error(v.loc, &join(path, field), format!("`{field}` needs `thread`"));
        }
        Some(v.value)
    };
    let update_parent = flag("update_parent", &raw.update_parent);
    let reply_broadcast = flag("reply_broadcast", &raw.reply_broadcast);
    Some((thread, update_parent?, reply_broadcast?))
}

/// Why `thread:` means nothing at `dest`, for the warning.
fn no_threads_reason(dest: &Destination) -> String {
    match dest.kind {
        DestinationKind::Slack => {
            "a slack incoming webhook returns no message id, so it cannot thread".to_owned()
        }
        DestinationKind::Email => "only email with provider: smtp writes threading headers".to_owned(),
        kind => format!("a {} destination has no conversations", kind_name(kind)),
    }
}

fn email_plan(
    raw: &RawAction,
    dest: &Destination,
    path: &str,
    text_of: &mut TextCompiler<'_>,
    p: &mut Problems,
) -> Option<Plan> {
    let defaults = dest.email.as_ref()?;
    let recipients = match &raw.recipients {
        Some(list) if !list.is_empty() => list,
        _ => return p.error(raw.to.loc, path, "an email action needs `recipients` (a list of addresses)"),
    };
    let Some(subject) = &raw.subject else {
        return p.error(raw.to.loc, path, "an email action needs `subject`");
    };
    if raw.text.is_none() && raw.html.is_none() {
        return p.error(raw.to.loc, path, "an email action needs `text`, `html` or both");
    }
    let from = match (&raw.from, &defaults.from) {
        (Some(f), _) => text_of(p, "from", f),
        (None, Some(f)) => Some(Text::Literal(f.clone())),
        (None, None) => {
            return p.error(raw.to.loc, path, format!("no `from` here nor on destination `{}`", dest.name));
        }
    };
    let to: Vec<Option<Text>> =
        recipients.iter().enumerate().map(|(i, r)| text_of(p, &format!("recipients[{i}]"), r)).collect();
    let subject = text_of(p, "subject", subject);
    let reply_to = raw.reply_to.as_ref().map(|s| text_of(p, "reply_to", s));
    // An address written out (no template) is checked now rather than at every delivery.
    let mut literal = |field: String, loc: Loc, text: Option<&Text>| {
        if let Some(Text::Literal(value)) = text
            && let Err(reason) = crate::actions::one_address(value)
        {
            p.error::<()>(loc, &join(path, &field), reason);
        }
    };
    for (i, (r, text)) in recipients.iter().zip(&to).enumerate() {
        literal(format!("recipients[{i}]"), r.loc, text.as_ref());
    }
    if let (Some(r), Some(Some(text))) = (&raw.reply_to, &reply_to) {
        literal("reply_to".into(), r.loc, Some(text));
    }
    if let (Some(f), Some(text)) = (&raw.from, &from) {
        literal("from".into(), f.loc, Some(text));
    }
    let text = raw.text.as_ref().map(|s| text_of(p, "text", s));
    let html = raw.html.as_ref().map(|s| text_of(p, "html", s));
    Some(Plan::Email {
        provider: defaults.provider,
        from: from?,
        recipients: to.into_iter().collect::<Option<_>>()?,
        subject: subject?,
        reply_to: reply_to.map(|x| x.ok_or(())).transpose().ok()?,
        text: text.map(|x| x.ok_or(())).transpose().ok()?,
        html: html.map(|x| x.ok_or(())).transpose().ok()?,
    })
}

/// Whether a template has a `{{ … }}` expression that does not end in `| tojson`.
fn has_raw_expression(template: &str) -> bool {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { return false };
        let expr = after[..end].trim().trim_end_matches('-').trim();
        if !expr.replace(' ', "").ends_with("|tojson") {
            return true;
        }
        rest = &after[end + 2..];
    }
    false
}

/// Compiles one text field of an action: `(problems, field, source)`.
type TextCompiler<'a> = dyn FnMut(&mut Problems, &str, &Spanned<String>) -> Option<Text> + 'a;

/// A YAML value whose string leaves are templates.
pub(super) fn shape(node: &Node, path: &str, t: &mut Templates, p: &mut Problems) -> Option<Shape> {
    Some(match &node.value {
        NodeValue::Str(s) => match t.leaf(path, s) {
            Ok(shape) => shape,
            Err(e) => return p.error(node.loc, path, e),
        },
        NodeValue::Seq(items) => {
            let parts: Vec<_> =
                items.iter().enumerate().map(|(i, n)| shape(n, &format!("{path}[{i}]"), t, p)).collect();
            Shape::List(parts.into_iter().collect::<Option<_>>()?)
        }
        NodeValue::Map(entries) => {
            let parts: Vec<_> = entries
                .iter()
                .map(|(k, v)| {
                    let key = k.scalar_text();
                    let value = shape(v, &join(path, &key), t, p)?;
                    Some((key, value))
                })
                .collect();
            Shape::Object(parts.into_iter().collect::<Option<_>>()?)
        }
        _ => Shape::Literal(node.to_json()),
    })
}
