//! `vpce-proxy run` (INTERFACE STUB).

use std::path::Path;
use std::process::ExitCode;

/// Runs the proxy until SIGTERM/SIGINT.
pub fn main(_config: Option<&Path>) -> ExitCode {
    todo!("proxy")
}
