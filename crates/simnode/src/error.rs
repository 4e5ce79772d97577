//! Errors of the node simulator.

/// Why the simulator stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration cannot be simulated.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// Registering a node failed.
    #[error("registering node {node}: {source}")]
    Register {
        node: String,
        #[source]
        source: kube::Error,
    },
    /// Building an object from its JSON form failed (a bug).
    #[error("building {what}: {source}")]
    Build {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A background task panicked or was aborted.
    #[error("simulator task {task} failed: {source}")]
    Task {
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}
