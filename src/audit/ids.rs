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
    let bits = (u128::from(epoch) << 64) | u128::from(n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    uuid_shape(bits)
}

/// Hex digits written straight into one 36-byte string: `format!` twice cost more than the rest of the
/// id (this runs once per request).
fn uuid_shape(bits: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        let nibble = (bits >> (124 - 4 * i)) & 0xf;
        id.push(char::from(HEX[nibble as usize]));
    }
    id
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

    /// The layout `format!("{:032x}")` split 8-4-4-4-12 would give (RFC 9562 §4 text form).
    #[test]
    fn uuid_shape_matches_the_formatted_layout() {
        for bits in [0u128, 1, u128::MAX, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210] {
            let hex = format!("{bits:032x}");
            let want =
                format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
            assert_eq!(super::uuid_shape(bits), want);
        }
    }
}
