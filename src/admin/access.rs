//! `[admin] token`: every admin path needs `Authorization: Bearer TOKEN` (ARCHITECTURE.md §11).
//!
//! A browser cannot add that header to a page load or an `EventSource`, so the viewer also accepts a
//! session cookie, got by posting the token to `/login`. The cookie holds an HMAC of a fixed label under
//! the token, never the token itself: it is worthless without the token, survives restarts, and changes
//! when the token does. It is `HttpOnly` and `SameSite=Strict`, so no other site's page can use it.

use hmac::{Hmac, Mac};
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::respond::{html, AdminBody};
use crate::config::AdminToken;

/// The session cookie's name.
const COOKIE: &str = "vpce_admin";
/// The label the cookie value is derived from.
const LABEL: &[u8] = b"vpce-proxy admin viewer session v1";
/// Largest `/login` form accepted.
pub(crate) const MAX_LOGIN_BYTES: usize = 4096;

/// The sign-in page: a plain form, no script, no style (nothing else may load before sign-in).
const LOGIN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>vpce-proxy admin: sign in</title></head>
<body><h1>vpce-proxy admin</h1><p>{NOTE}</p>
<form method="post" action="/login"><label>Admin token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></body></html>
"#;

/// Whether the request carries the token as a bearer credential or the session cookie derived from it.
pub(crate) fn allowed(headers: &HeaderMap, token: &AdminToken) -> bool {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok()?.strip_prefix("Bearer "))
        .any(|given| same(given.trim(), token.expose()));
    bearer || cookie(headers).is_some_and(|given| same(given, &session(token)))
}

/// The answer to a request without credentials: the sign-in page for the viewer, 401 for the rest.
pub(crate) fn challenge(path: &str) -> Response<AdminBody> {
    let mut response = if path == "/" {
        html(StatusCode::UNAUTHORIZED, LOGIN_PAGE.replace("{NOTE}", "This admin listener needs its token."))
    } else {
        super::respond::plain(StatusCode::UNAUTHORIZED, "admin token required\n")
    };
    let value = HeaderValue::from_static("Bearer realm=\"vpce-proxy admin\"");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    response
}

/// `POST /login` with `token=...`: the cookie and a redirect to the viewer, or the form again.
pub(crate) fn login(form: &[u8], token: &AdminToken) -> Response<AdminBody> {
    let given = super::query::pairs(&String::from_utf8_lossy(form))
        .into_iter()
        .find_map(|(k, v)| (k == "token").then_some(v));
    if !given.is_some_and(|g| same(&g, token.expose())) {
        return html(
            StatusCode::UNAUTHORIZED,
            LOGIN_PAGE.replace("{NOTE}", "That token is not this listener's."),
        );
    }
    let mut response = super::respond::plain(StatusCode::SEE_OTHER, "signed in\n");
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", session(token));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    response
}

fn session(token: &AdminToken) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(token.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(LABEL);
    hex::encode(mac.finalize().into_bytes())
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> AdminToken {
        toml::from_str::<crate::config::AdminConfig>("token = \"0123456789abcdef-lab\"")
            .unwrap()
            .token
            .unwrap()
    }

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        HeaderMap::from_iter([(name, HeaderValue::from_str(value).unwrap())])
    }

    #[test]
    fn the_bearer_token_or_the_cookie_derived_from_it_is_let_in_and_nothing_else() {
        let t = token();
        let cookie = format!("theme=dark; {COOKIE}={}", session(&t));
        let rows = [
            (headers(header::AUTHORIZATION, "Bearer 0123456789abcdef-lab"), true),
            (headers(header::AUTHORIZATION, "Bearer 0123456789abcdef-la"), false),
            (headers(header::AUTHORIZATION, "Basic MDEyMzQ1Njc4OWFiY2RlZi1sYWI="), false),
            (headers(header::COOKIE, &cookie), true),
            (headers(header::COOKIE, &format!("{COOKIE}=0123456789abcdef-lab")), false),
            (HeaderMap::new(), false),
        ];
        for (h, expected) in rows {
            assert_eq!(allowed(&h, &t), expected, "{h:?}");
        }
    }

    #[test]
    fn login_sets_an_http_only_strict_cookie_only_for_the_right_token() {
        let t = token();
        let ok = login(b"token=0123456789abcdef-lab", &t);
        assert_eq!(ok.status(), StatusCode::SEE_OTHER);
        let set = ok.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
        assert!(!set.contains("0123456789abcdef-lab"), "the cookie is not the token: {set}");
        assert_eq!(login(b"token=wrong", &t).status(), StatusCode::UNAUTHORIZED);
        assert_eq!(login(b"", &t).status(), StatusCode::UNAUTHORIZED);
    }
}
