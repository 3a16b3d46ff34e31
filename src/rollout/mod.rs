//! Offline tools over the audit log (ARCHITECTURE.md §10): how a policy is rolled out.
//!
//! Run a test cluster through the proxy in report mode (decided and audited, forwarded anyway), then
//! [`generate`] an endpoint policy that allows what the log shows succeeding, or [`replay`] the log
//! against a candidate policy and see which requests it would newly deny. Both read the log through
//! [`recorded`], which streams any number of plain or gzipped (rotated) files line by line, so a week
//! of logs never has to fit in memory.
//!
//! Pure apart from that reader: the commands in `commands/` own stdout, stderr and exit codes.

pub(crate) mod generate;
pub(crate) mod recorded;
mod recorded_line;
pub(crate) mod replay;
