//! The errors of applying a patch, with the HTTP status upstream answers each with.

use super::json::UNPROCESSABLE_MESSAGE;

/// Why a patch could not be applied; `message()` is what upstream puts in its Status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch is malformed (bad JSON, bad directive format): 400 BadRequest.
    #[error("{0}")]
    BadRequest(String),
    /// The patch is well formed but cannot apply (failed `test`, missing path): 422 Invalid.
    /// Upstream answers these with a generic message and empty details; `detail` says why.
    #[error("{UNPROCESSABLE_MESSAGE}: {detail}")]
    Unprocessable { detail: String },
    /// Any other failure, answered as 500 with an empty reason, as upstream does.
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    pub(crate) fn unprocessable(detail: impl Into<String>) -> Self {
        PatchError::Unprocessable {
            detail: detail.into(),
        }
    }

    /// The HTTP status code of the Status to answer with.
    pub fn http_code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Unprocessable { .. } => 422,
            PatchError::Internal(_) => 500,
        }
    }

    /// The Status `reason`: `BadRequest`, `Invalid`, or empty (upstream's "Unknown") for 500.
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::Unprocessable { .. } => "Invalid",
            PatchError::Internal(_) => "",
        }
    }

    /// The Status `message`, exactly as upstream words it.
    pub fn message(&self) -> &str {
        match self {
            PatchError::BadRequest(m) | PatchError::Internal(m) => m,
            PatchError::Unprocessable { .. } => UNPROCESSABLE_MESSAGE,
        }
    }
}
