//! The error type of every controller in this crate.

/// Why a reconcile (or starting the controllers) failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// A request to the API server failed.
    #[error("API request for {what} failed: {source}")]
    Api {
        /// What the request was about (`create pod in ns/x`).
        what: String,
        #[source]
        source: kube::Error,
    },
    /// An object could not be (de)serialized.
    #[error("encoding {what}: {source}")]
    Json {
        /// What was being encoded.
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// An object is missing a field the controller needs.
    #[error("{object} is missing {field}")]
    Missing {
        /// The object (`ReplicaSet ns/name`).
        object: String,
        /// The missing field.
        field: &'static str,
    },
    /// An informer cache stopped before it synced.
    #[error("informer cache for {0} stopped")]
    CacheStopped(&'static str),
    /// A name collision when creating a Deployment's ReplicaSet; retried with a new hash.
    #[error("hash collision creating replica set {0}")]
    HashCollision(String),
}

impl ControllerError {
    /// Wraps a kube error with what it was about.
    pub fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> ControllerError {
        let what = what.into();
        move |source| ControllerError::Api { what, source }
    }

    /// Wraps a serde error with what it was about.
    pub fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> ControllerError {
        let what = what.into();
        move |source| ControllerError::Json { what, source }
    }
}

/// Whether a kube error is a 404 from the API server.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether a kube error is a 409 AlreadyExists/Conflict from the API server.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
