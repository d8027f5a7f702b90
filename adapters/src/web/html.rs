//! The console's HTML: one layout, the escaping every piece of text goes through, and the
//! error pages. No external assets: the style sheet is served by Baton (`/console/style.css`),
//! there is no script, and the Content-Security-Policy admits nothing else.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every console page: its own style sheet, nothing else.
const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The style sheet (`GET /console/style.css`).
pub const STYLE: &str = include_str!("style.css");

/// Text made inert for HTML: `& < > " '` escaped, so whatever a person typed stays text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Who the page is for, as the header shows them: their name and the sign-out form's token.
pub struct Header<'a> {
    /// Their display name.
    pub display: &'a str,
    /// Their identity (`oidc:…`).
    pub identity: &'a str,
    /// The CSRF token the sign-out form carries.
    pub csrf: &'a str,
    /// Whether the admin link is shown.
    pub admin: bool,
}

/// A whole page: `body` is already HTML (built from escaped parts).
pub fn page(status: StatusCode, title: &str, header: Option<&Header<'_>>, body: &str) -> Response {
    let nav = match header {
        Some(h) => {
            let admin = if h.admin {
                r#" · <a href="/console/admin">Admin</a>"#
            } else {
                ""
            };
            format!(
                r#"<nav><a href="/console">Envs</a> · <a href="/console/calendar">Freeze calendar</a>{admin}
<form method="post" action="/web/logout" class="signout"><input type="hidden" name="csrf" value="{csrf}">
<span title="{id}">{name}</span> <button type="submit">Sign out</button></form></nav>"#,
                csrf = escape(h.csrf),
                id = escape(h.identity),
                name = escape(h.display),
            )
        }
        None => String::new(),
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Baton</title><link rel="stylesheet" href="/console/style.css"></head>
<body><header><strong>Baton</strong>{nav}</header><main><h1>{title}</h1>
{body}
</main></body></html>"#,
        title = escape(title),
    );
    with_headers(status, html)
}

fn with_headers(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// An error page: what went wrong in one sentence, and what to do next.
pub fn error(status: StatusCode, title: &str, why: &str) -> Response {
    let body = format!(
        r#"<p class="refused">{}</p><p><a href="/console">Back to the console</a> · <a href="/web/login">Sign in again</a></p>"#,
        escape(why)
    );
    page(status, title, None, &body)
}

/// A 303 to `location`, with `cookies` set on the way.
pub fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The style sheet's response.
pub fn style() -> Response {
    let mut response = STYLE.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=300"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_typed_by_people_stays_text() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
