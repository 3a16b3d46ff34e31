//! `vpce-proxy replay`'s bookkeeping: each recorded request's old and new decision, counted and grouped
//! so a reviewer sees what a candidate policy changes without reading a million lines.
//!
//! Memory is bounded by the number of distinct groups (direction, principal, action, resource prefix),
//! never by the number of lines, and groups past [`MAX_GROUPS`] are folded into one.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::json;

use super::recorded::Recorded;
use crate::audit::Disposition;
use crate::policy::{Decision, Outcome};

/// Most groups kept; a log with more distinct (principal, action, prefix) changes folds the rest.
pub(crate) const MAX_GROUPS: usize = 10_000;

/// Which way a request's answer changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Change {
    /// Allowed when recorded, denied now: what `replay` exits 1 for.
    NewlyDenied,
    /// Denied when recorded, allowed now.
    NewlyAllowed,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::NewlyDenied => "newly denied",
            Change::NewlyAllowed => "newly allowed",
        }
    }
}

/// The grouping key of a changed request.
type GroupKey = (Change, String, String, String);

/// One group: how many requests, and where the first one is.
#[derive(Debug)]
struct Group {
    count: u64,
    example: String,
}

/// Every replayed request so far.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    requests: u64,
    unchanged: u64,
    newly_denied: u64,
    newly_allowed: u64,
    groups: BTreeMap<GroupKey, Group>,
}

/// The resource's first two path segments and `*` when it goes deeper (`repository/team/*`,
/// `bucket/docker/*`): where a change lands, without one group per layer digest.
pub(crate) fn resource_prefix(resource: &str) -> String {
    let mut parts = resource.splitn(3, '/');
    let (first, second, rest) = (parts.next().unwrap_or(""), parts.next(), parts.next());
    match (second, rest) {
        (Some(second), Some(_)) => format!("{first}/{second}/*"),
        (Some(second), None) => format!("{first}/{second}"),
        _ => first.to_string(),
    }
}

impl Tally {
    /// Counts one request decided again; returns how its answer changed, if it did. A request recorded as
    /// anything but a decision (never the case for lines the reader yields) counts as unchanged.
    pub(crate) fn add(&mut self, recorded: &Recorded, now: &Decision) -> Option<Change> {
        self.requests += 1;
        let was_allowed = match recorded.decision {
            Disposition::Decided(outcome) => outcome == Outcome::Allow,
            _ => return self.same(),
        };
        let change = match (was_allowed, now.outcome == Outcome::Allow) {
            (true, false) => Change::NewlyDenied,
            (false, true) => Change::NewlyAllowed,
            _ => return self.same(),
        };
        match change {
            Change::NewlyDenied => self.newly_denied += 1,
            Change::NewlyAllowed => self.newly_allowed += 1,
        }
        self.group(change, recorded);
        Some(change)
    }

    fn same(&mut self) -> Option<Change> {
        self.unchanged += 1;
        None
    }

    fn group(&mut self, change: Change, r: &Recorded) {
        let action = r.action.clone().unwrap_or_default();
        let prefix = resource_prefix(r.resource.as_deref().unwrap_or(""));
        let mut key = (change, r.principal.clone(), action, prefix);
        if self.groups.len() >= MAX_GROUPS && !self.groups.contains_key(&key) {
            key = (change, "(other)".into(), "(other)".into(), "(other)".into());
        }
        let example = format!("{} {} {} {}", r.location(), r.request_id, r.event_time, r.host);
        self.groups.entry(key).or_insert(Group { count: 0, example }).count += 1;
    }

    /// Whether a request that was allowed is denied now (`replay` exits 1).
    pub(crate) fn denies_anything_allowed(&self) -> bool {
        self.newly_denied > 0
    }

    /// `N requests: U unchanged, D newly denied, A newly allowed` (ARCHITECTURE.md §10).
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} requests: {} unchanged, {} newly denied, {} newly allowed",
            self.requests, self.unchanged, self.newly_denied, self.newly_allowed
        )
    }

    /// The summary, then one line per group (newly denied first) with its count and first example.
    pub(crate) fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{}", self.summary())?;
        for ((change, principal, action, prefix), group) in &self.groups {
            writeln!(out, "{}: {} x {principal} {action} {prefix}", change.as_str(), group.count)?;
            writeln!(out, "    e.g. {}", group.example)?;
        }
        Ok(())
    }
}

/// One changed request as `--json` prints it.
pub(crate) fn change_json(r: &Recorded, now: &Decision, sid: Option<&str>) -> serde_json::Value {
    let was = match r.decision {
        Disposition::Decided(outcome) => outcome.as_str(),
        other => other.as_str(),
    };
    json!({
        "requestID": r.request_id,
        "eventTime": r.event_time,
        "location": r.location(),
        "principal": r.principal,
        "action": r.action,
        "resource": r.resource,
        "was": was,
        "now": now.outcome.as_str(),
        "deniedBy": now.denied_by.map(|l| l.as_str()),
        "statementSid": sid,
        "message": now.message,
    })
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
