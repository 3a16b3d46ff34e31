//! The admin listener's response shapes: one body type, and the headers every page and API answer has.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

/// Every admin response body: a whole one, or the decision stream.
pub type AdminBody = BoxBody<Bytes, Infallible>;

/// What the viewer may load: its own script, style and API, nothing inline, nothing from elsewhere, and
/// it may not be framed (ARCHITECTURE.md §11).
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A whole body with its content type; never cached (every answer reflects live state or a secret).
pub(crate) fn whole(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<AdminBody> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

/// Plain text, for errors.
pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response<AdminBody> {
    whole(status, "text/plain", Bytes::from_static(text.as_bytes()))
}

/// An HTML page under the viewer's Content-Security-Policy.
pub(crate) fn html(status: StatusCode, page: impl Into<Bytes>) -> Response<AdminBody> {
    let mut response = whole(status, "text/html; charset=utf-8", page);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// JSON.
pub(crate) fn json(body: impl Into<Bytes>) -> Response<AdminBody> {
    whole(StatusCode::OK, "application/json", body)
}

/// `405` with the methods the path takes.
pub(crate) fn not_allowed(allow: &'static str) -> Response<AdminBody> {
    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
