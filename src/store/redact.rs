//! Store URLs carry the database password (`postgres://user:password@host/db`, or
//! `?password=…`): every log line and error shows them through [`redact_url`] instead.

/// The URL with its password replaced by `***`: in the userinfo (`user:***@host`) and in a
/// `password=` query parameter. Anything that does not look like a URL is returned unchanged
/// except that a userinfo-like `…:…@` prefix is still masked.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let (tail, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _))
                        if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{k}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", masked.join("&"))
        }
        None => tail.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}{fragment}"),
        None => format!("{authority}{tail}{fragment}"),
    }
}

#[cfg(test)]
mod tests {
    fn check(url: &str, expected: &str) {
        assert_eq!(super::redact_url(url), expected, "{url}");
    }

    #[test]
    fn passwords_are_masked() {
        check("postgres://user:password@db/hookroute", "postgres://user:***@db/hookroute");
        check(
            "postgres://user:p%40ss@db:5432/x?sslmode=require",
            "postgres://user:***@db:5432/x?sslmode=require",
        );
        check("postgresql://u:a@b@db/x", "postgresql://u:***@db/x");
        check("postgres://user@db/x", "postgres://user@db/x");
        check("postgres://db/x?user=u&password=hunter2", "postgres://db/x?user=u&password=***");
        check("postgres://u:pw@db/x?PASSWORD=pw2#frag", "postgres://u:***@db/x?PASSWORD=***#frag");
        check("sqlite://hookroute.db", "sqlite://hookroute.db");
        check(
            "sqlite:///var/lib/h/hookroute.db?synchronous=normal",
            "sqlite:///var/lib/h/hookroute.db?synchronous=normal",
        );
        check("mysql://root:toor@localhost", "mysql://root:***@localhost");
        check("", "");
        check("user:pw@host", "user:***@host");
    }
}
