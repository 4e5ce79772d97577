//! The error returned when an object cannot be decoded or converted.

/// Why an object could not be decoded into its type, worded like upstream's decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The JSON does not fit the type (wrong type of a field, bad time, ...).
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}")]
    Invalid {
        kind: String,
        version: String,
        /// Dotted path of the offending field; empty for the object itself.
        path: String,
        /// What was wrong, prefixed with the path when there is one.
        detail: String,
    },
    /// The registry names a kind this crate has no type for.
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\"")]
    UnknownKind { kind: String, api_version: String },
}

impl DecodeError {
    /// An `Invalid` error for `kind`/`version` at `path` with serde's `message`.
    pub(crate) fn invalid(kind: &str, version: &str, path: &str, message: &str) -> Self {
        let detail = if path.is_empty() || path == "." {
            message.to_string()
        } else {
            format!("{path}: {message}")
        };
        DecodeError::Invalid {
            kind: kind.to_string(),
            version: version.to_string(),
            path: path.to_string(),
            detail,
        }
    }
}
