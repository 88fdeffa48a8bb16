//! One error type for the whole program: a one-line message that names the thing and the fix,
//! and the exit code it maps to (2 usage or configuration, 1 runtime).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The command line is malformed or contradicts itself, or blankroot refuses to run here.
    Usage,
    /// Something found on the system or a failed operation.
    Runtime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Usage,
            message: message.into(),
        }
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Runtime,
            message: message.into(),
        }
    }

    /// A failed system call, with what we were doing when it failed.
    pub fn io(what: impl fmt::Display, err: impl Into<std::io::Error>) -> Self {
        Error::runtime(format!("{what}: {}", err.into()))
    }

    pub fn exit_code(&self) -> u8 {
        match self.kind {
            Kind::Usage => 2,
            Kind::Runtime => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
