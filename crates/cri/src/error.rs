//! Errors of CRI calls.

use std::time::Duration;

/// A failed CRI call or connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint is not a unix socket (`unix:///path` or `/path`).
    #[error("unsupported CRI endpoint {endpoint:?}: expected unix:///path/to/socket")]
    UnsupportedEndpoint {
        /// The endpoint as given.
        endpoint: String,
    },
    /// The socket could not be connected.
    #[error("cannot connect to the CRI runtime at {endpoint}")]
    Connect {
        /// The endpoint as given.
        endpoint: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The runtime answered a call with an error status.
    #[error("CRI {method}: {code:?}: {message}", code = .status.code(), message = .status.message())]
    Rpc {
        /// The CRI method, e.g. `RunPodSandbox`.
        method: &'static str,
        /// The gRPC status the runtime returned.
        #[source]
        status: tonic::Status,
    },
    /// The call did not finish before its deadline.
    #[error("CRI {method}: no answer within {timeout:?}")]
    Timeout {
        /// The CRI method.
        method: &'static str,
        /// The deadline that passed.
        timeout: Duration,
    },
    /// The runtime's answer lacks a field the call must return.
    #[error("CRI {method}: the runtime's answer has no {field}")]
    MissingField {
        /// The CRI method.
        method: &'static str,
        /// The missing field.
        field: &'static str,
    },
}

impl Error {
    /// The gRPC status code, when the runtime answered with an error.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Error::Rpc { status, .. } => Some(status.code()),
            _ => None,
        }
    }

    /// True when the runtime says the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(tonic::Code::NotFound)
    }
}

/// The result of a CRI call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_errors_name_the_method_and_code() {
        let err = Error::Rpc {
            method: "ContainerStatus",
            status: tonic::Status::not_found("an error occurred when try to find container \"x\""),
        };
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "CRI ContainerStatus: NotFound: an error occurred when try to find container \"x\""
        );
        let timeout = Error::Timeout {
            method: "Version",
            timeout: Duration::from_secs(2),
        };
        assert!(!timeout.is_not_found());
        assert_eq!(timeout.code(), None);
    }
}
