//! Errors of the node agent, one enum with the context of each failure.

use std::path::PathBuf;

use crate::runtime::RuntimeError;

/// A failure of the node agent.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A call to the container runtime failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A call to the API server failed.
    #[error("{action}")]
    Api {
        /// What the agent was doing, e.g. "registering node n1".
        action: String,
        /// Why it failed.
        #[source]
        source: kube::Error,
    },
    /// Reading or writing a local file failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What the agent was doing, e.g. "writing".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// An object could not be encoded or decoded.
    #[error("encoding {what}")]
    Json {
        /// The object.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl KubeletError {
    /// An API error with what the agent was doing.
    pub fn api(action: impl Into<String>, source: kube::Error) -> Self {
        KubeletError::Api {
            action: action.into(),
            source,
        }
    }

    /// A file-system error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        KubeletError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// True when the API answered 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// True when the API answered 409.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
