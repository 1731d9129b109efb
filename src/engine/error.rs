//! One error type for everything that can stop a server from being built or started.
//!
//! A test or a tool that starts vidmock wants to tell "my seed file is wrong, at this line" from
//! "the port is taken" without parsing a message. Each variant keeps what is known (the file,
//! the line and column, the field) as data, and its message reads as a sentence a person can
//! act on.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a server could not be built ([`crate::MockServerBuilder::seed_json`],
/// [`seed_file`](crate::MockServerBuilder::seed_file),
/// [`state_file`](crate::MockServerBuilder::state_file)) or started
/// ([`try_start`](crate::MockServerBuilder::try_start)).
///
/// # Example
///
/// ```
/// let error = vidmock::MockServer::builder()
///     .seed_json("{\n  \"apivideo\": 7\n}")
///     .unwrap_err();
/// match &error {
///     vidmock::Error::Json { document, line, .. } => {
///         assert_eq!(*document, vidmock::Document::Seed);
///         assert_eq!(*line, 2);
///     }
///     other => panic!("unexpected {other}"),
/// }
/// assert!(error.to_string().starts_with("seed: invalid type"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A seed or state file could not be read.
    Read {
        /// The file.
        document: Document,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A seed or state document is not the JSON it should be: a syntax error, an unknown
    /// field, a value of the wrong type.
    Json {
        /// The document.
        document: Document,
        /// The line (from 1) where the parser stopped; 0 when it does not know.
        line: usize,
        /// The column (from 1) where the parser stopped; 0 when it does not know.
        column: usize,
        /// What the parser expected or found.
        message: String,
    },
    /// A seed or state document parses, but a value in it cannot be used.
    Invalid {
        /// The document.
        document: Document,
        /// Where in the document, as a path (`kaltura.partners[0].adminSecret`), when known.
        field: Option<String>,
        /// What is wrong with it.
        message: String,
    },
    /// The TLS certificate chain or private key cannot be used.
    Tls {
        /// What rustls or the PEM reader said.
        message: String,
    },
    /// The listening socket could not be bound or set up.
    Bind {
        /// The address asked for, when the builder bound it (not a listener handed over).
        address: Option<SocketAddr>,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The admin token is empty ([`crate::MockServerBuilder::admin_token`]): an empty token
    /// would be matched by an empty `?token=`, so it would guard nothing.
    EmptyAdminToken,
    /// A name given to [`crate::MockServerBuilder::allowed_host`] is not a host name, an
    /// address, a `.domain` or `*`.
    AllowedHost {
        /// The name as given.
        host: String,
    },
    /// The state file could not be written when the server started.
    Save {
        /// The state file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// The document an [`Error`] is about.
///
/// # Example
///
/// ```
/// let document = vidmock::Document::SeedFile("fixtures/seed.json".into());
/// assert_eq!(document.to_string(), "seed file fixtures/seed.json");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Document {
    /// A seed given as text ([`crate::MockServerBuilder::seed_json`]).
    Seed,
    /// A seed file ([`crate::MockServerBuilder::seed_file`]).
    SeedFile(PathBuf),
    /// A state file ([`crate::MockServerBuilder::state_file`]).
    StateFile(PathBuf),
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Document::Seed => f.write_str("seed"),
            Document::SeedFile(path) => write!(f, "seed file {}", path.display()),
            Document::StateFile(path) => write!(f, "state file {}", path.display()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { document, source } => write!(f, "{document}: {source}"),
            Error::Json {
                document,
                line: 0,
                message,
                ..
            } => write!(f, "{document}: {message}"),
            Error::Json {
                document,
                line,
                column,
                message,
            } => write!(f, "{document}: {message} at line {line} column {column}"),
            Error::Invalid {
                document,
                field: Some(field),
                message,
            } => write!(f, "{document}: {field} {message}"),
            Error::Invalid {
                document,
                field: None,
                message,
            } => write!(f, "{document}: {message}"),
            Error::Tls { message } => write!(f, "TLS: {message}"),
            Error::Bind {
                address: Some(address),
                source,
            } => write!(f, "cannot listen on {address}: {source}"),
            Error::Bind {
                address: None,
                source,
            } => write!(f, "cannot listen: {source}"),
            Error::EmptyAdminToken => f.write_str(
                "the admin token is empty, which would guard nothing: give a non-empty token, \
                 or none",
            ),
            Error::AllowedHost { host } => write!(
                f,
                "allowed host {host:?} is not a host name, an address, a .domain or *"
            ),
            Error::Save { path, source } => {
                write!(
                    f,
                    "cannot write the state file {}: {source}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. }
            | Error::Bind { source, .. }
            | Error::Save { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Error {
    /// `document` is not the JSON it should be, as serde_json reported it.
    pub(crate) fn json(document: Document, error: &serde_json::Error) -> Self {
        let (line, column) = (error.line(), error.column());
        let full = error.to_string();
        // serde_json appends the position to its message; it is kept as data instead.
        let message = full
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&full)
            .to_owned();
        Error::Json {
            document,
            line,
            column,
            message,
        }
    }

    /// A value in `document` that cannot be used.
    pub(crate) fn invalid(document: Document, invalid: Invalid) -> Self {
        Error::Invalid {
            document,
            field: invalid.field,
            message: invalid.message,
        }
    }
}

/// A value that cannot be used, found while checking a document: where, and why. Vendors'
/// seed and state checks return it; the builder adds which document it was.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub field: Option<String>,
    pub message: String,
}

impl Invalid {
    /// `field` (a path such as `kaltura.partners[0].id`) holds a value that `message` explains
    /// (`is empty`).
    pub(crate) fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A problem with no single field to point at.
    pub(crate) fn whole(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_error_keeps_its_position_as_data_and_in_its_message() {
        let parsed = serde_json::from_str::<serde_json::Value>("{\n  \"a\": }").unwrap_err();

        let error = Error::json(Document::SeedFile("s.json".into()), &parsed);

        let Error::Json {
            line,
            column,
            message,
            ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!((*line, *column), (2, 8));
        assert!(!message.contains("line"), "{message}");
        assert_eq!(error.to_string(), format!("seed file s.json: {parsed}"));
    }

    #[test]
    fn an_invalid_field_reads_as_the_field_then_what_is_wrong() {
        let error = Error::invalid(
            Document::StateFile("state.json".into()),
            Invalid::at("vendor.tenants[0].secret", "is empty"),
        );

        assert_eq!(
            error.to_string(),
            "state file state.json: vendor.tenants[0].secret is empty"
        );
    }
}
