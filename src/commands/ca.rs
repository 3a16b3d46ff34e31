//! `vpce-proxy ca init|export` (INTERFACE STUB).

use std::path::Path;
use std::process::ExitCode;

/// Creates the CA if missing.
pub fn init(_config: Option<&Path>) -> ExitCode {
    todo!("proxy")
}

/// Prints the CA PEM and how to trust it.
pub fn export(_config: Option<&Path>) -> ExitCode {
    todo!("proxy")
}
