//! `vpce-proxy simulate` (INTERFACE STUB).

use std::path::Path;
use std::process::ExitCode;

/// Decides one case file; exit 0 with a decision, 2 for invalid input.
pub fn main(_input: &Path) -> ExitCode {
    todo!("engine")
}
