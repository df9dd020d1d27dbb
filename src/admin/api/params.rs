//! Query parameters of the admin endpoints, checked rather than guessed: a value that is not what
//! docs/admin-api.md says (`limit=-1`, `before=zzz`, an unknown name) is a 400 with the documented
//! `{"error": …}` body naming the parameter, never a silently different answer. Values arrive as
//! text and are parsed here, so every message says which parameter was wrong and what it expects.

use axum::extract::{FromRequestParts, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::store::Status;

/// The largest page the list endpoints return.
pub const MAX_LIMIT: i64 = 500;
pub const DEFAULT_LIMIT: i64 = 50;

/// A query string decoded into `T` (text fields; `deny_unknown_fields`), or a JSON 400.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        match Query::<T>::try_from_uri(&parts.uri) {
            Ok(Query(t)) => Ok(Self(t)),
            Err(e) => Err(bad(&e.body_text().replace("Failed to deserialize query string: ", ""))),
        }
    }
}

/// A 400 for a bad query parameter.
pub fn bad(message: &str) -> Response {
    super::error(StatusCode::BAD_REQUEST, &format!("bad query parameter: {message}"))
}

/// Empty values (`?source=`, as forms send them) mean "not given".
pub fn given(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// What a parameter's text should have been, when it was not.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    pub fn into_response(self) -> Response {
        bad(&self.0)
    }
}

/// An integer parameter (unix milliseconds, ids).
pub fn integer(name: &str, v: Option<String>) -> Result<Option<i64>, Invalid> {
    given(v)
        .map(|t| t.parse::<i64>().map_err(|_| Invalid(format!("`{name}` must be an integer, not `{t}`"))))
        .transpose()
}

/// A page size: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when not given.
pub fn limit(v: Option<String>) -> Result<i64, Invalid> {
    match integer("limit", v.clone()) {
        Ok(None) => Ok(DEFAULT_LIMIT),
        Ok(Some(n)) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(Invalid(format!(
            "`limit` must be an integer from 1 to {MAX_LIMIT}, not `{}`",
            v.unwrap_or_default()
        ))),
    }
}

/// A delivery status.
pub fn status(v: Option<String>) -> Result<Option<Status>, Invalid> {
    given(v)
        .map(|t| {
            <Status as clap::ValueEnum>::from_str(&t, false).map_err(|_| {
                Invalid(format!(
                    "`status` must be one of pending, failed, delivered, dead, held, cancelled, not `{t}`"
                ))
            })
        })
        .transpose()
}

/// An event id (a UUID, as `next` gives it).
pub fn event_id(name: &str, v: Option<String>) -> Result<Option<String>, Invalid> {
    given(v)
        .map(|t| match uuid::Uuid::try_parse(&t) {
            Ok(_) => Ok(t),
            Err(_) => Err(Invalid(format!("`{name}` must be an event id (a UUID), not `{t}`"))),
        })
        .transpose()
}

/// `since` before `until`, when both are given.
pub fn range(since: Option<i64>, until: Option<i64>) -> Result<(Option<i64>, Option<i64>), Invalid> {
    match (since, until) {
        (Some(s), Some(u)) if s >= u => Err(Invalid(format!("`since` ({s}) must be before `until` ({u})"))),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    fn check_limit(v: Option<&str>, expected: Result<i64, &str>) {
        assert_eq!(limit(v.map(str::to_owned)), expected.map_err(|m| Invalid(m.to_owned())), "limit {v:?}");
    }

    #[test]
    fn limits() {
        check_limit(None, Ok(50));
        check_limit(Some(""), Ok(50));
        check_limit(Some("1"), Ok(1));
        check_limit(Some("500"), Ok(500));
        check_limit(Some("-1"), Err("`limit` must be an integer from 1 to 500, not `-1`"));
        check_limit(Some("0"), Err("`limit` must be an integer from 1 to 500, not `0`"));
        check_limit(Some("501"), Err("`limit` must be an integer from 1 to 500, not `501`"));
        check_limit(Some("ten"), Err("`limit` must be an integer from 1 to 500, not `ten`"));
    }

    #[test]
    fn integers_statuses_ids_and_ranges() {
        assert_eq!(integer("since", text("1764380000000")), Ok(Some(1_764_380_000_000)));
        assert_eq!(integer("since", text("")), Ok(None));
        assert_eq!(
            integer("before", text("zzz")),
            Err(Invalid("`before` must be an integer, not `zzz`".into()))
        );
        assert_eq!(status(text("dead")), Ok(Some(Status::Dead)));
        assert!(status(text("sideways")).is_err_and(|e| e.0.contains("not `sideways`")));
        let id = "019ae4a0-0000-7000-8000-000000000000";
        assert_eq!(event_id("before", text(id)), Ok(Some(id.to_owned())));
        assert!(event_id("before", text("zzz")).is_err_and(|e| e.0.contains("a UUID")));
        assert_eq!(range(Some(1), Some(2)), Ok((Some(1), Some(2))));
        assert_eq!(range(None, Some(2)), Ok((None, Some(2))));
        assert!(range(Some(2), Some(2)).is_err());
    }
}
