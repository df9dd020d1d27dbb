//! A threaded delivery's place in its conversation (`thread:` of its action), decided through the
//! store before the send and recorded after it. Provider-agnostic: what a reference is and how a
//! reply carries it come from `actions::threads::ThreadProtocol`; the order (the first message
//! of a key is delivered before any reply is sent; two first messages racing open one thread) is
//! kept by the store (`Store::thread_place`), so it holds across restarts and a PostgreSQL fleet.
//!
//! The thread key is rendered at send time from the stored event with the running rules (the
//! event's fields, not `prev`). A delivery whose action lost its `thread:` in a reload is sent
//! unthreaded.

use crate::actions::threads::{ParentRef, ReplyOptions, protocol};
use crate::actions::{Action, Destination, RenderedRequest};
use crate::clock::now_ms;
use crate::config::Config;
use crate::deliver::{LogContext, Sender};
use crate::policy::Decision;
use crate::store::{Claimed, Store, ThreadId, ThreadPlace};

/// What to do with a claimed delivery, thread-wise.
pub(super) enum Placement {
    /// No conversation: the destination has none, or the action no `thread:`.
    Alone,
    /// The first message of its thread: send as a new message, then record its reference.
    Opens { thread: ThreadId },
    /// A reply into the open thread.
    Replies { thread: ThreadId, parent: ParentRef, options: ReplyOptions, update_parent: bool },
    /// Deferred by the store until the thread's opener is done: nothing to send now.
    Waits,
}

/// Why a delivery could not be placed.
pub(super) enum PlaceError {
    /// The store did not answer: try again later.
    Store(String),
    /// It cannot be sent as configured (the thread key's template failed).
    Dead(String),
}

/// Decides the delivery's place; `Waits` has already given its lease back.
pub(super) async fn place(
    store: &dyn Store,
    config: &Config,
    dest: &Destination,
    d: &Claimed,
) -> Result<Placement, PlaceError> {
    let Some(action) = action_of(config, d) else { return Ok(Placement::Alone) };
    let (Some(template), Some(_)) = (&action.thread, protocol(dest)) else { return Ok(Placement::Alone) };
    let (_, ctx) = super::worker::stored_context(store, d).await.map_err(PlaceError::Store)?;
    let key = config
        .templates
        .render_text(template, &ctx)
        .map_err(|e| PlaceError::Dead(format!("thread key template failed: {e}")))?;
    let thread = ThreadId { destination: d.destination.clone(), key };
    let placed = store
        .thread_place(&thread, d.lease(), now_ms())
        .await
        .map_err(|e| PlaceError::Store(format!("cannot place the delivery in its thread: {e}")))?;
    Ok(match placed {
        ThreadPlace::Opener => Placement::Opens { thread },
        ThreadPlace::Reply { reference } => {
            let parent = ParentRef::from_stored(&reference)
                .ok_or_else(|| PlaceError::Dead("the stored thread reference is not JSON".into()))?;
            Placement::Replies {
                thread,
                parent,
                options: ReplyOptions { broadcast: action.reply_broadcast },
                update_parent: action.update_parent,
            }
        }
        ThreadPlace::Wait { until, opener } => {
            tracing::info!(event_id = %d.event_id, rule = %d.rule, destination = %d.destination, delivery_id = d.id,
                opener, wait_ms = until - now_ms(), "waiting for the delivery that opens its thread");
            Placement::Waits
        }
    })
}

fn action_of<'c>(config: &'c Config, d: &Claimed) -> Option<&'c Action> {
    let rule = config.rules.rules().iter().find(|r| r.name == d.rule)?;
    rule.actions.get(d.action_index).filter(|a| a.destination == d.destination)
}

/// The request as the placement sends it (a reply carries its parent).
pub(super) fn apply(
    placement: &Placement,
    dest: &Destination,
    request: RenderedRequest,
) -> Result<RenderedRequest, String> {
    match (placement, protocol(dest)) {
        (Placement::Replies { parent, options, .. }, Some(p)) => p.apply_parent(&request, parent, *options),
        _ => Ok(request),
    }
}

/// An attempt as `after_send` needs it.
pub(super) struct Finished<'a> {
    pub decision: &'a Decision,
    /// The provider's reference to the message sent (see `Attempt::reference`).
    pub reference: Option<&'a ParentRef>,
    /// The request as rendered, before a parent was applied (`chat.update` re-renders from it).
    pub request: &'a RenderedRequest,
}

/// Records what the attempt means for the thread, before the attempt itself is recorded: the
/// opener's reference (which wakes the waiting replies), an opener that will not open (dead, or
/// no reference in the answer: the next message opens the thread), a delivered reply; and
/// `update_parent`'s `chat.update`, whose failure is logged (the reply is delivered).
pub(super) async fn after_send(
    store: &dyn Store,
    sender: &Sender,
    dest: &Destination,
    placement: &Placement,
    sent: Finished<'_>,
    ctx: &LogContext<'_>,
) {
    let Finished { decision, reference, request } = sent;
    let now = now_ms();
    match (placement, decision) {
        (Placement::Opens { thread }, Decision::Delivered) => {
            let done = match reference {
                Some(r) => store.thread_opened(thread, ctx.delivery_id, &r.to_stored(), now).await,
                None => {
                    tracing::warn!(destination = %dest.name, delivery_id = ctx.delivery_id,
                        "the answer named no message to thread on; the next message opens the thread");
                    store.thread_abandoned(thread, ctx.delivery_id, now).await
                }
            };
            if let Err(e) = done {
                tracing::error!(destination = %dest.name, delivery_id = ctx.delivery_id,
                    "cannot record the message that opened its thread (the next message opens it): {e}");
            }
        }
        (Placement::Opens { thread }, Decision::Dead(_)) => {
            if let Err(e) = store.thread_abandoned(thread, ctx.delivery_id, now).await {
                tracing::error!(destination = %dest.name, delivery_id = ctx.delivery_id,
                    "cannot hand its thread on to the next message (it will take it over): {e}");
            }
        }
        (Placement::Replies { thread, parent, update_parent, .. }, Decision::Delivered) => {
            if let Err(e) = store.thread_replied(thread, ctx.delivery_id, now).await {
                tracing::warn!(destination = %dest.name, delivery_id = ctx.delivery_id, "cannot record a reply: {e}");
            }
            if *update_parent && let Err(reason) = sender.slack_update(dest, parent, request, ctx).await {
                tracing::warn!(destination = %dest.name, delivery_id = ctx.delivery_id,
                    "the reply is delivered, but its thread's first message was not updated: {reason}");
            }
        }
        _ => {}
    }
}
