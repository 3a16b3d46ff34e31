//! The most recent audit records, kept in memory for the decision viewer (ARCHITECTURE.md §11).
//!
//! A bounded ring of the very lines the audit log writes, each beside its typed record (the detail pane
//! decides it again), plus a broadcast channel that feeds `GET /api/decisions/stream`. Bounded twice:
//! by `[admin] decisions` records and by [`BYTES_PER_DECISION`] times that in line bytes, so hostile
//! requests with 64 KiB paths cannot grow it beyond a fixed size. A slow stream reader loses events (it
//! is told how many), never slows a request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::AuditRecord;

/// Line bytes allowed per kept record, on average (a typical line is about 1.2 KiB).
pub const BYTES_PER_DECISION: usize = 8 * 1024;
/// Events a stream reader may fall behind before it misses some.
const STREAM_BACKLOG: usize = 1024;

/// One kept decision: the audit line (no newline), its record, and the policy generation it was
/// decided under.
#[derive(Debug)]
pub struct Kept {
    /// Exactly the JSON the audit log wrote.
    pub line: Bytes,
    /// The record that line spells.
    pub record: AuditRecord,
    /// [`Recent::generation`] when it was kept: a later reload changed the policies it was decided on.
    pub generation: u64,
}

/// The ring and the live feed.
#[derive(Debug)]
pub struct Recent {
    ring: Mutex<Ring>,
    capacity: usize,
    budget: usize,
    live: broadcast::Sender<Arc<Kept>>,
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct Ring {
    kept: VecDeque<Arc<Kept>>,
    bytes: usize,
}

impl Recent {
    /// Keeps up to `capacity` records (0: none, only the live feed).
    pub fn new(capacity: usize) -> Recent {
        let (live, _) = broadcast::channel(STREAM_BACKLOG);
        Recent {
            ring: Mutex::new(Ring::default()),
            capacity,
            budget: capacity.saturating_mul(BYTES_PER_DECISION),
            live,
            generation: AtomicU64::new(0),
        }
    }

    /// Keeps one record, evicting the oldest beyond either bound, and sends it to the stream readers.
    pub fn keep(&self, line: Bytes, record: AuditRecord) {
        if self.capacity == 0 && self.live.receiver_count() == 0 {
            return;
        }
        let kept = Arc::new(Kept { line, record, generation: self.generation() });
        if self.capacity > 0 {
            let mut ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            ring.bytes += kept.line.len();
            ring.kept.push_back(Arc::clone(&kept));
            while ring.kept.len() > self.capacity || (ring.bytes > self.budget && ring.kept.len() > 1) {
                if let Some(old) = ring.kept.pop_front() {
                    ring.bytes -= old.line.len();
                }
            }
        }
        let _ = self.live.send(kept); // no reader is not an error
    }

    /// Called after a successful reload: records kept before it were decided on other policies.
    pub fn policies_changed(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// How many reloads have succeeded since start.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Up to `limit` records, newest first, that `wanted` accepts and that are older than the record
    /// `before` names (when it is still kept; otherwise none, so paging never repeats rows).
    pub fn newest(
        &self,
        limit: usize,
        before: Option<&str>,
        wanted: impl Fn(&Kept) -> bool,
    ) -> Vec<Arc<Kept>> {
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let end = match before {
            None => ring.kept.len(),
            Some(id) => ring.kept.iter().position(|k| k.record.request_id == id).unwrap_or(0),
        };
        ring.kept.range(..end).rev().filter(|k| wanted(k)).take(limit).cloned().collect()
    }

    /// The kept record with this request id.
    pub fn find(&self, request_id: &str) -> Option<Arc<Kept>> {
        let ring = self.ring.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        ring.kept.iter().rev().find(|k| k.record.request_id == request_id).cloned()
    }

    /// A receiver of every record kept from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Kept>> {
        self.live.subscribe()
    }

    /// The configured record bound (`/api/decisions`' largest `limit`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> (Bytes, AuditRecord) {
        let record = AuditRecord { request_id: id.into(), ..AuditRecord::default() };
        (Bytes::from(format!("{{\"requestID\":\"{id}\"}}")), record)
    }

    fn ids(kept: &[Arc<Kept>]) -> Vec<&str> {
        kept.iter().map(|k| k.record.request_id.as_str()).collect()
    }

    #[test]
    fn keeps_the_newest_records_up_to_its_capacity_and_pages_back_by_request_id() {
        let recent = Recent::new(3);
        for id in ["a", "b", "c", "d"] {
            let (line, record) = record(id);
            recent.keep(line, record);
        }
        assert_eq!(ids(&recent.newest(10, None, |_| true)), ["d", "c", "b"]);
        assert_eq!(ids(&recent.newest(1, None, |_| true)), ["d"]);
        assert_eq!(ids(&recent.newest(10, Some("c"), |_| true)), ["b"]);
        assert_eq!(ids(&recent.newest(10, Some("a"), |_| true)), Vec::<&str>::new(), "evicted: no rows");
        assert_eq!(ids(&recent.newest(10, None, |k| k.record.request_id != "c")), ["d", "b"]);
        assert!(recent.find("a").is_none() && recent.find("d").is_some());
    }

    #[test]
    fn a_record_larger_than_the_byte_budget_evicts_the_older_ones_but_is_kept_itself() {
        let recent = Recent::new(2);
        let (line, rec) = record("small");
        recent.keep(line, rec);
        let big = Bytes::from(vec![b'x'; 3 * BYTES_PER_DECISION]);
        recent.keep(big, AuditRecord { request_id: "big".into(), ..AuditRecord::default() });
        assert_eq!(ids(&recent.newest(10, None, |_| true)), ["big"]);
    }

    #[test]
    fn stream_readers_get_every_record_with_the_generation_it_was_decided_under() {
        let recent = Recent::new(0);
        let mut reader = recent.subscribe();
        let (line, rec) = record("one");
        recent.keep(line, rec);
        recent.policies_changed();
        let (line, rec) = record("two");
        recent.keep(line, rec);
        let (one, two) = (reader.try_recv().unwrap(), reader.try_recv().unwrap());
        assert_eq!((one.record.request_id.as_str(), one.generation), ("one", 0));
        assert_eq!((two.record.request_id.as_str(), two.generation), ("two", 1));
        assert!(recent.newest(10, None, |_| true).is_empty(), "capacity 0 keeps nothing");
    }
}
