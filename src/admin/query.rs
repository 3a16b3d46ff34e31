//! `/api/decisions` query strings: `limit`, `before`, and the filters the viewer offers.

use percent_encoding::percent_decode_str;

use crate::audit::Kept;
use crate::classify::Service;

/// Records returned when the query gives no `limit`.
const DEFAULT_LIMIT: usize = 100;

/// The `name=value` pairs of a query string or form, `+` as space and percent-decoded.
pub(crate) fn pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// What one `/api/decisions` request asks for.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Query {
    pub(crate) limit: Option<usize>,
    pub(crate) before: Option<String>,
    pub(crate) filter: Filter,
}

/// Which records a reader wants; every part given must match.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Filter {
    decision: Option<Wanted>,
    service: Option<Service>,
    principal: Option<String>,
    /// Lowercased; matched against the lowercased line.
    text: Option<String>,
}

#[derive(Debug, PartialEq)]
enum Wanted {
    /// One audit `decision` value.
    Exactly(String),
    /// Any refusal: `ExplicitDeny`, `ImplicitDeny` or `Refused`.
    Denied,
}

/// The `decision` values a record can have, and `denied`.
const DECISIONS: [&str; 6] = ["Allow", "ExplicitDeny", "ImplicitDeny", "Refused", "Challenged", "Tunnel"];

impl Query {
    /// Parses the query; an unknown parameter or value is an error, so a typo never silently shows all.
    pub(crate) fn parse(query: &str) -> Result<Query, String> {
        let mut q = Query::default();
        for (key, value) in pairs(query) {
            let empty = value.is_empty();
            match key.as_str() {
                _ if empty => {} // an unset filter field in a form
                "limit" => {
                    q.limit = Some(value.parse().map_err(|_| format!("limit {value:?} is not a count"))?)
                }
                "before" => q.before = Some(value),
                "decision" if value == "denied" => q.filter.decision = Some(Wanted::Denied),
                "decision" if DECISIONS.contains(&value.as_str()) => {
                    q.filter.decision = Some(Wanted::Exactly(value))
                }
                "decision" => {
                    return Err(format!("decision {value:?} is not one of {DECISIONS:?} or \"denied\""))
                }
                "service" => {
                    let service = Service::from_key(&value)
                        .ok_or(format!("service {value:?} is not ecr.api, ecr.dkr or s3"))?;
                    q.filter.service = Some(service);
                }
                "principal" => q.filter.principal = Some(value),
                "q" => q.filter.text = Some(value.to_lowercase()),
                other => return Err(format!("unknown parameter {other:?}")),
            }
        }
        Ok(q)
    }

    /// The number of records to return: the default, capped at what the ring can hold.
    pub(crate) fn limit(&self, capacity: usize) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).min(capacity)
    }
}

impl Filter {
    /// Whether the record is one the reader asked for.
    pub(crate) fn accepts(&self, kept: &Kept) -> bool {
        let r = &kept.record;
        let decision = match &self.decision {
            None => true,
            Some(Wanted::Denied) => r.decision.is_denial(),
            Some(Wanted::Exactly(d)) => r.decision.as_str() == d,
        };
        decision
            && self.service.map_or(true, |s| r.service == Some(s))
            && self.principal.as_ref().map_or(true, |p| *p == r.principal)
            && self
                .text
                .as_ref()
                .map_or(true, |t| String::from_utf8_lossy(&kept.line).to_lowercase().contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditRecord, Disposition};
    use crate::policy::Outcome;

    fn kept(decision: Disposition, service: Service, principal: &str, line: &str) -> Kept {
        let record = AuditRecord {
            decision,
            service: Some(service),
            principal: principal.into(),
            ..AuditRecord::default()
        };
        Kept { line: bytes::Bytes::from(line.to_owned()), record, generation: 0 }
    }

    #[test]
    fn each_filter_parameter_selects_what_it_names() {
        let dev = "arn:aws:iam::123456789123:user/dev";
        let put = kept(Outcome::ExplicitDeny.into(), Service::EcrDkr, dev, r#"{"action":"ecr:PutImage"}"#);
        let rows = [
            ("", true),
            ("decision=denied", true),
            ("decision=ExplicitDeny", true),
            ("decision=Allow", false),
            ("service=ecr.dkr", true),
            ("service=s3", false),
            ("principal=arn%3Aaws%3Aiam%3A%3A123456789123%3Auser%2Fdev", true),
            ("principal=anonymous", false),
            ("q=PUTIMAGE", true),
            ("q=DeleteRepository", false),
            ("decision=&service=&q=", true),
            ("decision=denied&service=ecr.dkr&q=put+image", false),
        ];
        for (query, expected) in rows {
            let q = Query::parse(query).unwrap();
            assert_eq!(q.filter.accepts(&put), expected, "{query}");
        }
    }

    #[test]
    fn a_typo_in_a_parameter_or_value_is_an_error_not_everything() {
        for query in ["decison=Allow", "decision=allow", "service=ecr", "limit=ten", "limit=-1"] {
            assert!(Query::parse(query).is_err(), "{query}");
        }
        assert_eq!(Query::parse("limit=5000").unwrap().limit(1000), 1000);
        assert_eq!(Query::parse("").unwrap().limit(1000), 100);
        assert_eq!(Query::parse("before=abc").unwrap().before.as_deref(), Some("abc"));
    }
}
