//! `vpce-proxy validate FILE...`: lint policy files, one line per finding, for editors and CI.
//!
//! Output: `FILE:LINE:COL severity code message`, sorted by position within each file, files in the order
//! given. Exit 0 when there is no error (warnings allowed), 1 when any finding is an error, 2 when a file
//! cannot be read (the other files are still linted; an unreadable file wins over findings).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::policy::validate::{detect_kind, validate, PolicyKind, Severity};

/// Which rules apply, since identity and endpoint policies disagree about Principal; `auto` guesses per
/// file (see [`detect_kind`]) so one command can lint a directory of mixed policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KindChoice {
    /// Guess per file from Principal, Resource and the file name.
    #[default]
    Auto,
    /// VPC endpoint policy: Principal and Resource required, 20,480 characters.
    Endpoint,
    /// Identity-based policy: Principal forbidden.
    Identity,
    /// Resource-based policy (e.g. ECR repository policy): Principal required, Resource optional.
    Resource,
}

/// A policy file that could not be read; reported on stderr, exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot read the policy: {source}")]
pub struct ReadError {
    /// The file as given on the command line.
    pub path: String,
    /// What the operating system said.
    pub source: std::io::Error,
}

/// Lints files with the kind guessed per file; kept for callers that have no `--kind`.
pub fn main(files: &[PathBuf]) -> ExitCode {
    main_with_kind(files, KindChoice::Auto)
}

/// Lints files under the chosen kind; exit 0 clean, 1 on any error finding, 2 on an unreadable file.
pub fn main_with_kind(files: &[PathBuf], choice: KindChoice) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let (mut errors, mut unreadable) = (false, false);
    for path in files {
        let text = match read(path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("vpce-proxy validate: {e}");
                unreadable = true;
                continue;
            }
        };
        for finding in validate(&text, resolve(choice, path, &text)) {
            errors |= finding.severity == Severity::Error;
            let line = format!(
                "{}:{} {} {} {}",
                path.display(),
                finding.pos,
                finding.severity,
                finding.code,
                finding.message
            );
            if writeln!(out, "{line}").is_err() {
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::from(if unreadable { 2 } else { u8::from(errors) })
}

fn read(path: &Path) -> Result<String, ReadError> {
    crate::files::read_to_string(path)
        .map_err(|source| ReadError { path: path.display().to_string(), source })
}

fn resolve(choice: KindChoice, path: &Path, text: &str) -> PolicyKind {
    match choice {
        KindChoice::Auto => detect_kind(path, text),
        KindChoice::Endpoint => PolicyKind::Endpoint,
        KindChoice::Identity => PolicyKind::Identity,
        KindChoice::Resource => PolicyKind::Resource,
    }
}
