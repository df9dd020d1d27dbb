//! The admin listener's defences against the browser next to it: a web page the operator has open
//! can make the browser send requests to `127.0.0.1:9090` (cross-site requests) or, by DNS
//! rebinding, read its answers. So every request must name an allowed `Host`, every `POST` must be
//! same-origin and JSON (a cross-site page cannot send `application/json` without a CORS preflight,
//! which this listener never grants), and every answer carries headers that forbid framing,
//! sniffing and inline script.
//!
//! The checks are pure functions of the request head; `admin::mod` applies them as middleware.

use axum::http::{HeaderMap, HeaderValue, Method, header};

/// `Content-Security-Policy` of every admin answer: the dashboard loads its own script and style
/// files only (no inline script or style), talks to its own origin, and may not be framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Why a request is refused before any handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 421: the `Host` is not one this listener answers to (DNS rebinding).
    Host,
    /// 403: a `POST` from another site.
    CrossSite,
    /// 415: a `POST` without `Content-Type: application/json`.
    NotJson,
}

impl Refusal {
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::Host => {
                "this Host is not allowed on the admin listener; add it to settings.admin_allowed_hosts"
            }
            Refusal::CrossSite => "cross-site requests may not change anything",
            Refusal::NotJson => "a POST to the admin API needs Content-Type: application/json",
        }
    }
}

/// Checks a request head. `allowed` are the extra host names from `settings.admin_allowed_hosts`.
pub fn check(method: &Method, headers: &HeaderMap, allowed: &[String]) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !host.is_some_and(|h| host_allowed(h, allowed)) {
        return Err(Refusal::Host);
    }
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    if cross_site(headers, host.unwrap_or_default()) {
        return Err(Refusal::CrossSite);
    }
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json")
    });
    if json { Ok(()) } else { Err(Refusal::NotJson) }
}

/// An IP literal, `localhost` (or a name under `.localhost`, which browsers resolve to loopback
/// themselves), or a configured name, with any port. An IP literal cannot be rebound: a page that
/// reaches us through one has that IP as its own origin, so the same-origin policy still holds.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = strip_port(host.trim());
    if name.is_empty() {
        return false;
    }
    if name.starts_with('[') {
        return name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || allowed.iter().any(|a| strip_port(a.trim()).trim_end_matches('.').eq_ignore_ascii_case(&name))
}

/// `name:port` → `name`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Whether the browser says the request comes from another origin. Clients that are not browsers
/// (curl, scripts) send neither header and pass.
fn cross_site(headers: &HeaderMap, host: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none`: the user typed or bookmarked the URL. `same-site` still means another origin (another
        // port on the same host), so it is refused like `cross-site`.
        if !matches!(site.to_str(), Ok("same-origin" | "none")) {
            return true;
        }
    }
    match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        None => false,
        Some(Ok(origin)) => {
            let authority = origin.split_once("://").map(|(_, rest)| rest);
            !authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
        }
        Some(Err(_)) => true,
    }
}

/// Adds the security headers to an answer.
pub fn harden(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    fn check_host(host: &str, expected: bool) {
        assert_eq!(host_allowed(host, &["admin.internal".to_owned()]), expected, "{host}");
    }

    #[test]
    fn hosts() {
        check_host("127.0.0.1:9090", true);
        check_host("127.0.0.1", true);
        check_host("10.0.0.7:9090", true);
        check_host("[::1]:9090", true);
        check_host("[::1]", true);
        check_host("localhost:9090", true);
        check_host("LocalHost", true);
        check_host("dash.localhost:9090", true);
        check_host("admin.internal:9090", true);
        check_host("ADMIN.internal.", true);
        check_host("attacker.example", false);
        check_host("attacker.example:9090", false);
        check_host("localhost.attacker.example", false);
        check_host("127.0.0.1.attacker.example", false);
        check_host("[attacker.example]", false);
        check_host("", false);
        check_host(":9090", false);
    }

    fn check_request(method: Method, pairs: &[(&str, &str)], expected: Result<(), Refusal>) {
        assert_eq!(check(&method, &head(pairs), &[]), expected, "{method} {pairs:?}");
    }

    #[test]
    fn requests() {
        const JSON: (&str, &str) = ("content-type", "application/json");
        const HOST: (&str, &str) = ("host", "127.0.0.1:9090");
        check_request(Method::GET, &[HOST], Ok(()));
        check_request(Method::GET, &[HOST, ("sec-fetch-site", "cross-site")], Ok(()));
        check_request(Method::GET, &[("host", "attacker.example")], Err(Refusal::Host));
        check_request(Method::GET, &[], Err(Refusal::Host));
        check_request(Method::POST, &[HOST, JSON], Ok(()));
        check_request(Method::POST, &[HOST, ("content-type", "Application/JSON; charset=utf-8")], Ok(()));
        check_request(Method::POST, &[HOST], Err(Refusal::NotJson));
        check_request(Method::POST, &[HOST, ("content-type", "text/plain")], Err(Refusal::NotJson));
        check_request(Method::POST, &[HOST, JSON, ("sec-fetch-site", "same-origin")], Ok(()));
        check_request(Method::POST, &[HOST, JSON, ("sec-fetch-site", "none")], Ok(()));
        check_request(Method::POST, &[HOST, JSON, ("sec-fetch-site", "cross-site")], Err(Refusal::CrossSite));
        check_request(Method::POST, &[HOST, JSON, ("sec-fetch-site", "same-site")], Err(Refusal::CrossSite));
        check_request(Method::POST, &[HOST, JSON, ("origin", "http://127.0.0.1:9090")], Ok(()));
        check_request(
            Method::POST,
            &[HOST, JSON, ("origin", "http://127.0.0.1:8080")],
            Err(Refusal::CrossSite),
        );
        check_request(
            Method::POST,
            &[HOST, JSON, ("origin", "https://evil.example")],
            Err(Refusal::CrossSite),
        );
        check_request(Method::POST, &[HOST, JSON, ("origin", "null")], Err(Refusal::CrossSite));
        check_request(Method::DELETE, &[HOST, ("sec-fetch-site", "cross-site")], Err(Refusal::CrossSite));
    }

    #[test]
    fn answers_are_hardened() {
        let mut h = HeaderMap::new();
        harden(&mut h);
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}
