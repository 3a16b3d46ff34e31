//! `vpce-proxy explain` (INTERFACE STUB).

use std::path::Path;
use std::process::ExitCode;

/// Prints the classification and decision for one request file.
pub fn main(_config: Option<&Path>, _request: &Path) -> ExitCode {
    todo!("classify")
}
