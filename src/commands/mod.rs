//! One module per subcommand; `main.rs` only parses arguments. Each returns the process exit code.

pub mod ca;
pub mod explain;
pub mod generate;
pub mod replay;
pub mod run;
pub mod simulate;
pub mod validate;
