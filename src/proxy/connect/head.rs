//! The CONNECT head: read it within bounds, parse it as botocore and Go send it (HTTP/1.0 or 1.1), check
//! `Proxy-Authorization`, and answer with a plain HTTP status before any TLS starts.

use subtle::ConstantTimeEq;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::classify::basic_credentials;
use crate::config::PrincipalConfig;

/// A parsed CONNECT request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectRequest {
    /// Target host, lowercased, without brackets.
    pub host: String,
    /// Target port.
    pub port: u16,
    /// `Proxy-Authorization: Basic` user and password, when sent and well formed.
    pub credentials: Option<(String, String)>,
}

/// Why a CONNECT head was not accepted, each with the status the client gets.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The client closed before sending a complete head.
    #[error("connection closed before the request head was complete")]
    Closed,
    /// The head exceeded `limits.max_header_bytes` or `limits.max_headers`.
    #[error("request head too large")]
    TooLarge,
    /// Not parseable as HTTP/1.x.
    #[error("malformed request head: {0}")]
    Malformed(String),
    /// A method other than CONNECT: this is a CONNECT-only proxy (plain HTTP would bypass TLS checks).
    #[error("{0} is not supported: this proxy only accepts CONNECT (set HTTPS_PROXY, not HTTP_PROXY)")]
    NotConnect(String),
    /// The head did not arrive within `limits.header_read_timeout_secs` (slowloris).
    #[error("request head not received in time")]
    Timeout,
}

impl HeadError {
    /// The HTTP status answering this error.
    pub(crate) fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::NotConnect(_) => 405,
            HeadError::Timeout => 408,
            HeadError::Closed | HeadError::Malformed(_) => 400,
        }
    }
}

impl HeadError {
    /// The `/metrics` limit this error counts against, if it is one.
    pub(crate) fn limit(&self) -> Option<&'static str> {
        match self {
            HeadError::TooLarge => Some("max_header_bytes"),
            HeadError::Timeout => Some("header_read_timeout"),
            _ => None,
        }
    }
}

/// Reads one CONNECT head, at most `max_bytes` long with at most `max_headers` fields. Reading stops at
/// the blank line, so bytes the client pipelines after it (its TLS ClientHello) stay in the reader.
pub(crate) async fn read_head<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
    max_headers: usize,
) -> Result<ConnectRequest, HeadError> {
    let mut used = 0usize;
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let budget = (max_bytes.saturating_sub(used) + 1) as u64;
        let n =
            (&mut *reader).take(budget).read_until(b'\n', &mut line).await.map_err(|_| HeadError::Closed)?;
        used += n;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        if used > max_bytes || !line.ends_with(b"\n") {
            return Err(if used > max_bytes { HeadError::TooLarge } else { HeadError::Closed });
        }
        let text = String::from_utf8(line).map_err(|_| HeadError::Malformed("not UTF-8".into()))?;
        let text = text.trim_end_matches(['\r', '\n']).to_string();
        if text.is_empty() {
            if lines.is_empty() {
                continue; // tolerate a stray CRLF before the request line (RFC 9112 §2.2)
            }
            break;
        }
        if lines.len() > max_headers {
            return Err(HeadError::TooLarge);
        }
        lines.push(text);
    }
    parse(&lines)
}

fn parse(lines: &[String]) -> Result<ConnectRequest, HeadError> {
    let mut parts = lines[0].split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err(HeadError::Malformed(format!("bad request line {:?}", truncate(&lines[0])))),
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HeadError::Malformed(format!("unsupported version {:?}", truncate(version))));
    }
    if !method.eq_ignore_ascii_case("CONNECT") {
        return Err(HeadError::NotConnect(truncate(method)));
    }
    let (host, port) = split_authority(target).ok_or_else(|| {
        HeadError::Malformed(format!("CONNECT target {:?} is not host:port", truncate(target)))
    })?;
    let mut credentials = None;
    for line in &lines[1..] {
        let (name, value) =
            line.split_once(':').ok_or_else(|| HeadError::Malformed("header line without ':'".into()))?;
        if name.trim().eq_ignore_ascii_case("proxy-authorization") {
            credentials = basic_credentials(value);
        }
    }
    Ok(ConnectRequest { host, port, credentials })
}

/// Splits `host:port` or `[v6]:port`; the port is required in CONNECT's authority-form.
pub(crate) fn split_authority(target: &str) -> Option<(String, u16)> {
    authority_parts(target).map(|(host, port)| (host.to_ascii_lowercase(), port))
}

/// [`split_authority`] without the lowercased copy, for comparisons on the per-request path.
pub(crate) fn authority_parts(target: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = target.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        (host, port)
    } else {
        target.rsplit_once(':')?
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if host.is_empty() || !host.chars().all(valid) {
        return None;
    }
    Some((host, port.parse().ok().filter(|p| *p != 0)?))
}

/// Whether `credentials` match some principal's `proxy_user`/`proxy_password` (constant time per field).
pub(crate) fn credentials_valid(
    credentials: Option<&(String, String)>,
    principals: &[PrincipalConfig],
) -> bool {
    let Some((user, password)) = credentials else { return false };
    principals.iter().any(|p| match (&p.proxy_user, &p.proxy_password) {
        (Some(u), Some(pw)) => {
            let user_ok: bool = u.as_bytes().ct_eq(user.as_bytes()).into();
            let password_ok: bool = pw.as_bytes().ct_eq(password.as_bytes()).into();
            user_ok & password_ok
        }
        _ => false,
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// Writes a complete plain HTTP response that closes the connection (CONNECT refusals and limits).
pub(crate) async fn write_status<W: AsyncWrite + Unpin>(
    w: &mut W,
    status: u16,
    extra_header: Option<&str>,
    message: &str,
) -> std::io::Result<()> {
    w.write_all(status_bytes(status, extra_header, message).as_bytes()).await?;
    w.flush().await
}

/// The bytes of a plain-text status response, also used where only a non-blocking write is possible.
pub(crate) fn status_bytes(status: u16, extra_header: Option<&str>, message: &str) -> String {
    let reason = match status {
        200 => "Connection established",
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    };
    if status == 200 {
        return format!("HTTP/1.1 200 {reason}\r\n\r\n");
    }
    let body = format!("vpce-proxy: {message}\n");
    let extra = extra_header.map(|h| format!("{h}\r\n")).unwrap_or_default();
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn head(text: &str) -> Result<ConnectRequest, HeadError> {
        let mut reader = tokio::io::BufReader::new(text.as_bytes());
        read_head(&mut reader, 1024, 8).await
    }

    /// Request forms from RFC 9110 §9.3.6 (CONNECT) and RFC 9112 §3.2.3 (authority-form), as botocore
    /// (HTTP/1.0) and Go's net/http (HTTP/1.1) send them.
    #[tokio::test]
    async fn connect_heads() {
        let creds = Some(("alice".to_string(), "s3cret".to_string()));
        let rows: Vec<(&str, Result<ConnectRequest, HeadError>)> = vec![
            (
                "CONNECT api.ecr.us-east-1.amazonaws.com:443 HTTP/1.0\r\n\r\n",
                Ok(ConnectRequest { host: "api.ecr.us-east-1.amazonaws.com".into(), port: 443, credentials: None }),
            ),
            (
                "CONNECT X.dkr.ecr.us-east-1.amazonaws.com:443 HTTP/1.1\r\nHost: x:443\r\nUser-Agent: Go-http-client/1.1\r\n\
                 Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n",
                Ok(ConnectRequest { host: "x.dkr.ecr.us-east-1.amazonaws.com".into(), port: 443, credentials: creds }),
            ),
            ("CONNECT [::1]:8443 HTTP/1.1\n\n", Ok(ConnectRequest { host: "::1".into(), port: 8443, credentials: None })),
            ("GET http://example.com/ HTTP/1.1\r\n\r\n", Err(HeadError::NotConnect("GET".into()))),
            ("CONNECT example.com HTTP/1.1\r\n\r\n", Err(HeadError::Malformed("CONNECT target \"example.com\" is not host:port".into()))),
            ("CONNECT a:443 HTTP/2\r\n\r\n", Err(HeadError::Malformed("unsupported version \"HTTP/2\"".into()))),
            ("CONNECT a:443 HTTP/1.1\r\n", Err(HeadError::Closed)),
            ("CONNECT a:443 HTTP/1.1\r\nX: y\r\n", Err(HeadError::Closed)),
        ];
        for (text, want) in rows {
            assert_eq!(head(text).await, want, "{text:?}");
        }
    }

    /// `limits.max_header_bytes` and `limits.max_headers` at their bounds (1024 and 8 here): a head of
    /// exactly 1024 bytes, blank line included, or with exactly 8 fields is read; one byte or one field
    /// more is `431`.
    #[tokio::test]
    async fn heads_are_read_at_the_bounds_and_refused_one_past_them() {
        let sized = |len: usize| {
            let start = "CONNECT a:443 HTTP/1.1\r\nX: ";
            format!("{start}{}\r\n\r\n", "a".repeat(len - start.len() - 4))
        };
        let fields = |n: usize| format!("CONNECT a:443 HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(n));
        assert_eq!(sized(1024).len(), 1024);
        assert!(head(&sized(1024)).await.is_ok());
        assert_eq!(head(&sized(1025)).await, Err(HeadError::TooLarge));
        assert!(head(&fields(8)).await.is_ok());
        assert_eq!(head(&fields(9)).await, Err(HeadError::TooLarge));
    }

    #[tokio::test]
    async fn oversized_heads_are_refused() {
        let long = format!("CONNECT a:443 HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
        assert_eq!(head(&long).await, Err(HeadError::TooLarge));
        let many = format!("CONNECT a:443 HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(20));
        assert_eq!(head(&many).await, Err(HeadError::TooLarge));
    }

    #[test]
    fn proxy_credentials_must_match_a_principal() {
        let principal = PrincipalConfig {
            proxy_user: Some("alice".into()),
            proxy_password: Some("s3cret".into()),
            ..PrincipalConfig::default()
        };
        let ok = ("alice".to_string(), "s3cret".to_string());
        let bad = ("alice".to_string(), "wrong".to_string());
        assert!(credentials_valid(Some(&ok), std::slice::from_ref(&principal)));
        assert!(!credentials_valid(Some(&bad), std::slice::from_ref(&principal)));
        assert!(!credentials_valid(None, std::slice::from_ref(&principal)));
        assert!(!credentials_valid(Some(&ok), &[]));
    }
}
