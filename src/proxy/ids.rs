//! Request ids: unique per process run and unguessable enough to correlate, not to authenticate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<u64> = OnceLock::new();

/// A UUID-shaped id (`8-4-4-4-12` hex), as AWS request ids look.
pub(crate) fn next() -> String {
    let epoch = *EPOCH.get_or_init(|| {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hex = format!("{epoch:016x}{:016x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_uuid_shaped() {
        let (a, b) = (super::next(), super::next());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
