//! Which rules an event matches: pure functions of the compiled rules and the event, no I/O.

mod condition;
mod explain;
mod path;
mod pattern;
mod ruleset;
mod since;

pub use condition::{Bound, Condition, MAX_PATH_LEN, MAX_PATH_NESTING, Memo, Op, Path, Prev, json_eq};
pub use explain::{ConditionTrace, RuleTrace, explain, explain_prev};
pub use pattern::EventPattern;
pub use ruleset::{BUILTIN_SOURCE, Rule, RuleSet};
