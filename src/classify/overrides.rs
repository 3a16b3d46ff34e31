//! Method-override headers: a request must not carry an instruction to act as another method.
//!
//! Web frameworks honour `X-HTTP-Method-Override`, `X-HTTP-Method` and `X-Method-Override`: a `GET` with
//! `X-HTTP-Method-Override: DELETE` becomes a DELETE behind the proxy, which the endpoint policy never saw
//! (decided as the GET it claims to be). AWS's own front ends do not honour them, but a proxy standing
//! in for a boundary must not forward an instruction it did not authorize. One that names the request's
//! own method changes nothing and may be signed (SigV4 signs any header), so it is forwarded unchanged.

use super::{Refusal, RequestHead};

/// The override headers frameworks honour (header names are case-insensitive; `HeaderMap` lowercases).
const OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

/// `Err` when any method-override header (any instance of it) names another method than the request's,
/// or is not text; methods are case-sensitive (RFC 9110 §9.1), so `delete` on a `DELETE` also differs.
pub fn check_method_override(head: &RequestHead<'_>) -> Result<(), Refusal> {
    for name in OVERRIDE_HEADERS {
        for value in head.headers.get_all(name) {
            if value.to_str().map(str::trim).ok() != Some(head.method) {
                let shown = String::from_utf8_lossy(value.as_bytes());
                return Err(Refusal(format!(
                    "{name}: {shown:?} would make this {} act as another method the policy never saw",
                    head.method
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: &str, headers: &[(&str, &str)]) -> Result<(), Refusal> {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        let head = RequestHead { method, host: "h", path: "/", headers: &map };
        check_method_override(&head)
    }

    /// One row per header name and case variant: a different method is refused, the request's own is not.
    #[test]
    fn an_override_naming_another_method_is_refused_and_the_same_method_is_not() {
        let names = [
            "X-HTTP-Method-Override",
            "x-http-method-override",
            "X-Http-Method-Override",
            "X-HTTP-METHOD-OVERRIDE",
            "X-HTTP-Method",
            "x-http-method",
            "X-Http-Method",
            "X-Method-Override",
            "x-method-override",
            "X-METHOD-OVERRIDE",
        ];
        for name in names {
            assert!(check("GET", &[(name, "DELETE")]).is_err(), "{name}: DELETE on a GET");
            assert!(check("POST", &[(name, "PUT")]).is_err(), "{name}: PUT on a POST");
            assert!(check("DELETE", &[(name, "delete")]).is_err(), "{name}: methods are case-sensitive");
            assert!(check("GET", &[(name, "GET")]).is_ok(), "{name}: its own method");
            assert!(check("HEAD", &[(name, " HEAD ")]).is_ok(), "{name}: surrounding whitespace");
        }
    }

    #[test]
    fn every_instance_counts_and_other_headers_do_not() {
        let twice = [("X-HTTP-Method-Override", "GET"), ("X-HTTP-Method-Override", "DELETE")];
        assert!(check("GET", &twice).is_err(), "a second, different instance");
        assert!(check("GET", &[("X-HTTP-Method-Override", "GET"), ("X-Method-Override", "PATCH")]).is_err());
        assert!(check("GET", &[("X-Override", "DELETE"), ("X-HTTP-Methods", "DELETE")]).is_ok());
        let message = check("GET", &[("X-Method-Override", "DELETE")]).unwrap_err().0;
        assert!(
            message.starts_with("x-method-override: \"DELETE\" would make this GET act as another method")
        );
    }
}
