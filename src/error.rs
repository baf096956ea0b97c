//! The one error type that decides how a command ends: what it says and its exit code.
//!
//! A plain failure (a run that failed, a service that did not answer) is any `anyhow` error
//! and exits 1. Where the kind of failure matters, the code that knows it raises an
//! [`Error`]: the user's input is wrong (exit 2), a file on disk is damaged (exit 1, named),
//! an operation on a file failed (exit 1, the operation and the path), or something the runs
//! need cannot be had (exit 3). A flag or sweep-file error becomes [`Error::Usage`] where it
//! is known to be the user's (the command line, the sweep file) and [`Damaged`] where it is
//! a run's stored file: the same parse error means different things in the two places.

use crate::process::Exit;
use std::path::{Path, PathBuf};

type Boxed = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad argument, flag or sweep file (its own message: the file, line, flag, what
    /// would be valid).
    #[error(transparent)]
    Usage(Boxed),
    /// A file that exists but is not what it should be.
    #[error(transparent)]
    Damaged(#[from] Damaged),
    /// An operation on a file failed: `cannot {op} {path}: {the system's words}`.
    #[error("cannot {op} {}: {}", path.display(), io_text(cause))]
    Io {
        op: String,
        path: PathBuf,
        /// Told in the message, not chained (a chain would say it twice).
        cause: std::io::Error,
    },
    /// Refused before anything ran: something the runs need is missing and cannot be had.
    #[error(transparent)]
    Refused(Boxed),
    /// Another process holds what this needs (a run's lock): nothing was changed.
    #[error("{0}")]
    Busy(String),
}

impl Error {
    /// A usage error with its message.
    pub fn usage(message: impl Into<String>) -> Error {
        Error::Usage(message.into().into())
    }

    /// A usage error from a structured error (a flag's, a sweep file's).
    pub fn input(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Usage(Box::new(e))
    }

    pub fn refused(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Refused(Box::new(e))
    }

    /// `map_err(Error::io("write", path))`: an I/O error with what was being done and where.
    pub fn io(op: impl Into<String>, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let (op, path) = (op.into(), path.to_path_buf());
        move |cause| Error::Io { op, path, cause }
    }

    pub fn exit(&self) -> Exit {
        match self {
            Error::Usage(_) => Exit::Usage,
            Error::Refused(_) => Exit::Refused,
            Error::Busy(_) => Exit::Busy,
            Error::Damaged(_) | Error::Io { .. } => Exit::Error,
        }
    }
}

/// The exit of a command that returned `e`: that of the first [`Error`] in its chain (the
/// outermost kind wins), else 1.
pub fn exit_for(e: &anyhow::Error) -> Exit {
    e.chain()
        .find_map(|c| c.downcast_ref::<Error>())
        .map_or(Exit::Error, Error::exit)
}

/// An I/O error's words without Rust's debug form: the system's message (`No space left on
/// device (os error 28)`), or the message a library wrapped in it.
pub fn io_text(e: &std::io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

/// A file that exists but cannot be read as what it should be (an error, exit 1, not a
/// usage error: the user typed nothing wrong).
#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct Damaged {
    pub path: PathBuf,
    pub why: String,
}

impl Damaged {
    /// A file that cannot be read as what it should be (`why`: what is wrong).
    pub fn new(path: &Path, why: impl std::fmt::Display) -> Damaged {
        Damaged {
            path: path.to_path_buf(),
            why: format!("damaged or not a ddim-sweep file: {why}"),
        }
    }

    /// A file that reads well but was changed after it was written (`why`: how).
    pub fn changed(path: &Path, why: impl std::fmt::Display) -> Damaged {
        Damaged {
            path: path.to_path_buf(),
            why: why.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_first_kind_in_the_chain_decides_the_exit() {
        let plain = anyhow::anyhow!("a run failed");
        assert_eq!(exit_for(&plain), Exit::Error);
        let usage = anyhow::Error::new(Error::usage("--n must be at least 1"))
            .context("reading the command line");
        assert_eq!(exit_for(&usage), Exit::Usage);
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = Error::io("write", Path::new("runs/x/run.json"))(io);
        assert_eq!(
            e.to_string(),
            "cannot write runs/x/run.json: No space left on device (os error 28)"
        );
        assert_eq!(exit_for(&anyhow::Error::new(e)), Exit::Error);
        let refused: anyhow::Result<()> =
            Err(Error::refused(std::fmt::Error)).context("dataset flowers");
        assert_eq!(exit_for(&refused.unwrap_err()), Exit::Refused);
    }
}
