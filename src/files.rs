//! Every file the proxy reads (config, policies, CA and certificate PEMs, `explain` and `simulate`
//! inputs) is read through here, so none can make it allocate without bound: a policy is at most 20,480
//! characters at AWS and a config a few KiB, so [`MAX_FILE_BYTES`] is far above any honest file and
//! stops a wrong path (a log, `/dev/zero`) from being read whole.

use std::io::{self, Read};
use std::path::Path;

/// The largest file read: 1 MiB.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads `path` whole, or fails with `InvalidData` when it holds more than [`MAX_FILE_BYTES`].
pub(crate) fn read(path: &Path) -> io::Result<Vec<u8>> {
    read_at_most(path, MAX_FILE_BYTES)
}

/// Reads `path` whole, or fails with `InvalidData` when it holds more than `max` bytes (the bindings
/// file, which the proxy wrote itself, has its own larger bound).
pub(crate) fn read_at_most(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    read_from(std::fs::File::open(path)?, max)
}

/// Creates `path` (it must not exist) with `mode` from the start, never widened then narrowed, writes
/// `contents` and syncs them: the CA key and the bindings file's temporary copy.
pub(crate) fn create_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// [`read`] as UTF-8 text.
pub(crate) fn read_to_string(path: &Path) -> io::Result<String> {
    text(read(path)?)
}

/// Reads a stream (stdin) within the same bound.
pub(crate) fn read_stream_to_string(stream: impl Read) -> io::Result<String> {
    text(read_from(stream, MAX_FILE_BYTES)?)
}

fn read_from(stream: impl Read, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    stream.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        let why = format!("larger than {max} bytes, the bound on this file");
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    Ok(bytes)
}

fn text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At the bound a file is read whole; one byte more is refused with the bound in the message.
    #[test]
    fn files_are_read_up_to_the_bound_and_refused_one_byte_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for (len, ok) in [(0, true), (MAX_FILE_BYTES, true), (MAX_FILE_BYTES + 1, false)] {
            std::fs::write(&path, vec![b'a'; len as usize]).unwrap();
            match read_to_string(&path) {
                Ok(text) => assert!(ok && text.len() as u64 == len, "{len} bytes"),
                Err(e) => {
                    assert!(!ok, "{len} bytes: {e}");
                    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                    assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");
                }
            }
        }
    }
}
