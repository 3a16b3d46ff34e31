//! `vpce-proxy validate` (INTERFACE STUB).

use std::path::PathBuf;
use std::process::ExitCode;

/// Lints policy files; exit 1 when any error.
pub fn main(_files: &[PathBuf]) -> ExitCode {
    todo!("validate")
}
